// SPDX-License-Identifier: MIT
/// @file sqlite_support.hpp (private)
/// @brief What the embedded queue and result backend share: a process-wide wake-up per file, group commit, a
///        checkpointer thread, and small value helpers.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <gale/base/error.hpp>
#include <gale/db/database.hpp>
#include <gale/db/transaction.hpp>

#include "write_turns.hpp"

namespace gale::tasks::detail {

/// Wakes the waiters of one file in this process when a connection of this process commits to it (other
/// processes' commits are found by polling PRAGMA data_version).
struct FileNotifier {
    std::mutex mu;
    std::condition_variable cv;
    std::uint64_t generation = 0;
    void Notify();
};

/// The notifier of the file at `path` (one per canonical path, shared while anyone holds it).
std::shared_ptr<FileNotifier> NotifierFor(const std::string& path);

/// Group commit: concurrent Run calls on one connection share a transaction. The first caller in becomes the leader
/// and runs every pending unit of work between one BEGIN IMMEDIATE and one COMMIT; the others wait for it. A unit
/// that fails rolls the batch back, and every unit of that batch is then run in a transaction of its own, so one
/// failure is only its caller's. With `turns` (write_turns.hpp), each transaction waits for its turn at the file's
/// write lock, as the queue's consumers do, instead of in SQLite's busy handler, which sleeps 1 ms and more each
/// time it finds the file taken. Thread-safe.
class GroupCommit {
public:
    using Work = std::function<Result<void>(db::Database& db)>;
    explicit GroupCommit(db::Database db, std::optional<WriteTurns> turns = std::nullopt,
                         std::chrono::milliseconds busy_timeout = std::chrono::milliseconds(5000))
        : db_(std::move(db)), turns_(std::move(turns)), busy_timeout_(busy_timeout) {}
    /// Runs `work` in a committed transaction. Errors: the unit's own, or BEGIN/COMMIT's (kUnavailable when the file
    /// stayed locked past the busy timeout).
    [[nodiscard]] Result<void> Run(const Work& work);
    db::Database& database() noexcept { return db_; }

private:
    struct Pending {
        const Work* work;
        Result<void> result{};
        bool done = false;
    };
    Result<void> RunBatch(const std::vector<Pending*>& batch);
    /// InTransaction in a turn, if there are turns (only the leader calls it: one thread at a time).
    Result<void> Transaction(const std::function<Result<void>()>& body);

    db::Database db_;
    std::optional<WriteTurns> turns_;
    const std::chrono::milliseconds busy_timeout_;
    std::mutex mu_;
    std::condition_variable cv_;
    std::vector<Pending*> queue_;
    bool leader_ = false;
};

/// Checkpoints a WAL file from a thread of its own. SQLite's automatic checkpoint runs inside the commit that takes
/// the WAL past wal_autocheckpoint pages, on the committing thread: for the embedded queue's consumers, the fetch
/// thread (measured: 7% of it). Connections that call Committed() after each commit turn theirs off
/// (DisableAutoCheckpoint); this thread then runs a PASSIVE checkpoint (it never blocks readers or writers) every
/// kCommitsPerCheckpoint commits, or `interval` after the last one when fewer came, and sleeps while nothing is
/// committed. Thread-safe; the destructor stops and joins the thread.
class Checkpointer {
public:
    [[nodiscard]] static Result<std::unique_ptr<Checkpointer>> Start(
        const std::string& path, std::chrono::milliseconds busy_timeout,
        std::chrono::milliseconds interval = std::chrono::milliseconds(1000));
    ~Checkpointer();
    Checkpointer(const Checkpointer&) = delete;
    Checkpointer& operator=(const Checkpointer&) = delete;

    /// Turns off `db`'s automatic checkpoint: this checkpointer does them (call Committed after each commit).
    [[nodiscard]] static Result<void> DisableAutoCheckpoint(db::Database& db);
    /// A connection committed to the file.
    void Committed();

    static constexpr std::uint64_t kCommitsPerCheckpoint = 200;

private:
    Checkpointer(db::Database db, std::chrono::milliseconds interval);
    void Loop();

    db::Database db_;
    const std::chrono::milliseconds interval_;
    std::mutex mu_;
    std::condition_variable cv_;
    std::uint64_t commits_ = 0;  // under mu_
    bool stop_ = false;          // under mu_
    std::thread thread_;
};

/// How the broker's and the result backend's transactions run: once. Their bodies also fill in-memory batches, so a
/// second run would repeat them; the write turns keep their transactions from meeting in SQLite's busy handler.
inline constexpr db::TransactionOptions kRunOnce{.max_attempts = 1};

std::int64_t UnixMillis(std::chrono::system_clock::time_point t = std::chrono::system_clock::now());
std::int64_t AsInt(const db::Value& v);
std::string AsString(const db::Value& v);

}  // namespace gale::tasks::detail
