// SPDX-License-Identifier: MIT
#include <gtest/gtest.h>

#include <gale/sentry/rate_limit.hpp>

namespace gale::sentry {
namespace {

using std::chrono::seconds;
const SteadyTime kT0{std::chrono::hours(100)};

TEST(RateLimits, RetryAfterOn429HoldsEverythingBack) {
    RateLimits l;
    l.Update(429, "30", std::nullopt, kT0);
    EXPECT_TRUE(l.IsLimited("error", kT0 + seconds(29)));
    EXPECT_TRUE(l.IsLimited("transaction", kT0 + seconds(29)));
    EXPECT_FALSE(l.IsLimited("error", kT0 + seconds(30)));
}

TEST(RateLimits, RetryAfterDateOrJunkMeansTheDefault) {
    RateLimits l;
    l.Update(429, "Wed, 21 Oct 2015 07:28:00 GMT", std::nullopt, kT0);
    EXPECT_EQ(l.LimitedUntil("error"), kT0 + kDefaultRetryAfter);
    RateLimits m;
    m.Update(429, std::nullopt, std::nullopt, kT0);
    EXPECT_EQ(m.LimitedUntil("error"), kT0 + kDefaultRetryAfter);
}

TEST(RateLimits, SentryHeaderLimitsTheCategoriesItNamesAndWinsOverRetryAfter) {
    RateLimits l;
    l.Update(429, "600", "60:transaction;session:key, 10:error:organization:quota", kT0);
    EXPECT_TRUE(l.IsLimited("transaction", kT0 + seconds(59)));
    EXPECT_TRUE(l.IsLimited("error", kT0 + seconds(9)));
    EXPECT_FALSE(l.IsLimited("error", kT0 + seconds(10)));
    EXPECT_FALSE(l.IsLimited("attachment", kT0 + seconds(1)));  // not named, and Retry-After was overridden
}

TEST(RateLimits, EmptyCategoriesMeanAllAndLimitsOnlyExtend) {
    RateLimits l;
    l.Update(200, std::nullopt, "120::organization", kT0);
    EXPECT_TRUE(l.IsLimited("error", kT0 + seconds(119)));
    l.Update(200, std::nullopt, "5:error:key", kT0);
    EXPECT_TRUE(l.IsLimited("error", kT0 + seconds(100)));  // the longer limit stays
}

TEST(RateLimits, MalformedGroupsAreSkippedAnd200WithoutHeaderChangesNothing) {
    RateLimits l;
    l.Update(200, "60", std::nullopt, kT0);
    EXPECT_FALSE(l.IsLimited("error", kT0));
    l.Update(200, std::nullopt, "abc:error:key, -3:error:key, :::, 1e999:error, 20:error:key", kT0);
    EXPECT_TRUE(l.IsLimited("error", kT0 + seconds(19)));
    EXPECT_FALSE(l.IsLimited("error", kT0 + seconds(20)));
}

TEST(EventBudget, AllowsABurstThenRefillsAtTheRate) {
    EventBudget b(60);
    for (int i = 0; i < 60; ++i) EXPECT_TRUE(b.TryTake(kT0)) << i;
    EXPECT_FALSE(b.TryTake(kT0));
    EXPECT_FALSE(b.HasToken(kT0 + std::chrono::milliseconds(500)));
    EXPECT_TRUE(b.HasToken(kT0 + seconds(1)));  // one token a second at 60/min
    EXPECT_TRUE(b.TryTake(kT0 + seconds(1)));
    EXPECT_FALSE(b.TryTake(kT0 + seconds(1)));
    for (int i = 0; i < 60; ++i) EXPECT_TRUE(b.TryTake(kT0 + seconds(3600))) << i;  // full again, not more
    EXPECT_FALSE(b.TryTake(kT0 + seconds(3600)));
}

}  // namespace
}  // namespace gale::sentry
