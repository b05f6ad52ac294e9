// SPDX-License-Identifier: MIT
#include <sqlite3.h>

#include <algorithm>

#include <fmt/format.h>

#include <gale/db/sqlite.hpp>

namespace gale::db {

struct Database::Impl {
    sqlite3* db = nullptr;
    std::string path;
    ~Impl() {
        if (db != nullptr) sqlite3_close_v2(db);
    }
};

namespace {

struct StmtDeleter {
    void operator()(sqlite3_stmt* s) const noexcept { sqlite3_finalize(s); }
};
using StmtPtr = std::unique_ptr<sqlite3_stmt, StmtDeleter>;

Error SqlError(sqlite3* db, std::string_view what, std::string_view sql) {
    int code = sqlite3_extended_errcode(db);
    ErrorCode ec =
        (code & 0xff) == SQLITE_BUSY || (code & 0xff) == SQLITE_LOCKED ? ErrorCode::kUnavailable : ErrorCode::kInternal;
    return Error(ec, fmt::format("sqlite {}: {} (in: {:.120})", what, sqlite3_errmsg(db), sql));
}

Result<StmtPtr> Prepare(sqlite3* db, std::string_view sql, const std::vector<Value>& params) {
    sqlite3_stmt* raw = nullptr;
    if (sqlite3_prepare_v2(db, sql.data(), static_cast<int>(sql.size()), &raw, nullptr) != SQLITE_OK) {
        return tl::unexpected(SqlError(db, "prepare", sql));
    }
    StmtPtr stmt(raw);
    if (static_cast<int>(params.size()) != sqlite3_bind_parameter_count(raw)) {
        return MakeError(ErrorCode::kInvalidArgument,
                         fmt::format("sqlite: statement takes {} parameters, {} given (in: {:.120})",
                                     sqlite3_bind_parameter_count(raw), params.size(), sql));
    }
    for (std::size_t i = 0; i < params.size(); ++i) {
        int idx = static_cast<int>(i) + 1;
        int rc = std::visit(
            [&](const auto& v) {
                using T = std::decay_t<decltype(v)>;
                if constexpr (std::is_same_v<T, std::nullptr_t>) {
                    return sqlite3_bind_null(raw, idx);
                } else if constexpr (std::is_same_v<T, std::int64_t>) {
                    return sqlite3_bind_int64(raw, idx, v);
                } else if constexpr (std::is_same_v<T, double>) {
                    return sqlite3_bind_double(raw, idx, v);
                } else {
                    return sqlite3_bind_text(raw, idx, v.data(), static_cast<int>(v.size()), SQLITE_TRANSIENT);
                }
            },
            params[i]);
        if (rc != SQLITE_OK) return tl::unexpected(SqlError(db, "bind", sql));
    }
    return stmt;
}

}  // namespace

Result<Database> Database::Open(const std::string& path, std::chrono::milliseconds busy_timeout) {
    auto impl = std::make_shared<Impl>();
    impl->path = path;
    int rc = sqlite3_open_v2(path.c_str(), &impl->db,
                             SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_FULLMUTEX, nullptr);
    if (rc != SQLITE_OK) {
        std::string msg = impl->db != nullptr ? sqlite3_errmsg(impl->db) : sqlite3_errstr(rc);
        return MakeError(ErrorCode::kUnavailable, fmt::format("sqlite: cannot open '{}': {}", path, msg));
    }
    sqlite3_busy_timeout(impl->db, static_cast<int>(busy_timeout.count()));
    Database db(impl);
    if (path != ":memory:") {
        GALE_RETURN_IF_ERROR(db.ExecScript("PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;"));
    }
    GALE_RETURN_IF_ERROR(db.ExecScript("PRAGMA foreign_keys=ON;"));
    return db;
}

const std::string& Database::path() const noexcept { return impl_->path; }

Result<void> Database::ExecScript(std::string_view sql) {
    std::string s(sql);
    char* err = nullptr;
    if (sqlite3_exec(impl_->db, s.c_str(), nullptr, nullptr, &err) != SQLITE_OK) {
        std::string msg = err != nullptr ? err : "unknown error";
        sqlite3_free(err);
        return MakeError(ErrorCode::kInternal,
                         fmt::format("sqlite exec on '{}': {} (in: {:.120})", impl_->path, msg, sql));
    }
    return {};
}

Result<ExecResult> Database::Execute(std::string_view sql, const std::vector<Value>& params) {
    GALE_ASSIGN_OR_RETURN(StmtPtr stmt, Prepare(impl_->db, sql, params));
    int rc;
    while ((rc = sqlite3_step(stmt.get())) == SQLITE_ROW) {
    }
    if (rc != SQLITE_DONE) return tl::unexpected(SqlError(impl_->db, "step", sql));
    return ExecResult{sqlite3_changes64(impl_->db), sqlite3_last_insert_rowid(impl_->db)};
}

Result<std::vector<Row>> Database::Query(std::string_view sql, const std::vector<Value>& params) {
    GALE_ASSIGN_OR_RETURN(StmtPtr stmt, Prepare(impl_->db, sql, params));
    std::vector<Row> rows;
    int rc;
    while ((rc = sqlite3_step(stmt.get())) == SQLITE_ROW) {
        int n = sqlite3_column_count(stmt.get());
        Row row;
        row.reserve(static_cast<std::size_t>(n));
        for (int i = 0; i < n; ++i) {
            switch (sqlite3_column_type(stmt.get(), i)) {
                case SQLITE_INTEGER:
                    row.emplace_back(static_cast<std::int64_t>(sqlite3_column_int64(stmt.get(), i)));
                    break;
                case SQLITE_FLOAT:
                    row.emplace_back(sqlite3_column_double(stmt.get(), i));
                    break;
                case SQLITE_NULL:
                    row.emplace_back(nullptr);
                    break;
                default: {
                    const auto* text = reinterpret_cast<const char*>(sqlite3_column_text(stmt.get(), i));
                    row.emplace_back(std::string(text, static_cast<std::size_t>(sqlite3_column_bytes(stmt.get(), i))));
                }
            }
        }
        rows.push_back(std::move(row));
    }
    if (rc != SQLITE_DONE) return tl::unexpected(SqlError(impl_->db, "step", sql));
    return rows;
}

// --- Migrator ---

Migrator::Migrator(Database db, std::vector<Migration> migrations)
    : db_(std::move(db)), migrations_(std::move(migrations)) {}

Result<void> Migrator::EnsureTable() {
    return db_.ExecScript(
        "CREATE TABLE IF NOT EXISTS gale_migrations (id TEXT PRIMARY KEY, applied_at TEXT NOT NULL "
        "DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ','now')))");
}

Result<std::vector<std::string>> Migrator::Pending() {
    GALE_RETURN_IF_ERROR(EnsureTable());
    GALE_ASSIGN_OR_RETURN(auto rows, db_.Query("SELECT id FROM gale_migrations"));
    std::vector<std::string> pending;
    for (const Migration& m : migrations_) {
        bool applied = false;
        for (const Row& r : rows) {
            if (std::get<std::string>(r[0]) == m.id) applied = true;
        }
        if (!applied) pending.push_back(m.id);
    }
    return pending;
}

Result<std::size_t> Migrator::Apply() {
    GALE_ASSIGN_OR_RETURN(auto pending, Pending());
    std::size_t applied = 0;
    for (const Migration& m : migrations_) {
        if (std::find(pending.begin(), pending.end(), m.id) == pending.end()) continue;
        GALE_RETURN_IF_ERROR(db_.ExecScript("BEGIN IMMEDIATE"));
        auto r = db_.ExecScript(m.sql);
        if (r) {
            auto rec = db_.Execute("INSERT INTO gale_migrations (id) VALUES (?)", {m.id});
            if (!rec) r = tl::unexpected(rec.error());
        }
        if (!r) {
            (void)db_.ExecScript("ROLLBACK");
            return tl::unexpected(Error(ErrorCode::kInternal, fmt::format("migration '{}' failed", m.id), r.error()));
        }
        GALE_RETURN_IF_ERROR(db_.ExecScript("COMMIT"));
        ++applied;
    }
    return applied;
}

}  // namespace gale::db
