// SPDX-License-Identifier: MIT
/// @file gale/db/database.hpp
/// @brief An engine-neutral SQL connection (SQLite or PostgreSQL) with parameterised queries.
///
/// Ownership: Database is a cheap, copyable handle; copies share one connection, which closes with the last copy.
/// Thread-safety: one Database may be used from several threads at once; calls are serialised (SQLite opens in
/// serialized mode; a PostgreSQL connection, which libpq does not make thread-safe, is guarded by a mutex inside).
/// A transaction opened with `ExecScript("BEGIN")` spans several calls, so other threads using the same handle would
/// run inside it: give transactional work its own Database. The public headers include neither sqlite3.h nor
/// libpq-fe.h.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include <gale/base/environment.hpp>
#include <gale/base/error.hpp>

namespace gale::db {

/// A parameter or column value. Integers are 64-bit; NULL is nullptr.
using Value = std::variant<std::nullptr_t, std::int64_t, double, std::string>;
using Row = std::vector<Value>;

struct ExecResult {
    std::int64_t changes = 0;         ///< rows inserted, updated or deleted
    std::int64_t last_insert_id = 0;  ///< SQLite: the rowid; PostgreSQL: see Database::Execute
};

enum class Engine { kSqlite, kPostgresql };

/// "sqlite" or "postgresql", as in DATABASE_ENGINE.
std::string_view ToString(Engine engine) noexcept;

/// Where and how to connect. Plain value type.
///
/// | Field | Engine | Default | Environment |
/// |---|---|---|---|
/// | engine | both | kSqlite | DATABASE_ENGINE |
/// | sqlite_path | sqlite | "app.db" | DATABASE_NAME, or the path of a `sqlite:///path` DATABASE_URL |
/// | host | postgresql | "" (libpq: local socket) | DATABASE_HOST |
/// | port | postgresql | 5432 | DATABASE_PORT |
/// | name | postgresql | "" | DATABASE_NAME |
/// | username, password | postgresql | "" | DATABASE_USERNAME, DATABASE_PASSWORD |
/// | url | postgresql | "" | DATABASE_URL (`postgresql://user:password@host:port/name?sslmode=…`); when set, libpq
/// reads it and the fields above are ignored | | connect_timeout | postgresql | 10 s | — | | busy_timeout | sqlite | 5
/// s | — |
struct ConnectionOptions {
    Engine engine = Engine::kSqlite;
    std::string sqlite_path = "app.db";
    std::string host;
    int port = 5432;
    std::string name;
    std::string username;
    std::string password;  ///< never shown in messages
    std::string url;       ///< postgresql only; may embed the password, so never shown as is
    std::chrono::seconds connect_timeout{10};
    std::chrono::milliseconds busy_timeout{5000};
    /// postgresql: keep each statement prepared on its connection (parsed and planned once). Turn it off behind a
    /// pooler in transaction mode (PgBouncer's pool_mode=transaction), where the next statement may reach another
    /// server session. SQLite always keeps its statements prepared.
    bool prepared_statements = true;

    /// A printable target without the password: "sqlite:app.db", "postgresql://user@host:5432/name".
    [[nodiscard]] std::string Describe() const;
};

/// Looks a variable up (gale/base/environment.hpp); an empty value counts as unset.
using EnvLookup = gale::EnvLookup;

/// Reads the DATABASE_* variables (docs/environment.md) through `lookup` (default: the process environment).
/// DATABASE_URL wins over the separate variables: `postgresql://` or `postgres://` selects PostgreSQL, `sqlite:///p`
/// selects SQLite at path `p` (`sqlite:////abs/p` for an absolute one); when DATABASE_ENGINE is also set, the scheme
/// must match it. Without a URL, postgresql requires DATABASE_HOST, DATABASE_NAME and DATABASE_USERNAME; sqlite uses
/// only DATABASE_NAME (default "app.db") and rejects DATABASE_HOST/PORT/USERNAME/PASSWORD.
/// Errors (kInvalidArgument) name the variable and never contain the password or the URL's userinfo.
[[nodiscard]] Result<ConnectionOptions> OptionsFromEnvironment(const EnvLookup& lookup = {});

/// The engine that the DATABASE_* variables select, by OptionsFromEnvironment's rules (DATABASE_URL's scheme, which
/// must match DATABASE_ENGINE when both are set; else DATABASE_ENGINE; else SQLite), without requiring or checking
/// the connection variables: for what must know the engine before the server is known (`deploy k8s`).
/// Errors (kInvalidArgument): an unknown engine or URL scheme, or a scheme that does not match DATABASE_ENGINE; they
/// name the variable and never contain the URL.
[[nodiscard]] Result<Engine> EngineFromEnvironment(const EnvLookup& lookup = {});

class Database {
public:
    /// Connects to the engine `options` select. SQLite: as Open(options.sqlite_path, options.busy_timeout).
    /// PostgreSQL: connects with libpq (connect_timeout applies); errors are kUnavailable for an unreachable or
    /// refusing server (the message names host:port and database) and never contain the password.
    [[nodiscard]] static Result<Database> Connect(const ConnectionOptions& options);

    /// Opens (creating if needed) the SQLite database at `path` (":memory:" for a private in-memory one), in WAL mode
    /// with a busy timeout. Errors name the path.
    [[nodiscard]] static Result<Database> Open(const std::string& path,
                                               std::chrono::milliseconds busy_timeout = std::chrono::seconds(5));

    /// Runs one or more `;`-separated statements without parameters or results (PostgreSQL: PQexec, so a script
    /// without its own BEGIN runs in one implicit transaction).
    [[nodiscard]] Result<void> ExecScript(std::string_view sql);

    /// Runs one statement with bound parameters. Placeholders are written `?` (or `?N`, 1-based) on both engines;
    /// on PostgreSQL they are rewritten to `$1…$n` outside string literals, quoted identifiers, dollar-quoted
    /// strings and comments (`$N` may also be written directly). A `?` meant as a PostgreSQL operator (jsonb `?`,
    /// `?|`, `?&`) must therefore be spelled as a function (`jsonb_exists`). The number of parameters must match
    /// (kInvalidArgument otherwise). Returns the changed-row count; `last_insert_id` is SQLite's rowid, and on
    /// PostgreSQL the first column of the first row when the statement returns rows (`… RETURNING id`), else 0.
    /// For a portable new id, use `Query("INSERT … RETURNING id")`, which works on both.
    [[nodiscard]] Result<ExecResult> Execute(std::string_view sql, const std::vector<Value>& params = {});

    /// Runs one statement (as Execute) and returns every row. Column types: SQLite's storage class; PostgreSQL:
    /// int2/int4/int8/oid and bool (0/1) as int64, float4/float8 as double, NULL as nullptr, everything else
    /// (numeric, text, timestamps, json …) as its text form — numeric stays a string so no precision is lost.
    [[nodiscard]] Result<std::vector<Row>> Query(std::string_view sql, const std::vector<Value>& params = {});

    [[nodiscard]] Engine engine() const noexcept;
    /// SQLite: the file path; PostgreSQL: empty.
    [[nodiscard]] const std::string& path() const noexcept;
    /// The target without the password, as ConnectionOptions::Describe().
    [[nodiscard]] const std::string& description() const noexcept;

    struct Impl;  ///< engine backend (private; defined in src/)

private:
    explicit Database(std::shared_ptr<Impl> impl) : impl_(std::move(impl)) {}
    std::shared_ptr<Impl> impl_;
};

}  // namespace gale::db
