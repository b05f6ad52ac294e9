// SPDX-License-Identifier: MIT
// The pool on real SQLite files and a real PostgreSQL server (PostgresServer starts a throwaway cluster).
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include <gale/db/pool.hpp>
#include <gale/metrics/registry.hpp>

#include "postgres_fixture.hpp"

namespace gale::db {
namespace {

using namespace std::chrono_literals;

class SqlitePool : public ::testing::Test {
protected:
    void SetUp() override {
        dir_ = std::filesystem::temp_directory_path() / ("gale-pool-test-" + std::to_string(::getpid()));
        std::filesystem::create_directories(dir_);
        options_.sqlite_path =
            (dir_ / (std::string(::testing::UnitTest::GetInstance()->current_test_info()->name()) + ".db")).string();
    }
    void TearDown() override { std::filesystem::remove_all(dir_); }

    std::filesystem::path dir_;
    ConnectionOptions options_;
};

TEST_F(SqlitePool, OneWriterAtATimeWhileReadersRead) {
    metrics::Registry registry;
    auto pool = Pool::Open(options_, {.size = 2, .acquire_timeout = 200ms, .metrics = &registry, .name = "app"});
    ASSERT_TRUE(pool) << pool.error().message();
    ASSERT_TRUE((*pool)->Transact([](Database& tx) { return tx.ExecScript("CREATE TABLE t (v INTEGER)"); }));

    auto writer = (*pool)->Acquire(Access::kWrite);
    ASSERT_TRUE(writer);
    // The writer is leased: a second write waits, then times out naming the pool.
    auto second = (*pool)->Acquire(Access::kWrite);
    ASSERT_FALSE(second);
    EXPECT_EQ(second.error().code(), ErrorCode::kTimeout);
    EXPECT_NE(second.error().message().find("database pool 'app': no writer connection free after"), std::string::npos)
        << second.error().message();
    // Readers are other connections: two at once, while the writer is out.
    auto r1 = (*pool)->Acquire(Access::kRead);
    auto r2 = (*pool)->Acquire(Access::kRead);
    ASSERT_TRUE(r1 && r2);
    EXPECT_NE(&**r1, &**r2);
    EXPECT_NE(&**r1, &**writer);
    ASSERT_TRUE((*writer)->Execute("INSERT INTO t VALUES (1)"));
    auto seen = (*r1)->Query("SELECT COUNT(*) FROM t");
    ASSERT_TRUE(seen) << seen.error().message();
    EXPECT_EQ(std::get<std::int64_t>((*seen)[0][0]), 1);

    PoolStats s = (*pool)->stats();
    EXPECT_EQ(s.open, 3u);
    EXPECT_EQ(s.in_use, 3u);
    EXPECT_EQ(s.timeouts, 1u);
    const std::string text = registry.Render();
    EXPECT_NE(text.find(R"(gale_db_pool_connections{pool="app",state="in_use"} 3)"), std::string::npos) << text;
    EXPECT_NE(text.find(R"(gale_db_pool_timeouts_total{pool="app"} 1)"), std::string::npos) << text;
    EXPECT_NE(text.find(R"(gale_db_pool_wait_seconds_count{pool="app"})"), std::string::npos) << text;

    // A lease that goes is someone else's at once: a waiting writer gets it.
    std::atomic<bool> got = false;
    std::thread waiter([&] {
        auto w = (*pool)->Acquire(Access::kWrite);
        got = w.has_value();
    });
    for (auto until = std::chrono::steady_clock::now() + 2s;
         (*pool)->stats().waiting == 0 && std::chrono::steady_clock::now() < until;) {
        std::this_thread::sleep_for(1ms);
    }
    EXPECT_EQ((*pool)->stats().waiting, 1u);
    { auto done = std::move(*writer); }  // given back
    waiter.join();
    EXPECT_TRUE(got);
    r1 = tl::unexpected(Error(ErrorCode::kCancelled, "released"));
    r2 = tl::unexpected(Error(ErrorCode::kCancelled, "released"));
    EXPECT_EQ((*pool)->stats().in_use, 0u);
}

TEST_F(SqlitePool, WritersFromManyThreadsLoseNothing) {
    auto pool = Pool::Open(options_, {.size = 2});
    ASSERT_TRUE(pool) << pool.error().message();
    ASSERT_TRUE((*pool)->Transact([](Database& tx) { return tx.ExecScript("CREATE TABLE n (v INTEGER)"); }));
    ASSERT_TRUE(
        (*pool)->Transact([](Database& tx) { return tx.Execute("INSERT INTO n VALUES (0)").map([](auto) {}); }));
    std::vector<std::thread> threads;
    std::atomic<int> failures = 0;
    for (int t = 0; t < 4; ++t) {
        threads.emplace_back([&] {
            for (int i = 0; i < 50; ++i) {
                auto r = (*pool)->Transact([](Database& tx) -> Result<void> {
                    GALE_ASSIGN_OR_RETURN(auto rows, tx.Query("SELECT v FROM n"));
                    GALE_RETURN_IF_ERROR(tx.Execute("UPDATE n SET v = ?", {std::get<std::int64_t>(rows[0][0]) + 1}));
                    return {};
                });
                if (!r) ++failures;
                auto read = (*pool)->Transact([](Database& tx) { return tx.Query("SELECT v FROM n"); },
                                              {.access = Access::kRead});
                if (!read) ++failures;
            }
        });
    }
    for (auto& t : threads) t.join();
    EXPECT_EQ(failures, 0);
    auto total = (*pool)->Transact([](Database& tx) { return tx.Query("SELECT v FROM n"); }, {.access = Access::kRead});
    ASSERT_TRUE(total);
    EXPECT_EQ(std::get<std::int64_t>((*total)[0][0]), 200);
}

TEST(Pool, AnUnopenableDatabaseFailsOpenNamingIt) {
    ConnectionOptions o;
    o.sqlite_path = "/nonexistent-dir/x.db";
    auto pool = Pool::Open(o);
    ASSERT_FALSE(pool);
    EXPECT_NE(pool.error().message().find("/nonexistent-dir/x.db"), std::string::npos) << pool.error().message();
}

TEST(Pool, InMemorySqliteHasOneConnectionForReadsAndWrites) {
    ConnectionOptions o;
    o.sqlite_path = ":memory:";
    auto pool = Pool::Open(o, {.size = 4, .acquire_timeout = 50ms});
    ASSERT_TRUE(pool);
    ASSERT_TRUE((*pool)->Transact([](Database& tx) { return tx.ExecScript("CREATE TABLE t (v INTEGER)"); }));
    // A read sees the table: it is the same connection (another would see an empty database of its own).
    auto read =
        (*pool)->Transact([](Database& tx) { return tx.Query("SELECT COUNT(*) FROM t"); }, {.access = Access::kRead});
    ASSERT_TRUE(read) << read.error().message();
    auto lease = (*pool)->Acquire(Access::kRead);
    ASSERT_TRUE(lease);
    EXPECT_FALSE((*pool)->Acquire(Access::kWrite)) << "one connection: busy";
}

class PostgresPool : public PostgresFixture {};

TEST_F(PostgresPool, SerializableTransactionsThatConflictAreRunAgainAndLoseNoUpdate) {
    auto pool = Pool::Open(server_->connection_options(), {.size = 4});
    ASSERT_TRUE(pool) << pool.error().message();
    ASSERT_TRUE((*pool)->Transact([](Database& tx) {
        return tx.ExecScript(
            "DROP TABLE IF EXISTS counter; CREATE TABLE counter (v BIGINT); INSERT INTO counter VALUES (0)");
    }));
    std::atomic<int> runs = 0;
    std::atomic<int> failures = 0;
    std::vector<std::thread> threads;
    constexpr int kThreads = 4;
    constexpr int kEach = 25;
    for (int t = 0; t < kThreads; ++t) {
        threads.emplace_back([&] {
            for (int i = 0; i < kEach; ++i) {
                auto r = (*pool)->Transact(
                    [&](Database& tx) -> Result<void> {
                        ++runs;
                        GALE_ASSIGN_OR_RETURN(auto rows, tx.Query("SELECT v FROM counter"));
                        std::this_thread::sleep_for(2ms);  // the others read the same value meanwhile: a conflict
                        GALE_RETURN_IF_ERROR(
                            tx.Execute("UPDATE counter SET v = ?", {std::get<std::int64_t>(rows[0][0]) + 1}));
                        return {};
                    },
                    {.isolation = Isolation::kSerializable, .max_attempts = 50, .backoff = 1ms});
                if (!r) {
                    ++failures;
                    ADD_FAILURE() << r.error().message();
                }
            }
        });
    }
    for (auto& t : threads) t.join();
    EXPECT_EQ(failures, 0);
    auto total =
        (*pool)->Transact([](Database& tx) { return tx.Query("SELECT v FROM counter"); }, {.access = Access::kRead});
    ASSERT_TRUE(total) << total.error().message();
    EXPECT_EQ(std::get<std::int64_t>((*total)[0][0]), kThreads * kEach) << "an update was lost";
    EXPECT_GT(runs.load(), kThreads * kEach) << "no conflict happened, so the retry was not exercised";
    EXPECT_LE((*pool)->stats().open, 4u);
}

TEST_F(PostgresPool, AConflictWithoutRetriesIsReturnedAsOne) {
    auto pool = Pool::Open(server_->connection_options(), {.size = 2});
    ASSERT_TRUE(pool);
    ASSERT_TRUE((*pool)->Transact([](Database& tx) {
        return tx.ExecScript("DROP TABLE IF EXISTS c2; CREATE TABLE c2 (v BIGINT); INSERT INTO c2 VALUES (0)");
    }));
    auto a = (*pool)->Acquire();
    auto b = (*pool)->Acquire();
    ASSERT_TRUE(a && b);
    auto ta = Transaction::Begin(**a, Access::kWrite, Isolation::kSerializable);
    auto tb = Transaction::Begin(**b, Access::kWrite, Isolation::kSerializable);
    ASSERT_TRUE(ta && tb);
    ASSERT_TRUE((*a)->Query("SELECT v FROM c2"));
    ASSERT_TRUE((*b)->Query("SELECT v FROM c2"));
    ASSERT_TRUE((*a)->Execute("UPDATE c2 SET v = v + 1"));
    ASSERT_TRUE(ta->Commit());
    auto update = (*b)->Execute("UPDATE c2 SET v = v + 1");
    ASSERT_FALSE(update) << "the second writer of a serializable snapshot must fail";
    EXPECT_TRUE(IsConflict(update.error())) << update.error().message();
    tb->Rollback();
    auto after = (*b)->Query("SELECT v FROM c2");  // the connection is usable again
    ASSERT_TRUE(after) << after.error().message();
    EXPECT_EQ(std::get<std::int64_t>((*after)[0][0]), 1);
}

}  // namespace
}  // namespace gale::db
