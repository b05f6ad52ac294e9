// SPDX-License-Identifier: MIT
// Against a real server: PostgresServer starts a throwaway cluster once per test process (ctest runs each test in
// its own process, so each gets its own cluster). Missing server binaries fail these tests; they do not skip.
#include <atomic>
#include <memory>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include <gale/db/migrator.hpp>

#include "postgres_fixture.hpp"

namespace gale::db {
namespace {

class Postgres : public PostgresFixture {
protected:
    static Database Connect() {
        auto db = Database::Connect(server_->connection_options());
        EXPECT_TRUE(db) << db.error().message();
        return std::move(*db);
    }
};

TEST_F(Postgres, ConnectsByFieldsAndByUrl) {
    Database db = Connect();
    EXPECT_EQ(db.engine(), Engine::kPostgresql);
    auto one = db.Query("SELECT 1");
    ASSERT_TRUE(one) << one.error().message();
    EXPECT_EQ(std::get<std::int64_t>((*one)[0][0]), 1);

    ConnectionOptions by_url;
    by_url.engine = Engine::kPostgresql;
    by_url.url = server_->url();
    auto db2 = Database::Connect(by_url);
    ASSERT_TRUE(db2) << db2.error().message();
    auto user = db2->Query("SELECT current_user, current_database()");
    ASSERT_TRUE(user) << user.error().message();
    EXPECT_EQ(std::get<std::string>((*user)[0][0]), server_->options().username);
    EXPECT_EQ(std::get<std::string>((*user)[0][1]), server_->options().database);
    EXPECT_EQ(db2->description().find(server_->options().password), std::string::npos);

    // Through the environment contract.
    std::map<std::string, std::string, std::less<>> env = {{"DATABASE_ENGINE", "postgresql"},
                                                           {"DATABASE_URL", server_->url()}};
    auto opts = OptionsFromEnvironment([&](std::string_view n) -> std::optional<std::string> {
        auto it = env.find(n);
        return it == env.end() ? std::nullopt : std::optional<std::string>(it->second);
    });
    ASSERT_TRUE(opts) << opts.error().message();
    EXPECT_TRUE(Database::Connect(*opts));
}

TEST_F(Postgres, WrongPasswordIsAnErrorWithoutThePassword) {
    ConnectionOptions o = server_->connection_options();
    o.password = "Wrong-Secret-91x";
    auto db = Database::Connect(o);
    ASSERT_FALSE(db);
    EXPECT_EQ(db.error().code(), ErrorCode::kUnavailable);
    const std::string& msg = db.error().message();
    EXPECT_NE(msg.find("password authentication failed"), std::string::npos) << msg;
    EXPECT_NE(msg.find("127.0.0.1:" + std::to_string(server_->port())), std::string::npos) << msg;
    EXPECT_EQ(msg.find("Wrong-Secret-91x"), std::string::npos) << msg;

    ConnectionOptions u;
    u.engine = Engine::kPostgresql;
    u.url = "postgresql://" + server_->options().username +
            ":Wrong-Secret-91x@127.0.0.1:" + std::to_string(server_->port()) + "/" + server_->options().database;
    auto by_url = Database::Connect(u);
    ASSERT_FALSE(by_url);
    EXPECT_EQ(by_url.error().message().find("Wrong-Secret-91x"), std::string::npos) << by_url.error().message();
    EXPECT_NE(by_url.error().message().find("127.0.0.1:" + std::to_string(server_->port())), std::string::npos)
        << by_url.error().message();
}

TEST_F(Postgres, UnreachablePortIsAClearError) {
    ConnectionOptions o = server_->connection_options();
    o.port = server_->port() == 1 ? 2 : 1;  // nothing listens on port 1 on loopback
    auto db = Database::Connect(o);
    ASSERT_FALSE(db);
    EXPECT_EQ(db.error().code(), ErrorCode::kUnavailable);
    const std::string& msg = db.error().message();
    EXPECT_NE(msg.find("cannot connect to 127.0.0.1:" + std::to_string(o.port)), std::string::npos) << msg;
    EXPECT_NE(msg.find("refused"), std::string::npos) << msg;
    EXPECT_EQ(msg.find(o.password), std::string::npos) << msg;
}

TEST_F(Postgres, ExecuteAndQueryWithParameters) {
    Database db = Connect();
    ASSERT_TRUE(
        db.ExecScript("DROP TABLE IF EXISTS t1; CREATE TABLE t1 (id BIGINT GENERATED ALWAYS AS IDENTITY "
                      "PRIMARY KEY, name TEXT, score DOUBLE PRECISION, n INTEGER, price NUMERIC(10,2), "
                      "ok BOOLEAN)"));
    auto ins =
        db.Execute("INSERT INTO t1 (name, score, n, price, ok) VALUES (?, ?, ?, ?, ?)",
                   {std::string("a'b \"c\" ?"), 1.5, std::int64_t{42}, std::string("12.30"), std::string("true")});
    ASSERT_TRUE(ins) << ins.error().message();
    EXPECT_EQ(ins->changes, 1);
    EXPECT_EQ(ins->last_insert_id, 0);  // no RETURNING
    auto ret = db.Execute("INSERT INTO t1 (name, score, n) VALUES (?, ?, ?) RETURNING id", {nullptr, nullptr, nullptr});
    ASSERT_TRUE(ret) << ret.error().message();
    EXPECT_EQ(ret->last_insert_id, 2);
    auto q = db.Query("INSERT INTO t1 (name) VALUES (?) RETURNING id", {std::string("x")});
    ASSERT_TRUE(q) << q.error().message();
    EXPECT_EQ(std::get<std::int64_t>((*q)[0][0]), 3);

    auto rows =
        db.Query("SELECT id, name, score, n, price, ok, NULL FROM t1 WHERE name = ?", {std::string("a'b \"c\" ?")});
    ASSERT_TRUE(rows) << rows.error().message();
    ASSERT_EQ(rows->size(), 1U);
    const Row& r = (*rows)[0];
    EXPECT_EQ(std::get<std::int64_t>(r[0]), 1);
    EXPECT_EQ(std::get<std::string>(r[1]), "a'b \"c\" ?");
    EXPECT_DOUBLE_EQ(std::get<double>(r[2]), 1.5);
    EXPECT_EQ(std::get<std::int64_t>(r[3]), 42);
    EXPECT_EQ(std::get<std::string>(r[4]), "12.30");  // numeric stays text
    EXPECT_EQ(std::get<std::int64_t>(r[5]), 1);       // bool as 0/1
    EXPECT_TRUE(std::holds_alternative<std::nullptr_t>(r[6]));

    auto nulls = db.Query("SELECT name, score, n FROM t1 WHERE id = ?", {std::int64_t{2}});
    ASSERT_TRUE(nulls) << nulls.error().message();
    for (const Value& v : (*nulls)[0]) EXPECT_TRUE(std::holds_alternative<std::nullptr_t>(v));

    auto upd = db.Execute("UPDATE t1 SET n = ? WHERE n IS NULL", {std::int64_t{7}});
    ASSERT_TRUE(upd) << upd.error().message();
    EXPECT_EQ(upd->changes, 2);

    auto count = db.Execute("SELECT ?", {});
    ASSERT_FALSE(count);
    EXPECT_EQ(count.error().code(), ErrorCode::kInvalidArgument);
    EXPECT_NE(count.error().message().find("1 parameters, 0 given"), std::string::npos);
    auto bad = db.Query("SELECT * FROM missing_table");
    ASSERT_FALSE(bad);
    EXPECT_NE(bad.error().message().find("does not exist"), std::string::npos) << bad.error().message();
    EXPECT_NE(bad.error().message().find("42P01"), std::string::npos) << bad.error().message();
}

TEST_F(Postgres, QuestionMarkInsideLiteralIsNotAPlaceholder) {
    Database db = Connect();
    auto rows = db.Query("SELECT '?' AS q, ? AS p, 'it''s ?' AS r /* ? */", {std::string("x")});
    ASSERT_TRUE(rows) << rows.error().message();
    EXPECT_EQ(std::get<std::string>((*rows)[0][0]), "?");
    EXPECT_EQ(std::get<std::string>((*rows)[0][1]), "x");
    EXPECT_EQ(std::get<std::string>((*rows)[0][2]), "it's ?");
    auto dollar = db.Query("SELECT $1::int + 1", {std::int64_t{1}});
    ASSERT_TRUE(dollar) << dollar.error().message();
    EXPECT_EQ(std::get<std::int64_t>((*dollar)[0][0]), 2);
}

TEST_F(Postgres, MigratorAppliesOnceAndRollsBackFailures) {
    Database db = Connect();
    ASSERT_TRUE(db.ExecScript("DROP TABLE IF EXISTS gale_migrations, ma, mb, mc"));
    Migrator m(db, {{"0001_a", "CREATE TABLE ma (x INTEGER)"}, {"0002_b", "CREATE TABLE mb (y INTEGER)"}});
    auto pending = m.Pending();
    ASSERT_TRUE(pending) << pending.error().message();
    EXPECT_EQ(pending->size(), 2U);
    auto applied = m.Apply();
    ASSERT_TRUE(applied) << applied.error().ToString();
    EXPECT_EQ(*applied, 2U);
    EXPECT_EQ(m.Pending()->size(), 0U);
    EXPECT_EQ(m.Apply().value(), 0U);
    auto at = db.Query("SELECT applied_at FROM gale_migrations WHERE id = ?", {std::string("0001_a")});
    ASSERT_TRUE(at);
    EXPECT_EQ(std::get<std::string>((*at)[0][0]).size(), 24U);  // 2024-01-02T03:04:05.678Z

    Migrator broken(
        db, {{"0001_a", ""}, {"0002_b", ""}, {"0003_bad", "CREATE TABLE mc (z INTEGER); SELECT nope FROM nothing"}});
    auto r = broken.Apply();
    ASSERT_FALSE(r);
    EXPECT_NE(r.error().ToString().find("0003_bad"), std::string::npos);
    EXPECT_FALSE(db.Query("SELECT * FROM mc"));  // DDL rolled back too
    EXPECT_EQ(broken.Pending()->size(), 1U);
    EXPECT_TRUE(db.Query("SELECT 1"));  // the connection is usable after the rollback
}

TEST_F(Postgres, ConcurrentUseFromFourThreads) {
    Database db = Connect();
    ASSERT_TRUE(db.ExecScript("DROP TABLE IF EXISTS conc; CREATE TABLE conc (t INTEGER, i INTEGER)"));
    std::atomic<int> failures{0};
    std::vector<std::thread> threads;
    for (int t = 0; t < 4; ++t) {
        threads.emplace_back([&, t] {
            for (int i = 0; i < 50; ++i) {
                if (!db.Execute("INSERT INTO conc (t, i) VALUES (?, ?)", {std::int64_t{t}, std::int64_t{i}}))
                    ++failures;
                auto rows = db.Query("SELECT COUNT(*) FROM conc WHERE t = ?", {std::int64_t{t}});
                if (!rows || std::get<std::int64_t>((*rows)[0][0]) != i + 1) ++failures;
            }
        });
    }
    for (auto& th : threads) th.join();
    EXPECT_EQ(failures.load(), 0);
    auto total = db.Query("SELECT COUNT(*) FROM conc");
    ASSERT_TRUE(total);
    EXPECT_EQ(std::get<std::int64_t>((*total)[0][0]), 200);
}

TEST_F(Postgres, ReconnectsAfterServerRestart) {
    Database db = Connect();
    ASSERT_TRUE(db.Query("SELECT 1"));
    auto pid_before = db.Query("SELECT pg_backend_pid()");
    ASSERT_TRUE(pid_before);

    auto restarted = server_->Restart();
    ASSERT_TRUE(restarted) << restarted.error().message();
    auto after = db.Query("SELECT 2");
    ASSERT_TRUE(after) << after.error().message();
    EXPECT_EQ(std::get<std::int64_t>((*after)[0][0]), 2);

    // Down: a clear error naming the server; up again: the next call reconnects.
    ASSERT_TRUE(server_->Stop());
    auto down = db.Query("SELECT 3");
    ASSERT_FALSE(down);
    EXPECT_EQ(down.error().code(), ErrorCode::kUnavailable);
    EXPECT_NE(down.error().message().find("127.0.0.1:" + std::to_string(server_->port())), std::string::npos)
        << down.error().message();
    EXPECT_EQ(down.error().message().find(server_->options().password), std::string::npos);
    auto again = server_->StartAgain();
    ASSERT_TRUE(again) << again.error().message();
    auto up = db.Query("SELECT 4");
    ASSERT_TRUE(up) << up.error().message();
}

TEST_F(Postgres, StatementsArePreparedOnceAndSurviveReconnectsAndTableChanges) {
    Database db = Connect();
    ASSERT_TRUE(db.ExecScript("DROP TABLE IF EXISTS prep; CREATE TABLE prep (a BIGINT)"));
    for (int i = 0; i < 3; ++i) {
        ASSERT_TRUE(db.Execute("INSERT INTO prep (a) VALUES (?)", {std::int64_t{i}}));
        ASSERT_TRUE(db.Query("SELECT a, ? FROM prep", {std::string("x")}));
    }
    // The session holds one prepared statement for the query, however often it ran (with its $1: as sent).
    auto prepared = db.Query("SELECT COUNT(*) FROM pg_prepared_statements WHERE statement = 'SELECT a, $1 FROM prep'");
    ASSERT_TRUE(prepared) << prepared.error().message();
    EXPECT_EQ(std::get<std::int64_t>((*prepared)[0][0]), 1);

    // A column added under the prepared SELECT *: the server refuses the old plan; gale runs it afresh.
    ASSERT_TRUE(db.Query("SELECT * FROM prep"));
    ASSERT_TRUE(db.ExecScript("ALTER TABLE prep ADD COLUMN b TEXT DEFAULT 'y'"));
    auto wider = db.Query("SELECT * FROM prep");
    ASSERT_TRUE(wider) << wider.error().message();
    ASSERT_EQ(wider->size(), 3u);
    EXPECT_EQ((*wider)[0].size(), 2u);
    EXPECT_TRUE(db.Query("SELECT * FROM prep")) << "and prepares it again";

    // A restart ends the session and its statements: the same statement is prepared again on the new one.
    auto restarted = server_->Restart();
    ASSERT_TRUE(restarted) << restarted.error().message();
    auto after = db.Query("SELECT a, ? FROM prep", {std::string("x")});
    ASSERT_TRUE(after) << after.error().message();
    EXPECT_EQ(after->size(), 3u);
}

TEST_F(Postgres, PreparedStatementsCanBeTurnedOffForATransactionPooler) {
    ConnectionOptions o = server_->connection_options();
    o.prepared_statements = false;
    auto db = Database::Connect(o);
    ASSERT_TRUE(db) << db.error().message();
    for (int i = 0; i < 2; ++i) ASSERT_TRUE(db->Query("SELECT ? + 1", {std::int64_t{i}}));
    auto prepared = db->Query("SELECT COUNT(*) FROM pg_prepared_statements");
    ASSERT_TRUE(prepared) << prepared.error().message();
    EXPECT_EQ(std::get<std::int64_t>((*prepared)[0][0]), 0);
}

TEST_F(Postgres, LostTransactionIsReportedNotSilentlyContinued) {
    Database db = Connect();
    ASSERT_TRUE(db.ExecScript("DROP TABLE IF EXISTS lost; CREATE TABLE lost (x INTEGER)"));
    ASSERT_TRUE(db.ExecScript("BEGIN"));
    ASSERT_TRUE(db.Execute("INSERT INTO lost VALUES (1)"));
    ASSERT_TRUE(server_->Restart());
    auto next = db.Execute("INSERT INTO lost VALUES (2)");
    ASSERT_FALSE(next);
    EXPECT_NE(next.error().message().find("inside a transaction"), std::string::npos) << next.error().message();
    (void)db.ExecScript("ROLLBACK");
    auto rows = db.Query("SELECT COUNT(*) FROM lost");
    ASSERT_TRUE(rows) << rows.error().message();
    EXPECT_EQ(std::get<std::int64_t>((*rows)[0][0]), 0);
}

}  // namespace
}  // namespace gale::db
