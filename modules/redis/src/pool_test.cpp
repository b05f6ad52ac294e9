// SPDX-License-Identifier: MIT
// Pool against a real redis-server (label `redis`).
#include <atomic>
#include <thread>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <gale/redis/pool.hpp>

#include "test_server.hpp"

namespace gale::redis {
namespace {

using test::Ms;
using test::Since;
using Clock = std::chrono::steady_clock;

TEST(RedisPool, ThreadsShareAFewConnections) {
    GALE_SHARED_REDIS(server);
    Pool pool(server->connection_options(2), {.size = 3});
    ASSERT_TRUE(pool.Command({"DEL", "counter"}));
    std::atomic<int> failures{0};
    std::vector<std::thread> threads;
    for (int t = 0; t < 8; ++t) {
        threads.emplace_back([&] {
            for (int i = 0; i < 200; ++i) {
                if (!pool.Command({"INCR", "counter"})) ++failures;
            }
        });
    }
    for (auto& t : threads) t.join();
    EXPECT_EQ(failures.load(), 0);
    EXPECT_EQ(*pool.Command({"GET", "counter"}), Reply::String("1600"));
    auto clients = pool.Command({"CLIENT", "LIST"});
    ASSERT_TRUE(clients);
    // At most 3 of this pool's connections (db=2) exist.
    std::size_t in_db2 = 0;
    for (std::size_t at = clients->str.find("db=2 "); at != std::string::npos;
         at = clients->str.find("db=2 ", at + 1)) {
        ++in_db2;
    }
    EXPECT_GE(in_db2, 1U);
    EXPECT_LE(in_db2, 3U);
}

TEST(RedisPool, AcquireWaitsAtMostItsTimeout) {
    GALE_SHARED_REDIS(server);
    Pool pool(server->connection_options(), {.size = 2, .acquire_timeout = Ms(200)});
    auto a = pool.Acquire();
    auto b = pool.Acquire();
    ASSERT_TRUE(a && b);
    const auto start = Clock::now();
    auto c = pool.Acquire();
    ASSERT_FALSE(c);
    EXPECT_EQ(c.error().code(), ErrorCode::kTimeout);
    EXPECT_GE(Since(start), Ms(150));
    EXPECT_LT(Since(start), Ms(2000));
    // A returned connection is lent again (the same one: it stays connected).
    Connection* first = &**a;
    ASSERT_TRUE((*a)->Command({"PING"}));
    { auto drop = std::move(*a); }
    auto again = pool.Acquire();
    ASSERT_TRUE(again);
    EXPECT_EQ(&**again, first);
    EXPECT_TRUE((*again)->connected());
}

}  // namespace
}  // namespace gale::redis
