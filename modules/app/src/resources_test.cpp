// SPDX-License-Identifier: MIT
#include "resources.hpp"

#include <atomic>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include <gale/config/settings.hpp>
#include <gale/log/testing/captured_log.hpp>

namespace gale::app {
namespace {

using namespace std::chrono_literals;

/// A registry with its settings and metrics, as App::Run activates it.
struct Fixture {
    log::testing::CapturedLog captured;  // the registry logs each creation and close (first: it outlives them)
    config::Settings settings;
    metrics::Registry metrics;
    ResourceRegistry registry;

    std::shared_ptr<detail::ResourceSlot> Declare(std::string name, detail::ResourceSlot::Factory f,
                                                  CreateWhen when = CreateWhen::kOnFirstUse,
                                                  detail::ResourceSlot::Close close = {}) {
        auto slot = registry.Declare(std::move(name), when, std::move(f), std::move(close));
        EXPECT_TRUE(slot) << slot.error().message();
        return slot ? *slot : nullptr;
    }
};

detail::ResourceSlot::Factory Counting(
    std::atomic<int>& calls, std::function<Result<int>()> make = [] { return Result<int>(7); }) {
    return [&calls, make](ResourceContext&) -> Result<std::shared_ptr<void>> {
        ++calls;
        GALE_ASSIGN_OR_RETURN(int v, make());
        return std::shared_ptr<void>(std::make_shared<int>(v));
    };
}

TEST(Resources, UsedBeforeRunLoadedTheSettingsIsAnErrorNotACrash) {
    Fixture f;
    std::atomic<int> calls = 0;
    Resource<int> r(f.Declare("db", Counting(calls)));
    auto got = r.get();
    ASSERT_FALSE(got);
    EXPECT_EQ(got.error().code(), ErrorCode::kInternal);
    EXPECT_NE(got.error().message().find("resource 'db' was used before App::Run"), std::string::npos);
    EXPECT_EQ(calls, 0);
    EXPECT_FALSE(Resource<int>().get());  // an empty handle
}

TEST(Resources, IsCreatedOnceWhateverTheNumberOfThreadsAskingAtOnce) {
    Fixture f;
    std::atomic<int> calls = 0;
    Resource<int> r(f.Declare("db", Counting(calls, [] {
                                  std::this_thread::sleep_for(50ms);  // every thread arrives while it is made
                                  return Result<int>(7);
                              })));
    f.registry.Activate(f.settings, f.metrics);
    std::vector<std::thread> threads;
    std::atomic<int> sevens = 0;
    std::vector<const int*> seen(8);
    for (int i = 0; i < 8; ++i) {
        threads.emplace_back([&, i] {
            auto got = r.get();
            if (got && **got == 7) ++sevens;
            seen[static_cast<std::size_t>(i)] = got ? got->get() : nullptr;
        });
    }
    for (auto& t : threads) t.join();
    EXPECT_EQ(calls, 1);
    EXPECT_EQ(sevens, 8);
    for (const int* p : seen) EXPECT_EQ(p, seen[0]);
    EXPECT_EQ(r.name(), "db");
}

TEST(Resources, AFailedCreationIsTriedAgainOnlyAfterASecond) {
    Fixture f;
    std::atomic<int> calls = 0;
    std::atomic<bool> fail = true;
    Resource<int> r(f.Declare("db", Counting(calls, [&]() -> Result<int> {
                                  if (fail) return MakeError(ErrorCode::kUnavailable, "connection refused");
                                  return 7;
                              })));
    f.registry.Activate(f.settings, f.metrics);
    auto first = r.get();
    ASSERT_FALSE(first);
    EXPECT_EQ(first.error().code(), ErrorCode::kUnavailable);
    EXPECT_EQ(first.error().message(), "resource 'db' failed: connection refused");
    fail = false;
    auto soon = r.get();  // within the second: the same error, no new attempt
    ASSERT_FALSE(soon);
    EXPECT_EQ(soon.error().message(), first.error().message());
    EXPECT_EQ(calls, 1);
    std::this_thread::sleep_for(1100ms);
    auto later = r.get();
    ASSERT_TRUE(later) << later.error().message();
    EXPECT_EQ(**later, 7);
    EXPECT_EQ(calls, 2);
    const std::string text = f.metrics.Render();
    EXPECT_NE(text.find("gale_resource_failures_total{resource=\"db\"} 1"), std::string::npos) << text;
    EXPECT_NE(text.find("gale_resource_up{resource=\"db\"} 1"), std::string::npos) << text;
}

TEST(Resources, ACreationFailureIsUnavailableToItsUsersWhateverTheFactorysCode) {
    // A setting the factory refuses (kInvalidArgument) is the deployment's fault, not the caller's: a handler that
    // returns this error must answer 503, not 400, and keep the factory's reason in its text.
    Fixture f;
    Resource<int> r(f.Declare("sessions", [](ResourceContext&) -> Result<std::shared_ptr<void>> {
        return MakeError(ErrorCode::kInvalidArgument, "APP_SECRET_KEY: required");
    }));
    f.registry.Activate(f.settings, f.metrics);
    auto got = r.get();
    ASSERT_FALSE(got);
    EXPECT_EQ(got.error().code(), ErrorCode::kUnavailable);
    EXPECT_EQ(got.error().ToString(), "resource 'sessions' failed: APP_SECRET_KEY: required");
}

TEST(Resources, AThrowingFactoryIsAnErrorNamingTheResource) {
    Fixture f;
    Resource<int> r(f.Declare("cache", [](ResourceContext&) -> Result<std::shared_ptr<void>> {
        throw std::runtime_error("redis: bad URL");
    }));
    f.registry.Activate(f.settings, f.metrics);
    auto got = r.get();
    ASSERT_FALSE(got);
    EXPECT_EQ(got.error().message(), "resource 'cache' failed: the factory threw: redis: bad URL");
}

TEST(Resources, CloseAllClosesTheLastCreatedFirstAndThenRefusesUse) {
    Fixture f;
    std::vector<std::string> closed;
    auto closer = [&](const char* name) { return [&closed, name](void*) { closed.push_back(name); }; };
    std::atomic<int> calls = 0;
    Resource<int> a(f.Declare("a", Counting(calls), CreateWhen::kOnFirstUse, closer("a")));
    Resource<int> b(f.Declare("b", Counting(calls), CreateWhen::kOnFirstUse, closer("b")));
    Resource<int> c(f.Declare("c", Counting(calls), CreateWhen::kOnFirstUse, closer("c")));  // never created
    f.registry.Activate(f.settings, f.metrics);
    ASSERT_TRUE(b.get());  // b first, then a: a is closed first
    auto held = a.get();
    ASSERT_TRUE(held);
    f.registry.CloseAll();
    EXPECT_EQ(closed, (std::vector<std::string>{"a", "b"}));
    EXPECT_EQ(**held, 7);  // a user that still holds it keeps a valid object until it lets go
    for (auto* r : {&a, &b, &c}) {
        auto after = r->get();
        ASSERT_FALSE(after);
        EXPECT_EQ(after.error().code(), ErrorCode::kCancelled);
    }
    EXPECT_EQ(calls, 2);
    f.registry.CloseAll();  // idempotent
    EXPECT_EQ(closed.size(), 2u);
    EXPECT_NE(f.metrics.Render().find("gale_resource_up{resource=\"a\"} 0"), std::string::npos);
}

TEST(Resources, CreateAtStartCreatesOnlyThoseAskedForAndNamesTheOneThatFailed) {
    Fixture f;
    std::atomic<int> lazy_calls = 0;
    std::atomic<int> eager_calls = 0;
    Resource<int> lazy(f.Declare("lazy", Counting(lazy_calls)));
    Resource<int> eager(f.Declare("eager", Counting(eager_calls), CreateWhen::kAtStart));
    Resource<int> broken(f.Declare(
        "broken",
        Counting(eager_calls, [] { return Result<int>(tl::unexpected(Error(ErrorCode::kIo, "no such bucket"))); }),
        CreateWhen::kAtStart));
    f.registry.Activate(f.settings, f.metrics);
    auto r = f.registry.CreateAtStart();
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().message(), "resource 'broken' failed: no such bucket");
    EXPECT_EQ(eager_calls, 2);
    EXPECT_EQ(lazy_calls, 0);
}

TEST(Resources, ANameIsDeclaredOnce) {
    ResourceRegistry registry;
    auto f = [](ResourceContext&) -> Result<std::shared_ptr<void>> { return std::make_shared<int>(1); };
    ASSERT_TRUE(registry.Declare("db", CreateWhen::kOnFirstUse, f, {}));
    auto again = registry.Declare("db", CreateWhen::kOnFirstUse, f, {});
    ASSERT_FALSE(again);
    EXPECT_EQ(again.error().message(), "resource 'db' is declared twice");
    EXPECT_FALSE(registry.Declare("", CreateWhen::kOnFirstUse, f, {}));
    EXPECT_FALSE(registry.Declare("x", CreateWhen::kOnFirstUse, {}, {}));
}

}  // namespace
}  // namespace gale::app
