// SPDX-License-Identifier: MIT
// DATABASE_* → ConnectionOptions. The rules mirror gale::config's contract (docs/environment.md) so that a service
// that validated its settings gets no surprise here; this function does not depend on gale::config, because db sits
// below it. Secrets: DATABASE_PASSWORD and DATABASE_URL (which may embed one) are never echoed.
#include <cctype>
#include <charconv>
#include <cstdlib>
#include <string>

#include <fmt/format.h>

#include <gale/base/environment.hpp>
#include <gale/base/strings.hpp>
#include <gale/db/database.hpp>
#include <gale/db/pool.hpp>

namespace gale::db {
namespace {

std::string Lower(std::string s) {
    for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return s;
}

tl::unexpected<Error> Invalid(std::string message) {
    return MakeError(ErrorCode::kInvalidArgument, std::move(message));
}

}  // namespace

std::string ConnectionOptions::Describe() const {
    if (engine == Engine::kSqlite) return "sqlite:" + sqlite_path;
    if (!url.empty()) {
        // Drop the userinfo's password: scheme://user:secret@host → scheme://user@host.
        std::string out = url;
        std::size_t scheme = out.find("://");
        std::size_t start = scheme == std::string::npos ? 0 : scheme + 3;
        std::size_t slash = out.find('/', start);
        std::size_t at = out.rfind('@', slash == std::string::npos ? std::string::npos : slash);
        if (at != std::string::npos && at >= start) {
            std::size_t colon = out.find(':', start);
            if (colon != std::string::npos && colon < at) out.erase(colon, at - colon);
        }
        std::size_t query = out.find('?');
        if (query != std::string::npos) out.erase(query);  // query parameters may carry password=…
        return out;
    }
    std::string user = username.empty() ? "" : username + "@";
    return fmt::format("postgresql://{}{}:{}/{}", user, host.empty() ? "localhost" : host, port, name);
}

Result<Engine> EngineFromEnvironment(const EnvLookup& lookup) {
    Engine engine = Engine::kSqlite;
    auto engine_var = LookupEnv(lookup, "DATABASE_ENGINE");
    if (engine_var) {
        std::string e = Lower(*engine_var);
        if (e == "sqlite") {
            engine = Engine::kSqlite;
        } else if (e == "postgresql") {
            engine = Engine::kPostgresql;
        } else {
            return Invalid(fmt::format("DATABASE_ENGINE: '{}' is not one of sqlite, postgresql", *engine_var));
        }
    }
    if (auto url = LookupEnv(lookup, "DATABASE_URL")) {
        std::size_t colon = url->find(':');
        std::string scheme = colon == std::string::npos ? "" : Lower(url->substr(0, colon));
        Engine from_url;
        if (scheme == "postgresql" || scheme == "postgres") {
            from_url = Engine::kPostgresql;
        } else if (scheme == "sqlite") {
            from_url = Engine::kSqlite;
        } else {
            return Invalid("DATABASE_URL: scheme must be postgresql://, postgres:// or sqlite:/// (value not shown)");
        }
        if (engine_var && from_url != engine) {
            return Invalid(
                fmt::format("DATABASE_URL: scheme '{}' does not match DATABASE_ENGINE={}", scheme, ToString(engine)));
        }
        engine = from_url;
    }
    return engine;
}

Result<ConnectionOptions> OptionsFromEnvironment(const EnvLookup& lookup) {
    auto get = [&](std::string_view name) { return LookupEnv(lookup, name); };

    ConnectionOptions opts;
    GALE_ASSIGN_OR_RETURN(opts.engine, EngineFromEnvironment(lookup));

    if (auto url = get("DATABASE_URL")) {  // its scheme chose opts.engine
        if (opts.engine == Engine::kSqlite) {
            // sqlite:///relative.db, sqlite:////absolute.db (as dj-database-url).
            if (url->compare(0, 10, "sqlite:///") != 0 || url->size() == 10) {
                return Invalid(fmt::format("DATABASE_URL: '{}' is not sqlite:///path", *url));
            }
            opts.sqlite_path = url->substr(10);
        } else {
            opts.url = *url;
        }
        return opts;
    }

    auto host = get("DATABASE_HOST");
    auto port = get("DATABASE_PORT");
    auto name = get("DATABASE_NAME");
    auto user = get("DATABASE_USERNAME");
    auto password = get("DATABASE_PASSWORD");
    if (opts.engine == Engine::kSqlite) {
        for (auto [var, value] : {std::pair{"DATABASE_HOST", &host}, std::pair{"DATABASE_PORT", &port},
                                  std::pair{"DATABASE_USERNAME", &user}, std::pair{"DATABASE_PASSWORD", &password}}) {
            if (value->has_value()) {
                return Invalid(
                    fmt::format("{}: set, but DATABASE_ENGINE is sqlite, which uses only DATABASE_NAME "
                                "(a file path)",
                                var));
            }
        }
        if (name) opts.sqlite_path = *name;
        return opts;
    }
    if (port) {
        int p = 0;
        auto [end, ec] = std::from_chars(port->data(), port->data() + port->size(), p);
        if (ec != std::errc() || end != port->data() + port->size() || p < 1 || p > 65535) {
            return Invalid(fmt::format("DATABASE_PORT: '{}' is not a port (1-65535)", *port));
        }
        opts.port = p;
    }
    if (!host) return Invalid("DATABASE_HOST: required when DATABASE_ENGINE is postgresql (or set DATABASE_URL)");
    if (!name) return Invalid("DATABASE_NAME: required when DATABASE_ENGINE is postgresql (or set DATABASE_URL)");
    if (!user) return Invalid("DATABASE_USERNAME: required when DATABASE_ENGINE is postgresql (or set DATABASE_URL)");
    opts.host = *host;
    opts.name = *name;
    opts.username = *user;
    if (password) opts.password = *password;
    return opts;
}

Result<PoolOptions> PoolOptionsFromEnvironment(const EnvLookup& lookup) {
    PoolOptions options;
    if (auto size = LookupEnv(lookup, "DATABASE_POOL_SIZE")) {
        GALE_ASSIGN_OR_RETURN(auto n, ParseInt("DATABASE_POOL_SIZE", *size, 1, 1000));
        options.size = static_cast<std::size_t>(n);
    }
    return options;
}

}  // namespace gale::db
