// SPDX-License-Identifier: MIT
#include <fmt/format.h>

#include <gale/db/transaction.hpp>
#include <gale/tasks/completion.hpp>

#include "sqlite_support.hpp"

namespace gale::tasks {
namespace {

Result<std::optional<std::string>> Recorded(db::Database& db, const std::string& id) {
    GALE_ASSIGN_OR_RETURN(auto rows, db.Query("SELECT result FROM gale_task_completions WHERE task_id = ?", {id}));
    if (rows.empty()) return std::optional<std::string>();
    return std::optional<std::string>(detail::AsString(rows[0][0]));
}

Result<nlohmann::json> Parse(const std::string& text, const std::string& id) {
    auto j = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
    if (j.is_discarded()) {
        return MakeError(ErrorCode::kInternal, fmt::format("gale_task_completions: the result of {} is not JSON", id));
    }
    return j;
}

}  // namespace

Result<void> EnsureCompletionTable(db::Database& db) {
    return db.ExecScript(
        "CREATE TABLE IF NOT EXISTS gale_task_completions (task_id TEXT PRIMARY KEY, task TEXT NOT NULL, "
        "result TEXT NOT NULL, completed_at BIGINT NOT NULL)");
}

Result<nlohmann::json> RunOnce(db::Database& db, const TaskContext& ctx,
                               const std::function<Result<nlohmann::json>(db::Database& db)>& body) {
    const std::string& id = ctx.id();
    if (id.empty()) return MakeError(ErrorCode::kInvalidArgument, "RunOnce: the task has no id");
    // A write transaction from the start (SQLite: BEGIN IMMEDIATE, so two runs of one id never both read "not yet").
    GALE_ASSIGN_OR_RETURN(auto tx, db::Transaction::Begin(db));
    GALE_ASSIGN_OR_RETURN(auto recorded, Recorded(db, id));  // an error rolls the transaction back
    if (recorded) {
        GALE_RETURN_IF_ERROR(tx.Commit());
        return Parse(*recorded, id);
    }
    GALE_ASSIGN_OR_RETURN(auto result, body(db));
    auto inserted =
        db.Execute("INSERT INTO gale_task_completions (task_id, task, result, completed_at) VALUES (?, ?, ?, ?)",
                   {id, ctx.request().task, result.dump(), detail::UnixMillis()});
    if (!inserted) {
        tx.Rollback();
        // Another run of this id may have committed first (its row is the truth); otherwise the insert's error.
        auto again = Recorded(db, id);
        if (again && *again) return Parse(**again, id);
        return tl::unexpected(inserted.error());
    }
    GALE_RETURN_IF_ERROR(tx.Commit());
    return result;
}

Result<std::int64_t> PurgeCompletions(db::Database& db, std::chrono::milliseconds age) {
    GALE_ASSIGN_OR_RETURN(auto r, db.Execute("DELETE FROM gale_task_completions WHERE completed_at < ?",
                                             {detail::UnixMillis() - age.count()}));
    return r.changes;
}

}  // namespace gale::tasks
