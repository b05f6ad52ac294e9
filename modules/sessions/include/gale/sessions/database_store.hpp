// SPDX-License-Identifier: MIT
/// @file gale/sessions/database_store.hpp
/// @brief Sessions in SQL (SQLite or PostgreSQL through gale::db's pool), in Django's `django_session` table.
///
/// Table (Django's, as its migration creates it): `session_key varchar(40) PRIMARY KEY`, `session_data text`,
/// `expire_date` (SQLite `datetime`, PostgreSQL `timestamp with time zone`) with an index. CreateTable() makes it
/// when it is missing and leaves an existing one (Django's own) as it is, so a gale service and a Django project can
/// share it. expire_date is written in UTC, as Django writes it with USE_TZ = True; a row past it is not loaded, and
/// ClearExpired() (Django's `clearsessions`) deletes such rows. Create is INSERT … ON CONFLICT DO NOTHING, Update an
/// UPDATE of the row that must exist.
/// Thread-safety: every member may be called from any thread (the pool leases one connection per call).
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include <gale/base/clock.hpp>
#include <gale/db/pool.hpp>
#include <gale/sessions/store.hpp>

namespace gale::sessions {

struct DatabaseStoreOptions {
    /// The table; Django's by default. Letters, digits and '_' only (checked by the constructor's caller through
    /// DatabaseStore::Open).
    std::string table = "django_session";
    /// The clock of expire_date (tests move it).
    std::function<SystemClock::time_point()> now = [] { return SystemClock::now(); };
};

class DatabaseStore final : public SessionStore {
public:
    /// Errors (kInvalidArgument): a table name with other characters than [A-Za-z0-9_].
    [[nodiscard]] static Result<std::unique_ptr<DatabaseStore>> Open(std::shared_ptr<db::Pool> pool, SigningKeys keys,
                                                                     DatabaseStoreOptions options = {});
    ~DatabaseStore() override;

    /// CREATE TABLE IF NOT EXISTS with Django's columns and its index on expire_date.
    [[nodiscard]] Result<void> CreateTable();
    /// Deletes the expired rows; returns how many (Django's `manage.py clearsessions`).
    [[nodiscard]] Result<std::int64_t> ClearExpired();

    // gale::sessions::SessionStore
    [[nodiscard]] Result<std::optional<nlohmann::json>> Load(std::string_view key) override;
    [[nodiscard]] Result<bool> Create(std::string_view key, const nlohmann::json& data,
                                      std::chrono::seconds age) override;
    [[nodiscard]] Result<bool> Update(std::string_view key, const nlohmann::json& data,
                                      std::chrono::seconds age) override;
    [[nodiscard]] Result<void> Delete(std::string_view key) override;
    [[nodiscard]] std::string_view name() const noexcept override { return "database"; }

    [[nodiscard]] db::Pool& pool() noexcept { return *pool_; }

private:
    DatabaseStore(std::shared_ptr<db::Pool> pool, SigningKeys keys, DatabaseStoreOptions options);
    /// `t` as the engine's column takes it.
    [[nodiscard]] std::string Timestamp(SystemClock::time_point t) const;

    std::shared_ptr<db::Pool> pool_;
    const SessionCodec codec_;
    const DatabaseStoreOptions options_;
};

}  // namespace gale::sessions
