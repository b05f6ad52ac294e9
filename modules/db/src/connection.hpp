// SPDX-License-Identifier: MIT
// Private: the engine backends behind gale::db::Database.
#pragma once

#include <chrono>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include <gale/base/error.hpp>
#include <gale/db/database.hpp>

namespace gale::db::detail {

/// One engine connection. Implementations serialise their own calls (Database promises thread-safety).
class Connection {
public:
    virtual ~Connection() = default;
    [[nodiscard]] virtual Result<void> ExecScript(std::string_view sql) = 0;
    [[nodiscard]] virtual Result<ExecResult> Execute(std::string_view sql, const std::vector<Value>& params) = 0;
    [[nodiscard]] virtual Result<std::vector<Row>> Query(std::string_view sql, const std::vector<Value>& params) = 0;
};

[[nodiscard]] Result<std::unique_ptr<Connection>> OpenSqlite(const std::string& path,
                                                             std::chrono::milliseconds busy_timeout);
[[nodiscard]] Result<std::unique_ptr<Connection>> ConnectPostgres(const ConnectionOptions& options);

}  // namespace gale::db::detail

namespace gale::db {

struct Database::Impl {
    Engine engine = Engine::kSqlite;
    std::string path;
    std::string description;
    std::unique_ptr<detail::Connection> conn;
};

}  // namespace gale::db
