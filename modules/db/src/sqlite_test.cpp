// SPDX-License-Identifier: MIT
#include <unistd.h>

#include <filesystem>

#include <gtest/gtest.h>

#include <gale/db/sqlite.hpp>

namespace gale::db {
namespace {

TEST(Sqlite, ExecuteAndQueryWithParameters) {
    auto db = Database::Open(":memory:");
    ASSERT_TRUE(db) << db.error().message();
    ASSERT_TRUE(db->ExecScript("CREATE TABLE t (id INTEGER PRIMARY KEY, name TEXT, score REAL)"));
    auto ins = db->Execute("INSERT INTO t (name, score) VALUES (?, ?)", {std::string("a'b"), 1.5});
    ASSERT_TRUE(ins);
    EXPECT_EQ(ins->changes, 1);
    EXPECT_EQ(ins->last_insert_id, 1);
    auto rows = db->Query("SELECT id, name, score, NULL FROM t WHERE name = ?", {std::string("a'b")});
    ASSERT_TRUE(rows);
    ASSERT_EQ(rows->size(), 1U);
    EXPECT_EQ(std::get<std::int64_t>((*rows)[0][0]), 1);
    EXPECT_EQ(std::get<std::string>((*rows)[0][1]), "a'b");
    EXPECT_DOUBLE_EQ(std::get<double>((*rows)[0][2]), 1.5);
    EXPECT_TRUE(std::holds_alternative<std::nullptr_t>((*rows)[0][3]));
}

TEST(Sqlite, ErrorsNameTheProblem) {
    auto db = Database::Open(":memory:");
    ASSERT_TRUE(db);
    auto bad = db->Query("SELECT * FROM missing");
    ASSERT_FALSE(bad);
    EXPECT_NE(bad.error().message().find("no such table"), std::string::npos);
    auto params = db->Execute("SELECT ?", {});
    ASSERT_FALSE(params);
    EXPECT_NE(params.error().message().find("1 parameters, 0 given"), std::string::npos);
    auto open = Database::Open("/nonexistent-dir/x.db");
    ASSERT_FALSE(open);
    EXPECT_NE(open.error().message().find("/nonexistent-dir/x.db"), std::string::npos);
}

TEST(Migrator, AppliesInOrderOnceAndRollsBackFailures) {
    auto path = std::filesystem::temp_directory_path() / ("gale-migrate-" + std::to_string(::getpid()) + ".db");
    std::filesystem::remove(path);
    {
        auto db = Database::Open(path.string());
        ASSERT_TRUE(db);
        Migrator m(*db, {{"0001_a", "CREATE TABLE a (x INTEGER)"}, {"0002_b", "CREATE TABLE b (y INTEGER)"}});
        EXPECT_EQ(m.Pending()->size(), 2U);
        EXPECT_EQ(m.Apply().value(), 2U);
        EXPECT_EQ(m.Pending()->size(), 0U);
        EXPECT_EQ(m.Apply().value(), 0U);
        Migrator broken(
            *db,
            {{"0001_a", ""}, {"0002_b", ""}, {"0003_bad", "CREATE TABLE c (z INTEGER); SELECT nope FROM nothing"}});
        auto r = broken.Apply();
        ASSERT_FALSE(r);
        EXPECT_NE(r.error().ToString().find("0003_bad"), std::string::npos);
        EXPECT_FALSE(db->Query("SELECT * FROM c"));  // rolled back
        EXPECT_EQ(broken.Pending()->size(), 1U);
    }
    std::filesystem::remove(path);
    std::filesystem::remove(path.string() + "-wal");
    std::filesystem::remove(path.string() + "-shm");
}

}  // namespace
}  // namespace gale::db
