// SPDX-License-Identifier: MIT
/// @file gale/tasks/completion.hpp
/// @brief Exactly-once database effects for tasks: the task's writes and a record of its completion commit in one
///        transaction, so a task delivered again (its worker killed between the commit and the acknowledgement, a
///        lease that ran out) finds the record and does nothing twice.
///
/// Brokers deliver at least once; what runs twice is the task function. When everything a task changes is in one
/// database, RunOnce makes the change happen once:
///
///   1. begin a transaction (BEGIN IMMEDIATE on SQLite: writers are serialised from the start);
///   2. if gale_task_completions holds the task id: commit and return the recorded result — the effect is there;
///   3. run `body` on that connection (an error rolls everything back and is returned: the run failed, nothing
///      happened, the worker's retry policy applies);
///   4. insert (task id, task name, result JSON, time) into gale_task_completions and commit. Should another run of
///      the same id have committed meanwhile (PostgreSQL, two workers after an expired lease), the insert fails on
///      the primary key, everything rolls back and that run's result is returned.
///
/// Table (created by EnsureCompletionTable, both engines): gale_task_completions(task_id TEXT PRIMARY KEY, task
/// TEXT NOT NULL, result TEXT NOT NULL, completed_at BIGINT NOT NULL — Unix ms). It grows by one row per task run;
/// PurgeCompletions deletes old rows (keep them longer than any redelivery can take: the visibility timeout plus
/// the longest retry delay).
///
/// Thread-safety: `db` must not be used by another thread during the call (a transaction spans several
/// statements; see gale/db/database.hpp): give each task thread its own connection.
#pragma once

#include <chrono>
#include <functional>

#include <nlohmann/json.hpp>

#include <gale/base/error.hpp>
#include <gale/db/database.hpp>
#include <gale/tasks/task.hpp>

namespace gale::tasks {

/// Creates gale_task_completions if it does not exist. Errors: the database's.
[[nodiscard]] Result<void> EnsureCompletionTable(db::Database& db);

/// Runs `body` exactly once per task id (see the file comment). Returns body's result, or the recorded one when the
/// task had completed before. Errors: body's, and the database's (the transaction is rolled back).
[[nodiscard]] Result<nlohmann::json> RunOnce(db::Database& db, const TaskContext& ctx,
                                             const std::function<Result<nlohmann::json>(db::Database& db)>& body);

/// Deletes completion records older than `age`. Returns the number deleted.
[[nodiscard]] Result<std::int64_t> PurgeCompletions(db::Database& db, std::chrono::milliseconds age);

}  // namespace gale::tasks
