// SPDX-License-Identifier: MIT
// The log-pipe consumer as `notes consume` runs it, on a real embedded log in a temporary SQLite file: records go in
// through a producer (SendNote, or raw bytes as django-logpipe writes them), MakeNoteConsumer's consumer takes them
// out, and the notes table (another SQLite file, as the service's database) shows what was saved.
#include "notes/inbox.hpp"

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string>
#include <variant>

#include <gtest/gtest.h>

#include <gale/db/database.hpp>
#include <gale/pipe/consumer.hpp>
#include <gale/pipe/embedded_log.hpp>

#include "notes/store.hpp"
#include "temp_dir.hpp"

namespace notes {
namespace {

using gale::pipe::Outcome;
using std::chrono::milliseconds;
using std::chrono::seconds;

class InboxTest : public ::testing::Test {
protected:
    void SetUp() override { ASSERT_TRUE(ApplyMigrations(db_)); }

    /// Appends raw bytes to the topic, as any producer (a Django service with django-logpipe) would.
    void SendRaw(const std::string& key, const std::string& value) {
        auto producer = log_.Producer();
        ASSERT_TRUE(producer);
        ASSERT_TRUE((*producer)->Send(kNotesTopic, key, value));
    }

    std::int64_t DeadLetters() {
        auto rows = log_.database().Query("SELECT COUNT(*) FROM gale_pipe_dead_letters").value();
        return std::get<std::int64_t>(rows.at(0).at(0));
    }

    /// The consumer as the service builds it, saving through a connection of its own.
    gale::app::ConsumerSpec MakeConsumer() {
        return MakeNoteConsumer(log_, NoteStore(gale::db::Database::Open(dir_.File("notes.db")).value()), options_);
    }

    testing::TempDir dir_;
    gale::db::Database db_ = gale::db::Database::Open(dir_.File("notes.db")).value();
    gale::pipe::EmbeddedLog log_ = gale::pipe::EmbeddedLog::Open(dir_.File("notes-pipe.db")).value();
    NoteStore store_{db_};
    Options options_{.max_length = 20};
};

TEST_F(InboxTest, ASentNoteIsSavedAndASecondMessageWithItsRefReplacesIt) {
    auto sent = SendNote(log_, {"crm-42", "Call Ada", "about the invoice"});
    ASSERT_TRUE(sent) << sent.error().message();
    EXPECT_EQ(sent->topic, "notes");
    EXPECT_EQ(sent->offset, "0");

    gale::app::ConsumerSpec spec = MakeConsumer();
    EXPECT_EQ(spec.consumer->RunOnce(seconds(5)).value(), 1u);
    auto note = store_.Find(1).value();
    ASSERT_TRUE(note);
    EXPECT_EQ(note->ref, "crm-42");
    EXPECT_EQ(note->title, "Call Ada");
    EXPECT_EQ(note->text, "about the invoice");

    ASSERT_TRUE(SendNote(log_, {"crm-42", "Ada called back", ""}));
    EXPECT_EQ(spec.consumer->RunOnce(seconds(5)).value(), 1u);
    EXPECT_EQ(store_.Count().value(), 1);
    EXPECT_EQ(store_.Find(1).value()->title, "Ada called back");
    EXPECT_EQ(spec.consumer->Stats().Total(Outcome::kProcessed), 2u);
}

TEST_F(InboxTest, DjangoLogpipesBytesAreUnderstood) {
    SendRaw("crm-7", R"(json:{"type":"note","version":1,"message":{"ref":"crm-7","title":"From Django","text":"hi"}})");
    gale::app::ConsumerSpec spec = MakeConsumer();
    EXPECT_EQ(spec.consumer->RunOnce(seconds(5)).value(), 1u);
    auto note = store_.Find(1).value();
    ASSERT_TRUE(note);
    EXPECT_EQ(note->ref, "crm-7");
    EXPECT_EQ(note->title, "From Django");
}

TEST_F(InboxTest, InvalidNotesAreSkippedAndUndecodableRecordsDeadLettered) {
    ASSERT_TRUE(SendNote(log_, {"", "no ref", ""}));
    ASSERT_TRUE(SendNote(log_, {"crm-1", "", "no title"}));
    ASSERT_TRUE(SendNote(log_, {"crm-2", "too long", "more than twenty bytes"}));
    SendRaw("crm-3", R"(json:{"type":"note","version":1,"message":{"ref":"crm-3","title":5,"text":""}})");
    SendRaw("", "json:{not json");
    ASSERT_TRUE(SendNote(log_, {"crm-4", "fine", "kept"}));

    gale::app::ConsumerSpec spec = MakeConsumer();
    std::size_t handled = 0;
    while (handled < 6) {
        auto n = spec.consumer->RunOnce(seconds(5));
        ASSERT_TRUE(n) << n.error().message();
        ASSERT_GT(*n, 0u) << "records left unconsumed";
        handled += *n;
    }
    gale::pipe::ConsumerStats stats = spec.consumer->Stats();
    EXPECT_EQ(stats.Total(Outcome::kSkippedInvalid), 4u);
    EXPECT_EQ(stats.Total(Outcome::kDeadLettered), 1u);
    EXPECT_EQ(stats.Total(Outcome::kProcessed), 1u);
    EXPECT_EQ(DeadLetters(), 1);
    EXPECT_EQ(store_.Count().value(), 1);
    EXPECT_EQ(store_.Find(1).value()->ref, "crm-4");
}

TEST_F(InboxTest, AMessageDeliveredTwiceChangesNothingTheSecondTime) {
    ASSERT_TRUE(SendNote(log_, {"crm-5", "Twice", "the same bytes"}));
    ASSERT_TRUE(SendNote(log_, {"crm-5", "Twice", "the same bytes"}));
    gale::app::ConsumerSpec spec = MakeConsumer();
    EXPECT_EQ(spec.consumer->RunOnce(seconds(5)).value(), 1u);
    EXPECT_EQ(spec.consumer->RunOnce(seconds(5)).value(), 1u);
    EXPECT_EQ(store_.Count().value(), 1);
    auto note = store_.Find(1).value();
    ASSERT_TRUE(note);
    EXPECT_EQ(note->title, "Twice");
    EXPECT_EQ(note->text, "the same bytes");
}

TEST_F(InboxTest, OffsetsAreCommittedAfterTheSaveSoARestartedConsumerTakesOnlyNewRecords) {
    ASSERT_TRUE(SendNote(log_, {"crm-1", "one", ""}));
    {
        gale::app::ConsumerSpec first = MakeConsumer();
        EXPECT_EQ(first.consumer->RunOnce(seconds(5)).value(), 1u);
    }
    ASSERT_TRUE(SendNote(log_, {"crm-2", "two", ""}));
    gale::app::ConsumerSpec restarted = MakeConsumer();
    EXPECT_EQ(restarted.consumer->RunOnce(seconds(5)).value(), 1u);
    EXPECT_EQ(restarted.consumer->RunOnce(milliseconds(0)).value(), 0u);
    EXPECT_EQ(store_.Count().value(), 2);
    EXPECT_EQ(restarted.consumer->Stats().Total(Outcome::kProcessed), 1u);
}

}  // namespace
}  // namespace notes
