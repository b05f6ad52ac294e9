// SPDX-License-Identifier: MIT
#include <unistd.h>

#include <filesystem>
#include <map>
#include <set>
#include <thread>

#include <gtest/gtest.h>

#include <gale/pipe/embedded_log.hpp>

#include "murmur2.hpp"

namespace gale::pipe {
namespace {

using std::chrono::milliseconds;

const std::string kNewYork = R"(json:{"type":"us-state","version":1,"message":{"code":"NY","name":"New York"}})";

class EmbeddedLogTest : public ::testing::Test {
protected:
    void SetUp() override {
        dir_ =
            std::filesystem::temp_directory_path() / ("gale-pipe-" + std::to_string(::getpid()) + "-" +
                                                      ::testing::UnitTest::GetInstance()->current_test_info()->name());
        std::filesystem::remove_all(dir_);
        std::filesystem::create_directories(dir_);
        path_ = (dir_ / "log.db").string();
    }
    void TearDown() override { std::filesystem::remove_all(dir_); }

    EmbeddedLog OpenLog(EmbeddedLogOptions options = {}) {
        auto log = EmbeddedLog::Open(path_, options);
        EXPECT_TRUE(log) << log.error().ToString();
        return std::move(*log);
    }

    static std::vector<Record> DrainAll(ConsumerBackend& c, bool commit = true) {
        std::vector<Record> out;
        for (;;) {
            auto r = c.Poll(milliseconds(0));
            EXPECT_TRUE(r) << r.error().ToString();
            if (!r || !*r) return out;
            if (commit) {
                EXPECT_TRUE(c.Commit(**r));
            }
            out.push_back(std::move(**r));
        }
    }

    std::filesystem::path dir_;
    std::string path_;
};

TEST_F(EmbeddedLogTest, RefusesInMemoryDatabases) {
    EXPECT_FALSE(EmbeddedLog::Open(":memory:"));
    EXPECT_FALSE(EmbeddedLog::Open(""));
}

TEST_F(EmbeddedLogTest, AppendsWithDenseOffsetsAndReadsInOrder) {
    EmbeddedLog log = OpenLog();
    auto producer = log.Producer().value();
    for (int i = 0; i < 3; ++i) {
        auto md = producer->Send("states", "NY", kNewYork + std::to_string(i));
        ASSERT_TRUE(md) << md.error().ToString();
        EXPECT_EQ(md->topic, "states");
        EXPECT_EQ(md->partition, "0");
        EXPECT_EQ(md->offset, std::to_string(i));
    }
    auto consumer = log.Consumer("g", "states");
    auto records = DrainAll(*consumer);
    ASSERT_EQ(records.size(), 3U);
    for (int i = 0; i < 3; ++i) {
        EXPECT_EQ(records[i].topic, "states");
        EXPECT_EQ(records[i].offset, std::to_string(i));
        EXPECT_EQ(records[i].key, "NY");
        EXPECT_EQ(records[i].value, kNewYork + std::to_string(i));
        EXPECT_GT(records[i].timestamp_ms, 1'600'000'000'000);
    }
    // The committed offset is the next one, as django-logpipe's ModelOffsetStore stores it.
    auto rows = log.database().Query("SELECT next_offset FROM gale_pipe_offsets WHERE consumer_group = 'g'").value();
    ASSERT_EQ(rows.size(), 1U);
    EXPECT_EQ(std::get<std::int64_t>(rows[0][0]), 3);
}

TEST_F(EmbeddedLogTest, BinaryValuesRoundTrip) {
    EmbeddedLog log = OpenLog();
    auto producer = log.Producer().value();
    std::string msgpack("msgpack:\x83\xa4type\x00\xff\x01", 16);
    ASSERT_TRUE(producer->Send("bin", "", msgpack));
    auto consumer = log.Consumer("g", "bin");
    auto records = DrainAll(*consumer);
    ASSERT_EQ(records.size(), 1U);
    EXPECT_EQ(records[0].value, msgpack);
    auto type = log.database().Query("SELECT typeof(value) FROM gale_pipe_records").value();
    EXPECT_EQ(std::get<std::string>(type[0][0]), "blob");
}

TEST_F(EmbeddedLogTest, ResumesFromTheCommittedOffsetAfterARestart) {
    EmbeddedLog log = OpenLog();
    auto producer = log.Producer().value();
    for (int i = 0; i < 5; ++i) ASSERT_TRUE(producer->Send("t", "", "v" + std::to_string(i)));
    {
        auto consumer = log.Consumer("g", "t");
        auto r0 = consumer->Poll(milliseconds(0)).value();
        auto r1 = consumer->Poll(milliseconds(0)).value();
        ASSERT_TRUE(r0 && r1);
        ASSERT_TRUE(consumer->Commit(*r0));  // r1 polled but not committed: a crash now re-reads it
    }
    EmbeddedLog reopened = OpenLog();
    auto consumer = reopened.Consumer("g", "t");
    auto records = DrainAll(*consumer);
    ASSERT_EQ(records.size(), 4U);
    EXPECT_EQ(records[0].value, "v1");
}

TEST_F(EmbeddedLogTest, ConsumerGroupsAreIndependent) {
    EmbeddedLog log = OpenLog();
    auto producer = log.Producer().value();
    for (int i = 0; i < 10; ++i) ASSERT_TRUE(producer->Send("t", "", "v" + std::to_string(i)));
    auto a = log.Consumer("a", "t");
    auto b = log.Consumer("b", "t");
    EXPECT_EQ(DrainAll(*a).size(), 10U);
    EXPECT_EQ(log.Lag("a", "t").value(), 0);
    EXPECT_EQ(log.Lag("b", "t").value(), 10);
    EXPECT_EQ(DrainAll(*b).size(), 10U);
    EXPECT_EQ(log.Lag("b", "t").value(), 0);
}

TEST_F(EmbeddedLogTest, LagCountsRecordsAfterTheCommittedOffsets) {
    EmbeddedLog log = OpenLog({.partitions = 3, .prefetch = 2});
    auto producer = log.Producer().value();
    for (int i = 0; i < 30; ++i) ASSERT_TRUE(producer->Send("t", "k" + std::to_string(i), "v"));
    auto c = log.Consumer("g", "t");
    EXPECT_EQ(c->Lag(), 30);
    for (int i = 0; i < 7; ++i) {
        auto r = c->Poll(milliseconds(0)).value();
        ASSERT_TRUE(r);
        ASSERT_TRUE(c->Commit(*r));
    }
    EXPECT_EQ(c->Lag(), 23);
    EXPECT_EQ(log.Lag("other", "t").value(), 30);
    EXPECT_EQ(log.Lag("g", "no-such-topic").value(), 0);
}

TEST_F(EmbeddedLogTest, RetentionDeletesOldRecordsButNeverReusesOffsets) {
    EmbeddedLog log = OpenLog();
    auto producer = log.Producer().value();
    for (int i = 0; i < 10; ++i) ASSERT_TRUE(producer->Send("t", "", "v" + std::to_string(i)));
    EXPECT_EQ(log.Retain("t", {.max_age = std::nullopt, .max_records = 4}).value(), 6);
    EXPECT_EQ(log.Lag("g", "t").value(), 4);  // a new group starts at the oldest record kept
    auto c = log.Consumer("g", "t");
    auto records = DrainAll(*c);
    ASSERT_EQ(records.size(), 4U);
    EXPECT_EQ(records[0].offset, "6");
    // Age: everything is younger than an hour, nothing older than -1 ms... i.e. all of it is "too old".
    EXPECT_EQ(log.Retain("t", {.max_age = milliseconds(3'600'000), .max_records = std::nullopt}).value(), 0);
    EXPECT_EQ(log.Retain("t", {.max_age = milliseconds(-1'000), .max_records = std::nullopt}).value(), 4);
    auto md = producer->Send("t", "", "after");
    ASSERT_TRUE(md);
    EXPECT_EQ(md->offset, "10");  // the high-water mark survives an empty partition
    auto more = DrainAll(*c);
    ASSERT_EQ(more.size(), 1U);
    EXPECT_EQ(more[0].value, "after");
    EXPECT_EQ(log.Lag("g", "t").value(), 0);
}

TEST_F(EmbeddedLogTest, KeysKeepTheirOrderAcrossPartitions) {
    EmbeddedLog log = OpenLog({.partitions = 4, .prefetch = 3});
    auto producer = log.Producer().value();
    std::map<std::string, std::string> partition_of;
    for (int seq = 0; seq < 20; ++seq) {
        for (int k = 0; k < 10; ++k) {
            std::string key = "key-" + std::to_string(k);
            auto md = producer->Send("t", key, std::to_string(seq));
            ASSERT_TRUE(md);
            EXPECT_EQ(md->partition, std::to_string(detail::Murmur2Partition(key, 4)));
            partition_of[key] = md->partition;
        }
    }
    std::set<std::string> used;
    for (const auto& [k, p] : partition_of) used.insert(p);
    EXPECT_GT(used.size(), 1U);  // the keys really are spread

    auto c = log.Consumer("g", "t");
    std::map<std::string, int> last;
    std::size_t n = 0;
    for (const Record& r : DrainAll(*c)) {
        EXPECT_EQ(r.partition, partition_of[r.key]);
        int seq = std::stoi(r.value);
        auto it = last.find(r.key);
        if (it != last.end()) {
            EXPECT_EQ(seq, it->second + 1) << r.key;
        }
        last[r.key] = seq;
        ++n;
    }
    EXPECT_EQ(n, 200U);
}

TEST_F(EmbeddedLogTest, PlacesKeysLikeKafka) {
    EmbeddedLog log = OpenLog();
    ASSERT_TRUE(log.CreateTopic("twelve", 12));
    EXPECT_FALSE(log.CreateTopic("twelve", 3));
    auto producer = log.Producer().value();
    EXPECT_EQ(producer->Send("twelve", "NY", kNewYork).value().partition, "3");  // reference §1.9
    EXPECT_EQ(producer->Send("twelve", "", kNewYork).value().partition, "9");
}

TEST_F(EmbeddedLogTest, PollWaitsWithoutSpinningAndWakesOnProduce) {
    EmbeddedLog log = OpenLog();
    auto c = log.Consumer("g", "t");
    auto start = std::chrono::steady_clock::now();
    auto none = c->Poll(milliseconds(60));
    ASSERT_TRUE(none);
    EXPECT_FALSE(*none);
    EXPECT_GE(std::chrono::steady_clock::now() - start, milliseconds(60));

    auto producer = log.Producer().value();
    std::thread t([&] {
        std::this_thread::sleep_for(milliseconds(30));
        ASSERT_TRUE(producer->Send("t", "", "hello"));
    });
    start = std::chrono::steady_clock::now();
    auto got = c->Poll(milliseconds(5000));
    auto waited = std::chrono::steady_clock::now() - start;
    t.join();
    ASSERT_TRUE(got && *got);
    EXPECT_EQ((*got)->value, "hello");
    EXPECT_LT(waited, milliseconds(1000));
}

TEST_F(EmbeddedLogTest, SeesRecordsFromAnotherConnection) {
    EmbeddedLog log = OpenLog();
    auto c = log.Consumer("g", "t");
    ASSERT_FALSE(c->Poll(milliseconds(0)).value());
    // A second, independent handle stands in for another process (different notifier is not needed: data_version).
    auto other = db::Database::Open(path_).value();
    std::thread t([&] {
        std::this_thread::sleep_for(milliseconds(30));
        ASSERT_TRUE(other.ExecScript(
            "INSERT INTO gale_pipe_partitions VALUES ('t', 0, 1) ON CONFLICT DO UPDATE SET next_offset = 1;"
            "INSERT INTO gale_pipe_records VALUES ('t', 0, 0, 0, '', CAST('x' AS BLOB));"));
    });
    auto got = c->Poll(milliseconds(5000));
    t.join();
    ASSERT_TRUE(got && *got);
    EXPECT_EQ((*got)->value, "x");
}

// A handler writing the service's own table through the log's connection.
class AppliedHandler final : public MessageHandler {
public:
    AppliedHandler(db::Database db, int fail_on) : db_(std::move(db)), fail_on_(fail_on) {}
    const std::string& type() const noexcept override { return type_; }
    std::int64_t version() const noexcept override { return 1; }
    Result<void> Validate(const Value& m) override {
        if (!m.contains("id")) return MakeError(ErrorCode::kInvalidArgument, "id required");
        return {};
    }
    Result<void> Save(const Value& m) override {
        std::int64_t id = m["id"].get<std::int64_t>();
        GALE_RETURN_IF_ERROR(db_.Execute("INSERT INTO applied (msg_id) VALUES (?)", {id}));
        if (id == fail_on_) return MakeError(ErrorCode::kInternal, "after the insert");  // must be rolled back
        return {};
    }

private:
    std::string type_ = "item";
    db::Database db_;
    int fail_on_;
};

std::string Item(int id) { return R"(json:{"type":"item","version":1,"message":{"id":)" + std::to_string(id) + "}}"; }

TEST_F(EmbeddedLogTest, SaveAndCommitShareOneSqliteTransaction) {
    for (std::size_t batch : {std::size_t{1}, std::size_t{16}}) {
        SCOPED_TRACE(batch);
        EmbeddedLog log = OpenLog();
        ASSERT_TRUE(
            log.database().ExecScript("DROP TABLE IF EXISTS applied;"
                                      "CREATE TABLE applied (msg_id INTEGER PRIMARY KEY)"));
        std::string topic = "items" + std::to_string(batch);
        auto producer = log.Producer().value();
        for (int i = 0; i < 40; ++i) ASSERT_TRUE(producer->Send(topic, "", Item(i)));
        ASSERT_TRUE(producer->Send(topic, "", "json:{broken"));
        auto backend = log.Consumer("g", topic);
        auto dlq = log.DeadLetters();
        ConsumerOptions o;
        o.transaction = log.Transaction();
        o.dead_letters = dlq.get();
        o.batch_size = batch;
        o.max_attempts = 2;
        o.sleep = [](milliseconds) {};
        Consumer c(topic, *backend, o);
        c.Register(std::make_unique<AppliedHandler>(log.database(), 7));
        for (;;) {
            auto r = c.RunOnce(milliseconds(0));
            ASSERT_TRUE(r) << r.error().ToString();
            if (*r == 0) break;
        }
        auto applied = log.database().Query("SELECT COUNT(*), MIN(msg_id), MAX(msg_id) FROM applied").value();
        EXPECT_EQ(std::get<std::int64_t>(applied[0][0]), 39);  // 7 failed twice: rolled back, dead-lettered
        auto seven = log.database().Query("SELECT COUNT(*) FROM applied WHERE msg_id = 7").value();
        EXPECT_EQ(std::get<std::int64_t>(seven[0][0]), 0);
        auto dead = log.database()
                        .Query(
                            "SELECT \"offset\", reason, typeof(value) FROM gale_pipe_dead_letters WHERE topic = ? "
                            "ORDER BY id",
                            {topic})
                        .value();
        ASSERT_EQ(dead.size(), 2U);
        EXPECT_EQ(std::get<std::string>(dead[0][0]), "7");
        EXPECT_NE(std::get<std::string>(dead[0][1]).find("save_failed after 2 attempts"), std::string::npos);
        EXPECT_EQ(std::get<std::string>(dead[0][2]), "blob");
        EXPECT_EQ(std::get<std::string>(dead[1][0]), "40");
        EXPECT_EQ(log.Lag("g", topic).value(), 0);
        EXPECT_EQ(c.Stats().Total(Outcome::kProcessed), 39U);
    }
}

}  // namespace
}  // namespace gale::pipe
