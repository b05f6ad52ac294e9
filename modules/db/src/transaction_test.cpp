// SPDX-License-Identifier: MIT
// Transactions on real SQLite files (PostgreSQL's conflicts are in pool_test.cpp, against a real server).
#include <unistd.h>

#include <filesystem>
#include <thread>

#include <gtest/gtest.h>

#include <gale/db/transaction.hpp>

namespace gale::db {
namespace {

using namespace std::chrono_literals;

class SqliteTransaction : public ::testing::Test {
protected:
    void SetUp() override {
        dir_ = std::filesystem::temp_directory_path() / ("gale-tx-test-" + std::to_string(::getpid()));
        std::filesystem::create_directories(dir_);
        path_ =
            (dir_ / (std::string(::testing::UnitTest::GetInstance()->current_test_info()->name()) + ".db")).string();
        db_ = Open();
        ASSERT_TRUE(db_.ExecScript("CREATE TABLE t (v INTEGER)"));
    }
    void TearDown() override { std::filesystem::remove_all(dir_); }

    /// Another connection to the same file, waiting `busy` for a lock.
    Database Open(std::chrono::milliseconds busy = 5000ms) const {
        auto db = Database::Open(path_, busy);
        EXPECT_TRUE(db) << db.error().message();
        return std::move(*db);
    }
    std::int64_t Count(Database& db) {
        auto rows = db.Query("SELECT COUNT(*) FROM t");
        EXPECT_TRUE(rows) << rows.error().message();
        return rows ? std::get<std::int64_t>((*rows)[0][0]) : -1;
    }

    std::filesystem::path dir_;
    std::string path_;
    Database db_ = *Database::Open(":memory:");
};

TEST_F(SqliteTransaction, CommitsOrRollsBackOnScopeExit) {
    {
        auto tx = Transaction::Begin(db_);
        ASSERT_TRUE(tx) << tx.error().message();
        ASSERT_TRUE(tx->db().Execute("INSERT INTO t VALUES (1)"));
        // Not committed: destroyed, it rolls back.
    }
    EXPECT_EQ(Count(db_), 0);
    {
        auto tx = Transaction::Begin(db_);
        ASSERT_TRUE(tx);
        ASSERT_TRUE(tx->db().Execute("INSERT INTO t VALUES (1)"));
        ASSERT_TRUE(tx->Commit());
        EXPECT_FALSE(tx->open());
        EXPECT_FALSE(tx->Commit()) << "a second commit is an error, not a crash";
    }
    EXPECT_EQ(Count(db_), 1);
}

TEST_F(SqliteTransaction, InTransactionCommitsAValueAndRollsBackAnError) {
    auto id = InTransaction(db_, [](Database& tx) -> Result<std::int64_t> {
        GALE_ASSIGN_OR_RETURN(auto rows, tx.Query("INSERT INTO t VALUES (7) RETURNING v"));
        return std::get<std::int64_t>(rows[0][0]);
    });
    ASSERT_TRUE(id) << id.error().message();
    EXPECT_EQ(*id, 7);
    int runs = 0;
    auto failed = InTransaction(db_, [&](Database& tx) -> Result<void> {
        ++runs;
        GALE_RETURN_IF_ERROR(tx.Execute("INSERT INTO t VALUES (8)"));
        return MakeError(ErrorCode::kInvalidArgument, "no: the body says so");
    });
    ASSERT_FALSE(failed);
    EXPECT_EQ(failed.error().message(), "no: the body says so");
    EXPECT_EQ(runs, 1) << "only a conflict is run again";
    EXPECT_EQ(Count(db_), 1);
}

TEST_F(SqliteTransaction, ABusyDatabaseIsAConflictAndIsRunAgainUntilItIsFree) {
    Database holder = Open();
    auto held = Transaction::Begin(holder);  // BEGIN IMMEDIATE: the write lock
    ASSERT_TRUE(held);
    Database other = Open(/*busy=*/0ms);  // no busy wait: SQLITE_BUSY at once

    // One attempt only: the conflict is returned, and IsConflict says so.
    auto once =
        InTransaction(other, [](Database& tx) { return tx.Execute("INSERT INTO t VALUES (1)").map([](auto) {}); },
                      {.max_attempts = 1});
    ASSERT_FALSE(once);
    EXPECT_TRUE(IsConflict(once.error())) << once.error().message();

    // With retries: the holder lets go after ~60 ms, and a later attempt goes through.
    std::thread release([&] {
        std::this_thread::sleep_for(60ms);
        ASSERT_TRUE(held->Commit());
    });
    const auto started = std::chrono::steady_clock::now();
    auto retried =
        InTransaction(other, [&](Database& tx) { return tx.Execute("INSERT INTO t VALUES (2)").map([](auto) {}); },
                      {.max_attempts = 10, .backoff = 10ms});
    const auto took = std::chrono::steady_clock::now() - started;
    release.join();
    ASSERT_TRUE(retried) << retried.error().message();
    EXPECT_EQ(Count(db_), 1);
    // Without the retries it fails at once (above); it succeeded after the holder's commit, so it was run again.
    EXPECT_GE(took, 50ms);
}

TEST(IsConflict, OnlyForConflictsNotForOtherUnavailableErrors) {
    EXPECT_TRUE(IsConflict(Error(ErrorCode::kUnavailable, "sqlite step: database is locked (in: BEGIN IMMEDIATE)")));
    EXPECT_TRUE(IsConflict(Error(ErrorCode::kUnavailable,
                                 "postgresql: could not serialize access due to concurrent update [40001] (in: …)")));
    EXPECT_TRUE(IsConflict(Error(ErrorCode::kUnavailable, "postgresql: deadlock detected [40P01] (in: UPDATE t)")));
    EXPECT_FALSE(IsConflict(Error(ErrorCode::kUnavailable,
                                  "postgresql: connection to db:5432 lost during the statement, which may or may not "
                                  "have run; the next call reconnects: EOF (in: COMMIT)")));
    EXPECT_FALSE(IsConflict(Error(ErrorCode::kUnavailable, "postgresql: too many connections [53300] (in: SELECT 1)")));
    EXPECT_FALSE(IsConflict(Error(ErrorCode::kInternal, "sqlite step: database is locked (in: x)")));
    auto db = Database::Open(":memory:");
    ASSERT_TRUE(db);
    auto syntax = db->Execute("SELEC 1");
    ASSERT_FALSE(syntax);
    EXPECT_FALSE(IsConflict(syntax.error()));
}

}  // namespace
}  // namespace gale::db
