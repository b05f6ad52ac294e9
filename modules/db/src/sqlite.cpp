// SPDX-License-Identifier: MIT
// The SQLite backend. The connection is opened with SQLITE_OPEN_FULLMUTEX, so SQLite serialises calls itself; but
// sqlite3_changes64/last_insert_rowid and sqlite3_errmsg read per-connection state that another thread's statement
// may overwrite, so each call holds the connection's mutex (sqlite3_db_mutex) across step and those reads.
#include <sqlite3.h>

#include <memory>
#include <string>
#include <type_traits>
#include <unordered_map>

#include <fmt/format.h>

#include "connection.hpp"

namespace gale::db::detail {
namespace {

struct StmtDeleter {
    void operator()(sqlite3_stmt* s) const noexcept { sqlite3_finalize(s); }
};
using StmtPtr = std::unique_ptr<sqlite3_stmt, StmtDeleter>;

class DbMutexLock {
public:
    explicit DbMutexLock(sqlite3* db) : mu_(sqlite3_db_mutex(db)) { sqlite3_mutex_enter(mu_); }
    ~DbMutexLock() { sqlite3_mutex_leave(mu_); }
    DbMutexLock(const DbMutexLock&) = delete;
    DbMutexLock& operator=(const DbMutexLock&) = delete;

private:
    sqlite3_mutex* mu_;
};

Error SqlError(sqlite3* db, std::string_view what, std::string_view sql) {
    int code = sqlite3_extended_errcode(db);
    ErrorCode ec =
        (code & 0xff) == SQLITE_BUSY || (code & 0xff) == SQLITE_LOCKED ? ErrorCode::kUnavailable : ErrorCode::kInternal;
    return Error(ec, fmt::format("sqlite {}: {} (in: {:.120})", what, sqlite3_errmsg(db), sql));
}

/// Binds `params` to a prepared statement. Errors: wrong parameter count, bind failure.
Result<void> Bind(sqlite3* db, sqlite3_stmt* raw, std::string_view sql, const std::vector<Value>& params) {
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
    return {};
}

/// A statement borrowed from the connection's cache: reset and unbound when the lease ends, so the next user finds
/// it fresh. Parsing SQL is most of the cost of a small statement; the cache makes repeated statements (the log
/// pipe's offset commits, a handler's INSERT) cost only their execution. Used under the connection's mutex.
class StmtLease {
public:
    explicit StmtLease(sqlite3_stmt* stmt) : stmt_(stmt) {}
    ~StmtLease() {
        sqlite3_reset(stmt_);
        sqlite3_clear_bindings(stmt_);
    }
    StmtLease(const StmtLease&) = delete;
    StmtLease& operator=(const StmtLease&) = delete;
    sqlite3_stmt* get() const noexcept { return stmt_; }

private:
    sqlite3_stmt* stmt_;
};

class SqliteConnection final : public Connection {
public:
    SqliteConnection(sqlite3* db, std::string path) : db_(db), path_(std::move(path)) {}
    ~SqliteConnection() override {
        for (auto& [sql, stmt] : cache_) sqlite3_finalize(stmt);
        sqlite3_close_v2(db_);
    }
    SqliteConnection(const SqliteConnection&) = delete;
    SqliteConnection& operator=(const SqliteConnection&) = delete;

    // gale::db::detail::Connection
    Result<void> ExecScript(std::string_view sql) override {
        std::string s(sql);
        char* err = nullptr;
        if (sqlite3_exec(db_, s.c_str(), nullptr, nullptr, &err) != SQLITE_OK) {
            std::string msg = err != nullptr ? err : "unknown error";
            sqlite3_free(err);
            return MakeError(ErrorCode::kInternal,
                             fmt::format("sqlite exec on '{}': {} (in: {:.120})", path_, msg, sql));
        }
        return {};
    }

    Result<ExecResult> Execute(std::string_view sql, const std::vector<Value>& params) override {
        DbMutexLock lock(db_);
        GALE_ASSIGN_OR_RETURN(sqlite3_stmt * raw, Prepare(sql));
        StmtLease stmt(raw);
        GALE_RETURN_IF_ERROR(Bind(db_, raw, sql, params));
        int rc;
        while ((rc = sqlite3_step(stmt.get())) == SQLITE_ROW) {
        }
        if (rc != SQLITE_DONE) return tl::unexpected(SqlError(db_, "step", sql));
        return ExecResult{sqlite3_changes64(db_), sqlite3_last_insert_rowid(db_)};
    }

    Result<std::vector<Row>> Query(std::string_view sql, const std::vector<Value>& params) override {
        DbMutexLock lock(db_);
        GALE_ASSIGN_OR_RETURN(sqlite3_stmt * raw, Prepare(sql));
        StmtLease stmt(raw);
        GALE_RETURN_IF_ERROR(Bind(db_, raw, sql, params));
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
                        row.emplace_back(
                            std::string(text, static_cast<std::size_t>(sqlite3_column_bytes(stmt.get(), i))));
                    }
                }
            }
            rows.push_back(std::move(row));
        }
        if (rc != SQLITE_DONE) return tl::unexpected(SqlError(db_, "step", sql));
        return rows;
    }

private:
    static constexpr std::size_t kMaxCachedStatements = 128;

    /// The cached statement for `sql`, prepared on first use. Once the cache is full, new statements are still
    /// cached by evicting nothing: they are prepared per call instead (kept in `transient_`).
    Result<sqlite3_stmt*> Prepare(std::string_view sql) {
        if (auto it = cache_.find(sql); it != cache_.end()) return it->second;
        sqlite3_stmt* raw = nullptr;
        if (sqlite3_prepare_v3(db_, sql.data(), static_cast<int>(sql.size()),
                               cache_.size() < kMaxCachedStatements ? SQLITE_PREPARE_PERSISTENT : 0, &raw,
                               nullptr) != SQLITE_OK) {
            return tl::unexpected(SqlError(db_, "prepare", sql));
        }
        if (raw == nullptr) return MakeError(ErrorCode::kInvalidArgument, "sqlite: empty statement");
        if (cache_.size() < kMaxCachedStatements) {
            cache_.emplace(std::string(sql), raw);
        } else {
            transient_.reset(raw);  // finalized at the next Prepare or at close
        }
        return raw;
    }

    struct StringHash {
        using is_transparent = void;
        std::size_t operator()(std::string_view s) const noexcept { return std::hash<std::string_view>{}(s); }
    };

    sqlite3* db_;
    std::string path_;
    std::unordered_map<std::string, sqlite3_stmt*, StringHash, std::equal_to<>> cache_;
    StmtPtr transient_;
};

}  // namespace

Result<std::unique_ptr<Connection>> OpenSqlite(const std::string& path, std::chrono::milliseconds busy_timeout) {
    sqlite3* raw = nullptr;
    int rc = sqlite3_open_v2(path.c_str(), &raw, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_FULLMUTEX,
                             nullptr);
    if (rc != SQLITE_OK) {
        std::string msg = raw != nullptr ? sqlite3_errmsg(raw) : sqlite3_errstr(rc);
        sqlite3_close_v2(raw);
        return MakeError(ErrorCode::kUnavailable, fmt::format("sqlite: cannot open '{}': {}", path, msg));
    }
    auto conn = std::make_unique<SqliteConnection>(raw, path);
    sqlite3_busy_timeout(raw, static_cast<int>(busy_timeout.count()));
    if (path != ":memory:") {
        GALE_RETURN_IF_ERROR(conn->ExecScript("PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;"));
    }
    GALE_RETURN_IF_ERROR(conn->ExecScript("PRAGMA foreign_keys=ON;"));
    return std::unique_ptr<Connection>(std::move(conn));
}

}  // namespace gale::db::detail
