// SPDX-License-Identifier: MIT
// Each migration runs in its own transaction together with its gale_migrations row, so a failure leaves neither.
// SQLite: BEGIN IMMEDIATE takes the write lock up front. PostgreSQL: BEGIN + LOCK TABLE gale_migrations, so two
// processes migrating at once apply each migration once (the loser re-checks and skips). applied_at is written from
// C++ rather than by a DEFAULT, because no time-formatting default expression is valid on both engines.
#include <algorithm>
#include <chrono>
#include <ctime>

#include <fmt/format.h>

#include <gale/db/migrator.hpp>

namespace gale::db {
namespace {

std::string NowIso8601() {
    auto now = std::chrono::system_clock::now();
    std::time_t secs = std::chrono::system_clock::to_time_t(now);
    auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count() % 1000;
    std::tm tm{};
    gmtime_r(&secs, &tm);
    return fmt::format("{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
                       tm.tm_hour, tm.tm_min, tm.tm_sec, ms);
}

}  // namespace

Migrator::Migrator(Database db, std::vector<Migration> migrations)
    : db_(std::move(db)), migrations_(std::move(migrations)) {}

Result<void> Migrator::EnsureTable() {
    // The same DDL on both engines. (Tables created by gale before this change carry a SQLite DEFAULT for
    // applied_at; that is harmless, gale now always sets the value.)
    return db_.ExecScript("CREATE TABLE IF NOT EXISTS gale_migrations (id TEXT PRIMARY KEY, applied_at TEXT NOT NULL)");
}

Result<std::vector<std::string>> Migrator::Pending() {
    GALE_RETURN_IF_ERROR(EnsureTable());
    GALE_ASSIGN_OR_RETURN(auto rows, db_.Query("SELECT id FROM gale_migrations"));
    std::vector<std::string> pending;
    for (const Migration& m : migrations_) {
        bool applied = std::any_of(rows.begin(), rows.end(), [&](const Row& r) {
            const auto* id = std::get_if<std::string>(&r[0]);
            return id != nullptr && *id == m.id;
        });
        if (!applied) pending.push_back(m.id);
    }
    return pending;
}

Result<bool> Migrator::ApplyOne(const Migration& m) {
    const bool pg = db_.engine() == Engine::kPostgresql;
    GALE_RETURN_IF_ERROR(db_.ExecScript(pg ? "BEGIN" : "BEGIN IMMEDIATE"));
    auto run = [&]() -> Result<bool> {
        if (pg) GALE_RETURN_IF_ERROR(db_.ExecScript("LOCK TABLE gale_migrations IN SHARE ROW EXCLUSIVE MODE"));
        GALE_ASSIGN_OR_RETURN(auto done, db_.Query("SELECT 1 FROM gale_migrations WHERE id = ?", {m.id}));
        if (!done.empty()) return false;  // applied meanwhile by another process
        GALE_RETURN_IF_ERROR(db_.ExecScript(m.sql));
        GALE_RETURN_IF_ERROR(
            db_.Execute("INSERT INTO gale_migrations (id, applied_at) VALUES (?, ?)", {m.id, NowIso8601()}));
        return true;
    };
    auto r = run();
    if (!r) {
        (void)db_.ExecScript("ROLLBACK");
        return tl::unexpected(Error(ErrorCode::kInternal, fmt::format("migration '{}' failed", m.id), r.error()));
    }
    GALE_RETURN_IF_ERROR(db_.ExecScript(*r ? "COMMIT" : "ROLLBACK"));
    return *r;
}

Result<std::size_t> Migrator::Apply() {
    GALE_ASSIGN_OR_RETURN(auto pending, Pending());
    std::size_t applied = 0;
    for (const Migration& m : migrations_) {
        if (std::find(pending.begin(), pending.end(), m.id) == pending.end()) continue;
        GALE_ASSIGN_OR_RETURN(bool did, ApplyOne(m));
        if (did) ++applied;
    }
    return applied;
}

}  // namespace gale::db
