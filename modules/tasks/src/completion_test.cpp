// SPDX-License-Identifier: MIT
// RunOnce on SQLite and PostgreSQL: the effect and the completion record commit together; a second run finds the
// record; a failing body leaves nothing; two concurrent runs of one id commit one effect.
#include <thread>

#include <gtest/gtest.h>

#include <gale/db/testing/postgres_server.hpp>
#include <gale/tasks/completion.hpp>

#include "test_util.hpp"

namespace gale::tasks {
namespace {

TaskRequest Request(const std::string& id) {
    TaskRequest r;
    r.task = "t.visit";
    r.id = id;
    return r;
}

std::int64_t Count(db::Database& db) {
    auto rows = db.Query("SELECT COUNT(*) FROM visits");
    return rows ? std::get<std::int64_t>((*rows)[0][0]) : -1;
}

void ExercisesRunOnce(db::Database& db) {
    ASSERT_TRUE(EnsureCompletionTable(db));
    ASSERT_TRUE(EnsureCompletionTable(db));  // idempotent
    ASSERT_TRUE(db.ExecScript("CREATE TABLE IF NOT EXISTS visits (name TEXT NOT NULL)"));
    int bodies = 0;
    auto visit = [&](db::Database& tx) -> Result<nlohmann::json> {
        ++bodies;
        GALE_RETURN_IF_ERROR(tx.Execute("INSERT INTO visits (name) VALUES (?)", {std::string("ada")}));
        return nlohmann::json{{"visits", bodies}};
    };
    TaskRequest r = Request("id-1");
    TaskContext ctx(r);
    auto first = RunOnce(db, ctx, visit);
    ASSERT_TRUE(first) << first.error().ToString();
    EXPECT_EQ((*first)["visits"], 1);
    auto again = RunOnce(db, ctx, visit);  // delivered again after a crash before the ack
    ASSERT_TRUE(again);
    EXPECT_EQ(*again, *first);  // the recorded result
    EXPECT_EQ(bodies, 1);
    EXPECT_EQ(Count(db), 1);

    TaskRequest f = Request("id-2");
    TaskContext fctx(f);
    auto failing = RunOnce(db, fctx, [&](db::Database& tx) -> Result<nlohmann::json> {
        GALE_RETURN_IF_ERROR(tx.Execute("INSERT INTO visits (name) VALUES (?)", {std::string("bob")}));
        return MakeError(ErrorCode::kUnavailable, "downstream failed");
    });
    ASSERT_FALSE(failing);
    EXPECT_EQ(failing.error().message(), "downstream failed");
    EXPECT_EQ(Count(db), 1);  // rolled back, and no record: it may run again
    auto retried = RunOnce(db, fctx, visit);
    ASSERT_TRUE(retried);
    EXPECT_EQ(Count(db), 2);
    auto purged = PurgeCompletions(db, std::chrono::milliseconds(-1000));
    ASSERT_TRUE(purged);
    EXPECT_EQ(*purged, 2);
}

TEST(RunOnce, OnSqlite) {
    testing::TempDir dir;
    auto db = db::Database::Open(dir.File("app.db"));
    ASSERT_TRUE(db);
    ExercisesRunOnce(*db);
}

TEST(RunOnce, OnPostgresqlTwoConcurrentRunsCommitOneEffect) {
    auto server = db::testing::PostgresServer::Start();
    ASSERT_TRUE(server) << server.error().ToString();
    auto options = (*server)->connection_options();
    auto db = db::Database::Connect(options);
    ASSERT_TRUE(db) << db.error().ToString();
    ExercisesRunOnce(*db);

    // Two connections run the same id at once (two workers after an expired lease): one effect, one result.
    auto a = db::Database::Connect(options);
    auto b = db::Database::Connect(options);
    ASSERT_TRUE(a && b);
    TaskRequest r = Request("id-race");
    std::atomic<int> inside{0};
    auto body = [&](db::Database& tx) -> Result<nlohmann::json> {
        GALE_RETURN_IF_ERROR(tx.Execute("INSERT INTO visits (name) VALUES (?)", {std::string("race")}));
        ++inside;
        while (inside.load() < 2) std::this_thread::sleep_for(std::chrono::milliseconds(1));  // both in the body
        return nlohmann::json("done");
    };
    Result<nlohmann::json> ra = nlohmann::json(), rb = nlohmann::json();
    std::thread ta([&] {
        TaskContext ctx(r);
        ra = RunOnce(*a, ctx, body);
    });
    std::thread tb([&] {
        TaskContext ctx(r);
        rb = RunOnce(*b, ctx, body);
    });
    ta.join();
    tb.join();
    ASSERT_TRUE(ra) << ra.error().ToString();
    ASSERT_TRUE(rb) << rb.error().ToString();
    EXPECT_EQ(*ra, "done");
    EXPECT_EQ(*rb, "done");
    auto rows = db->Query("SELECT COUNT(*) FROM visits WHERE name = 'race'");
    ASSERT_TRUE(rows);
    EXPECT_EQ(std::get<std::int64_t>((*rows)[0][0]), 1);
}

}  // namespace
}  // namespace gale::tasks
