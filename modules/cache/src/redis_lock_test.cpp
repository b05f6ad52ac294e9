// SPDX-License-Identifier: MIT
// The Redis lock against a real redis-server started for this test process.
#include <atomic>
#include <thread>

#include <gtest/gtest.h>

#include <gale/cache/redis_lock.hpp>

#include "redis_fixture.hpp"

namespace gale::cache {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

class RedisLockTest : public RedisFixture {
protected:
    void SetUp() override {
        RedisFixture::SetUp();
        if (server_ && !pool_)
            pool_ = std::make_unique<redis::Pool>(server_->connection_options(), redis::PoolOptions{.size = 8});
    }
    static void TearDownTestSuite() {
        pool_.reset();
        RedisFixture::TearDownTestSuite();
    }
    static std::string Name() { return TestName(); }

    static inline std::unique_ptr<redis::Pool> pool_;
};

TEST_F(RedisLockTest, OneHolderAtATimeUnderPythonRedisLocksKeys) {
    RedisLock a(*pool_, Name());
    RedisLock b(*pool_, Name());
    ASSERT_TRUE(a.Acquire(std::nullopt, /*blocking=*/false).value());
    EXPECT_FALSE(b.Acquire(std::nullopt, /*blocking=*/false).value());
    EXPECT_TRUE(b.Locked().value());
    // python-redis-lock's key and value: lock:NAME holds the holder's id.
    auto raw = pool_->Command({"GET", "lock:" + Name()});
    ASSERT_TRUE(raw);
    EXPECT_EQ(raw->AsString("GET").value(), a.id());
    EXPECT_FALSE(a.Acquire(std::nullopt, false)) << "taking it twice is an error";
    ASSERT_TRUE(a.Release());
    EXPECT_FALSE(b.Locked().value());
    EXPECT_TRUE(b.Acquire(std::nullopt, false).value());
    auto again = a.Release();
    ASSERT_FALSE(again) << "a's release must not free b's lock";
    EXPECT_EQ(again.error().code(), ErrorCode::kNotFound);
    EXPECT_TRUE(b.Locked().value());
    ASSERT_TRUE(b.Release());
}

TEST_F(RedisLockTest, AWaiterIsWokenByTheReleaseNotByPolling) {
    RedisLock holder(*pool_, Name());
    ASSERT_TRUE(holder.Acquire().value());
    std::atomic<bool> got = false;
    Clock::time_point got_at{};
    std::thread waiter([&] {
        RedisLock w(*pool_, Name());
        auto r = w.Acquire(10s);
        got_at = Clock::now();
        got = r && *r;
        if (got) (void)w.Release();
    });
    std::this_thread::sleep_for(300ms);
    EXPECT_FALSE(got) << "the waiter got a held lock";
    const auto released_at = Clock::now();
    ASSERT_TRUE(holder.Release());
    waiter.join();
    EXPECT_TRUE(got);
    EXPECT_LT(got_at - released_at, 500ms) << "woken by the signal, well before its 1 s re-check";
}

TEST_F(RedisLockTest, ABoundedWaitGivesUpAndAnExpiredHolderLetsGo) {
    RedisLock holder(*pool_, Name(), {.expire = 400ms});
    ASSERT_TRUE(holder.Acquire().value());
    RedisLock other(*pool_, Name());
    const auto started = Clock::now();
    EXPECT_FALSE(other.Acquire(150ms).value());
    const auto waited = Clock::now() - started;
    EXPECT_GE(waited, 140ms);
    EXPECT_LT(waited, 1s);
    // The holder does not renew: after its expire the lock is free for others, and its release says so.
    EXPECT_TRUE(other.Acquire(3s).value());
    auto late = holder.Release();
    ASSERT_FALSE(late);
    EXPECT_EQ(late.error().code(), ErrorCode::kNotFound);
    EXPECT_TRUE(other.Locked().value()) << "the late release left the new holder's lock alone";
    ASSERT_TRUE(other.Release());
}

TEST_F(RedisLockTest, AutoRenewalKeepsALockPastItsExpire) {
    // Renewed every 667 ms: a third of the expire to spare for a loaded machine.
    RedisLock holder(*pool_, Name(), {.expire = 1000ms, .auto_renewal = true});
    ASSERT_TRUE(holder.Acquire().value());
    std::this_thread::sleep_for(2500ms);  // two and a half expires
    RedisLock other(*pool_, Name());
    EXPECT_FALSE(other.Acquire(std::nullopt, false).value()) << "the renewal kept it";
    ASSERT_TRUE(holder.Extend(5s));
    ASSERT_TRUE(holder.Release());
    EXPECT_TRUE(other.Acquire(std::nullopt, false).value());
    ASSERT_TRUE(other.Release());
    RedisLock bad(*pool_, Name(), {.auto_renewal = true});
    auto refused = bad.Acquire();
    ASSERT_FALSE(refused);
    EXPECT_EQ(refused.error().code(), ErrorCode::kInvalidArgument);
}

TEST_F(RedisLockTest, DestroyedWhileHeldItReleases) {
    {
        RedisLock scoped(*pool_, Name());
        ASSERT_TRUE(scoped.Acquire().value());
    }
    RedisLock next(*pool_, Name());
    EXPECT_TRUE(next.Acquire(std::nullopt, false).value());
    ASSERT_TRUE(next.Release());
}

}  // namespace
}  // namespace gale::cache
