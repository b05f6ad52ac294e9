// SPDX-License-Identifier: MIT
/// @file gale/pipe/embedded_log.hpp
/// @brief The default pipe backend: an append-only, partitioned log in one SQLite file, with consumer-group offsets
///        and a dead-letter table in the same file.
///
/// Tables (created by Open, `IF NOT EXISTS`):
///
///     gale_pipe_partitions   (topic, "partition", next_offset)                 -- high-water mark per partition
///     gale_pipe_records      (topic, "partition", "offset", timestamp_ms, key, value BLOB)
///                            PRIMARY KEY (topic, "partition", "offset")
///     gale_pipe_offsets      (consumer_group, topic, "partition", next_offset)  PRIMARY KEY (group, topic, partition)
///     gale_pipe_dead_letters (id, topic, "partition", "offset", key, value BLOB, reason, failed_at)
///
/// Offsets are dense per partition and never reused: the high-water mark survives retention. A topic gets its
/// partitions (EmbeddedLogOptions::partitions, default 1) when it is first written or created with CreateTopic;
/// keys are spread over them with Kafka's murmur2 (`(murmur2(key) & 0x7fffffff) % partitions`, the same placement
/// as kafka-python and librdkafka's murmur2_random), so one key keeps its order.
///
/// Exactly-once with the service's own tables: put them in the same file and use `database()` for Save and
/// `Transaction()` as ConsumerOptions::transaction. Consumer commits go through that same connection, so Save and
/// the offset commit are one SQLite transaction.
///
/// Connections: `database()` (the consumer side: Consumer backends, Transaction, DeadLetters, Retain, Lag) is ONE
/// connection; a transaction on it covers everything issued on it from any thread, so use it from one consumer
/// thread (open another EmbeddedLog for another consumer thread). Producer() opens its own connection; it is
/// thread-safe and may be used from any thread.
///
/// Waiting: Poll does not spin. It waits on a process-wide condition variable that every producer of this process
/// writing to the same file notifies, and wakes at least every 10 ms to check `PRAGMA data_version` for commits
/// by other processes, so a cross-process record is seen within ~10 ms at a cost of ~100 cheap queries/s idle.
///
/// Ownership: EmbeddedLog is a cheap handle (copies share state); backends keep the state alive.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include <gale/base/error.hpp>
#include <gale/db/sqlite.hpp>
#include <gale/pipe/backend.hpp>
#include <gale/pipe/consumer.hpp>

namespace gale::pipe {

/// | Name | Description | Default |
/// |---|---|---|
/// | partitions | partitions of a topic created implicitly by its first record | 1 |
/// | prefetch | records a consumer reads per query | 256 |
struct EmbeddedLogOptions {
    int partitions = 1;
    int prefetch = 256;
};

/// What Retain keeps; both limits may be set. Records are deleted whether or not every group consumed them (as
/// Kafka retention does); a group behind the retention point continues from the oldest record kept.
struct RetentionPolicy {
    std::optional<std::chrono::milliseconds> max_age{};
    std::optional<std::int64_t> max_records{};  ///< per partition
};

class EmbeddedLog {
public:
    /// Opens (creating) the log in the SQLite file at `path` and creates its tables. Errors: the file cannot be
    /// opened or written. ":memory:" is refused (the producer needs a second connection to the same data).
    [[nodiscard]] static Result<EmbeddedLog> Open(const std::string& path, EmbeddedLogOptions options = {});

    /// The consumer-side connection (share it with Save for exactly-once).
    db::Database database() const;

    /// Runs body in BEGIN IMMEDIATE … COMMIT on database() (ROLLBACK if body fails); for
    /// ConsumerOptions::transaction. Not reentrant.
    TransactionFn Transaction() const;

    /// Creates `topic` with `partitions` partitions if it does not exist. Errors: exists with another count.
    [[nodiscard]] Result<void> CreateTopic(const std::string& topic, int partitions);

    /// A producer on its own connection: each Send appends one record with the partition's next offset in one
    /// transaction. Errors: kUnavailable when the database stays locked beyond the busy timeout.
    [[nodiscard]] Result<std::unique_ptr<ProducerBackend>> Producer() const;

    /// A consumer of `topic` for `group`, starting at the group's committed offsets (the beginning when none).
    /// Poll round-robins over the partitions and keeps an in-memory position; Commit stores offset+1 in
    /// gale_pipe_offsets on database(). Lag counts the records at or after the committed offsets.
    std::unique_ptr<ConsumerBackend> Consumer(const std::string& group, const std::string& topic) const;

    /// A DeadLetterSink writing gale_pipe_dead_letters on database() (so it joins Transaction()).
    std::unique_ptr<DeadLetterSink> DeadLetters() const;

    /// Deletes the records `policy` does not keep; returns how many were deleted.
    [[nodiscard]] Result<std::int64_t> Retain(const std::string& topic, const RetentionPolicy& policy);

    /// Records of `topic` at or after `group`'s committed offsets.
    [[nodiscard]] Result<std::int64_t> Lag(const std::string& group, const std::string& topic);

    struct State;

private:
    explicit EmbeddedLog(std::shared_ptr<State> state) : state_(std::move(state)) {}
    std::shared_ptr<State> state_;
};

}  // namespace gale::pipe
