// SPDX-License-Identifier: MIT
// Sessions in django_session (contract in gale/sessions/database_store.hpp). Timestamps are written the way
// Django's backends write them: SQLite gets naive UTC text "YYYY-MM-DD HH:MM:SS.ffffff" (so that comparing text
// orders it as time, as Django relies on), PostgreSQL the same with "+00:00".
#include <fmt/format.h>

#include <gale/log/log.hpp>
#include <gale/sessions/database_store.hpp>

namespace gale::sessions {
namespace chr = std::chrono;

Result<std::unique_ptr<DatabaseStore>> DatabaseStore::Open(std::shared_ptr<db::Pool> pool, SigningKeys keys,
                                                           DatabaseStoreOptions options) {
    if (options.table.empty()) return MakeError(ErrorCode::kInvalidArgument, "session table: the name is empty");
    for (char c : options.table) {
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_')) {
            return MakeError(
                ErrorCode::kInvalidArgument,
                fmt::format("session table '{}': only letters, digits and '_' are allowed", options.table));
        }
    }
    return std::unique_ptr<DatabaseStore>(new DatabaseStore(std::move(pool), std::move(keys), std::move(options)));
}

DatabaseStore::DatabaseStore(std::shared_ptr<db::Pool> pool, SigningKeys keys, DatabaseStoreOptions options)
    : pool_(std::move(pool)), codec_(std::move(keys)), options_(std::move(options)) {}

DatabaseStore::~DatabaseStore() = default;

std::string DatabaseStore::Timestamp(SystemClock::time_point t) const {
    const auto us = chr::floor<chr::microseconds>(t);
    const auto day = chr::floor<chr::days>(us);
    const chr::year_month_day ymd{day};
    const chr::hh_mm_ss<chr::microseconds> hms{us - day};
    return fmt::format("{:04}-{:02}-{:02} {:02}:{:02}:{:02}.{:06}{}", static_cast<int>(ymd.year()),
                       static_cast<unsigned>(ymd.month()), static_cast<unsigned>(ymd.day()), hms.hours().count(),
                       hms.minutes().count(), hms.seconds().count(), hms.subseconds().count(),
                       pool_->engine() == db::Engine::kPostgresql ? "+00:00" : "");
}

Result<void> DatabaseStore::CreateTable() {
    const bool pg = pool_->engine() == db::Engine::kPostgresql;
    const std::string& t = options_.table;
    GALE_ASSIGN_OR_RETURN(auto lease, pool_->Acquire(db::Access::kWrite));
    GALE_RETURN_IF_ERROR(lease->ExecScript(
        fmt::format("CREATE TABLE IF NOT EXISTS \"{0}\" (\"session_key\" varchar(40) NOT NULL PRIMARY KEY, "
                    "\"session_data\" text NOT NULL, \"expire_date\" {1} NOT NULL); "
                    "CREATE INDEX IF NOT EXISTS \"{0}_expire_date_gale\" ON \"{0}\" (\"expire_date\")",
                    t, pg ? "timestamp with time zone" : "datetime")));
    return {};
}

Result<std::int64_t> DatabaseStore::ClearExpired() {
    GALE_ASSIGN_OR_RETURN(auto lease, pool_->Acquire(db::Access::kWrite));
    GALE_ASSIGN_OR_RETURN(auto r,
                          lease->Execute(fmt::format("DELETE FROM \"{}\" WHERE expire_date < ?", options_.table),
                                         {Timestamp(options_.now())}));
    return r.changes;
}

Result<std::optional<nlohmann::json>> DatabaseStore::Load(std::string_view key) {
    GALE_ASSIGN_OR_RETURN(auto lease, pool_->Acquire(db::Access::kRead));
    GALE_ASSIGN_OR_RETURN(
        auto rows, lease->Query(fmt::format("SELECT session_data FROM \"{}\" WHERE session_key = ? AND expire_date > ?",
                                            options_.table),
                                {std::string(key), Timestamp(options_.now())}));
    if (rows.empty() || !std::holds_alternative<std::string>(rows[0][0])) return std::nullopt;
    auto data = codec_.Decode(std::get<std::string>(rows[0][0]));
    if (!data) {
        log::Warning("gale.sessions", "a stored session could not be decoded; starting a new one",
                     {{"store", "database"}, {"error", data.error().message()}});
        return std::nullopt;
    }
    return std::move(*data);
}

Result<bool> DatabaseStore::Create(std::string_view key, const nlohmann::json& data, std::chrono::seconds age) {
    GALE_ASSIGN_OR_RETURN(auto lease, pool_->Acquire(db::Access::kWrite));
    GALE_ASSIGN_OR_RETURN(
        auto r, lease->Execute(fmt::format("INSERT INTO \"{}\" (session_key, session_data, expire_date) VALUES (?, ?, "
                                           "?) ON CONFLICT (session_key) DO NOTHING",
                                           options_.table),
                               {std::string(key), codec_.Encode(data), Timestamp(options_.now() + age)}));
    return r.changes == 1;
}

Result<bool> DatabaseStore::Update(std::string_view key, const nlohmann::json& data, std::chrono::seconds age) {
    GALE_ASSIGN_OR_RETURN(auto lease, pool_->Acquire(db::Access::kWrite));
    GALE_ASSIGN_OR_RETURN(
        auto r, lease->Execute(fmt::format("UPDATE \"{}\" SET session_data = ?, expire_date = ? WHERE session_key = ?",
                                           options_.table),
                               {codec_.Encode(data), Timestamp(options_.now() + age), std::string(key)}));
    return r.changes == 1;
}

Result<void> DatabaseStore::Delete(std::string_view key) {
    GALE_ASSIGN_OR_RETURN(auto lease, pool_->Acquire(db::Access::kWrite));
    GALE_RETURN_IF_ERROR(
        lease->Execute(fmt::format("DELETE FROM \"{}\" WHERE session_key = ?", options_.table), {std::string(key)}));
    return {};
}

}  // namespace gale::sessions
