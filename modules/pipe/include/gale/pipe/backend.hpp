// SPDX-License-Identifier: MIT
/// @file gale/pipe/backend.hpp
/// @brief The transport interfaces behind producers and consumers: embedded (SQLite log), Kafka, Kinesis.
///
/// Ownership: backends are owned by the Producer/Consumer that uses them. Thread-safety: one thread per backend
/// object unless an implementation says otherwise.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <span>
#include <string>

#include <gale/base/error.hpp>

namespace gale::pipe {

/// One record as a transport delivers it. `partition` and `offset` are strings because Kinesis uses shard ids and
/// sequence numbers; Kafka and the embedded log use decimal integers.
struct Record {
    std::string topic{};
    std::string partition{};
    std::string offset{};
    std::int64_t timestamp_ms = 0;
    std::string key{};
    std::string value{};
};

struct RecordMetadata {
    std::string topic{};
    std::string partition{};
    std::string offset{};
};

class ProducerBackend {
public:
    virtual ~ProducerBackend() = default;
    /// Sends one record synchronously (returns when the transport accepted it). Errors: unavailable, timeout.
    [[nodiscard]] virtual Result<RecordMetadata> Send(const std::string& topic, const std::string& key,
                                                      const std::string& value) = 0;
};

/// Where a consumer's progress is stored. Commit is called after a record was processed; `Transaction` lets an
/// offset store join the transaction of the service's own database writes (exactly-once for database effects).
class ConsumerBackend {
public:
    virtual ~ConsumerBackend() = default;
    /// The next record, or nullopt if none arrived within `timeout`. Errors: transport failures.
    [[nodiscard]] virtual Result<std::optional<Record>> Poll(std::chrono::milliseconds timeout) = 0;
    /// Marks `record` (and everything before it in its partition) as processed.
    [[nodiscard]] virtual Result<void> Commit(const Record& record) = 0;
    /// Commits several records of distinct partitions (the last processed record of each), atomically where the
    /// store allows: on error none may be assumed committed, and committing them again is harmless. The default
    /// commits one by one; Kafka does it in one statement (database offsets) or one request (Kafka offsets).
    [[nodiscard]] virtual Result<void> CommitAll(std::span<const Record* const> records) {
        for (const Record* record : records) GALE_RETURN_IF_ERROR(Commit(*record));
        return {};
    }
    /// Records not yet consumed (sum over partitions), for the lag metric; nullopt if unknown.
    virtual std::optional<std::int64_t> Lag() { return std::nullopt; }
    /// How far behind the newest record the consumer is, in time, where the transport reports that instead of a
    /// count (Kinesis: MillisBehindLatest); nullopt if unknown.
    virtual std::optional<std::chrono::milliseconds> LagTime() { return std::nullopt; }
};

}  // namespace gale::pipe
