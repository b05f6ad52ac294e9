// SPDX-License-Identifier: MIT
// Database is a thin handle: the engine backend (src/sqlite.cpp, src/postgres.cpp) does the work and the locking.
#include <gale/db/database.hpp>

#include "connection.hpp"

namespace gale::db {

std::string_view ToString(Engine engine) noexcept { return engine == Engine::kPostgresql ? "postgresql" : "sqlite"; }

Result<Database> Database::Connect(const ConnectionOptions& options) {
    if (options.engine == Engine::kSqlite) return Open(options.sqlite_path, options.busy_timeout);
    auto impl = std::make_shared<Impl>();
    impl->engine = Engine::kPostgresql;
    impl->description = options.Describe();
    GALE_ASSIGN_OR_RETURN(impl->conn, detail::ConnectPostgres(options));
    return Database(std::move(impl));
}

Result<Database> Database::Open(const std::string& path, std::chrono::milliseconds busy_timeout) {
    auto impl = std::make_shared<Impl>();
    impl->engine = Engine::kSqlite;
    impl->path = path;
    impl->description = "sqlite:" + path;
    GALE_ASSIGN_OR_RETURN(impl->conn, detail::OpenSqlite(path, busy_timeout));
    return Database(std::move(impl));
}

Result<void> Database::ExecScript(std::string_view sql) { return impl_->conn->ExecScript(sql); }

Result<ExecResult> Database::Execute(std::string_view sql, const std::vector<Value>& params) {
    return impl_->conn->Execute(sql, params);
}

Result<std::vector<Row>> Database::Query(std::string_view sql, const std::vector<Value>& params) {
    return impl_->conn->Query(sql, params);
}

Engine Database::engine() const noexcept { return impl_->engine; }
const std::string& Database::path() const noexcept { return impl_->path; }
const std::string& Database::description() const noexcept { return impl_->description; }

}  // namespace gale::db
