// SPDX-License-Identifier: MIT
// The notes table: migrations, the rules of a note, reads and writes, and the `database` health check.
#include "notes/store.hpp"

#include <string>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <gale/db/database.hpp>
#include <gale/health/checks.hpp>

#include "temp_dir.hpp"

namespace notes {
namespace {

using gale::health::Status;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

class StoreTest : public ::testing::Test {
protected:
    testing::TempDir dir_;
    gale::db::Database db_ = gale::db::Database::Open(dir_.File("notes.db")).value();
};

TEST_F(StoreTest, MigrationsApplyOnceAndThenNoneArePending) {
    EXPECT_THAT(PendingMigrations(db_).value(), ElementsAre("0001_create_notes"));
    EXPECT_EQ(ApplyMigrations(db_).value(), 1u);
    EXPECT_THAT(PendingMigrations(db_).value(), IsEmpty());
    EXPECT_EQ(ApplyMigrations(db_).value(), 0u);
}

TEST_F(StoreTest, TheCheckFailsUntilTheTableIsMigratedThenCountsTheNotes) {
    NoteStore store(db_);
    auto before = CheckDatabase(store);
    EXPECT_EQ(before.status, Status::kError);
    EXPECT_THAT(before.message, HasSubstr("no such table: notes"));

    ASSERT_TRUE(ApplyMigrations(db_));
    auto empty = CheckDatabase(store);
    EXPECT_EQ(empty.status, Status::kOk);
    EXPECT_EQ(empty.message, "0 notes");

    ASSERT_TRUE(store.Add("a", "b"));
    EXPECT_EQ(CheckDatabase(store).message, "1 note");
    ASSERT_TRUE(store.Add("c", "d"));
    EXPECT_EQ(CheckDatabase(store).message, "2 notes");
}

TEST_F(StoreTest, AddGivesIdsAndFindReadsTheNoteBack) {
    ASSERT_TRUE(ApplyMigrations(db_));
    NoteStore store(db_);
    auto first = store.Add("Groceries", "eggs, milk");
    auto second = store.Add("Call Ada", "");
    ASSERT_TRUE(first && second);
    EXPECT_EQ(first->id, 1);
    EXPECT_EQ(second->id, 2);

    auto found = store.Find(1).value();
    ASSERT_TRUE(found);
    EXPECT_EQ(found->title, "Groceries");
    EXPECT_EQ(found->text, "eggs, milk");
    EXPECT_FALSE(found->ref);
    EXPECT_FALSE(store.Find(3).value());
}

TEST_F(StoreTest, PutCreatesTheNoteOfARefThenReplacesIt) {
    ASSERT_TRUE(ApplyMigrations(db_));
    NoteStore store(db_);
    ASSERT_TRUE(store.Put("crm-1", "Draft", "first words"));
    ASSERT_TRUE(store.Put("crm-1", "Final", "last words"));
    ASSERT_TRUE(store.Put("crm-2", "Other", ""));
    EXPECT_EQ(store.Count().value(), 2);

    auto note = store.Find(1).value();
    ASSERT_TRUE(note);
    EXPECT_EQ(note->title, "Final");
    EXPECT_EQ(note->text, "last words");
    EXPECT_EQ(note->ref, "crm-1");
}

TEST_F(StoreTest, WritesFailBeforeTheMigration) {
    NoteStore store(db_);
    EXPECT_FALSE(store.Add("a", "b"));
    EXPECT_FALSE(store.Put("r", "a", "b"));
    EXPECT_FALSE(store.Find(1));
}

TEST(ValidateNote, TitleAndTextBounds) {
    const Options options{.max_length = 5};
    EXPECT_TRUE(ValidateNote("t", "", options));
    EXPECT_TRUE(ValidateNote(std::string(200, 't'), "12345", options));

    auto empty_title = ValidateNote("", "x", options);
    ASSERT_FALSE(empty_title);
    EXPECT_EQ(empty_title.error().message(), "field 'title': empty");
    auto long_title = ValidateNote(std::string(201, 't'), "x", options);
    ASSERT_FALSE(long_title);
    EXPECT_EQ(long_title.error().message(), "field 'title': longer than 200 bytes");
    auto long_text = ValidateNote("t", "123456", options);
    ASSERT_FALSE(long_text);
    EXPECT_EQ(long_text.error().message(), "field 'text': longer than 5 bytes (NOTES_MAX_LENGTH)");
    EXPECT_EQ(long_text.error().code(), gale::ErrorCode::kInvalidArgument);
}

}  // namespace
}  // namespace notes
