// SPDX-License-Identifier: MIT
/// @file gale/pipe/kafka.hpp
/// @brief Kafka transport (librdkafka): a producer that places keys like django-logpipe/kafka-python, a consumer
///        that assigns every partition of one topic, and django-logpipe's `logpipe_kafkaoffset` offset store.
///
/// Compatibility with django-logpipe (reference §1.9, §2.3, §5, §6.1):
/// - placement: `partitioner=murmur2_random`, i.e. Java/kafka-python murmur2 of the key bytes; the empty key of a
///   message without KEY_FIELD is sent as an empty non-null key and hashed (12 partitions → 9);
/// - the producer sends synchronously with a 10 s timeout and `retries=0` by default; no headers;
/// - the consumer assigns all partitions of its topic itself (no group rebalancing, so two processes both read
///   everything), `auto.offset.reset=earliest`, `enable.auto.commit=false`;
/// - offsets are shared with Django through the same table and meaning (the next offset to read), or committed to
///   the consumer group in Kafka.
///
/// This header does not include rdkafka.h: the clients are behind pimpl.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>

#include <gale/base/error.hpp>
#include <gale/db/database.hpp>
#include <gale/pipe/backend.hpp>

namespace gale::pipe {

/// Where a KafkaConsumer keeps its progress.
enum class KafkaOffsetStorage {
    kDatabase,  ///< the `logpipe_kafkaoffset` table (django-logpipe's default, `kafka.ModelOffsetStore`)
    kKafka,     ///< the consumer group's committed offsets (django-logpipe's `kafka.KafkaOffsetStore`)
};

/// Settings of the Kafka producer and consumer. Plain value type. (django-logpipe's setting in parentheses.)
///
/// | Name | Description | Default |
/// |---|---|---|
/// | bootstrap_servers | `host:port[,host:port…]`; required (KAFKA_BOOTSTRAP_SERVERS) | "" |
/// | config | librdkafka properties for both clients, applied last: may override anything (KAFKA_KWARGS) | {} |
/// | consumer_config | librdkafka properties for the consumer only, after `config` (KAFKA_CONSUMER_KWARGS) | {} |
/// | send_timeout | Send's wait for the acknowledgement; `message.timeout.ms` (KAFKA_SEND_TIMEOUT) | 10 s |
/// | retries | librdkafka `retries` (KAFKA_MAX_SEND_RETRIES) | 0 |
/// | group_id | consumer `group.id`; required with kKafka | "" |
/// | offset_storage | kDatabase or kKafka (OFFSET_BACKEND) | kDatabase |
/// | database | where kDatabase offsets live; required with kDatabase | nullopt |
/// | metadata_timeout | the consumer's wait for the topic's partition list (and committed offsets) | 10 s |
///
/// `config` carries TLS and SASL (`security.protocol`, `ssl.ca.location`, `sasl.mechanisms`, `sasl.username`,
/// `sasl.password`…), `acks` (librdkafka's default is `all`; kafka-python's was 1), `compression.type`, `linger.ms`.
/// send_timeout also bounds how long SendAsync blocks on a full local queue. With kDatabase, nothing is ever committed
/// to the group and an empty group_id means "gale-pipe" (librdkafka refuses assign() without one).
/// A property whose name contains "password", "secret" or ".key" is never echoed in error messages.
struct KafkaOptions {
    std::string bootstrap_servers{};
    std::map<std::string, std::string> config{};
    std::map<std::string, std::string> consumer_config{};
    std::chrono::milliseconds send_timeout{std::chrono::seconds(10)};
    int retries = 0;
    std::string group_id{};
    KafkaOffsetStorage offset_storage = KafkaOffsetStorage::kDatabase;
    std::optional<db::Database> database{};
    std::chrono::milliseconds metadata_timeout{std::chrono::seconds(10)};
};

/// The outcome of one SendAsync record, handed to its callback.
using KafkaDeliveryCallback = std::function<void(const Result<RecordMetadata>&)>;

/// A librdkafka producer.
///
/// Delivery semantics:
/// - Send: at-least-once per call. Success means the broker acknowledged the record (per `acks`, librdkafka's
///   default `all` unless `config` overrides it). A kTimeout error means no acknowledgement arrived within
///   send_timeout; the record may still have been written (as with kafka-python's KafkaTimeoutError), and a retry by
///   the caller may duplicate it.
/// - SendAsync + Flush: SendAsync only enqueues (copying key and value) and returns; records are batched by
///   librdkafka (`linger.ms`). Records to the same partition are written in SendAsync order when retries=0 (or
///   with `enable.idempotence=true`). Each record's outcome reaches its callback exactly once, on the calling
///   thread, from inside a later SendAsync, Send, Flush or the destructor. Flush waits until every record enqueued
///   so far has its outcome; only after a successful Flush are they all known to be acknowledged.
///
/// Ownership: owns its librdkafka handle; the destructor flushes for up to send_timeout, then purges what is left
/// (callbacks of records purged from the local queue get kCancelled; records already in flight are dropped without
/// a callback). Thread-safety: one thread at a time.
class KafkaProducer final : public ProducerBackend {
public:
    /// Builds the client. Errors: kInvalidArgument for a missing bootstrap_servers or a property librdkafka rejects
    /// (the message names the property, e.g. `invalid Kafka setting "security.protocol": …`). Does not connect:
    /// an unreachable broker shows up as a Send error.
    [[nodiscard]] static Result<std::unique_ptr<KafkaProducer>> Create(const KafkaOptions& options);
    ~KafkaProducer() override;
    KafkaProducer(const KafkaProducer&) = delete;
    KafkaProducer& operator=(const KafkaProducer&) = delete;

    // gale::pipe::ProducerBackend
    /// Produces one record and waits up to send_timeout for its acknowledgement (and for everything SendAsync
    /// enqueued before it). Returns the broker's partition and offset. Errors name the topic and the broker error:
    /// kTimeout (no acknowledgement in time; the last connection error is appended), kNotFound (unknown topic),
    /// kInvalidArgument (record too large), kUnavailable (other broker errors).
    [[nodiscard]] Result<RecordMetadata> Send(const std::string& topic, const std::string& key,
                                              const std::string& value) override;

    /// Enqueues one record without waiting (see the class comment). When librdkafka's local queue is full it serves
    /// delivery reports and retries for up to send_timeout, then returns kTimeout. Errors are for the enqueueing
    /// only; delivery errors go to `on_delivery` and are counted for Flush.
    [[nodiscard]] Result<void> SendAsync(const std::string& topic, const std::string& key, const std::string& value,
                                         KafkaDeliveryCallback on_delivery = {});

    /// Waits up to `timeout` for every enqueued record's outcome. Errors: kTimeout with the number still pending;
    /// otherwise, if any record failed since the previous Flush, the first failure with the count of failures
    /// (kUnavailable/kNotFound/…), after which the count starts again.
    [[nodiscard]] Result<void> Flush(std::chrono::milliseconds timeout);

    /// Records enqueued whose outcome is not known yet.
    [[nodiscard]] std::int64_t pending() const noexcept;

    /// The effective librdkafka property `name` (as rd_kafka_conf_get reports it), nullopt if unknown.
    [[nodiscard]] std::optional<std::string> ConfigValueForTest(const std::string& name) const;

    struct Impl;

private:
    explicit KafkaProducer(std::unique_ptr<Impl> impl);
    std::unique_ptr<Impl> impl_;
};

/// django-logpipe's `logpipe_kafkaoffset` table over a gale::db::Database (SQLite or PostgreSQL):
/// `(id, topic varchar(200), partition integer ≥ 0, offset ≥ 0)`, UNIQUE(topic, partition); `offset` is the next
/// offset to read (the last processed + 1). Shares checkpoints with a Django service using the same database.
/// (django-logpipe calls this class `kafka.ModelOffsetStore`; its `KafkaOffsetStore` is KafkaOffsetStorage::kKafka.)
///
/// Ownership: holds a copy of the Database handle. Thread-safety: as gale::db::Database.
class KafkaOffsetStore {
public:
    explicit KafkaOffsetStore(db::Database database) : database_(std::move(database)) {}

    /// EnsureLogpipeSchema (gale/pipe/logpipe_schema.hpp): creates both of django-logpipe's tables and records its
    /// migrations in django_migrations, so that a Django service sharing the database migrates after gale; Django's
    /// own tables are used as they are. On PostgreSQL gale's `offset` is bigint instead of Django's integer, so
    /// offsets above 2^31-1 fit. Errors: EnsureLogpipeSchema's (a schema it cannot use, the database's).
    [[nodiscard]] Result<void> EnsureTable();

    /// The next offset to read for (topic, partition), or nullopt without a row.
    [[nodiscard]] Result<std::optional<std::int64_t>> Load(std::string_view topic, std::int32_t partition);

    /// Upserts the row's `offset` to `next_offset`. Errors: kInvalidArgument for a negative offset; the database's.
    [[nodiscard]] Result<void> Store(std::string_view topic, std::int32_t partition, std::int64_t next_offset);
    /// Upserts several (partition, next_offset) rows of `topic` in ONE statement (atomic on both engines, inside or
    /// outside the caller's transaction). Errors: as Store.
    [[nodiscard]] Result<void> StoreAll(std::string_view topic,
                                        std::span<const std::pair<std::int32_t, std::int64_t>> next_offsets);

private:
    db::Database database_;
};

/// A librdkafka consumer of one topic with every partition assigned to it (no group membership).
///
/// Start position per partition: kDatabase: the stored offset, or the beginning without a row; kKafka: the group's
/// committed offset, or the beginning (`auto.offset.reset=earliest`). Commit(record) stores record.offset + 1 for
/// its partition (kDatabase: upsert into the table; kKafka: a synchronous commit for group_id).
///
/// Ownership: owns its librdkafka handle and offset store. Thread-safety: one thread at a time.
class KafkaConsumer final : public ConsumerBackend {
public:
    /// Builds the client, creates the offset table if needed (kDatabase), reads the topic's partitions and assigns
    /// them all. Errors: kInvalidArgument (bad settings, naming the property; kDatabase without database; kKafka
    /// without group_id), kNotFound "Could not find topic X. Does it exist?", kUnavailable/kTimeout when the cluster
    /// does not answer within metadata_timeout, the database's errors.
    [[nodiscard]] static Result<std::unique_ptr<KafkaConsumer>> Create(const std::string& topic,
                                                                       const KafkaOptions& options);
    ~KafkaConsumer() override;
    KafkaConsumer(const KafkaConsumer&) = delete;
    KafkaConsumer& operator=(const KafkaConsumer&) = delete;

    // gale::pipe::ConsumerBackend
    /// The next record (partition and offset as decimal strings, the key empty for a null key), or nullopt after
    /// `timeout` without one. Errors: kUnavailable for consumer errors librdkafka reports (transport failures
    /// are retried by librdkafka; the caller may keep polling), kInternal for fatal ones.
    [[nodiscard]] Result<std::optional<Record>> Poll(std::chrono::milliseconds timeout) override;
    /// Stores record.offset + 1 for record.partition. Errors: kInvalidArgument for a record of another topic or with
    /// a non-numeric partition/offset; the database's or Kafka's commit error.
    [[nodiscard]] Result<void> Commit(const Record& record) override;
    /// One upsert statement (kDatabase) or one synchronous commit request (kKafka) for all of them.
    [[nodiscard]] Result<void> CommitAll(std::span<const Record* const> records) override;
    /// Sum over partitions of (high watermark − position), from librdkafka's cached watermarks; nullopt until a
    /// fetch has reported every partition's high watermark.
    std::optional<std::int64_t> Lag() override;

    /// Records librdkafka has fetched and queued in the client that Poll has not returned yet, plus the few control
    /// events queued with them (it is the consumer queue's length); bounded by queued.min.messages and
    /// queued.max.messages.kbytes. For monitoring and benchmarks, not for exact counts.
    [[nodiscard]] std::size_t prefetched() const;

    /// The number of assigned partitions (all of the topic's).
    [[nodiscard]] std::int32_t partition_count() const noexcept;

    /// The effective librdkafka property `name`, nullopt if unknown.
    [[nodiscard]] std::optional<std::string> ConfigValueForTest(const std::string& name) const;

    struct Impl;

private:
    explicit KafkaConsumer(std::unique_ptr<Impl> impl);
    [[nodiscard]] Result<std::pair<std::int32_t, std::int64_t>> NextOffset(const Record& record) const;
    std::unique_ptr<Impl> impl_;
};

}  // namespace gale::pipe
