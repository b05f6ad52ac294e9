// SPDX-License-Identifier: MIT
//
// Design. Offsets are allocated from gale_pipe_partitions.next_offset in the same transaction that inserts the
// record, so they are dense, never reused (retention deletes records, not the high-water mark) and a rolled-back
// append leaves no hole. A consumer keeps an in-memory position per partition (initialised from the group's
// committed offset) and a small prefetch buffer; Commit only writes the offset table. The Consumer above keeps
// unfinished records itself, so the in-memory position never needs to move backwards.
//
// Waking up: producers of this process notify a condition variable shared by every EmbeddedLog of the same file
// (a process-wide registry keyed by the canonical path); `PRAGMA data_version` detects commits of other processes.
#include <charconv>
#include <condition_variable>
#include <deque>
#include <filesystem>
#include <map>
#include <mutex>
#include <vector>

#include <gale/db/transaction.hpp>
#include <gale/pipe/embedded_log.hpp>

#include "murmur2.hpp"

namespace gale::pipe {

namespace {

struct Notifier {
    std::mutex mu;
    std::condition_variable cv;
    std::uint64_t generation = 0;
    void Notify() {
        {
            std::lock_guard lock(mu);
            ++generation;
        }
        cv.notify_all();
    }
};

std::shared_ptr<Notifier> NotifierFor(const std::string& path) {
    static std::mutex mu;
    static std::map<std::string, std::weak_ptr<Notifier>> registry;
    std::error_code ec;
    std::string key = std::filesystem::weakly_canonical(path, ec).string();
    if (ec) key = path;
    std::lock_guard lock(mu);
    auto& weak = registry[key];
    auto strong = weak.lock();
    if (!strong) {
        strong = std::make_shared<Notifier>();
        weak = strong;
    }
    return strong;
}

constexpr std::string_view kSchema = R"sql(
CREATE TABLE IF NOT EXISTS gale_pipe_partitions (
    topic TEXT NOT NULL,
    "partition" INTEGER NOT NULL,
    next_offset INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (topic, "partition")
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS gale_pipe_records (
    topic TEXT NOT NULL,
    "partition" INTEGER NOT NULL,
    "offset" INTEGER NOT NULL,
    timestamp_ms INTEGER NOT NULL,
    key TEXT NOT NULL,
    value BLOB NOT NULL,
    PRIMARY KEY (topic, "partition", "offset")
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS gale_pipe_offsets (
    consumer_group TEXT NOT NULL,
    topic TEXT NOT NULL,
    "partition" INTEGER NOT NULL,
    next_offset INTEGER NOT NULL,
    PRIMARY KEY (consumer_group, topic, "partition")
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS gale_pipe_dead_letters (
    id INTEGER PRIMARY KEY,
    topic TEXT NOT NULL,
    "partition" TEXT NOT NULL,
    "offset" TEXT NOT NULL,
    key TEXT NOT NULL,
    value BLOB NOT NULL,
    reason TEXT NOT NULL,
    failed_at TEXT NOT NULL
);
)sql";

std::int64_t AsInt(const db::Value& v) {
    if (const auto* i = std::get_if<std::int64_t>(&v)) return *i;
    return 0;
}

std::string AsString(const db::Value& v) {
    if (const auto* s = std::get_if<std::string>(&v)) return *s;
    if (const auto* i = std::get_if<std::int64_t>(&v)) return std::to_string(*i);
    return {};
}

Result<std::int64_t> ParseInt(std::string_view s, std::string_view what) {
    std::int64_t v = 0;
    auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
    if (ec != std::errc() || ptr != s.data() + s.size()) {
        return MakeError(ErrorCode::kInvalidArgument,
                         "embedded log: bad " + std::string(what) + " '" + std::string(s) + "'");
    }
    return v;
}

std::int64_t NowMillis() {
    return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
        .count();
}

/// Runs `body` in one write transaction (BEGIN IMMEDIATE), once: a consumer's body calls the service's handlers, which
/// a second run would call again.
Result<void> InTransaction(db::Database& db, const std::function<Result<void>()>& body) {
    return db::InTransaction(db, [&](db::Database&) { return body(); }, {.max_attempts = 1});
}

// Number of partitions of `topic`, creating it with `partitions` if absent (idempotent across processes).
Result<int> EnsureTopic(db::Database& db, const std::string& topic, int partitions) {
    GALE_ASSIGN_OR_RETURN(auto rows, db.Query("SELECT COUNT(*) FROM gale_pipe_partitions WHERE topic = ?", {topic}));
    std::int64_t n = rows.empty() ? 0 : AsInt(rows[0][0]);
    if (n > 0) return static_cast<int>(n);
    auto create = [&]() -> Result<void> {
        for (int p = 0; p < partitions; ++p) {
            GALE_RETURN_IF_ERROR(db.Execute(
                "INSERT OR IGNORE INTO gale_pipe_partitions (topic, \"partition\", next_offset) VALUES (?, ?, 0)",
                {topic, std::int64_t{p}}));
        }
        return {};
    };
    GALE_RETURN_IF_ERROR(InTransaction(db, create));
    GALE_ASSIGN_OR_RETURN(rows, db.Query("SELECT COUNT(*) FROM gale_pipe_partitions WHERE topic = ?", {topic}));
    return static_cast<int>(rows.empty() ? 0 : AsInt(rows[0][0]));
}

Result<std::int64_t> LagOf(db::Database& db, const std::string& group, const std::string& topic) {
    // Offsets are dense above the retention point: lag = high-water mark - max(committed, oldest kept).
    GALE_ASSIGN_OR_RETURN(auto rows,
                          db.Query("SELECT p.next_offset, COALESCE(o.next_offset, 0), (SELECT MIN(r.\"offset\") FROM "
                                   "gale_pipe_records r WHERE r.topic = p.topic AND r.\"partition\" = p.\"partition\") "
                                   "FROM gale_pipe_partitions p LEFT JOIN gale_pipe_offsets o ON o.consumer_group = ? "
                                   "AND o.topic = p.topic AND o.\"partition\" = p.\"partition\" WHERE p.topic = ?",
                                   {group, topic}));
    std::int64_t lag = 0;
    for (const auto& row : rows) {
        if (std::holds_alternative<std::nullptr_t>(row[2])) continue;  // nothing kept in this partition
        lag += std::max<std::int64_t>(0, AsInt(row[0]) - std::max(AsInt(row[1]), AsInt(row[2])));
    }
    return lag;
}

}  // namespace

struct EmbeddedLog::State {
    db::Database db;
    std::string path;
    EmbeddedLogOptions options;
    std::shared_ptr<Notifier> notifier;
};

namespace {

class EmbeddedProducer final : public ProducerBackend {
public:
    EmbeddedProducer(db::Database db, std::shared_ptr<EmbeddedLog::State> state)
        : db_(std::move(db)), state_(std::move(state)) {}

    // gale::pipe::ProducerBackend
    Result<RecordMetadata> Send(const std::string& topic, const std::string& key, const std::string& value) override {
        std::lock_guard lock(mu_);
        auto it = partitions_.find(topic);
        if (it == partitions_.end()) {
            GALE_ASSIGN_OR_RETURN(int n, EnsureTopic(db_, topic, state_->options.partitions));
            it = partitions_.emplace(topic, n).first;
        }
        const std::int64_t partition = detail::Murmur2Partition(key, it->second);
        std::int64_t offset = 0;
        auto append = [&]() -> Result<void> {
            GALE_ASSIGN_OR_RETURN(auto rows,
                                  db_.Query("UPDATE gale_pipe_partitions SET next_offset = next_offset + 1 "
                                            "WHERE topic = ? AND \"partition\" = ? RETURNING next_offset - 1",
                                            {topic, partition}));
            if (rows.empty()) {
                return MakeError(ErrorCode::kNotFound, "embedded log: topic '" + topic + "' partition " +
                                                           std::to_string(partition) + " does not exist");
            }
            offset = AsInt(rows[0][0]);
            GALE_RETURN_IF_ERROR(
                db_.Execute("INSERT INTO gale_pipe_records (topic, \"partition\", \"offset\", "
                            "timestamp_ms, key, value) VALUES (?, ?, ?, ?, ?, CAST(? AS BLOB))",
                            {topic, partition, offset, NowMillis(), key, value}));
            return {};
        };
        GALE_RETURN_IF_ERROR(InTransaction(db_, append));
        state_->notifier->Notify();
        return RecordMetadata{topic, std::to_string(partition), std::to_string(offset)};
    }

private:
    std::mutex mu_;
    db::Database db_;
    std::shared_ptr<EmbeddedLog::State> state_;
    std::map<std::string, int> partitions_;
};

class EmbeddedConsumer final : public ConsumerBackend {
public:
    EmbeddedConsumer(std::shared_ptr<EmbeddedLog::State> state, std::string group, std::string topic)
        : state_(std::move(state)), group_(std::move(group)), topic_(std::move(topic)) {}

    // gale::pipe::ConsumerBackend
    Result<std::optional<Record>> Poll(std::chrono::milliseconds timeout) override {
        const auto deadline = std::chrono::steady_clock::now() + timeout;
        Notifier& n = *state_->notifier;
        std::uint64_t seen_generation = 0;
        {
            std::lock_guard lock(n.mu);
            seen_generation = n.generation;
        }
        bool look = true;
        for (;;) {
            if (look) {
                GALE_ASSIGN_OR_RETURN(auto data_version, DataVersion());
                data_version_ = data_version;
                GALE_ASSIGN_OR_RETURN(auto record, TryNext());
                if (record) return record;
            }
            if (std::chrono::steady_clock::now() >= deadline) return std::optional<Record>();
            {
                std::unique_lock lock(n.mu);
                n.cv.wait_until(lock, std::min(deadline, std::chrono::steady_clock::now() + kRecheck),
                                [&] { return n.generation != seen_generation; });
                look = n.generation != seen_generation;
                seen_generation = n.generation;
            }
            if (!look) {
                GALE_ASSIGN_OR_RETURN(auto data_version, DataVersion());
                look = data_version != data_version_;
            }
        }
    }

    Result<void> Commit(const Record& record) override {
        GALE_ASSIGN_OR_RETURN(std::int64_t partition, ParseInt(record.partition, "partition"));
        GALE_ASSIGN_OR_RETURN(std::int64_t offset, ParseInt(record.offset, "offset"));
        GALE_RETURN_IF_ERROR(state_->db.Execute(
            "INSERT INTO gale_pipe_offsets (consumer_group, topic, \"partition\", next_offset) VALUES (?, ?, ?, ?) "
            "ON CONFLICT (consumer_group, topic, \"partition\") DO UPDATE SET next_offset = excluded.next_offset",
            {group_, record.topic, partition, offset + 1}));
        return {};
    }

    std::optional<std::int64_t> Lag() override {
        auto lag = LagOf(state_->db, group_, topic_);
        if (!lag) return std::nullopt;
        return *lag;
    }

private:
    static constexpr std::chrono::milliseconds kRecheck{10};

    Result<std::int64_t> DataVersion() {
        GALE_ASSIGN_OR_RETURN(auto rows, state_->db.Query("PRAGMA data_version"));
        return rows.empty() ? 0 : AsInt(rows[0][0]);
    }

    Result<void> RefreshPartitions() {
        GALE_ASSIGN_OR_RETURN(auto rows, state_->db.Query("SELECT \"partition\" FROM gale_pipe_partitions WHERE "
                                                          "topic = ? ORDER BY \"partition\"",
                                                          {topic_}));
        if (rows.size() == partitions_.size()) return {};
        GALE_ASSIGN_OR_RETURN(auto committed,
                              state_->db.Query("SELECT \"partition\", next_offset FROM gale_pipe_offsets WHERE "
                                               "consumer_group = ? AND topic = ?",
                                               {group_, topic_}));
        std::map<std::int64_t, std::int64_t> offsets;
        for (const auto& row : committed) offsets[AsInt(row[0])] = AsInt(row[1]);
        partitions_.clear();
        for (const auto& row : rows) {
            std::int64_t p = AsInt(row[0]);
            partitions_.push_back(p);
            if (!positions_.contains(p)) positions_[p] = offsets.contains(p) ? offsets[p] : 0;
        }
        return {};
    }

    Result<void> Fetch(std::int64_t partition) {
        GALE_ASSIGN_OR_RETURN(
            auto rows,
            state_->db.Query("SELECT \"offset\", timestamp_ms, key, value FROM gale_pipe_records "
                             "WHERE topic = ? AND \"partition\" = ? AND \"offset\" >= ? "
                             "ORDER BY \"offset\" LIMIT ?",
                             {topic_, partition, positions_[partition], std::int64_t{state_->options.prefetch}}));
        auto& buffer = buffers_[partition];
        const std::string part = std::to_string(partition);
        for (auto& row : rows) {
            Record r;
            r.topic = topic_;
            r.partition = part;
            r.offset = std::to_string(AsInt(row[0]));
            r.timestamp_ms = AsInt(row[1]);
            r.key = AsString(row[2]);
            r.value = AsString(row[3]);
            positions_[partition] = AsInt(row[0]) + 1;
            buffer.push_back(std::move(r));
        }
        return {};
    }

    Result<std::optional<Record>> TryNext() {
        for (int pass = 0; pass < 2; ++pass) {
            if (pass == 1 || partitions_.empty()) GALE_RETURN_IF_ERROR(RefreshPartitions());
            const std::size_t n = partitions_.size();
            for (std::size_t i = 0; i < n; ++i) {
                const std::size_t idx = (next_ + i) % n;
                const std::int64_t p = partitions_[idx];
                auto& buffer = buffers_[p];
                if (buffer.empty()) GALE_RETURN_IF_ERROR(Fetch(p));
                if (!buffer.empty()) {
                    Record r = std::move(buffer.front());
                    buffer.pop_front();
                    next_ = idx + 1;
                    return std::optional<Record>(std::move(r));
                }
            }
        }
        return std::optional<Record>();
    }

    std::shared_ptr<EmbeddedLog::State> state_;
    std::string group_;
    std::string topic_;
    std::vector<std::int64_t> partitions_;
    std::map<std::int64_t, std::int64_t> positions_;  ///< next offset to fetch (past the buffer)
    std::map<std::int64_t, std::deque<Record>> buffers_;
    std::size_t next_ = 0;
    std::int64_t data_version_ = -1;
};

class EmbeddedDeadLetterSink final : public DeadLetterSink {
public:
    explicit EmbeddedDeadLetterSink(std::shared_ptr<EmbeddedLog::State> state) : state_(std::move(state)) {}

    // gale::pipe::DeadLetterSink
    Result<void> Put(const Record& record, std::string_view reason) override {
        GALE_RETURN_IF_ERROR(state_->db.Execute(
            "INSERT INTO gale_pipe_dead_letters (topic, \"partition\", \"offset\", key, value, reason, failed_at) "
            "VALUES (?, ?, ?, ?, CAST(? AS BLOB), ?, strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))",
            {record.topic, record.partition, record.offset, record.key, record.value, std::string(reason)}));
        return {};
    }

private:
    std::shared_ptr<EmbeddedLog::State> state_;
};

}  // namespace

Result<EmbeddedLog> EmbeddedLog::Open(const std::string& path, EmbeddedLogOptions options) {
    if (path.empty() || path == ":memory:" || path.starts_with("file::memory:")) {
        return MakeError(ErrorCode::kInvalidArgument, "embedded log: needs a file path, not '" + path + "'");
    }
    if (options.partitions < 1) options.partitions = 1;
    if (options.prefetch < 1) options.prefetch = 1;
    GALE_ASSIGN_OR_RETURN(db::Database db, db::Database::Open(path));
    GALE_RETURN_IF_ERROR(db.ExecScript(kSchema));
    auto state = std::make_shared<State>(State{std::move(db), path, options, NotifierFor(path)});
    return EmbeddedLog(std::move(state));
}

db::Database EmbeddedLog::database() const { return state_->db; }

TransactionFn EmbeddedLog::Transaction() const {
    return [db = state_->db](const std::function<Result<void>()>& body) mutable { return InTransaction(db, body); };
}

Result<void> EmbeddedLog::CreateTopic(const std::string& topic, int partitions) {
    if (partitions < 1) return MakeError(ErrorCode::kInvalidArgument, "embedded log: partitions must be >= 1");
    GALE_ASSIGN_OR_RETURN(int n, EnsureTopic(state_->db, topic, partitions));
    if (n != partitions) {
        return MakeError(ErrorCode::kAlreadyExists,
                         "embedded log: topic '" + topic + "' exists with " + std::to_string(n) + " partitions");
    }
    return {};
}

Result<std::unique_ptr<ProducerBackend>> EmbeddedLog::Producer() const {
    GALE_ASSIGN_OR_RETURN(db::Database db, db::Database::Open(state_->path));
    return std::unique_ptr<ProducerBackend>(std::make_unique<EmbeddedProducer>(std::move(db), state_));
}

std::unique_ptr<ConsumerBackend> EmbeddedLog::Consumer(const std::string& group, const std::string& topic) const {
    return std::make_unique<EmbeddedConsumer>(state_, group, topic);
}

std::unique_ptr<DeadLetterSink> EmbeddedLog::DeadLetters() const {
    return std::make_unique<EmbeddedDeadLetterSink>(state_);
}

Result<std::int64_t> EmbeddedLog::Retain(const std::string& topic, const RetentionPolicy& policy) {
    std::int64_t deleted = 0;
    if (policy.max_records) {
        GALE_ASSIGN_OR_RETURN(
            auto r, state_->db.Execute("DELETE FROM gale_pipe_records WHERE topic = ?1 AND \"offset\" < "
                                       "(SELECT p.next_offset FROM gale_pipe_partitions p WHERE p.topic = ?1 AND "
                                       "p.\"partition\" = gale_pipe_records.\"partition\") - ?2",
                                       {topic, std::max<std::int64_t>(*policy.max_records, 0)}));
        deleted += r.changes;
    }
    if (policy.max_age) {
        GALE_ASSIGN_OR_RETURN(auto r, state_->db.Execute("DELETE FROM gale_pipe_records WHERE topic = ? AND "
                                                         "timestamp_ms < ?",
                                                         {topic, NowMillis() - policy.max_age->count()}));
        deleted += r.changes;
    }
    return deleted;
}

Result<std::int64_t> EmbeddedLog::Lag(const std::string& group, const std::string& topic) {
    return LagOf(state_->db, group, topic);
}

}  // namespace gale::pipe
