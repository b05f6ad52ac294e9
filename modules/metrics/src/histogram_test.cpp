// SPDX-License-Identifier: MIT
#include <cmath>
#include <limits>
#include <thread>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <gale/metrics/histogram.hpp>

namespace gale::metrics {
namespace {

using ::testing::ElementsAre;

constexpr int kThreads = 8;
constexpr int kIterations = 50'000;

TEST(Histogram, BucketsAreCumulativeAndBoundsInclusive) {
    Histogram histogram({1, 2, 5});
    for (double v : {0.5, 1.0, 1.5, 3.0, 10.0, -4.0}) histogram.Observe(v);
    const Histogram::Snapshot s = histogram.Collect();
    // le=1 holds 0.5, 1 (bounds are inclusive) and -4; le=2 adds 1.5; le=5 adds 3; +Inf adds 10.
    EXPECT_THAT(s.cumulative_counts, ElementsAre(3, 4, 5, 6));
    EXPECT_EQ(s.count, 6U);
    EXPECT_EQ(s.sum, 12.0);
}

TEST(Histogram, EmptyBoundsCountEverythingInInf) {
    Histogram histogram({});
    histogram.Observe(1);
    histogram.Observe(-1e300);
    EXPECT_THAT(histogram.Collect().cumulative_counts, ElementsAre(2));
}

TEST(Histogram, NaNLandsOnlyInInf) {
    Histogram histogram({1});
    histogram.Observe(std::numeric_limits<double>::quiet_NaN());
    const Histogram::Snapshot s = histogram.Collect();
    EXPECT_THAT(s.cumulative_counts, ElementsAre(0, 1));
    EXPECT_TRUE(std::isnan(s.sum));
}

TEST(Histogram, ManyBucketsSpanSeveralCacheLines) {
    std::vector<double> bounds;
    for (int i = 1; i <= 40; ++i) bounds.push_back(i);
    Histogram histogram(bounds);
    for (int i = 0; i <= 41; ++i) histogram.Observe(i);
    const Histogram::Snapshot s = histogram.Collect();
    ASSERT_EQ(s.cumulative_counts.size(), 41U);
    for (std::size_t i = 0; i < 40; ++i) EXPECT_EQ(s.cumulative_counts[i], i + 2) << i;  // 0 and 1 go to le=1
    EXPECT_EQ(s.cumulative_counts[40], 42U);
    EXPECT_EQ(s.sum, 41.0 * 42 / 2);
}

TEST(Histogram, ConcurrentObservationsAreAllCounted) {
    Histogram histogram({0.5, 1.5});
    std::vector<std::thread> threads;
    threads.reserve(kThreads);
    for (int t = 0; t < kThreads; ++t) {
        threads.emplace_back([&histogram] {
            for (int i = 0; i < kIterations; ++i) histogram.Observe(i % 3);  // 0, 1, 2 in turn
        });
    }
    for (auto& thread : threads) thread.join();
    std::uint64_t zeros = 0;
    std::uint64_t ones = 0;
    double sum = 0;
    for (int i = 0; i < kIterations; ++i) {
        zeros += i % 3 == 0;
        ones += i % 3 == 1;
        sum += i % 3;
    }
    const Histogram::Snapshot s = histogram.Collect();
    const std::uint64_t total = std::uint64_t{kThreads} * kIterations;
    EXPECT_THAT(s.cumulative_counts, ElementsAre(kThreads * zeros, kThreads * (zeros + ones), total));
    EXPECT_EQ(s.count, total);
    EXPECT_EQ(s.sum, kThreads * sum);
}

TEST(Histogram, InvalidBoundsAreABug) {
    GTEST_FLAG_SET(death_test_style, "threadsafe");
    EXPECT_DEATH(Histogram({2, 1}), "check failed");
    EXPECT_DEATH(Histogram({1, std::numeric_limits<double>::infinity()}), "check failed");
}

TEST(Buckets, DefaultsAndExponential) {
    EXPECT_THAT(DefaultBuckets(), ElementsAre(.005, .01, .025, .05, .075, .1, .25, .5, .75, 1, 2.5, 5, 7.5, 10));
    EXPECT_THAT(ExponentialBuckets(1, 2, 4), ElementsAre(1, 2, 4, 8));
    EXPECT_TRUE(ExponentialBuckets(1, 2, 0).empty());
}

}  // namespace
}  // namespace gale::metrics
