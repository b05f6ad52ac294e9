// SPDX-License-Identifier: MIT
/// @file gale/db/sqlite.hpp
/// @brief SQLite access: a connection, parameterised queries, and ordered migrations.
///
/// Ownership: Database is a movable handle; copies share the connection. Thread-safety: SQLite is opened in
/// serialized mode, so one Database may be used from several threads at once (calls are serialised by SQLite).
/// The public header does not include sqlite3.h.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include <gale/base/error.hpp>

namespace gale::db {

using Value = std::variant<std::nullptr_t, std::int64_t, double, std::string>;
using Row = std::vector<Value>;

struct ExecResult {
    std::int64_t changes = 0;
    std::int64_t last_insert_id = 0;
};

class Database {
public:
    /// Opens (creating if needed) the database at `path` (":memory:" for a private in-memory one), in WAL mode with
    /// a busy timeout. Errors name the path.
    [[nodiscard]] static Result<Database> Open(const std::string& path,
                                               std::chrono::milliseconds busy_timeout = std::chrono::seconds(5));

    /// Runs one or more statements without results.
    [[nodiscard]] Result<void> ExecScript(std::string_view sql);
    /// Runs one statement with bound parameters (?1, ?2 … or ?).
    [[nodiscard]] Result<ExecResult> Execute(std::string_view sql, const std::vector<Value>& params = {});
    /// Runs one query and returns every row.
    [[nodiscard]] Result<std::vector<Row>> Query(std::string_view sql, const std::vector<Value>& params = {});

    const std::string& path() const noexcept;

private:
    struct Impl;
    explicit Database(std::shared_ptr<Impl> impl) : impl_(std::move(impl)) {}
    std::shared_ptr<Impl> impl_;
};

struct Migration {
    std::string id;   ///< unique and ordered, e.g. "0001_create_visits"
    std::string sql;  ///< applied in one transaction together with its bookkeeping row
};

/// Applies migrations in order, recording each in table `gale_migrations`.
class Migrator {
public:
    Migrator(Database db, std::vector<Migration> migrations);
    /// Migrations not yet applied. Errors: the database can't be read.
    [[nodiscard]] Result<std::vector<std::string>> Pending();
    /// Applies every pending migration; returns how many were applied. Stops at the first failure (which rolls
    /// back that migration) and returns its error, naming the migration.
    [[nodiscard]] Result<std::size_t> Apply();

private:
    [[nodiscard]] Result<void> EnsureTable();
    Database db_;
    std::vector<Migration> migrations_;
};

}  // namespace gale::db
