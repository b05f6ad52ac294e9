// SPDX-License-Identifier: MIT
// Kinesis client, producer and consumer: against a real moto_server (started on a free loopback port; the tests
// fail if it is missing) and against canned replies through KinesisTransport for what moto cannot show.
#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <gale/aws/testing/moto_server.hpp>
#include <gale/db/database.hpp>
#include <gale/db/testing/postgres_server.hpp>
#include <gale/pipe/consumer.hpp>
#include <gale/pipe/kinesis.hpp>

namespace gale::pipe {
namespace {

using nlohmann::json;
using ::testing::HasSubstr;

KinesisOptions BaseOptions() {
    KinesisOptions options;
    options.region = "us-east-1";
    options.access_key_id = "testing";
    options.secret_access_key = "testing";
    options.sleep = [](std::chrono::milliseconds) {};
    return options;
}

std::string TempDbPath(const std::string& name) {
    std::string path = "/tmp/gale-kinesis-test-" + std::to_string(getpid()) + "-" + name + ".db";
    std::remove(path.c_str());
    std::remove((path + "-wal").c_str());
    std::remove((path + "-shm").c_str());
    return path;
}

class KinesisMotoTest : public ::testing::Test {
protected:
    static void SetUpTestSuite() { moto_ = new aws::testing::MotoServer(); }
    static void TearDownTestSuite() {
        delete moto_;
        moto_ = nullptr;
    }
    void SetUp() override { ASSERT_TRUE(moto_->problem().empty()) << moto_->problem(); }

    static std::shared_ptr<KinesisClient> Client() {
        KinesisOptions options = BaseOptions();
        options.endpoint_url = moto_->url();
        return std::make_shared<KinesisClient>(std::move(options));
    }

    static void CreateStream(const KinesisClient& client, const std::string& name, int shards) {
        ASSERT_TRUE(client.CreateStream(name, shards)) << name;
        auto summary = client.DescribeStreamSummary(name);
        ASSERT_TRUE(summary) << summary.error().ToString();
        EXPECT_EQ(summary->status, "ACTIVE");
        EXPECT_EQ(summary->open_shard_count, shards);
    }

    // Polls until `count` records arrived (or a bound of empty polls passed), committing each.
    static std::vector<Record> Drain(KinesisConsumer& consumer, std::size_t count, bool commit = true) {
        std::vector<Record> got;
        int empty_polls = 0;
        while (got.size() < count && empty_polls < 20) {
            auto record = consumer.Poll(std::chrono::milliseconds(0));
            EXPECT_TRUE(record) << record.error().ToString();
            if (!record) break;
            if (!*record) {
                ++empty_polls;
                continue;
            }
            if (commit) {
                EXPECT_TRUE(consumer.Commit(**record));
            }
            got.push_back(std::move(**record));
        }
        return got;
    }

    static aws::testing::MotoServer* moto_;
};

aws::testing::MotoServer* KinesisMotoTest::moto_ = nullptr;

// Values are "<key>:<n>" with n increasing per key.
void ExpectPerKeyOrder(const std::vector<Record>& records) {
    std::map<std::string, int> last;
    for (const Record& r : records) {
        const auto colon = r.value.find(':');
        ASSERT_NE(colon, std::string::npos) << r.value;
        EXPECT_EQ(r.value.substr(0, colon), r.key);
        const int n = std::stoi(r.value.substr(colon + 1));
        auto [it, inserted] = last.try_emplace(r.key, n);
        if (!inserted) {
            EXPECT_GT(n, it->second) << "key " << r.key << " out of order";
            it->second = n;
        }
    }
}

TEST_F(KinesisMotoTest, ProducesAndConsumesInKeyOrderAndResumesFromStoredOffsets) {
    auto client = Client();
    CreateStream(*client, "orders", 3);
    KinesisProducer producer(client);
    const std::vector<std::string> keys = {"alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf"};
    std::map<std::string, int> counters;
    std::map<std::string, std::string> partition_of_key;
    for (int i = 0; i < 50; ++i) {
        const std::string& key = keys[static_cast<std::size_t>(i) % keys.size()];
        auto sent = producer.Send("orders", key, key + ":" + std::to_string(counters[key]++));
        ASSERT_TRUE(sent) << sent.error().ToString();
        EXPECT_EQ(sent->topic, "orders");
        EXPECT_THAT(sent->partition, HasSubstr("shardId-"));
        EXPECT_FALSE(sent->offset.empty());
        auto [it, inserted] = partition_of_key.try_emplace(key, sent->partition);
        EXPECT_EQ(it->second, sent->partition) << "a key stays on one shard";
    }

    const std::string path = TempDbPath("orders");
    {
        auto db = db::Database::Open(path);
        ASSERT_TRUE(db) << db.error().ToString();
        auto consumer = KinesisConsumer::Open(client, *db, {.stream = "orders"});
        ASSERT_TRUE(consumer) << consumer.error().ToString();
        EXPECT_EQ((*consumer)->readable_shards().size(), 3u);
        std::vector<Record> got = Drain(**consumer, 50);
        ASSERT_EQ(got.size(), 50u);
        ExpectPerKeyOrder(got);
        for (const Record& r : got) EXPECT_EQ(r.partition, partition_of_key[r.key]);
        EXPECT_GT(got.front().timestamp_ms, 1600000000000);  // ApproximateArrivalTimestamp, in ms
        EXPECT_FALSE((*consumer)->Lag().has_value());
        EXPECT_TRUE((*consumer)->millis_behind().has_value());
        auto none = (*consumer)->Poll(std::chrono::milliseconds(0));
        ASSERT_TRUE(none);
        EXPECT_FALSE(none->has_value());

        auto rows = db->Query("SELECT region, stream, shard, sequence_number FROM logpipe_kinesisoffset");
        ASSERT_TRUE(rows) << rows.error().ToString();
        std::set<std::string> shards_with_data;
        for (const auto& [key, shard] : partition_of_key) shards_with_data.insert(shard);
        EXPECT_EQ(rows->size(), shards_with_data.size());
        for (const db::Row& row : *rows) {
            EXPECT_EQ(std::get<std::string>(row[0]), "us-east-1");
            EXPECT_EQ(std::get<std::string>(row[1]), "orders");
        }
    }
    {
        // Reopened: nothing re-delivered; new records only.
        auto db = db::Database::Open(path);
        ASSERT_TRUE(db);
        auto consumer = KinesisConsumer::Open(client, *db, {.stream = "orders"});
        ASSERT_TRUE(consumer) << consumer.error().ToString();
        EXPECT_TRUE(Drain(**consumer, 1).empty());
        for (const std::string& key : keys) {
            ASSERT_TRUE(producer.Send("orders", key, key + ":" + std::to_string(counters[key]++)));
        }
        std::vector<Record> got = Drain(**consumer, keys.size());
        ASSERT_EQ(got.size(), keys.size());
        for (const Record& r : got) EXPECT_EQ(r.value, r.key + ":" + std::to_string(counters[r.key] - 1));
    }
}

TEST_F(KinesisMotoTest, OffsetsLiveInPostgresqlToo) {
    // The same offset table and upsert on a real PostgreSQL (Debian's postgresql, started by the test).
    auto server = db::testing::PostgresServer::Start();
    ASSERT_TRUE(server) << server.error().ToString();
    auto client = Client();
    CreateStream(*client, "pg-orders", 2);
    KinesisProducer producer(client);
    for (int i = 0; i < 10; ++i)
        ASSERT_TRUE(producer.Send("pg-orders", "k" + std::to_string(i % 3), std::to_string(i)));
    {
        auto db = db::Database::Connect((*server)->connection_options());
        ASSERT_TRUE(db) << db.error().ToString();
        auto consumer = KinesisConsumer::Open(client, *db, {.stream = "pg-orders"});
        ASSERT_TRUE(consumer) << consumer.error().ToString();
        ASSERT_EQ(Drain(**consumer, 10).size(), 10u);
        auto rows = db->Query("SELECT region, stream, shard, sequence_number FROM logpipe_kinesisoffset");
        ASSERT_TRUE(rows) << rows.error().ToString();
        EXPECT_FALSE(rows->empty());
    }
    {
        auto db = db::Database::Connect((*server)->connection_options());
        ASSERT_TRUE(db);
        auto consumer = KinesisConsumer::Open(client, *db, {.stream = "pg-orders"});
        ASSERT_TRUE(consumer) << consumer.error().ToString();
        EXPECT_TRUE(Drain(**consumer, 1).empty()) << "nothing re-delivered after reopening";
        ASSERT_TRUE(producer.Send("pg-orders", "k1", "new"));
        auto got = Drain(**consumer, 1);
        ASSERT_EQ(got.size(), 1u);
        EXPECT_EQ(got[0].value, "new");
    }
}

TEST_F(KinesisMotoTest, ListShardsFollowsNextToken) {
    auto client = Client();
    CreateStream(*client, "paged", 4);
    auto shards = client->ListShards("paged", 1);
    ASSERT_TRUE(shards) << shards.error().ToString();
    ASSERT_EQ(shards->size(), 4u);
    EXPECT_EQ((*shards)[3].shard_id, "shardId-000000000003");
    EXPECT_FALSE((*shards)[0].closed());

    auto db = db::Database::Open(":memory:");
    ASSERT_TRUE(db);
    auto consumer = KinesisConsumer::Open(client, *db, {.stream = "paged", .list_shards_page_size = 1});
    ASSERT_TRUE(consumer) << consumer.error().ToString();
    EXPECT_EQ((*consumer)->readable_shards().size(), 4u);
}

// moto's resharding is only partly realistic: MergeShards copies the parents' records into the child (AWS does not),
// and moto keeps routing *new* records to the closed parents (its key lookup ignores is_open), so only records written
// before the merge can be checked here; the fake-transport test below checks the protocol (no NextShardIterator).
TEST_F(KinesisMotoTest, MergedParentsDrainBeforeTheirChild) {
    auto client = Client();
    CreateStream(*client, "merged", 2);
    KinesisProducer producer(client);
    const std::vector<std::string> keys = {"a", "b", "c", "d", "e"};
    std::map<std::string, int> counters;
    for (int i = 0; i < 20; ++i) {
        const std::string& key = keys[static_cast<std::size_t>(i) % keys.size()];
        ASSERT_TRUE(producer.Send("merged", key, key + ":" + std::to_string(counters[key]++)));
    }
    ASSERT_TRUE(client->MergeShards("merged", "shardId-000000000000", "shardId-000000000001"));
    auto db = db::Database::Open(":memory:");
    ASSERT_TRUE(db);
    auto consumer = KinesisConsumer::Open(client, *db, {.stream = "merged", .fetch_limit = 3});
    ASSERT_TRUE(consumer) << consumer.error().ToString();
    EXPECT_EQ((*consumer)->readable_shards(),
              (std::vector<std::string>{"shardId-000000000000", "shardId-000000000001"}));
    std::vector<Record> got = Drain(**consumer, 100);
    ASSERT_EQ(got.size(), 40u);  // 20 from the parents, then moto's 20 copies in the child
    bool child_seen = false;
    std::vector<Record> parents;
    std::vector<Record> child;
    for (const Record& r : got) {
        if (r.partition == "shardId-000000000002") {
            child_seen = true;
            child.push_back(r);
        } else {
            EXPECT_FALSE(child_seen) << "record of parent " << r.partition << " after the child started";
            parents.push_back(r);
        }
    }
    EXPECT_EQ(parents.size(), 20u);
    EXPECT_EQ(child.size(), 20u);
    ExpectPerKeyOrder(parents);
    ExpectPerKeyOrder(child);
    EXPECT_EQ((*consumer)->readable_shards(), (std::vector<std::string>{"shardId-000000000002"}));
}

TEST_F(KinesisMotoTest, UpdateShardCountIsAccepted) {
    auto client = Client();
    CreateStream(*client, "resized", 1);
    ASSERT_TRUE(client->UpdateShardCount("resized", 2));
    auto shards = client->ListShards("resized");
    ASSERT_TRUE(shards) << shards.error().ToString();
    ASSERT_EQ(shards->size(), 3u);
    EXPECT_TRUE((*shards)[0].closed());
    EXPECT_EQ((*shards)[1].parent_shard_id, "shardId-000000000000");
    EXPECT_EQ((*shards)[2].parent_shard_id, "shardId-000000000000");
    auto db = db::Database::Open(":memory:");
    ASSERT_TRUE(db);
    auto consumer = KinesisConsumer::Open(client, *db, {.stream = "resized"});
    ASSERT_TRUE(consumer) << consumer.error().ToString();
    EXPECT_EQ((*consumer)->readable_shards(), (std::vector<std::string>{"shardId-000000000000"}));
    // The empty closed parent finishes; its children become readable.
    auto none = (*consumer)->Poll(std::chrono::milliseconds(0));
    ASSERT_TRUE(none) << none.error().ToString();
    EXPECT_FALSE(none->has_value());
    EXPECT_EQ((*consumer)->readable_shards(),
              (std::vector<std::string>{"shardId-000000000001", "shardId-000000000002"}));
}

// A split of a shard that holds records, on real moto. moto 5.2.1 (moto/kinesis/models.py) does not route records
// to the children: Stream.split_shard (which Stream.update_shard_count calls for each open shard when growing) adds
// the two children, closes the parent, empties it and re-puts its records through Stream.put_record; and
// Stream.get_shard_for_key returns the first shard in insertion order whose hash range holds the key, without looking
// at is_open. The parent was inserted first and its range covers both children's, so its records go back into the
// closed parent (renumbered from 1, in their old order), every later PutRecord lands in the closed parent too, and
// the children stay empty. (Shard.to_json reports the closed parent's EndingSequenceNumber as its current last
// sequence number, so it grows with those puts; the consumer below is opened after the last one.)
// What this test can show: every record exactly once and in order per key, the children not read while the parent is
// being drained, and the children readable once it is. That a child's own records come only after all of its parent's
// is covered by KinesisFakeTest.ChildIsReadOnlyAfterItsParentReturnsNoNextIterator.
TEST_F(KinesisMotoTest, SplitParentWithRecordsDrainsBeforeChildren) {
    const std::string parent = "shardId-000000000000";
    const std::vector<std::string> children = {"shardId-000000000001", "shardId-000000000002"};
    auto client = Client();
    CreateStream(*client, "split", 1);
    KinesisProducer producer(client);
    const std::vector<std::string> keys = {"a", "b", "c", "d", "e"};
    std::map<std::string, int> counters;
    std::set<std::string> sent;
    // Sends `n` records round-robin over the keys; returns the shard of each.
    auto send = [&](int n) {
        std::vector<std::string> shards;
        for (int i = 0; i < n; ++i) {
            const std::string& key = keys[static_cast<std::size_t>(i) % keys.size()];
            const std::string value = key + ":" + std::to_string(counters[key]++);
            auto put = producer.Send("split", key, value);
            EXPECT_TRUE(put) << put.error().ToString();
            if (!put) break;
            sent.insert(value);
            shards.push_back(put->partition);
        }
        return shards;
    };
    EXPECT_THAT(send(10), ::testing::Each(parent));
    // The client has no SplitShard; growing from 1 to 2 shards is one split of shard 0 at the middle of its range.
    ASSERT_TRUE(client->UpdateShardCount("split", 2));
    auto shards = client->ListShards("split");
    ASSERT_TRUE(shards) << shards.error().ToString();
    ASSERT_EQ(shards->size(), 3u);
    EXPECT_EQ((*shards)[0].shard_id, parent);
    EXPECT_TRUE((*shards)[0].closed());
    EXPECT_EQ((*shards)[0].ending_sequence_number, "10") << "the parent keeps its 10 records (re-put by moto)";
    for (std::size_t i = 0; i < children.size(); ++i) {
        EXPECT_EQ((*shards)[i + 1].shard_id, children[i]);
        EXPECT_EQ((*shards)[i + 1].parent_shard_id, parent);
        EXPECT_FALSE((*shards)[i + 1].closed());
    }
    EXPECT_THAT(send(10), ::testing::Each(parent))
        << "moto 5.2.1 puts into the closed parent (see above); if it now routes to the children, check here that "
           "their records come after all of the parent's";
    ASSERT_EQ(sent.size(), 20u);

    auto db = db::Database::Open(":memory:");
    ASSERT_TRUE(db);
    auto consumer = KinesisConsumer::Open(client, *db, {.stream = "split", .fetch_limit = 3});
    ASSERT_TRUE(consumer) << consumer.error().ToString();
    EXPECT_EQ((*consumer)->readable_shards(), std::vector<std::string>{parent});
    std::vector<Record> got;
    for (int empty_polls = 0; empty_polls < 5;) {
        auto record = (*consumer)->Poll(std::chrono::milliseconds(0));
        ASSERT_TRUE(record) << record.error().ToString();
        if (!*record) {
            ++empty_polls;
            continue;
        }
        ASSERT_TRUE((*consumer)->Commit(**record));
        EXPECT_EQ((*record)->partition, parent);
        // Seven pages of at most 3 records; the parent finishes only on the empty page after the last one.
        EXPECT_EQ((*consumer)->readable_shards(), std::vector<std::string>{parent})
            << "children readable before the parent was drained, at record " << got.size();
        got.push_back(std::move(**record));
    }
    ASSERT_EQ(got.size(), 20u);
    std::set<std::string> values;
    for (const Record& r : got) values.insert(r.value);
    EXPECT_EQ(values, sent) << "every record exactly once";
    ExpectPerKeyOrder(got);
    EXPECT_EQ((*consumer)->readable_shards(), children);
    auto stored = db->Query("SELECT shard, sequence_number FROM logpipe_kinesisoffset");
    ASSERT_TRUE(stored) << stored.error().ToString();
    ASSERT_EQ(stored->size(), 1u);
    EXPECT_EQ(std::get<std::string>((*stored)[0][0]), parent);
    EXPECT_EQ(std::get<std::string>((*stored)[0][1]), "20");
}

// With the offsets in the service's database, Save and the offset commit are one transaction: a crash before COMMIT
// undoes both, a COMMIT makes both durable (the twin of KafkaTest.SaveAndDatabaseOffsetCommitAreOneTransaction).
// KinesisConsumer keeps a copy of the db::Database handle, and copies share one connection, so its Commit runs on
// the connection that holds BEGIN IMMEDIATE. Each "restart" opens a new connection and a new KinesisConsumer, so
// what is resumed is what the database file holds, not state kept in memory.
TEST_F(KinesisMotoTest, SaveAndDatabaseOffsetCommitAreOneTransaction) {
    auto client = Client();
    CreateStream(*client, "states", 1);  // one shard: "the last record" is well defined
    KinesisProducer producer(client);
    std::map<std::string, std::string> sequence_of;
    auto send = [&](const std::string& code) {
        auto sent = producer.Send(
            "states", code, R"(json:{"type":"us-state","version":1,"message":{"code":")" + code + R"(","name":"x"}})");
        ASSERT_TRUE(sent) << sent.error().ToString();
        sequence_of[code] = sent->offset;
    };
    send("NY");
    send("PA");

    class Apply : public MessageHandler {
    public:
        explicit Apply(db::Database database) : database_(std::move(database)) {}
        const std::string& type() const noexcept override { return type_; }
        std::int64_t version() const noexcept override { return 1; }
        Result<void> Validate(const Value&) override { return {}; }
        Result<void> Save(const Value& message) override {
            auto r = database_.Execute("INSERT INTO applied (code) VALUES (?)", {message["code"].get<std::string>()});
            if (!r) return tl::unexpected(r.error());
            return {};
        }

    private:
        db::Database database_;
        std::string type_ = "us-state";
    };
    auto count = [](db::Database& database, const char* sql) -> std::int64_t {
        auto rows = database.Query(sql);
        return rows && !rows->empty() ? std::get<std::int64_t>((*rows)[0][0]) : -1;
    };
    // One "process": a connection, the backend on it, and a Consumer whose transaction runs on the same connection.
    struct Process {
        std::optional<db::Database> database;
        std::unique_ptr<KinesisConsumer> backend;
        std::unique_ptr<gale::pipe::Consumer> consumer;
    };
    const std::string path = TempDbPath("states");
    bool crash_before_commit = true;
    std::int64_t offsets_inside_transaction = -1;
    auto start = [&](Process& p) {
        auto database = db::Database::Open(path);
        ASSERT_TRUE(database) << database.error().ToString();
        p.database = *database;
        auto backend = KinesisConsumer::Open(client, *p.database, {.stream = "states"});
        ASSERT_TRUE(backend) << backend.error().ToString();
        p.backend = std::move(*backend);
        ConsumerOptions options;
        options.sleep = [](std::chrono::milliseconds) {};
        options.transaction = [&, db = *p.database](const std::function<Result<void>()>& body) mutable -> Result<void> {
            GALE_RETURN_IF_ERROR(db.ExecScript("BEGIN IMMEDIATE"));
            auto r = body();
            // What the body wrote, seen from inside the transaction: the offset must be among it. (An offset
            // committed after the transaction would be missing here; one committed before it would survive the
            // ROLLBACK below.)
            offsets_inside_transaction = count(db, R"(SELECT COUNT(*) FROM "logpipe_kinesisoffset")");
            if (!r || crash_before_commit) {
                (void)db.ExecScript("ROLLBACK");
                if (!r) return r;
                return MakeError(ErrorCode::kUnavailable, "simulated crash before COMMIT");
            }
            return db.ExecScript("COMMIT");
        };
        p.consumer = std::make_unique<gale::pipe::Consumer>("states", *p.backend, options);
        p.consumer->Register(std::make_unique<Apply>(*p.database));
    };
    // Runs until `want` records were handled; an error ends the run and is returned.
    auto run = [](gale::pipe::Consumer& consumer, std::size_t want) -> Result<std::size_t> {
        std::size_t done = 0;
        for (int i = 0; i < 40 && done < want; ++i) {
            GALE_ASSIGN_OR_RETURN(std::size_t n, consumer.RunOnce(std::chrono::milliseconds(200)));
            done += n;
        }
        return done;
    };
    {
        auto setup = db::Database::Open(path);
        ASSERT_TRUE(setup) << setup.error().ToString();
        ASSERT_TRUE(setup->ExecScript("CREATE TABLE applied (code TEXT PRIMARY KEY)"));
    }

    // The crash: nothing applied, no offset stored, although the offset was written inside the transaction.
    {
        Process p;
        start(p);
        if (HasFatalFailure()) return;
        auto first = run(*p.consumer, 1);
        ASSERT_FALSE(first) << "handled " << *first << " records without the simulated crash";
        EXPECT_THAT(first.error().ToString(), HasSubstr("simulated crash")) << first.error().ToString();
        EXPECT_EQ(offsets_inside_transaction, 1);
        EXPECT_EQ(count(*p.database, "SELECT COUNT(*) FROM applied"), 0);
        EXPECT_EQ(count(*p.database, R"(SELECT COUNT(*) FROM "logpipe_kinesisoffset")"), 0);
    }

    // After the restart (new connection, new KinesisConsumer): both applied exactly once, and the stored sequence
    // number is the last record's.
    crash_before_commit = false;
    {
        Process p;
        start(p);
        if (HasFatalFailure()) return;
        auto second = run(*p.consumer, 2);
        ASSERT_TRUE(second) << second.error().ToString();
        EXPECT_EQ(*second, 2u);
        EXPECT_EQ(count(*p.database, "SELECT COUNT(*) FROM applied"), 2);
        auto rows = p.database->Query(R"(SELECT region, stream, shard, sequence_number FROM "logpipe_kinesisoffset")");
        ASSERT_TRUE(rows) << rows.error().ToString();
        ASSERT_EQ(rows->size(), 1u);
        EXPECT_EQ(std::get<std::string>((*rows)[0][0]), "us-east-1");
        EXPECT_EQ(std::get<std::string>((*rows)[0][1]), "states");
        EXPECT_EQ(std::get<std::string>((*rows)[0][2]), "shardId-000000000000");
        EXPECT_EQ(std::get<std::string>((*rows)[0][3]), sequence_of["PA"]);
    }

    // Another restart resumes after the stored offset: only the new record arrives (a re-delivered NY or PA would
    // fail Save on the primary key and end the run with an error).
    send("NJ");
    {
        Process p;
        start(p);
        if (HasFatalFailure()) return;
        auto third = run(*p.consumer, 1);
        ASSERT_TRUE(third) << third.error().ToString();
        EXPECT_EQ(*third, 1u);
        auto idle = p.consumer->RunOnce(std::chrono::milliseconds(0));
        ASSERT_TRUE(idle) << idle.error().ToString();
        EXPECT_EQ(*idle, 0u);
        EXPECT_EQ(count(*p.database, "SELECT COUNT(*) FROM applied"), 3);
        auto stored = p.database->Query(R"(SELECT sequence_number FROM "logpipe_kinesisoffset")");
        ASSERT_TRUE(stored) << stored.error().ToString();
        ASSERT_EQ(stored->size(), 1u);
        EXPECT_EQ(std::get<std::string>((*stored)[0][0]), sequence_of["NJ"]);
    }
}

TEST_F(KinesisMotoTest, MissingStreamIsNotFound) {
    auto client = Client();
    auto db = db::Database::Open(":memory:");
    ASSERT_TRUE(db);
    auto consumer = KinesisConsumer::Open(client, *db, {.stream = "nope"});
    ASSERT_FALSE(consumer);
    EXPECT_EQ(consumer.error().code(), ErrorCode::kNotFound);
    EXPECT_THAT(consumer.error().message(), HasSubstr("Kinesis ListShards at " + moto_->url()));
    EXPECT_THAT(consumer.error().message(), HasSubstr("ResourceNotFoundException"));
}

// --- canned replies --------------------------------------------------------------------------------------------

struct Fake {
    std::vector<KinesisHttpCall> calls;
    std::function<KinesisHttpReply(const KinesisHttpCall&, const json&)> answer;

    KinesisTransport Transport() {
        return [this](const KinesisHttpCall& call) -> Result<KinesisHttpReply> {
            calls.push_back(call);
            return answer(call, json::parse(call.body));
        };
    }
};

KinesisHttpReply Ok(const json& body) { return {.status = 200, .body = body.dump()}; }
KinesisHttpReply AwsError(int status, const std::string& type, const std::string& message) {
    return {.status = status, .body = json{{"__type", type}, {"message", message}}.dump()};
}

TEST(KinesisFakeTest, ThrottlingIsRetriedWithBackoff) {
    Fake fake;
    int puts = 0;
    fake.answer = [&](const KinesisHttpCall&, const json&) {
        if (++puts == 1) return AwsError(400, "ProvisionedThroughputExceededException", "Rate exceeded for shard");
        return Ok({{"ShardId", "shardId-000000000000"}, {"SequenceNumber", "49"}});
    };
    std::vector<std::chrono::milliseconds> sleeps;
    KinesisOptions options = BaseOptions();
    options.transport = fake.Transport();
    options.sleep = [&](std::chrono::milliseconds d) { sleeps.push_back(d); };
    KinesisClient client(options);
    auto put = client.PutRecord("s", "k", "v");
    ASSERT_TRUE(put) << put.error().ToString();
    EXPECT_EQ(put->sequence_number, "49");
    EXPECT_EQ(fake.calls.size(), 2u);
    EXPECT_EQ(fake.calls[0].operation, "PutRecord");
    EXPECT_EQ(sleeps, (std::vector<std::chrono::milliseconds>{std::chrono::milliseconds(100)}));

    // Always throttled: max_attempts calls, doubling sleeps, an error naming the operation and the AWS type.
    puts = -100;
    sleeps.clear();
    fake.calls.clear();
    fake.answer = [&](const KinesisHttpCall&, const json&) {
        return AwsError(400, "LimitExceededException", "too many");
    };
    auto failed = client.PutRecord("s", "k", "v");
    ASSERT_FALSE(failed);
    EXPECT_EQ(failed.error().code(), ErrorCode::kUnavailable);
    EXPECT_THAT(failed.error().message(), HasSubstr("Kinesis PutRecord at https://kinesis.us-east-1.amazonaws.com"));
    EXPECT_THAT(failed.error().message(), HasSubstr("LimitExceededException: too many (HTTP 400) (after 5 attempts)"));
    EXPECT_EQ(fake.calls.size(), 5u);
    EXPECT_EQ(sleeps,
              (std::vector<std::chrono::milliseconds>{std::chrono::milliseconds(100), std::chrono::milliseconds(200),
                                                      std::chrono::milliseconds(400), std::chrono::milliseconds(800)}));

    // Not throttling: no retry.
    fake.calls.clear();
    fake.answer = [&](const KinesisHttpCall&, const json&) {
        return AwsError(400, "com.amazonaws#ValidationException", "bad");
    };
    auto invalid = client.PutRecord("s", "k", "v");
    ASSERT_FALSE(invalid);
    EXPECT_EQ(invalid.error().code(), ErrorCode::kInvalidArgument);
    EXPECT_THAT(invalid.error().message(), HasSubstr("ValidationException: bad (HTTP 400)"));
    EXPECT_EQ(fake.calls.size(), 1u);
}

TEST(KinesisFakeTest, ProducerSendsSequenceNumberForOrderingPerKey) {
    Fake fake;
    int sequence = 100;
    fake.answer = [&](const KinesisHttpCall&, const json&) {
        return Ok({{"ShardId", "shardId-000000000001"}, {"SequenceNumber", std::to_string(++sequence)}});
    };
    KinesisOptions options = BaseOptions();
    options.transport = fake.Transport();
    auto client = std::make_shared<KinesisClient>(options);
    KinesisProducer producer(client, /*sequence_cache_size=*/2);

    auto first = producer.Send("s", "k1", "one");
    ASSERT_TRUE(first);
    EXPECT_EQ(first->partition, "shardId-000000000001");
    EXPECT_EQ(first->offset, "101");
    ASSERT_TRUE(producer.Send("s", "k1", "two"));
    ASSERT_TRUE(producer.Send("s", "k2", "three"));
    ASSERT_TRUE(producer.Send("other", "k1", "four"));  // third entry: evicts the oldest, (s, k1)
    ASSERT_TRUE(producer.Send("s", "k1", "five"));
    ASSERT_EQ(fake.calls.size(), 5u);
    const json c0 = json::parse(fake.calls[0].body);
    const json c1 = json::parse(fake.calls[1].body);
    const json c2 = json::parse(fake.calls[2].body);
    const json c3 = json::parse(fake.calls[3].body);
    const json c4 = json::parse(fake.calls[4].body);
    EXPECT_EQ(c0, (json{{"StreamName", "s"}, {"PartitionKey", "k1"}, {"Data", "b25l"}}));
    EXPECT_FALSE(c0.contains("SequenceNumberForOrdering"));
    EXPECT_EQ(c1["SequenceNumberForOrdering"], "101");
    EXPECT_FALSE(c2.contains("SequenceNumberForOrdering"));  // another key
    EXPECT_FALSE(c3.contains("SequenceNumberForOrdering"));  // another stream
    // LRU of 2: after (s,k1)=102, (s,k2)=103, (other,k1)=104 the oldest, (s,k1), was evicted.
    EXPECT_FALSE(c4.contains("SequenceNumberForOrdering"));
}

TEST(KinesisFakeTest, EmptyKeyIsAnErrorWithoutACall) {
    Fake fake;
    fake.answer = [](const KinesisHttpCall&, const json&) { return Ok(json::object()); };
    KinesisOptions options = BaseOptions();
    options.transport = fake.Transport();
    KinesisProducer producer(std::make_shared<KinesisClient>(options));
    auto sent = producer.Send("s", "", "value");
    ASSERT_FALSE(sent);
    EXPECT_EQ(sent.error().code(), ErrorCode::kInvalidArgument);
    EXPECT_THAT(sent.error().message(), HasSubstr("partition key must be 1 to 256 characters"));
    EXPECT_TRUE(fake.calls.empty());
}

TEST(KinesisFakeTest, ListShardsSendsNextTokenWithoutStreamName) {
    Fake fake;
    fake.answer = [](const KinesisHttpCall&, const json& request) {
        if (!request.contains("NextToken")) {
            return Ok({{"Shards", {{{"ShardId", "shardId-000000000000"}}}}, {"NextToken", "page2"}});
        }
        return Ok({{"Shards",
                    {{{"ShardId", "shardId-000000000001"},
                      {"ParentShardId", "shardId-000000000000"},
                      {"SequenceNumberRange", {{"StartingSequenceNumber", "5"}, {"EndingSequenceNumber", "9"}}}}}}});
    };
    KinesisOptions options = BaseOptions();
    options.transport = fake.Transport();
    KinesisClient client(options);
    auto shards = client.ListShards("s", 1);
    ASSERT_TRUE(shards) << shards.error().ToString();
    ASSERT_EQ(shards->size(), 2u);
    EXPECT_EQ((*shards)[1].parent_shard_id, "shardId-000000000000");
    EXPECT_TRUE((*shards)[1].closed());
    ASSERT_EQ(fake.calls.size(), 2u);
    EXPECT_EQ(json::parse(fake.calls[0].body), (json{{"StreamName", "s"}, {"MaxResults", 1}}));
    EXPECT_EQ(json::parse(fake.calls[1].body), (json{{"NextToken", "page2"}, {"MaxResults", 1}}));
}

TEST(KinesisFakeTest, ExpiredIteratorIsReplacedAfterTheLastRecordRead) {
    Fake fake;
    fake.answer = [](const KinesisHttpCall& call, const json& request) {
        if (call.operation == "ListShards") return Ok({{"Shards", {{{"ShardId", "shardId-000000000000"}}}}});
        if (call.operation == "GetShardIterator") {
            if (request["ShardIteratorType"] == "TRIM_HORIZON") return Ok({{"ShardIterator", "it1"}});
            if (request["ShardIteratorType"] == "AFTER_SEQUENCE_NUMBER" && request["StartingSequenceNumber"] == "5") {
                return Ok({{"ShardIterator", "it3"}});
            }
            return AwsError(400, "InvalidArgumentException", request.dump());
        }
        const std::string it = request["ShardIterator"];
        if (it == "it1") {
            return Ok({{"Records",
                        {{{"SequenceNumber", "5"},
                          {"PartitionKey", "k"},
                          {"Data", "YQ=="},
                          {"ApproximateArrivalTimestamp", 1700000000.25}}}},
                       {"NextShardIterator", "it2"},
                       {"MillisBehindLatest", 7000}});
        }
        if (it == "it2") return AwsError(400, "ExpiredIteratorException", "Iterator expired");
        if (it == "it3") {
            return Ok({{"Records", {{{"SequenceNumber", "6"}, {"PartitionKey", "k"}, {"Data", "Yg=="}}}},
                       {"NextShardIterator", "it4"},
                       {"MillisBehindLatest", 0}});
        }
        return Ok({{"Records", json::array()}, {"NextShardIterator", "it4"}, {"MillisBehindLatest", 0}});
    };
    KinesisOptions options = BaseOptions();
    options.transport = fake.Transport();
    auto client = std::make_shared<KinesisClient>(options);
    auto db = db::Database::Open(":memory:");
    ASSERT_TRUE(db);
    auto consumer = KinesisConsumer::Open(client, *db, {.stream = "s", .fetch_limit = 10});
    ASSERT_TRUE(consumer) << consumer.error().ToString();
    auto first = (*consumer)->Poll(std::chrono::milliseconds(0));
    ASSERT_TRUE(first && *first) << (first ? "none" : first.error().ToString());
    EXPECT_EQ((*first)->offset, "5");
    EXPECT_EQ((*first)->value, "a");
    EXPECT_EQ((*first)->timestamp_ms, 1700000000250);
    EXPECT_EQ((*consumer)->millis_behind(), 7000);
    EXPECT_EQ((*consumer)->LagTime(), std::chrono::milliseconds(7000));  // what `consume` exports, in seconds
    EXPECT_FALSE((*consumer)->Lag().has_value());
    auto second = (*consumer)->Poll(std::chrono::milliseconds(0));
    ASSERT_TRUE(second && *second) << (second ? "none" : second.error().ToString());
    EXPECT_EQ((*second)->offset, "6");
    EXPECT_EQ((*second)->value, "b");
    const json limit_check = json::parse(fake.calls.back().body);
    EXPECT_EQ(limit_check["Limit"], 10);
}

TEST(KinesisFakeTest, ChildIsReadOnlyAfterItsParentReturnsNoNextIterator) {
    Fake fake;
    std::vector<std::string> reads;
    fake.answer = [&](const KinesisHttpCall& call, const json& request) {
        if (call.operation == "ListShards") {
            return Ok({{"Shards",
                        {{{"ShardId", "shardId-000000000000"},
                          {"SequenceNumberRange", {{"StartingSequenceNumber", "1"}, {"EndingSequenceNumber", "3"}}}},
                         {{"ShardId", "shardId-000000000001"}, {"ParentShardId", "shardId-000000000000"}}}}});
        }
        if (call.operation == "GetShardIterator") return Ok({{"ShardIterator", request["ShardId"].get<std::string>()}});
        const std::string it = request["ShardIterator"];
        reads.push_back(it);
        if (it == "shardId-000000000000") {
            return Ok({{"Records", {{{"SequenceNumber", "1"}, {"PartitionKey", "k"}, {"Data", "MQ=="}}}},
                       {"NextShardIterator", "parent-2"}});
        }
        if (it == "parent-2") {
            return Ok({{"Records", {{{"SequenceNumber", "3"}, {"PartitionKey", "k"}, {"Data", "Mg=="}}}}});
        }
        return Ok({{"Records", {{{"SequenceNumber", "10"}, {"PartitionKey", "k"}, {"Data", "Mw=="}}}},
                   {"NextShardIterator", "child-2"}});
    };
    KinesisOptions options = BaseOptions();
    options.transport = fake.Transport();
    auto db = db::Database::Open(":memory:");
    ASSERT_TRUE(db);
    auto consumer = KinesisConsumer::Open(std::make_shared<KinesisClient>(options), *db, {.stream = "s"});
    ASSERT_TRUE(consumer) << consumer.error().ToString();
    EXPECT_EQ((*consumer)->readable_shards(), (std::vector<std::string>{"shardId-000000000000"}));
    std::vector<std::string> values;
    for (int i = 0; i < 3; ++i) {
        auto record = (*consumer)->Poll(std::chrono::milliseconds(0));
        ASSERT_TRUE(record && *record);
        values.push_back((*record)->value);
    }
    EXPECT_EQ(values, (std::vector<std::string>{"1", "2", "3"}));
    EXPECT_EQ(reads, (std::vector<std::string>{"shardId-000000000000", "parent-2", "shardId-000000000001"}));
    EXPECT_EQ((*consumer)->readable_shards(), (std::vector<std::string>{"shardId-000000000001"}));
}

TEST(KinesisFakeTest, InvalidConsumerOptionsAreRejected) {
    KinesisOptions options = BaseOptions();
    options.transport = [](const KinesisHttpCall&) -> Result<KinesisHttpReply> {
        return Ok({{"Shards", json::array()}});
    };
    auto client = std::make_shared<KinesisClient>(options);
    auto db = db::Database::Open(":memory:");
    ASSERT_TRUE(db);
    EXPECT_FALSE(KinesisConsumer::Open(client, *db, {.stream = ""}));
    EXPECT_FALSE(KinesisConsumer::Open(client, *db, {.stream = "s", .fetch_limit = 0}));
    KinesisConsumerOptions at_sequence{.stream = "s"};
    at_sequence.start.type = ShardIteratorType::kAfterSequenceNumber;
    EXPECT_FALSE(KinesisConsumer::Open(client, *db, at_sequence));
    EXPECT_EQ(ParseShardIteratorType("AT_TIMESTAMP"), ShardIteratorType::kAtTimestamp);
    EXPECT_EQ(ParseShardIteratorType("latest"), std::nullopt);
}

TEST(KinesisClientTest, UnreachableEndpointNamesTheUrl) {
    KinesisOptions options = BaseOptions();
    options.endpoint_url = "http://127.0.0.1:" + std::to_string(aws::testing::FreePort());
    options.connect_timeout = std::chrono::milliseconds(500);
    KinesisClient client(options);
    auto put = client.PutRecord("s", "k", "v");
    ASSERT_FALSE(put);
    EXPECT_EQ(put.error().code(), ErrorCode::kUnavailable);
    EXPECT_THAT(put.error().ToString(), HasSubstr("Kinesis PutRecord at " + options.endpoint_url));
}

}  // namespace
}  // namespace gale::pipe
