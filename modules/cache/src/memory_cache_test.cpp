// SPDX-License-Identifier: MIT
#include <atomic>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include <gale/cache/memory_cache.hpp>
#include <gale/metrics/registry.hpp>

namespace gale::cache {
namespace {

using namespace std::chrono_literals;

/// A clock the test moves by hand.
struct FakeClock {
    std::chrono::steady_clock::time_point now{};
    std::function<std::chrono::steady_clock::time_point()> fn() {
        return [this] { return now; };
    }
};

std::optional<std::string> GetValue(Cache& c, std::string_view key) {
    auto r = c.Get(key);
    EXPECT_TRUE(r) << r.error().message();
    return r ? *r : std::nullopt;
}

TEST(MemoryCache, SetGetDelete) {
    MemoryCache cache;
    EXPECT_EQ(GetValue(cache, "a"), std::nullopt);
    ASSERT_TRUE(cache.Set("a", "1"));
    EXPECT_EQ(GetValue(cache, "a"), "1");
    ASSERT_TRUE(cache.Set("a", "2"));  // replaced
    EXPECT_EQ(GetValue(cache, "a"), "2");
    EXPECT_EQ(cache.size(), 1u);
    EXPECT_EQ(cache.Delete("a").value(), true);
    EXPECT_EQ(cache.Delete("a").value(), false);
    EXPECT_EQ(GetValue(cache, "a"), std::nullopt);
    EXPECT_EQ(cache.bytes(), 0u);
}

TEST(MemoryCache, EntriesExpireByTheirTimeToLiveOrTheDefault) {
    FakeClock clock;
    MemoryCache cache({.default_ttl = 10s, .clock = clock.fn()});
    ASSERT_TRUE(cache.Set("short", "x", 100ms));
    ASSERT_TRUE(cache.Set("default", "y"));
    ASSERT_TRUE(cache.Set("gone", "z", 0ms));  // a ttl of zero keeps nothing
    EXPECT_EQ(GetValue(cache, "gone"), std::nullopt);
    clock.now += 99ms;
    EXPECT_EQ(GetValue(cache, "short"), "x");
    clock.now += 1ms;
    EXPECT_EQ(GetValue(cache, "short"), std::nullopt);
    EXPECT_EQ(GetValue(cache, "default"), "y");
    clock.now += 10s;
    EXPECT_EQ(GetValue(cache, "default"), std::nullopt);
    EXPECT_EQ(cache.size(), 0u) << "expired entries are dropped when touched";
}

TEST(MemoryCache, TheLeastRecentlyUsedGoFirstByCountAndByBytes) {
    MemoryCache by_count({.max_entries = 2});
    ASSERT_TRUE(by_count.Set("a", "1"));
    ASSERT_TRUE(by_count.Set("b", "2"));
    EXPECT_EQ(GetValue(by_count, "a"), "1");  // a is now the most recent
    ASSERT_TRUE(by_count.Set("c", "3"));      // b goes
    EXPECT_EQ(GetValue(by_count, "b"), std::nullopt);
    EXPECT_EQ(GetValue(by_count, "a"), "1");
    EXPECT_EQ(GetValue(by_count, "c"), "3");

    MemoryCache by_bytes({.max_bytes = 3 * (64 + 1 + 100)});  // three entries of a 1-byte key and 100 bytes
    for (const char* k : {"a", "b", "c", "d"}) ASSERT_TRUE(by_bytes.Set(k, std::string(100, 'v')));
    EXPECT_EQ(by_bytes.size(), 3u);
    EXPECT_EQ(GetValue(by_bytes, "a"), std::nullopt);
    EXPECT_LE(by_bytes.bytes(), 3u * (64 + 1 + 100));
    ASSERT_TRUE(by_bytes.Set("huge", std::string(1000, 'v')));  // larger than the whole cache: not stored
    EXPECT_EQ(GetValue(by_bytes, "huge"), std::nullopt);
    EXPECT_EQ(by_bytes.size(), 3u) << "nothing was evicted for it";
}

TEST(MemoryCache, IncrementCountsFromZeroKeepsTheTimeToLiveAndRefusesNonIntegers) {
    FakeClock clock;
    MemoryCache cache({.clock = clock.fn()});
    EXPECT_EQ(cache.Increment("hits").value(), 1);
    EXPECT_EQ(cache.Increment("hits", 41).value(), 42);
    EXPECT_EQ(cache.Increment("hits", -50).value(), -8);
    ASSERT_TRUE(cache.Set("limited", "5", 1s));
    EXPECT_EQ(cache.Increment("limited").value(), 6);
    clock.now += 1s;
    EXPECT_EQ(GetValue(cache, "limited"), std::nullopt) << "the increment kept the entry's expiry";
    ASSERT_TRUE(cache.Set("text", "abc"));
    auto bad = cache.Increment("text");
    ASSERT_FALSE(bad);
    EXPECT_EQ(bad.error().code(), ErrorCode::kInvalidArgument);
    EXPECT_EQ(bad.error().message(), "cache 'default': the value of 'text' is not a 64-bit integer");
    ASSERT_TRUE(cache.Set("max", std::to_string(INT64_MAX)));
    EXPECT_FALSE(cache.Increment("max"));
    EXPECT_EQ(GetValue(cache, "max"), std::to_string(INT64_MAX)) << "a failed increment changes nothing";
}

TEST(MemoryCache, GetOrComputeComputesOncePerKeyWhileOthersWait) {
    MemoryCache cache;
    std::atomic<int> computations = 0;
    std::vector<std::thread> threads;
    std::vector<std::string> seen(8);
    for (std::size_t i = 0; i < seen.size(); ++i) {
        threads.emplace_back([&, i] {
            auto r = cache.GetOrCompute("report", [&]() -> Result<std::string> {
                ++computations;
                std::this_thread::sleep_for(50ms);  // the others arrive meanwhile
                return std::string("computed");
            });
            seen[i] = r ? *r : r.error().message();
        });
    }
    for (auto& t : threads) t.join();
    EXPECT_EQ(computations, 1);
    for (const auto& s : seen) EXPECT_EQ(s, "computed");
    EXPECT_EQ(GetValue(cache, "report"), "computed");
    // Cached now: no computation at all.
    auto again = cache.GetOrCompute("report", [&]() -> Result<std::string> {
        ++computations;
        return std::string("again");
    });
    EXPECT_EQ(again.value(), "computed");
    EXPECT_EQ(computations, 1);
}

TEST(MemoryCache, AFailedComputationIsNotCachedAndAThrowIsAnError) {
    MemoryCache cache;
    auto failed =
        cache.GetOrCompute("k", [] { return Result<std::string>(MakeError(ErrorCode::kUnavailable, "db down")); });
    ASSERT_FALSE(failed);
    EXPECT_EQ(failed.error().message(), "db down");
    EXPECT_EQ(GetValue(cache, "k"), std::nullopt);
    auto threw = cache.GetOrCompute("k", []() -> Result<std::string> { throw std::runtime_error("boom"); });
    ASSERT_FALSE(threw);
    EXPECT_EQ(threw.error().message(), "cache: the computation threw: boom");
    EXPECT_EQ(cache.GetOrCompute("k", [] { return Result<std::string>("ok"); }).value(), "ok");
}

TEST(MemoryCache, ExportsHitsMissesEvictionsAndEntries) {
    metrics::Registry registry;
    MemoryCache cache({.max_entries = 1, .metrics = &registry, .name = "pages"});
    ASSERT_TRUE(cache.Set("a", "1"));
    (void)cache.Get("a");
    (void)cache.Get("b");
    ASSERT_TRUE(cache.Set("b", "2"));  // evicts a
    const std::string text = registry.Render();
    for (const char* sample :
         {R"(gale_cache_hits_total{cache="pages"} 1)", R"(gale_cache_misses_total{cache="pages"} 1)",
          R"(gale_cache_evictions_total{cache="pages"} 1)", R"(gale_cache_entries{cache="pages"} 1)"}) {
        EXPECT_NE(text.find(sample), std::string::npos) << sample << "\n" << text;
    }
}

}  // namespace
}  // namespace gale::cache
