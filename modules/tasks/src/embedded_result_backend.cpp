// SPDX-License-Identifier: MIT
// The embedded result backend: Celery's meta documents in a SQLite table (see gale/tasks/embedded_broker.hpp).
// Stores are group-committed on a writer connection; reads use their own connection (WAL: readers never wait for
// the writer). Wait polls: woken at once by stores of this process, and every poll interval for other processes'.
#include <atomic>

#include <fmt/format.h>

#include <gale/db/database.hpp>
#include <gale/tasks/embedded_broker.hpp>

#include "sqlite_support.hpp"
#include "store_batcher.hpp"

namespace gale::tasks {
namespace {

using detail::AsInt;
using detail::AsString;
using detail::UnixMillis;

constexpr std::string_view kSchema = R"sql(
CREATE TABLE IF NOT EXISTS gale_task_results (
    task_id TEXT PRIMARY KEY,
    state TEXT NOT NULL,
    meta TEXT NOT NULL,
    stored_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS gale_task_results_expiry ON gale_task_results (expires_at);
)sql";

/// Deleting expired results is done by every this-many stores.
constexpr std::uint64_t kExpireEvery = 1000;

bool Ready(TaskState s) { return s == TaskState::kSuccess || s == TaskState::kFailure || s == TaskState::kRevoked; }

}  // namespace

struct EmbeddedResultBackend::State {
    std::string path;
    EmbeddedResultBackendOptions options;
    std::shared_ptr<detail::FileNotifier> notifier;
    std::unique_ptr<detail::GroupCommit> writer;
    std::optional<db::Database> reader;
    std::atomic<std::uint64_t> stores{0};
    std::unique_ptr<detail::StoreBatcher> batcher;  // StoreAsync; destroyed first (it writes what is queued)

    ~State() { batcher.reset(); }

    /// Inserts (or replaces) one result; every kExpireEvery-th store also deletes the expired ones.
    Result<void> Write(db::Database& db, const std::string& task_id, TaskState state, const std::string& meta,
                       std::int64_t now) {
        GALE_RETURN_IF_ERROR(db.Execute(
            "INSERT INTO gale_task_results (task_id, state, meta, stored_at, expires_at) VALUES (?, ?, ?, ?, ?) "
            "ON CONFLICT (task_id) DO UPDATE SET state = excluded.state, meta = excluded.meta, "
            "stored_at = excluded.stored_at, expires_at = excluded.expires_at",
            {task_id, std::string(ToString(state)), meta, now, now + options.expires.count()}));
        if (stores.fetch_add(1) % kExpireEvery == kExpireEvery - 1) {
            GALE_RETURN_IF_ERROR(db.Execute("DELETE FROM gale_task_results WHERE expires_at < ?", {now}));
        }
        return {};
    }
};

Result<std::unique_ptr<EmbeddedResultBackend>> EmbeddedResultBackend::Open(const std::string& path,
                                                                           EmbeddedResultBackendOptions options) {
    if (options.expires <= std::chrono::milliseconds(0)) {
        return MakeError(ErrorCode::kInvalidArgument,
                         fmt::format("embedded result backend '{}': results must be kept for more than 0 ms", path));
    }
    auto state = std::make_shared<State>();
    state->path = path;
    state->options = options;
    state->notifier = detail::NotifierFor(path);
    GALE_ASSIGN_OR_RETURN(auto writer, db::Database::Open(path, options.busy_timeout));
    auto schema = writer.ExecScript(kSchema);
    if (!schema) {
        return MakeError(schema.error().code(),
                         fmt::format("embedded result backend '{}': {}", path, schema.error().message()));
    }
    GALE_ASSIGN_OR_RETURN(auto turns, detail::WriteTurns::Open(path));
    state->writer = std::make_unique<detail::GroupCommit>(std::move(writer), std::move(turns), options.busy_timeout);
    GALE_ASSIGN_OR_RETURN(auto reader, db::Database::Open(path, options.busy_timeout));
    state->reader = std::move(reader);
    State* raw = state.get();  // the batcher is the State's, destroyed before the rest of it
    state->batcher =
        std::make_unique<detail::StoreBatcher>([raw](const std::vector<detail::StoreBatcher::Item>& batch) {
            const std::int64_t now = UnixMillis();
            auto written = raw->writer->Run([&](db::Database& db) -> Result<void> {
                for (const auto& item : batch)
                    GALE_RETURN_IF_ERROR(raw->Write(db, item.task_id, item.state, item.meta, now));
                return {};
            });
            if (written) raw->notifier->Notify();
            return std::vector<Result<void>>(batch.size(), written);
        });
    return std::unique_ptr<EmbeddedResultBackend>(new EmbeddedResultBackend(std::move(state)));
}

EmbeddedResultBackend::~EmbeddedResultBackend() = default;

Result<void> EmbeddedResultBackend::Store(const TaskRequest& request, const TaskResult& result) {
    TaskResult r = result;
    if (r.task_id.empty()) r.task_id = request.id;
    if (r.task_id.empty()) return MakeError(ErrorCode::kInvalidArgument, "embedded result backend: no task id");
    const std::int64_t now = UnixMillis();
    const std::string meta = r.ToMeta().dump();
    auto stored =
        state_->writer->Run([&](db::Database& db) { return state_->Write(db, r.task_id, r.state, meta, now); });
    if (!stored) return stored;
    state_->notifier->Notify();
    return {};
}

void EmbeddedResultBackend::StoreAsync(const TaskRequest& request, const TaskResult& result, StoreDone done) {
    std::string task_id = result.task_id.empty() ? request.id : result.task_id;
    if (task_id.empty()) {
        done(MakeError(ErrorCode::kInvalidArgument, "embedded result backend: no task id"));
        return;
    }
    TaskResult r = result;
    r.task_id = task_id;
    state_->batcher->Add({std::move(task_id), r.state, r.ToMeta().dump(), std::move(done)});
}

Result<TaskResult> EmbeddedResultBackend::Get(const std::string& task_id) {
    GALE_ASSIGN_OR_RETURN(auto rows, state_->reader->Query("SELECT meta FROM gale_task_results WHERE task_id = ? AND "
                                                           "expires_at >= ?",
                                                           {task_id, UnixMillis()}));
    if (rows.empty()) {
        TaskResult pending;
        pending.task_id = task_id;
        return pending;
    }
    auto meta = nlohmann::ordered_json::parse(AsString(rows[0][0]), nullptr, /*allow_exceptions=*/false);
    if (meta.is_discarded()) {
        return MakeError(ErrorCode::kInternal, fmt::format("embedded result backend '{}': the result of {} is not JSON",
                                                           state_->path, task_id));
    }
    return TaskResult::FromMeta(meta);
}

Result<TaskResult> EmbeddedResultBackend::Wait(const std::string& task_id, std::chrono::milliseconds timeout) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    detail::FileNotifier& n = *state_->notifier;
    for (;;) {
        std::uint64_t generation = 0;
        {
            std::lock_guard lock(n.mu);
            generation = n.generation;
        }
        GALE_ASSIGN_OR_RETURN(TaskResult r, Get(task_id));
        if (Ready(r.state)) return r;
        const auto now = std::chrono::steady_clock::now();
        if (now >= deadline) {
            return MakeError(ErrorCode::kTimeout, fmt::format("task {}: no result within {} ms (state {})", task_id,
                                                              timeout.count(), ToString(r.state)));
        }
        std::unique_lock lock(n.mu);
        n.cv.wait_until(lock, std::min(deadline, now + state_->options.poll_interval),
                        [&] { return n.generation != generation; });
    }
}

}  // namespace gale::tasks
