// SPDX-License-Identifier: MIT
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <mutex>

#include <gtest/gtest.h>

#include <gale/base/testing/gate.hpp>
#include <gale/http/worker_pool.hpp>

namespace gale::http {
namespace {

using namespace std::chrono_literals;
using gale::testing::Gate;

/// A count the test can wait for.
class Counter {
public:
    void Add() {
        {
            std::lock_guard lock(mu_);
            ++n_;
        }
        cv_.notify_all();
    }
    bool WaitFor(int n, std::chrono::milliseconds timeout = 5000ms) {
        std::unique_lock lock(mu_);
        return cv_.wait_for(lock, timeout, [&] { return n_ >= n; });
    }

private:
    std::mutex mu_;
    std::condition_variable cv_;
    int n_ = 0;
};

TEST(WorkerPool, TasksQueuedWithoutAWakeRunOnceWoken) {
    WorkerPool pool(3, 16);
    Counter ran;
    for (int i = 0; i < 5; ++i) ASSERT_TRUE(pool.Submit([&] { ran.Add(); }, /*wake=*/false));
    pool.Wake(5);
    EXPECT_TRUE(ran.WaitFor(5)) << "a batch queued without wakes did not run after Wake";
}

TEST(WorkerPool, AWorkerThatFinishesATaskTakesTheNextWithoutAWake) {
    WorkerPool pool(1, 16);
    Gate gate;
    Counter ran;
    ASSERT_TRUE(pool.Submit([&] {
        gate.Wait();
        ran.Add();
    }));
    ASSERT_TRUE(pool.Submit([&] { ran.Add(); }, /*wake=*/false));
    gate.Open();
    EXPECT_TRUE(ran.WaitFor(2)) << "the queued task waited for a wake-up that never came";
}

TEST(WorkerPool, AFullQueueRefusesAndStopRunsWhatIsQueued) {
    std::atomic<int> ran{0};
    {
        WorkerPool pool(1, 2);
        Gate gate;
        Counter started;
        ASSERT_TRUE(pool.Submit([&] {
            started.Add();
            gate.Wait();
            ++ran;
        }));
        ASSERT_TRUE(started.WaitFor(1));
        EXPECT_TRUE(pool.Submit([&] { ++ran; }, /*wake=*/false));
        EXPECT_TRUE(pool.Submit([&] { ++ran; }));
        EXPECT_FALSE(pool.Submit([&] { ++ran; })) << "a third task waiting over max_queue 2";
        EXPECT_EQ(pool.queued(), 2u);
        gate.Open();
        pool.Stop();
        EXPECT_FALSE(pool.Submit([&] { ++ran; })) << "accepted after Stop";
    }
    EXPECT_EQ(ran.load(), 3);
}

}  // namespace
}  // namespace gale::http
