// SPDX-License-Identifier: MIT
/// @file gale/pipe/kinesis.hpp
/// @brief Amazon Kinesis Data Streams: a small JSON 1.1 client, and the Kinesis producer and consumer backends.
///
/// KinesisClient speaks Kinesis's JSON 1.1 protocol (POST / with X-Amz-Target: Kinesis_20131202.<Operation>), signs
/// with SigV4 (service "kinesis") and sends with gale::http::Client; tests may replace the HTTP+SigV4 layer with a
/// KinesisTransport. KinesisProducer and KinesisConsumer implement ProducerBackend and ConsumerBackend with
/// django-logpipe's conventions (SequenceNumberForOrdering per key, offsets in `logpipe_kinesisoffset`), and fix its
/// consumer's bugs (see KinesisConsumer).
///
/// Configuration (KinesisOptions, or KinesisClient::FromEnvironment):
/// | Name            | Description                                  | Default (FromEnvironment) |
/// |-----------------|----------------------------------------------|-----------------------------------------------------|
/// | region          | signing region, and `region` of offset rows  | AWS_REGION, else AWS_DEFAULT_REGION | |
/// endpoint_url    | scheme://host[:port], no path                | AWS_ENDPOINT_URL_KINESIS, AWS_ENDPOINT_URL, AWS's |
/// | access_key_id … | static credentials                           | AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, …TOKEN
/// | | timeout         | limit on one HTTP exchange                   | 10 s | | connect_timeout | limit on connecting
/// | 2 s                                                 | | max_attempts    | attempts per call when throttled or 5xx
/// | 5                                                   | | backoff         | first retry delay; doubles, capped | 100
/// ms, cap 5 s                                     |
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <gale/base/error.hpp>
#include <gale/pipe/backend.hpp>

namespace gale::db {
class Database;
}  // namespace gale::db

namespace gale::pipe {

/// One JSON 1.1 call as the transport sees it: the operation ("PutRecord") and the JSON request body.
struct KinesisHttpCall {
    std::string operation{};
    std::string body{};
};

/// What came back: HTTP status and body (a JSON object; errors carry "__type" and "message").
struct KinesisHttpReply {
    int status = 0;
    std::string body{};
};

/// Sends one call. Errors are transport failures (kUnavailable, kTimeout). The default transport signs with SigV4
/// and posts to the endpoint; tests inject canned replies.
using KinesisTransport = std::function<Result<KinesisHttpReply>(const KinesisHttpCall&)>;

struct KinesisOptions {
    std::string region{};
    /// Empty means https://kinesis.<region>.amazonaws.com.
    std::string endpoint_url{};
    std::string access_key_id{};
    std::string secret_access_key{};
    std::string session_token{};
    std::chrono::milliseconds timeout{10000};
    std::chrono::milliseconds connect_timeout{2000};
    /// Attempts per call (>= 1) when Kinesis throttles (ProvisionedThroughputExceededException,
    /// LimitExceededException, ThrottlingException) or answers 5xx. Other errors are not retried.
    int max_attempts = 5;
    /// Delay before the first retry; doubled for each further retry, capped at max_backoff. No jitter.
    std::chrono::milliseconds backoff{100};
    std::chrono::milliseconds max_backoff{5000};
    /// How to wait between attempts; empty means std::this_thread::sleep_for. Injected by tests.
    std::function<void(std::chrono::milliseconds)> sleep{};
    /// Signing time source; empty means system_clock::now.
    std::function<std::chrono::system_clock::time_point()> now{};
    /// Replaces HTTP + SigV4 when set (tests).
    KinesisTransport transport{};
};

struct KinesisShard {
    std::string shard_id{};
    std::string parent_shard_id{};           ///< empty when none
    std::string adjacent_parent_shard_id{};  ///< empty when none (set for a merge's child)
    std::string starting_sequence_number{};
    std::string ending_sequence_number{};  ///< empty while the shard is open
    [[nodiscard]] bool closed() const noexcept { return !ending_sequence_number.empty(); }
};

enum class ShardIteratorType { kTrimHorizon, kLatest, kAtSequenceNumber, kAfterSequenceNumber, kAtTimestamp };

/// "TRIM_HORIZON", "LATEST", "AT_SEQUENCE_NUMBER", "AFTER_SEQUENCE_NUMBER", "AT_TIMESTAMP".
std::string_view ToString(ShardIteratorType type) noexcept;
/// The inverse of ToString (exact, upper case); nullopt for anything else.
std::optional<ShardIteratorType> ParseShardIteratorType(std::string_view text) noexcept;

/// Where a shard iterator starts. `sequence_number` is used by the two *_SEQUENCE_NUMBER types, `timestamp` by
/// AT_TIMESTAMP.
struct ShardPosition {
    ShardIteratorType type = ShardIteratorType::kTrimHorizon;
    std::string sequence_number{};
    std::chrono::system_clock::time_point timestamp{};
};

struct KinesisRecord {
    std::string sequence_number{};
    std::string partition_key{};
    std::string data{};           ///< raw bytes (base64 on the wire)
    std::int64_t arrival_ms = 0;  ///< ApproximateArrivalTimestamp in ms since the epoch; 0 if absent
};

struct GetRecordsResult {
    std::vector<KinesisRecord> records{};
    /// Absent when the shard is closed and fully read.
    std::optional<std::string> next_shard_iterator{};
    std::optional<std::int64_t> millis_behind_latest{};
    /// True when Kinesis answered ExpiredIteratorException (the iterator is older than 5 minutes); the caller gets a
    /// new iterator. Reported here rather than as an error because it is routine.
    bool iterator_expired = false;
};

struct PutRecordResult {
    std::string shard_id{};
    std::string sequence_number{};
};

struct StreamSummary {
    std::string status{};  ///< CREATING, ACTIVE, UPDATING, DELETING
    int open_shard_count = 0;
};

/// A Kinesis Data Streams client.
///
/// Errors of every call, with messages "Kinesis <Operation> at <endpoint>: <AWS error type>: <message> (HTTP n)" or
/// "Kinesis <Operation> at <endpoint>" with the transport failure as cause:
/// - kUnavailable / kTimeout: endpoint unreachable or silent, 5xx and throttling after max_attempts;
/// - kNotFound: ResourceNotFoundException (no such stream or shard);
/// - kAlreadyExists: ResourceInUseException (CreateStream of an existing stream);
/// - kInvalidArgument: every other AWS error (InvalidArgumentException, ValidationException, AccessDenied, …) and
///   malformed replies; also invalid arguments caught before sending (empty partition key);
/// - kInternal: signing failed (missing credentials).
///
/// Ownership: owns one http::Client. Thread-safety: methods are const and may be called from several threads; HTTP
/// exchanges are serialised on the one connection (a mutex), backoff sleeps are not.
class KinesisClient {
public:
    explicit KinesisClient(KinesisOptions options);
    ~KinesisClient();
    KinesisClient(KinesisClient&&) noexcept;
    KinesisClient& operator=(KinesisClient&&) noexcept;
    KinesisClient(const KinesisClient&) = delete;
    KinesisClient& operator=(const KinesisClient&) = delete;

    /// Region, credentials and endpoint from the AWS_* environment (gale/aws/environment.hpp), on top of `base`
    /// (its timeouts, retry and test hooks are kept). Errors (kNotFound) name the missing variable.
    [[nodiscard]] static Result<KinesisClient> FromEnvironment(KinesisOptions base = {});

    [[nodiscard]] const std::string& endpoint() const noexcept;
    [[nodiscard]] const std::string& region() const noexcept;

    /// PutRecord. `partition_key` must be 1..256 bytes (kInvalidArgument otherwise, without a call);
    /// `sequence_number_for_ordering`, when set, makes Kinesis give this record a higher sequence number than that.
    [[nodiscard]] Result<PutRecordResult> PutRecord(
        std::string_view stream, std::string_view partition_key, std::string_view data,
        const std::optional<std::string>& sequence_number_for_ordering = std::nullopt) const;

    /// Every shard of the stream, open and closed, following NextToken. `page_size` > 0 sends MaxResults.
    [[nodiscard]] Result<std::vector<KinesisShard>> ListShards(std::string_view stream, int page_size = 0) const;

    [[nodiscard]] Result<std::string> GetShardIterator(std::string_view stream, std::string_view shard_id,
                                                       const ShardPosition& position) const;

    /// GetRecords with Limit `limit` (1..10000). See GetRecordsResult::iterator_expired.
    [[nodiscard]] Result<GetRecordsResult> GetRecords(std::string_view shard_iterator, int limit) const;

    // For tests and tools.
    [[nodiscard]] Result<void> CreateStream(std::string_view stream, int shard_count) const;
    [[nodiscard]] Result<StreamSummary> DescribeStreamSummary(std::string_view stream) const;
    [[nodiscard]] Result<void> UpdateShardCount(std::string_view stream, int target_shard_count) const;
    [[nodiscard]] Result<void> MergeShards(std::string_view stream, std::string_view shard,
                                           std::string_view adjacent_shard) const;

private:
    struct Impl;
    std::unique_ptr<Impl> impl_;
};

/// ProducerBackend over PutRecord.
///
/// Like django-logpipe, each successful send remembers its sequence number per (stream, key) and passes it as
/// SequenceNumberForOrdering on the next send with the same key, so one process's records of a key get strictly
/// increasing sequence numbers. The cache is per producer (django-logpipe's is process-wide), an LRU of
/// `sequence_cache_size` (stream, key) entries. Send returns partition = ShardId, offset = SequenceNumber.
/// An empty key is kInvalidArgument (Kinesis requires 1+ characters; django-logpipe fails the same way).
/// Throttling is retried by the client (KinesisOptions::max_attempts); a final failure is an error (django-logpipe
/// returned None).
///
/// Ownership: shares the client. Thread-safety: Send may be called from several threads (the cache has a mutex).
class KinesisProducer final : public ProducerBackend {
public:
    explicit KinesisProducer(std::shared_ptr<const KinesisClient> client, std::size_t sequence_cache_size = 1000);
    ~KinesisProducer() override;

    // gale::pipe::ProducerBackend
    [[nodiscard]] Result<RecordMetadata> Send(const std::string& topic, const std::string& key,
                                              const std::string& value) override;

private:
    struct Impl;
    std::unique_ptr<Impl> impl_;
};

/// KinesisConsumer options.
/// | Name                  | Description                                                      | Default        |
/// |-----------------------|------------------------------------------------------------------|----------------|
/// | stream                | stream to read                                                   | required       |
/// | fetch_limit           | GetRecords Limit (KINESIS_FETCH_LIMIT)                           | 25             |
/// | start                 | where shards without a stored offset start (TRIM_HORIZON, LATEST, AT_TIMESTAMP) |
/// TRIM_HORIZON | | region                | `region` column of the offset rows                               | client
/// region  | | list_shards_page_size | ListShards MaxResults (0: Kinesis's default)                     | 0 | |
/// idle_wait             | pause between empty rounds inside one Poll                       | 200 ms         | |
/// rediscover_interval   | how often ListShards runs to find new shards                     | 60 s           |
struct KinesisConsumerOptions {
    std::string stream{};
    int fetch_limit = 25;
    ShardPosition start{};
    std::string region{};
    int list_shards_page_size = 0;
    std::chrono::milliseconds idle_wait{200};
    std::chrono::milliseconds rediscover_interval{60000};
    /// How to wait in Poll; empty means std::this_thread::sleep_for.
    std::function<void(std::chrono::milliseconds)> sleep{};
};

/// ConsumerBackend over ListShards/GetShardIterator/GetRecords, with offsets in the database.
///
/// - Shards are found with ListShards, every page, at the start, whenever a shard finishes, and every
///   rediscover_interval.
/// - Resharding: a shard is read only once its parent and adjacent parent are finished (or are gone from the stream,
///   past retention), so records of one key stay in order across splits and merges. A shard is finished when
///   GetRecords returns no NextShardIterator; also (moto, which never drops the iterator) when the shard is closed,
///   the page is empty and the last read sequence number reached its EndingSequenceNumber (or nothing was read and
///   MillisBehindLatest is 0).
/// - Fetching: round-robin, one GetRecords page (fetch_limit records) per readable shard per round.
/// - Expired iterators are replaced with AFTER_SEQUENCE_NUMBER the last read record (or the starting position if none
///   was read), instead of dropping the shard as django-logpipe does.
/// - Offsets: django-logpipe's table `logpipe_kinesisoffset(id, region, stream, shard, sequence_number)`, unique on
///   (region, stream, shard), created if missing. Commit stores the record's sequence number (the last processed);
///   a shard with a row resumes AFTER_SEQUENCE_NUMBER it, others start at `start`.
/// - Lag() is nullopt: Kinesis reports MillisBehindLatest, a time, not a record count. millis_behind() (and
///   LagTime(), exported by `consume` as gale_pipe_consumer_lag_seconds) gives the largest MillisBehindLatest of the
///   last page read from each unfinished shard.
/// - Record: topic = stream, partition = ShardId, offset = SequenceNumber, timestamp = ApproximateArrivalTimestamp
///   (ms), key = PartitionKey, value = Data.
///
/// Ownership: shares the client; keeps a copy of the Database handle. Thread-safety: one thread.
class KinesisConsumer final : public ConsumerBackend {
public:
    /// Creates the offset table if missing and lists the shards. Errors: invalid options, database and Kinesis
    /// failures (kNotFound for a missing stream).
    [[nodiscard]] static Result<std::unique_ptr<KinesisConsumer>> Open(std::shared_ptr<const KinesisClient> client,
                                                                       const db::Database& offsets,
                                                                       KinesisConsumerOptions options);
    ~KinesisConsumer() override;
    KinesisConsumer(const KinesisConsumer&) = delete;
    KinesisConsumer& operator=(const KinesisConsumer&) = delete;

    // gale::pipe::ConsumerBackend
    /// Returns queued records first; otherwise reads rounds of pages until a record arrives or `timeout` passes
    /// (at least one round, so a zero timeout still fetches).
    [[nodiscard]] Result<std::optional<Record>> Poll(std::chrono::milliseconds timeout) override;
    [[nodiscard]] Result<void> Commit(const Record& record) override;
    std::optional<std::int64_t> Lag() override { return std::nullopt; }
    std::optional<std::chrono::milliseconds> LagTime() override {
        auto ms = millis_behind();
        if (!ms) return std::nullopt;
        return std::chrono::milliseconds(*ms);
    }

    /// See the class comment; nullopt before the first page.
    [[nodiscard]] std::optional<std::int64_t> millis_behind() const;
    /// Shard ids currently being read (parents finished, not finished themselves). For tests and diagnostics.
    [[nodiscard]] std::vector<std::string> readable_shards() const;

    struct Impl;

private:
    explicit KinesisConsumer(std::unique_ptr<Impl> impl);
    std::unique_ptr<Impl> impl_;
};

/// EnsureLogpipeSchema (gale/pipe/logpipe_schema.hpp) for `db`: `logpipe_kinesisoffset` (and django-logpipe's other
/// table) as Django's migrations leave them, recorded in django_migrations, or Django's own tables as they are.
/// KinesisConsumer::Open calls it.
[[nodiscard]] Result<void> EnsureKinesisOffsetTable(db::Database& db);

}  // namespace gale::pipe
