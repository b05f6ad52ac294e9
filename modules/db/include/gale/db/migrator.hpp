// SPDX-License-Identifier: MIT
/// @file gale/db/migrator.hpp
/// @brief Ordered schema migrations recorded in table gale_migrations, on SQLite and PostgreSQL.
///
/// Ownership: a Migrator holds a Database handle (shared connection) and its list. Thread-compatible: use one
/// Migrator from one thread, and do not share its Database with other threads while Apply() runs (each migration
/// is a transaction spanning several calls). On PostgreSQL, concurrent Apply() calls from several processes are
/// safe: each migration locks gale_migrations and re-checks that it is still pending.
#pragma once

#include <cstddef>
#include <string>
#include <vector>

#include <gale/base/error.hpp>
#include <gale/db/database.hpp>

namespace gale::db {

struct Migration {
    std::string id;   ///< unique and ordered, e.g. "0001_create_visits"
    std::string sql;  ///< applied in one transaction together with its bookkeeping row
};

/// Applies migrations in order, recording each in table `gale_migrations (id TEXT PRIMARY KEY, applied_at TEXT)`;
/// applied_at is an ISO-8601 UTC time written by gale, so the table's DDL is the same on both engines. Migration
/// SQL is run as is: where the engines differ (auto-increment keys, time defaults), give each engine its own list.
class Migrator {
public:
    Migrator(Database db, std::vector<Migration> migrations);
    /// Migrations not yet applied, in order. Errors: the database can't be read.
    [[nodiscard]] Result<std::vector<std::string>> Pending();
    /// Applies every pending migration; returns how many were applied. Stops at the first failure (which rolls
    /// back that migration: on PostgreSQL DDL included) and returns its error, naming the migration.
    [[nodiscard]] Result<std::size_t> Apply();

private:
    [[nodiscard]] Result<void> EnsureTable();
    [[nodiscard]] Result<bool> ApplyOne(const Migration& m);
    Database db_;
    std::vector<Migration> migrations_;
};

}  // namespace gale::db
