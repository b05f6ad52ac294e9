// SPDX-License-Identifier: MIT
// Tests of the Kafka transport against librdkafka's own mock cluster (rdkafka_mock.h): real protocol, no broker.
#include <atomic>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>

#include <gale/db/testing/postgres_server.hpp>
#include <gale/pipe/consumer.hpp>
#include <gale/pipe/kafka.hpp>

#include "murmur2.hpp"

namespace gale::pipe {
namespace {

using std::chrono::milliseconds;
using ::testing::HasSubstr;

// A 3-broker mock cluster owned by a dedicated librdkafka handle.
class MockCluster {
public:
    MockCluster() {
        char errstr[256];
        rd_kafka_conf_t* conf = rd_kafka_conf_new();
        rd_kafka_conf_set(conf, "log_level", "0", errstr, sizeof errstr);
        handle_ = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof errstr);
        cluster_ = rd_kafka_mock_cluster_new(handle_, 3);
    }
    ~MockCluster() {
        rd_kafka_mock_cluster_destroy(cluster_);
        rd_kafka_destroy(handle_);
    }
    MockCluster(const MockCluster&) = delete;
    MockCluster& operator=(const MockCluster&) = delete;

    void CreateTopic(const std::string& topic, int partitions) {
        ASSERT_EQ(rd_kafka_mock_topic_create(cluster_, topic.c_str(), partitions, 1), RD_KAFKA_RESP_ERR_NO_ERROR);
    }
    [[nodiscard]] std::string bootstraps() const { return rd_kafka_mock_cluster_bootstraps(cluster_); }

private:
    rd_kafka_t* handle_ = nullptr;
    rd_kafka_mock_cluster_t* cluster_ = nullptr;
};

class KafkaTest : public ::testing::Test {
protected:
    void SetUp() override {
        char pattern[] = "/tmp/gale-kafka-test-XXXXXX";
        ASSERT_NE(mkdtemp(pattern), nullptr);
        dir_ = pattern;
        auto database = db::Database::Open(dir_ + "/offsets.db");
        ASSERT_TRUE(database) << database.error().ToString();
        database_ = std::move(*database);
    }
    void TearDown() override { std::filesystem::remove_all(dir_); }

    [[nodiscard]] KafkaOptions Options() const {
        KafkaOptions options;
        options.bootstrap_servers = cluster_.bootstraps();
        options.database = database_;
        options.config["log_level"] = "3";
        return options;
    }

    std::unique_ptr<KafkaProducer> Producer(const KafkaOptions& options) {
        auto producer = KafkaProducer::Create(options);
        EXPECT_TRUE(producer) << producer.error().ToString();
        return producer ? std::move(*producer) : nullptr;
    }
    std::unique_ptr<KafkaConsumer> Consumer(const std::string& topic, const KafkaOptions& options) {
        auto consumer = KafkaConsumer::Create(topic, options);
        EXPECT_TRUE(consumer) << consumer.error().ToString();
        return consumer ? std::move(*consumer) : nullptr;
    }
    // Polls until `count` records arrived or 10 s passed.
    static std::vector<Record> PollN(KafkaConsumer& consumer, std::size_t count) {
        std::vector<Record> records;
        const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
        while (records.size() < count && std::chrono::steady_clock::now() < deadline) {
            auto record = consumer.Poll(milliseconds(200));
            EXPECT_TRUE(record) << record.error().ToString();
            if (record && *record) records.push_back(std::move(**record));
        }
        return records;
    }

    MockCluster cluster_;
    std::string dir_;
    std::optional<db::Database> database_;
};

TEST_F(KafkaTest, RoundTripKeepsKeyValueAndPlacement) {
    cluster_.CreateTopic("orders", 3);
    auto producer = Producer(Options());
    ASSERT_TRUE(producer);
    std::vector<RecordMetadata> sent;
    for (int i = 0; i < 5; ++i) {
        auto metadata = producer->Send("orders", "key-" + std::to_string(i), "value-" + std::to_string(i));
        ASSERT_TRUE(metadata) << metadata.error().ToString();
        EXPECT_EQ(metadata->topic, "orders");
        sent.push_back(*metadata);
    }
    auto consumer = Consumer("orders", Options());
    ASSERT_TRUE(consumer);
    EXPECT_EQ(consumer->partition_count(), 3);
    const auto records = PollN(*consumer, 5);
    ASSERT_EQ(records.size(), 5U);
    for (const Record& record : records) {
        const int i = std::stoi(record.key.substr(4));
        EXPECT_EQ(record.value, "value-" + std::to_string(i));
        EXPECT_EQ(record.topic, "orders");
        EXPECT_EQ(record.partition, sent[static_cast<std::size_t>(i)].partition);
        EXPECT_EQ(record.offset, sent[static_cast<std::size_t>(i)].offset);
        EXPECT_GT(record.timestamp_ms, 1'600'000'000'000);
    }
}

TEST_F(KafkaTest, KeysLandWhereJavaAndKafkaPythonPutThem) {
    cluster_.CreateTopic("twelve", 12);
    cluster_.CreateTopic("two", 2);
    auto producer = Producer(Options());
    ASSERT_TRUE(producer);
    // django-logpipe §1.9 [verified]: "NY" → 3 of 12 (CRC32 would give 8); the empty non-null key → 9 of 12, 1 of 2.
    auto ny = producer->Send("twelve", "NY", "v");
    ASSERT_TRUE(ny) << ny.error().ToString();
    EXPECT_EQ(ny->partition, "3");
    for (int i = 0; i < 3; ++i) {  // a null key would be spread at random; the empty key is hashed every time
        auto empty = producer->Send("twelve", "", "v");
        ASSERT_TRUE(empty) << empty.error().ToString();
        EXPECT_EQ(empty->partition, "9");
    }
    auto empty_two = producer->Send("two", "", "v");
    ASSERT_TRUE(empty_two) << empty_two.error().ToString();
    EXPECT_EQ(empty_two->partition, "1");
    for (const std::string key : {"21", "foobar", "abc", "a-little-bit-long-string", "K\xc3\xb6ln", "1234"}) {
        auto metadata = producer->Send("twelve", key, "v");
        ASSERT_TRUE(metadata) << metadata.error().ToString();
        EXPECT_EQ(metadata->partition, std::to_string(detail::Murmur2Partition(key, 12))) << key;
    }
    // The empty key reaches the consumer empty (and the consumer agrees on the partition).
    auto consumer = Consumer("two", Options());
    ASSERT_TRUE(consumer);
    const auto records = PollN(*consumer, 1);
    ASSERT_EQ(records.size(), 1U);
    EXPECT_EQ(records[0].key, "");
    EXPECT_EQ(records[0].partition, "1");
}

TEST_F(KafkaTest, DatabaseOffsetsResumeAtTheNextRecord) {
    cluster_.CreateTopic("events", 1);
    auto producer = Producer(Options());
    ASSERT_TRUE(producer);
    for (int i = 0; i < 6; ++i) ASSERT_TRUE(producer->Send("events", "k", "m" + std::to_string(i)));
    {
        auto consumer = Consumer("events", Options());
        ASSERT_TRUE(consumer);
        const auto records = PollN(*consumer, 3);
        ASSERT_EQ(records.size(), 3U);
        for (const Record& record : records) ASSERT_TRUE(consumer->Commit(record));
        EXPECT_EQ(records[2].offset, "2");
        EXPECT_EQ(consumer->Lag(), std::optional<std::int64_t>(3));
    }
    // django-logpipe's meaning: offset = the next offset to read (last processed + 1).
    auto rows = database_->Query(R"(SELECT "topic", "partition", "offset" FROM "logpipe_kafkaoffset")");
    ASSERT_TRUE(rows) << rows.error().ToString();
    ASSERT_EQ(rows->size(), 1U);
    EXPECT_EQ(std::get<std::string>((*rows)[0][0]), "events");
    EXPECT_EQ(std::get<std::int64_t>((*rows)[0][1]), 0);
    EXPECT_EQ(std::get<std::int64_t>((*rows)[0][2]), 3);

    // A new process (a new Database handle on the same file) resumes at the 4th record.
    auto reopened = db::Database::Open(dir_ + "/offsets.db");
    ASSERT_TRUE(reopened);
    KafkaOptions options = Options();
    options.database = *reopened;
    auto consumer = Consumer("events", options);
    ASSERT_TRUE(consumer);
    const auto rest = PollN(*consumer, 3);
    ASSERT_EQ(rest.size(), 3U);
    EXPECT_EQ(rest[0].offset, "3");
    EXPECT_EQ(rest[0].value, "m3");
    EXPECT_EQ(consumer->Lag(), std::optional<std::int64_t>(0));
}

// With the offsets in the service's database, the consumer's save and the offset commit are one transaction: a crash
// before COMMIT undoes both (so the record is consumed again and applied once), a COMMIT makes both durable.
TEST_F(KafkaTest, SaveAndDatabaseOffsetCommitAreOneTransaction) {
    cluster_.CreateTopic("states", 1);
    auto producer = Producer(Options());
    ASSERT_TRUE(producer);
    for (const char* code : {"NY", "PA"}) {
        std::string value =
            std::string(R"(json:{"type":"us-state","version":1,"message":{"code":")") + code + R"(","name":"x"}})";
        ASSERT_TRUE(producer->Send("states", code, value));
    }
    ASSERT_TRUE(database_->ExecScript("CREATE TABLE applied (code TEXT PRIMARY KEY)"));
    auto backend = Consumer("states", Options());
    ASSERT_TRUE(backend);

    bool crash_before_commit = true;
    ConsumerOptions options;
    options.transaction = [&](const std::function<Result<void>()>& body) -> Result<void> {
        GALE_RETURN_IF_ERROR(database_->ExecScript("BEGIN IMMEDIATE"));
        auto r = body();
        if (!r || crash_before_commit) {
            (void)database_->ExecScript("ROLLBACK");
            if (!r) return r;
            return MakeError(ErrorCode::kUnavailable, "simulated crash before COMMIT");
        }
        return database_->ExecScript("COMMIT");
    };
    class Apply : public MessageHandler {
    public:
        explicit Apply(db::Database& database) : database_(database) {}
        const std::string& type() const noexcept override { return type_; }
        std::int64_t version() const noexcept override { return 1; }
        Result<void> Validate(const Value&) override { return {}; }
        Result<void> Save(const Value& message) override {
            auto r = database_.Execute("INSERT INTO applied (code) VALUES (?)", {message["code"].get<std::string>()});
            if (!r) return tl::unexpected(r.error());
            return {};
        }

    private:
        db::Database& database_;
        std::string type_ = "us-state";
    };
    gale::pipe::Consumer consumer("states", *backend, options);
    consumer.Register(std::make_unique<Apply>(*database_));

    auto count = [&](const char* sql) {
        auto rows = database_->Query(sql);
        return rows && !rows->empty() ? std::get<std::int64_t>((*rows)[0][0]) : -1;
    };
    // The crash: nothing applied, no offset stored.
    Result<std::size_t> first = MakeError(ErrorCode::kInternal, "not run");
    for (int i = 0; i < 20 && first.has_value() == false && first.error().message() == "not run"; ++i) {
        first = consumer.RunOnce(milliseconds(500));
        if (first && *first == 0) first = MakeError(ErrorCode::kInternal, "not run");
    }
    ASSERT_FALSE(first);
    EXPECT_NE(first.error().ToString().find("simulated crash"), std::string::npos) << first.error().ToString();
    EXPECT_EQ(count("SELECT COUNT(*) FROM applied"), 0);
    EXPECT_EQ(count(R"(SELECT COUNT(*) FROM "logpipe_kafkaoffset")"), 0);

    // After the "restart": both records applied exactly once, and the stored offset is the next one to read.
    crash_before_commit = false;
    std::size_t done = 0;
    for (int i = 0; i < 40 && done < 2; ++i) {
        auto n = consumer.RunOnce(milliseconds(200));
        ASSERT_TRUE(n) << n.error().ToString();
        done += *n;
    }
    EXPECT_EQ(count("SELECT COUNT(*) FROM applied"), 2);
    EXPECT_EQ(count(R"(SELECT "offset" FROM "logpipe_kafkaoffset")"), 2);
}

// CommitAll: the last record of each partition in one upsert statement; a foreign record fails the whole call.
TEST_F(KafkaTest, CommitAllStoresEveryPartitionAtOnce) {
    cluster_.CreateTopic("multi", 3);
    auto producer = Producer(Options());
    ASSERT_TRUE(producer);
    for (int i = 0; i < 30; ++i) ASSERT_TRUE(producer->Send("multi", "k" + std::to_string(i), "m" + std::to_string(i)));
    std::map<std::string, std::int64_t> read;  // partition -> records read
    {
        auto consumer = Consumer("multi", Options());
        ASSERT_TRUE(consumer);
        const auto records = PollN(*consumer, 30);
        ASSERT_EQ(records.size(), 30U);
        std::map<std::string, const Record*> last;
        for (const Record& r : records) {
            last[r.partition] = &r;
            ++read[r.partition];
        }
        ASSERT_EQ(last.size(), 3U) << "30 keys over 3 partitions should touch each";
        std::vector<const Record*> commits;
        for (const auto& [partition, record] : last) commits.push_back(record);

        Record foreign = *commits.front();
        foreign.topic = "other";
        std::vector<const Record*> with_foreign = commits;
        with_foreign.push_back(&foreign);
        auto refused = consumer->CommitAll(with_foreign);
        ASSERT_FALSE(refused);
        EXPECT_EQ(refused.error().code(), ErrorCode::kInvalidArgument);
        auto none = database_->Query(R"(SELECT COUNT(*) FROM "logpipe_kafkaoffset")");
        ASSERT_TRUE(none);
        EXPECT_EQ(std::get<std::int64_t>((*none)[0][0]), 0) << "a refused CommitAll must store nothing";

        auto committed = consumer->CommitAll(commits);
        ASSERT_TRUE(committed) << committed.error().ToString();
        ASSERT_TRUE(consumer->CommitAll({}));  // nothing to do
    }
    auto rows = database_->Query(R"(SELECT "partition", "offset" FROM "logpipe_kafkaoffset" ORDER BY "partition")");
    ASSERT_TRUE(rows) << rows.error().ToString();
    ASSERT_EQ(rows->size(), 3U);
    for (const auto& row : *rows) {
        const std::string partition = std::to_string(std::get<std::int64_t>(row[0]));
        EXPECT_EQ(std::get<std::int64_t>(row[1]), read[partition]) << "partition " << partition;
    }
    // A restarted consumer has nothing left to read.
    auto consumer = Consumer("multi", Options());
    ASSERT_TRUE(consumer);
    auto next = consumer->Poll(milliseconds(500));
    ASSERT_TRUE(next);
    EXPECT_FALSE(*next);
}

TEST_F(KafkaTest, PrefetchedCountsRecordsQueuedInTheClient) {
    cluster_.CreateTopic("queued", 2);
    auto producer = Producer(Options());
    ASSERT_TRUE(producer);
    for (int i = 0; i < 20; ++i) ASSERT_TRUE(producer->Send("queued", "k" + std::to_string(i), "m"));
    auto consumer = Consumer("queued", Options());
    ASSERT_TRUE(consumer);
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (consumer->prefetched() < 20 && std::chrono::steady_clock::now() < deadline) {
        std::this_thread::sleep_for(milliseconds(10));
    }
    // Every record is queued, plus a few librdkafka control events.
    const std::size_t queued = consumer->prefetched();
    ASSERT_GE(queued, 20U);
    EXPECT_LE(queued, 20U + 8U);
    auto first = consumer->Poll(milliseconds(0));
    ASSERT_TRUE(first && *first);
    EXPECT_LT(consumer->prefetched(), queued);
    EXPECT_EQ(PollN(*consumer, 19).size(), 19U);
    EXPECT_LE(consumer->prefetched(), 8U);
}

TEST_F(KafkaTest, KafkaOffsetsResumeForTheGroup) {
    cluster_.CreateTopic("audit", 2);
    auto producer = Producer(Options());
    ASSERT_TRUE(producer);
    for (int i = 0; i < 4; ++i) ASSERT_TRUE(producer->Send("audit", "same-key", "m" + std::to_string(i)));
    KafkaOptions options = Options();
    options.offset_storage = KafkaOffsetStorage::kKafka;
    options.group_id = "django-logpipe";
    options.database.reset();
    {
        auto consumer = Consumer("audit", options);
        ASSERT_TRUE(consumer);
        const auto records = PollN(*consumer, 3);
        ASSERT_EQ(records.size(), 3U);
        for (const Record& record : records) {
            auto committed = consumer->Commit(record);
            ASSERT_TRUE(committed) << committed.error().ToString();
        }
    }
    {
        // CommitAll sends one request; committing the same offset again is harmless.
        auto consumer = Consumer("audit", options);
        ASSERT_TRUE(consumer);
        const auto records = PollN(*consumer, 1);
        ASSERT_EQ(records.size(), 1U);
        EXPECT_EQ(records[0].offset, "3");
        Record again = records[0];
        again.offset = "2";
        const Record* both[] = {&again};
        auto committed = consumer->CommitAll(both);
        ASSERT_TRUE(committed) << committed.error().ToString();
    }
    auto consumer = Consumer("audit", options);
    ASSERT_TRUE(consumer);
    const auto rest = PollN(*consumer, 1);
    ASSERT_EQ(rest.size(), 1U);
    EXPECT_EQ(rest[0].offset, "3");
    EXPECT_EQ(rest[0].value, "m3");
    // Nothing else is left: the group resumed instead of starting over.
    auto none = consumer->Poll(milliseconds(300));
    ASSERT_TRUE(none);
    EXPECT_FALSE(*none);
    // And no table was needed.
    auto tables = database_->Query("SELECT name FROM sqlite_master WHERE name = 'logpipe_kafkaoffset'");
    ASSERT_TRUE(tables);
    EXPECT_TRUE(tables->empty());
}

TEST_F(KafkaTest, UnknownTopicIsNamed) {
    auto consumer = KafkaConsumer::Create("no-such-topic", Options());
    ASSERT_FALSE(consumer);
    EXPECT_EQ(consumer.error().code(), ErrorCode::kNotFound);
    EXPECT_EQ(consumer.error().message(), "Could not find topic no-such-topic. Does it exist?");
}

TEST_F(KafkaTest, CommitRefusesForeignRecords) {
    cluster_.CreateTopic("mine", 1);
    auto consumer = Consumer("mine", Options());
    ASSERT_TRUE(consumer);
    Record other{.topic = "other", .partition = "0", .offset = "1"};
    EXPECT_EQ(consumer->Commit(other).error().code(), ErrorCode::kInvalidArgument);
    Record bad{.topic = "mine", .partition = "0", .offset = "x"};
    EXPECT_EQ(consumer->Commit(bad).error().code(), ErrorCode::kInvalidArgument);
}

TEST_F(KafkaTest, OptionsAreValidated) {
    KafkaOptions options = Options();
    options.bootstrap_servers.clear();
    EXPECT_EQ(KafkaProducer::Create(options).error().code(), ErrorCode::kInvalidArgument);
    options = Options();
    options.database.reset();
    EXPECT_THAT(KafkaConsumer::Create("t", options).error().message(), HasSubstr("need a database"));
    options.offset_storage = KafkaOffsetStorage::kKafka;
    EXPECT_THAT(KafkaConsumer::Create("t", options).error().message(), HasSubstr("need a group_id"));
}

TEST_F(KafkaTest, UnreachableBrokerFailsWithinTheSendTimeout) {
    KafkaOptions options;
    options.bootstrap_servers = "127.0.0.1:1";
    options.send_timeout = milliseconds(1500);
    options.config["log_level"] = "0";
    auto producer = Producer(options);
    ASSERT_TRUE(producer);
    const auto start = std::chrono::steady_clock::now();
    auto sent = producer->Send("orders", "k", "v");
    const auto elapsed = std::chrono::steady_clock::now() - start;
    ASSERT_FALSE(sent);
    EXPECT_EQ(sent.error().code(), ErrorCode::kTimeout);
    EXPECT_THAT(sent.error().message(), HasSubstr("\"orders\""));
    EXPECT_THAT(sent.error().message(), HasSubstr("127.0.0.1:1"));  // the last broker error says where
    EXPECT_GE(elapsed, milliseconds(1400));
    EXPECT_LT(elapsed, milliseconds(2000));
}

TEST_F(KafkaTest, AsyncFailuresAreReportedToCallbacksAndFlush) {
    KafkaOptions options;
    options.bootstrap_servers = "127.0.0.1:1";
    options.send_timeout = milliseconds(500);
    options.config["log_level"] = "0";
    auto producer = Producer(options);
    ASSERT_TRUE(producer);
    int failed = 0;
    ASSERT_TRUE(producer->SendAsync("orders", "k", "v1", [&](const Result<RecordMetadata>& r) { failed += !r; }));
    ASSERT_TRUE(producer->SendAsync("orders", "k", "v2"));
    EXPECT_EQ(producer->pending(), 2);
    auto flushed = producer->Flush(milliseconds(5000));
    ASSERT_FALSE(flushed);
    EXPECT_EQ(failed, 1);
    EXPECT_EQ(producer->pending(), 0);
    EXPECT_THAT(flushed.error().ToString(), HasSubstr("2 Kafka record(s) failed"));
    EXPECT_THAT(flushed.error().ToString(), HasSubstr("\"orders\""));
    EXPECT_TRUE(producer->Flush(milliseconds(100)));  // the count starts again
}

TEST_F(KafkaTest, AsyncSendsAreAllDeliveredByFlush) {
    cluster_.CreateTopic("bulk", 4);
    auto producer = Producer(Options());
    ASSERT_TRUE(producer);
    int delivered = 0;
    for (int i = 0; i < 1000; ++i) {
        const auto callback = [&](const Result<RecordMetadata>& r) { delivered += r.has_value(); };
        ASSERT_TRUE(producer->SendAsync("bulk", std::to_string(i), "v",
                                        i % 2 == 0 ? KafkaDeliveryCallback(callback) : KafkaDeliveryCallback()));
    }
    auto flushed = producer->Flush(milliseconds(10000));
    ASSERT_TRUE(flushed) << flushed.error().ToString();
    EXPECT_EQ(delivered, 500);
    EXPECT_EQ(producer->pending(), 0);
    // A synchronous Send after async ones still gets its own metadata.
    auto sent = producer->Send("bulk", "NY", "v");
    ASSERT_TRUE(sent) << sent.error().ToString();
    EXPECT_EQ(sent->partition, std::to_string(detail::Murmur2Partition("NY", 4)));
}

TEST_F(KafkaTest, SecuritySettingsPassThroughToLibrdkafka) {
    KafkaOptions options = Options();
    options.config["security.protocol"] = "SASL_PLAINTEXT";
    options.config["sasl.mechanisms"] = "SCRAM-SHA-512";
    options.config["sasl.username"] = "svc";
    options.config["sasl.password"] = "hunter2";
    options.config["acks"] = "1";
    options.config["log_level"] = "0";  // the mock cluster does not speak SASL: keep its refusal out of the log
    auto producer = KafkaProducer::Create(options);
    ASSERT_TRUE(producer) << producer.error().ToString();
    EXPECT_EQ((*producer)->ConfigValueForTest("sasl.mechanisms"), "SCRAM-SHA-512");
    EXPECT_EQ((*producer)->ConfigValueForTest("sasl.username"), "svc");
    EXPECT_EQ((*producer)->ConfigValueForTest("partitioner"), "murmur2_random");
    // Options given in `config` win over gale's defaults (KAFKA_KWARGS semantics).
    options.config["auto.offset.reset"] = "latest";
    options.database.reset();
    options.offset_storage = KafkaOffsetStorage::kKafka;
    options.group_id = "g";
    options.config.erase("security.protocol");  // the mock cluster speaks plaintext
    options.config.erase("sasl.mechanisms");
    cluster_.CreateTopic("sec", 1);
    auto consumer = KafkaConsumer::Create("sec", options);
    ASSERT_TRUE(consumer) << consumer.error().ToString();
    EXPECT_EQ((*consumer)->ConfigValueForTest("auto.offset.reset"), "largest");  // librdkafka's name for latest
}

TEST_F(KafkaTest, InvalidSettingsAreConfigErrorsNamingTheProperty) {
    KafkaOptions options = Options();
    options.config["security.protocol"] = "TLS_PLEASE";
    auto bad_value = KafkaProducer::Create(options);
    ASSERT_FALSE(bad_value);
    EXPECT_EQ(bad_value.error().code(), ErrorCode::kInvalidArgument);
    EXPECT_THAT(bad_value.error().message(), HasSubstr("\"security.protocol\""));
    EXPECT_THAT(bad_value.error().message(), HasSubstr("TLS_PLEASE"));

    options.config = {{"no.such.property", "1"}};
    auto unknown = KafkaConsumer::Create("t", options);
    ASSERT_FALSE(unknown);
    EXPECT_THAT(unknown.error().message(), HasSubstr("\"no.such.property\""));

    options.config = {{"security.protocol", "SSL"}, {"ssl.ca.location", dir_ + "/missing-ca.pem"}};
    auto tls = KafkaProducer::Create(options);
    ASSERT_FALSE(tls);
    EXPECT_EQ(tls.error().code(), ErrorCode::kInvalidArgument);
    EXPECT_THAT(tls.error().message(), HasSubstr("ssl.ca.location"));
}

TEST_F(KafkaTest, OffsetStoreUpsertsAndAcceptsDjangosTable) {
    // The table exactly as Django's migrations leave it on SQLite (reference §5).
    ASSERT_TRUE(database_->ExecScript(
        R"(CREATE TABLE "logpipe_kafkaoffset" ("id" integer NOT NULL PRIMARY KEY AUTOINCREMENT, "topic" varchar(200) )"
        R"(NOT NULL, "partition" integer unsigned NOT NULL CHECK ("partition" >= 0), "offset" integer unsigned NOT )"
        R"(NULL CHECK ("offset" >= 0));)"
        R"(CREATE UNIQUE INDEX "logpipe_offset_topic_partition_8988af52_uniq" ON "logpipe_kafkaoffset" )"
        R"(("topic", "partition");)"
        R"(INSERT INTO "logpipe_kafkaoffset" ("topic", "partition", "offset") VALUES ('users', 1, 2);)"));
    KafkaOffsetStore store(*database_);
    ASSERT_TRUE(store.EnsureTable());
    ASSERT_TRUE(store.EnsureTable());  // idempotent
    EXPECT_EQ(store.Load("users", 1).value(), std::optional<std::int64_t>(2));
    EXPECT_EQ(store.Load("users", 0).value(), std::nullopt);
    ASSERT_TRUE(store.Store("users", 1, 7));
    ASSERT_TRUE(store.Store("users", 0, 1));
    EXPECT_EQ(store.Load("users", 1).value(), std::optional<std::int64_t>(7));
    EXPECT_EQ(store.Load("users", 0).value(), std::optional<std::int64_t>(1));
    auto count = database_->Query(R"(SELECT count(*) FROM "logpipe_kafkaoffset")");
    ASSERT_TRUE(count);
    EXPECT_EQ(std::get<std::int64_t>((*count)[0][0]), 2);
    EXPECT_EQ(store.Store("users", 0, -1).error().code(), ErrorCode::kInvalidArgument);

    // StoreAll: one statement for several partitions, updating and inserting; a bad row refuses the whole call.
    const std::pair<std::int32_t, std::int64_t> rows[] = {{0, 4}, {1, 9}, {2, 1}};
    auto stored = store.StoreAll("users", rows);
    ASSERT_TRUE(stored) << stored.error().ToString();
    EXPECT_EQ(store.Load("users", 0).value(), std::optional<std::int64_t>(4));
    EXPECT_EQ(store.Load("users", 1).value(), std::optional<std::int64_t>(9));
    EXPECT_EQ(store.Load("users", 2).value(), std::optional<std::int64_t>(1));
    const std::pair<std::int32_t, std::int64_t> bad[] = {{0, 5}, {3, -1}};
    EXPECT_EQ(store.StoreAll("users", bad).error().code(), ErrorCode::kInvalidArgument);
    EXPECT_EQ(store.Load("users", 0).value(), std::optional<std::int64_t>(4));
    EXPECT_EQ(store.Load("users", 3).value(), std::nullopt);
}

// PostgreSQL: a real server from Debian's postgresql package, started (and stopped) by the test.
TEST(KafkaOffsetStorePostgresTest, CreatesUpsertsAndLoads) {
    auto server = db::testing::PostgresServer::Start();
    ASSERT_TRUE(server) << server.error().ToString();
    auto database = db::Database::Connect((*server)->connection_options());
    ASSERT_TRUE(database) << database.error().ToString();
    ASSERT_TRUE(database->ExecScript(R"(DROP TABLE IF EXISTS "logpipe_kafkaoffset")"));
    KafkaOffsetStore store(*database);
    auto created = store.EnsureTable();
    ASSERT_TRUE(created) << created.error().ToString();
    ASSERT_TRUE(store.EnsureTable());
    EXPECT_EQ(store.Load("users", 0).value(), std::nullopt);
    ASSERT_TRUE(store.Store("users", 0, 3));
    auto stored = store.Store("users", 0, 5'000'000'000);  // bigint: above Django's int32 column
    ASSERT_TRUE(stored) << stored.error().ToString();
    EXPECT_EQ(store.Load("users", 0).value(), std::optional<std::int64_t>(5'000'000'000));

    // The table as Django's migrations leave it on PostgreSQL (integer offset, a UNIQUE constraint) is used as is.
    ASSERT_TRUE(database->ExecScript(
        R"(DROP TABLE "logpipe_kafkaoffset";)"
        R"(CREATE TABLE "logpipe_kafkaoffset" ("id" serial NOT NULL PRIMARY KEY, "topic" varchar(200) NOT NULL, )"
        R"("partition" integer NOT NULL CHECK ("partition" >= 0), "offset" integer NOT NULL CHECK ("offset" >= 0));)"
        R"(ALTER TABLE "logpipe_kafkaoffset" ADD CONSTRAINT "logpipe_offset_topic_partition_8988af52_uniq" )"
        R"(UNIQUE ("topic", "partition");)"));
    auto django = store.EnsureTable();
    ASSERT_TRUE(django) << django.error().ToString();
    ASSERT_TRUE(store.Store("users", 2, 10));
    ASSERT_TRUE(store.Store("users", 2, 11));
    EXPECT_EQ(store.Load("users", 2).value(), std::optional<std::int64_t>(11));
    EXPECT_FALSE(store.Store("users", 2, 5'000'000'000));  // Django's int32 column: an error, not a wrap
    // StoreAll is one statement: when one row fails, the other is not stored either.
    const std::pair<std::int32_t, std::int64_t> rows[] = {{2, 12}, {3, 5'000'000'000}};
    EXPECT_FALSE(store.StoreAll("users", rows));
    EXPECT_EQ(store.Load("users", 2).value(), std::optional<std::int64_t>(11));
    EXPECT_EQ(store.Load("users", 3).value(), std::nullopt);
    const std::pair<std::int32_t, std::int64_t> good[] = {{2, 12}, {3, 1}};
    auto stored_all = store.StoreAll("users", good);
    ASSERT_TRUE(stored_all) << stored_all.error().ToString();
    EXPECT_EQ(store.Load("users", 2).value(), std::optional<std::int64_t>(12));
    EXPECT_EQ(store.Load("users", 3).value(), std::optional<std::int64_t>(1));
    ASSERT_TRUE(database->ExecScript(R"(DROP TABLE "logpipe_kafkaoffset")"));
}

}  // namespace
}  // namespace gale::pipe
