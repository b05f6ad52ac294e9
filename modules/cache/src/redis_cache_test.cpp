// SPDX-License-Identifier: MIT
// The Redis cache against a real redis-server started for this test process.
#include <atomic>
#include <map>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include <gale/cache/redis_cache.hpp>

#include "redis_fixture.hpp"

namespace gale::cache {
namespace {

using namespace std::chrono_literals;

class RedisCacheTest : public RedisFixture {
protected:
    /// A cache on the test server, under a prefix of this test's own.
    static RedisCache Make(std::optional<std::chrono::milliseconds> default_ttl = std::nullopt) {
        return RedisCache(
            {.connection = server_->connection_options(), .key_prefix = TestName() + ":", .default_ttl = default_ttl});
    }
};

TEST_F(RedisCacheTest, SetGetDeleteAndTimesToLive) {
    RedisCache cache = Make();
    EXPECT_EQ(cache.Get("a").value(), std::nullopt);
    ASSERT_TRUE(cache.Set("a", std::string("bytes\0and more", 14)));
    EXPECT_EQ(cache.Get("a").value(), std::string("bytes\0and more", 14));
    EXPECT_TRUE(cache.Delete("a").value());
    EXPECT_FALSE(cache.Delete("a").value());
    ASSERT_TRUE(cache.Set("short", "x", 100ms));
    EXPECT_EQ(cache.Get("short").value(), "x");
    std::this_thread::sleep_for(200ms);
    EXPECT_EQ(cache.Get("short").value(), std::nullopt);
    ASSERT_TRUE(cache.Set("b", "y"));
    ASSERT_TRUE(cache.Set("b", "z", 0ms));  // a ttl of zero keeps nothing
    EXPECT_EQ(cache.Get("b").value(), std::nullopt);
    ASSERT_TRUE(cache.Ping());
}

TEST_F(RedisCacheTest, TheKeyPrefixKeepsServicesApart) {
    RedisCache a({.connection = server_->connection_options(), .key_prefix = "svc-a:"});
    RedisCache b({.connection = server_->connection_options(), .key_prefix = "svc-b:"});
    ASSERT_TRUE(a.Set("k", "from a"));
    EXPECT_EQ(b.Get("k").value(), std::nullopt);
    auto raw = redis::Pool(server_->connection_options()).Command({"GET", "svc-a:k"});
    ASSERT_TRUE(raw);
    EXPECT_EQ(raw->AsString("GET").value(), "from a");
}

TEST_F(RedisCacheTest, IncrementGivesANewKeyTheDefaultTtlAndRefusesText) {
    RedisCache cache = Make(/*default_ttl=*/150ms);
    EXPECT_EQ(cache.Increment("n").value(), 1);
    EXPECT_EQ(cache.Increment("n", 9).value(), 10);
    std::this_thread::sleep_for(250ms);
    EXPECT_EQ(cache.Get("n").value(), std::nullopt) << "the key Increment created expires by the default";
    ASSERT_TRUE(cache.Set("text", "abc", 10s));
    auto bad = cache.Increment("text");
    ASSERT_FALSE(bad);
    EXPECT_EQ(bad.error().code(), ErrorCode::kInvalidArgument);
    EXPECT_NE(bad.error().message().find("cannot increment 'text' by 1"), std::string::npos) << bad.error().message();
}

TEST_F(RedisCacheTest, GetOrComputeComputesOncePerKeyInAProcess) {
    RedisCache cache = Make();
    std::atomic<int> computations = 0;
    std::vector<std::thread> threads;
    std::atomic<int> right = 0;
    for (int i = 0; i < 6; ++i) {
        threads.emplace_back([&] {
            auto r = cache.GetOrCompute("report", [&]() -> Result<std::string> {
                ++computations;
                std::this_thread::sleep_for(50ms);
                return std::string("v1");
            });
            if (r && *r == "v1") ++right;
        });
    }
    for (auto& t : threads) t.join();
    EXPECT_EQ(computations, 1);
    EXPECT_EQ(right, 6);
    // Another process (here: another cache object on the same server and prefix) finds the stored value.
    RedisCache other = Make();
    EXPECT_EQ(other.Get("report").value(), "v1");
}

TEST(RedisCache, AnUnreachableServerIsAClearErrorNotAHang) {
    redis::ConnectionOptions o;
    o.host = "127.0.0.1";
    o.port = 1;  // nothing listens there
    o.connect_timeout = 500ms;
    RedisCache cache({.connection = o});
    const auto started = std::chrono::steady_clock::now();
    auto r = cache.Get("x");
    ASSERT_FALSE(r);
    EXPECT_LT(std::chrono::steady_clock::now() - started, 3s);
    EXPECT_EQ(r.error().code(), ErrorCode::kUnavailable);
    EXPECT_NE(r.error().message().find("127.0.0.1:1"), std::string::npos) << r.error().message();
    EXPECT_FALSE(cache.GetOrCompute("x", [] { return Result<std::string>("v"); })) << "the error, not a value";
}

TEST(RedisCache, OptionsFromTheEnvironmentNameWhatIsWrong) {
    std::map<std::string, std::string, std::less<>> env;
    auto lookup = [&](std::string_view k) -> std::optional<std::string> {
        auto it = env.find(k);
        return it == env.end() ? std::nullopt : std::optional<std::string>(it->second);
    };
    auto missing = RedisCacheOptionsFromEnvironment(lookup);
    ASSERT_FALSE(missing);
    EXPECT_EQ(missing.error().message(), "CACHE_REDIS_HOST: required for the Redis cache");
    env = {{"CACHE_REDIS_HOST", "cache.internal"},
           {"CACHE_REDIS_PORT", "6380"},
           {"CACHE_REDIS_DB", "2"},
           {"CACHE_REDIS_PASSWORD", "s3cret"}};
    auto ok = RedisCacheOptionsFromEnvironment(lookup);
    ASSERT_TRUE(ok) << ok.error().message();
    EXPECT_EQ(ok->connection.host, "cache.internal");
    EXPECT_EQ(ok->connection.port, 6380);
    EXPECT_EQ(ok->connection.db, 2);
    EXPECT_EQ(ok->connection.password, "s3cret");
    env["CACHE_REDIS_PORT"] = "http";
    auto bad = RedisCacheOptionsFromEnvironment(lookup);
    ASSERT_FALSE(bad);
    EXPECT_NE(bad.error().message().find("CACHE_REDIS_PORT"), std::string::npos) << bad.error().message();
    EXPECT_EQ(bad.error().message().find("s3cret"), std::string::npos);
}

}  // namespace
}  // namespace gale::cache
