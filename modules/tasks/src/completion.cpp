// SPDX-License-Identifier: MIT
#include <fmt/format.h>

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
    const bool sqlite = db.engine() == db::Engine::kSqlite;
    GALE_RETURN_IF_ERROR(db.ExecScript(sqlite ? "BEGIN IMMEDIATE" : "BEGIN"));
    auto rollback = [&](Error e) -> Result<nlohmann::json> {
        (void)db.ExecScript("ROLLBACK");
        return tl::unexpected(std::move(e));
    };
    auto recorded = Recorded(db, id);
    if (!recorded) return rollback(recorded.error());
    if (*recorded) {
        GALE_RETURN_IF_ERROR(db.ExecScript("COMMIT"));
        return Parse(**recorded, id);
    }
    auto result = body(db);
    if (!result) return rollback(result.error());
    auto inserted =
        db.Execute("INSERT INTO gale_task_completions (task_id, task, result, completed_at) VALUES (?, ?, ?, ?)",
                   {id, ctx.request().task, result->dump(), detail::UnixMillis()});
    if (!inserted) {
        (void)db.ExecScript("ROLLBACK");
        // Another run of this id may have committed first (its row is the truth); otherwise the insert's error.
        auto again = Recorded(db, id);
        if (again && *again) return Parse(**again, id);
        return tl::unexpected(inserted.error());
    }
    if (auto c = db.ExecScript("COMMIT"); !c) return rollback(c.error());
    return result;
}

Result<std::int64_t> PurgeCompletions(db::Database& db, std::chrono::milliseconds age) {
    GALE_ASSIGN_OR_RETURN(auto r, db.Execute("DELETE FROM gale_task_completions WHERE completed_at < ?",
                                             {detail::UnixMillis() - age.count()}));
    return r.changes;
}

}  // namespace gale::tasks
