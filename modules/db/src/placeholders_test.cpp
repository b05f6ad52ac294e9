// SPDX-License-Identifier: MIT
#include "placeholders.hpp"

#include <gtest/gtest.h>

namespace gale::db::detail {
namespace {

TEST(Placeholders, NumbersQuestionMarksInOrder) {
    auto t = TranslatePlaceholders("INSERT INTO t (a, b) VALUES (?, ?)");
    EXPECT_EQ(t.sql, "INSERT INTO t (a, b) VALUES ($1, $2)");
    EXPECT_EQ(t.parameter_count, 2);
}

TEST(Placeholders, KeepsNumberedOnesAndCountsAsSqliteDoes) {
    auto t = TranslatePlaceholders("SELECT ?2, ?1, ?");
    EXPECT_EQ(t.sql, "SELECT $2, $1, $3");
    EXPECT_EQ(t.parameter_count, 3);
    auto d = TranslatePlaceholders("SELECT $1 + $2");
    EXPECT_EQ(d.sql, "SELECT $1 + $2");
    EXPECT_EQ(d.parameter_count, 2);
}

TEST(Placeholders, LeavesLiteralsIdentifiersAndCommentsAlone) {
    auto t = TranslatePlaceholders(
        "SELECT '?', 'it''s ?', E'\\' ?', \"col?\", $$ ? $$, $tag$ ?$1 $tag$, ? -- ?\n"
        "/* ? /* ? */ ? */ , ?");
    EXPECT_EQ(t.sql,
              "SELECT '?', 'it''s ?', E'\\' ?', \"col?\", $$ ? $$, $tag$ ?$1 $tag$, $1 -- ?\n"
              "/* ? /* ? */ ? */ , $2");
    EXPECT_EQ(t.parameter_count, 2);
}

TEST(Placeholders, UnterminatedLiteralIsCopiedAsIs) {
    auto t = TranslatePlaceholders("SELECT ?, 'open ?");
    EXPECT_EQ(t.sql, "SELECT $1, 'open ?");
    EXPECT_EQ(t.parameter_count, 1);
}

TEST(Placeholders, IdentifiersContainingDollarAreNotParameters) {
    auto t = TranslatePlaceholders("SELECT a$1 FROM t WHERE x = ?");
    EXPECT_EQ(t.sql, "SELECT a$1 FROM t WHERE x = $1");
    EXPECT_EQ(t.parameter_count, 1);
}

}  // namespace
}  // namespace gale::db::detail
