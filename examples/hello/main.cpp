// SPDX-License-Identifier: MIT
// hello: the smallest complete gale service. A visit counter in SQL, a custom health check, a migrate command, and
// GET / answering a plain-text hello world (the benchmark's route). Run: `hello migrate && hello serve`.
//
// The database comes from the DATABASE_* environment contract (docs/environment.md): DATABASE_ENGINE=postgresql
// with DATABASE_HOST/PORT/NAME/USERNAME/PASSWORD or DATABASE_URL runs on PostgreSQL; by default it is SQLite at
// DATABASE_NAME, or, when that is unset, at $GALE_HELLO_DB (the benchmark's knob) or ./hello.db.
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <mutex>
#include <string>

#include <gale/app/app.hpp>
#include <gale/db/database.hpp>
#include <gale/db/migrator.hpp>

namespace {

bool IsSet(const char* name) {
    const char* v = std::getenv(name);
    return v != nullptr && *v != '\0';
}

gale::Result<gale::db::ConnectionOptions> DatabaseOptions() {
    auto options = gale::db::OptionsFromEnvironment();
    if (options && options->engine == gale::db::Engine::kSqlite && !IsSet("DATABASE_NAME") && !IsSet("DATABASE_URL")) {
        options->sqlite_path = IsSet("GALE_HELLO_DB") ? std::getenv("GALE_HELLO_DB") : "hello.db";
    }
    return options;
}

// The engines disagree on auto-increment keys (SQLite: INTEGER PRIMARY KEY is the rowid; PostgreSQL: an identity
// column) and on time defaults, so each engine has its own DDL under the same migration id. The SQLite text is
// unchanged from before PostgreSQL support, so existing databases are not affected.
const std::vector<gale::db::Migration> kSqliteMigrations = {
    {"0001_create_visits",
     "CREATE TABLE visits (id INTEGER PRIMARY KEY, name TEXT NOT NULL, "
     "at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ','now')))"},
};
const std::vector<gale::db::Migration> kPostgresqlMigrations = {
    {"0001_create_visits",
     "CREATE TABLE visits (id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY, name TEXT NOT NULL, "
     "at TIMESTAMPTZ NOT NULL DEFAULT now())"},
};

const std::vector<gale::db::Migration>& Migrations(const gale::db::Database& db) {
    return db.engine() == gale::db::Engine::kPostgresql ? kPostgresqlMigrations : kSqliteMigrations;
}

}  // namespace

int main(int argc, char** argv) {
    using gale::http::Request;
    using gale::http::Response;
    namespace health = gale::health;

    gale::app::App app("hello", "0.1.0");
    // Opened lazily so `hello --help` works without a writable directory.
    std::shared_ptr<gale::db::Database> db;
    std::mutex db_mu;
    auto database = [&]() -> gale::Result<gale::db::Database> {
        std::lock_guard lock(db_mu);
        if (!db) {
            auto options = DatabaseOptions();
            if (!options) return tl::unexpected(options.error());
            auto opened = gale::db::Database::Connect(*options);
            if (!opened) return tl::unexpected(opened.error());
            db = std::make_shared<gale::db::Database>(std::move(*opened));
        }
        return *db;
    };

    app.Get("/", [](Request&) { return Response::Text(200, "Hello, world!\n"); }, {.inline_handler = true});

    app.Post("/visits/{name}", [&](Request& req) {
        auto d = database();
        if (!d) return Response::Text(503, d.error().message() + "\n");
        // RETURNING works on both engines (SQLite >= 3.35), unlike last_insert_id.
        auto r = d->Query("INSERT INTO visits (name) VALUES (?) RETURNING id", {std::string(req.param("name"))});
        if (!r) return Response::Text(500, r.error().message() + "\n");
        return Response::Json(201, "{\"id\":" + std::to_string(std::get<std::int64_t>((*r)[0][0])) + "}\n");
    });

    app.Get("/visits/{name}", [&](Request& req) {
        auto d = database();
        if (!d) return Response::Text(503, d.error().message() + "\n");
        auto rows = d->Query("SELECT COUNT(*) FROM visits WHERE name = ?", {std::string(req.param("name"))});
        if (!rows) return Response::Text(500, rows.error().message() + "\n");
        auto n = std::get<std::int64_t>((*rows)[0][0]);
        return Response::Json(
            200, "{\"name\":\"" + std::string(req.param("name")) + "\",\"visits\":" + std::to_string(n) + "}\n");
    });

    app.Check("database",
              [&] {
                  auto d = database();
                  if (!d) return health::CheckResult::Error(d.error().message());
                  auto r = d->Query("SELECT COUNT(*) FROM visits");
                  if (!r) return health::CheckResult::Error(r.error().message());
                  return health::CheckResult::Ok("visits table readable");
              },
              {.tags = health::kReadiness | health::kStartup});

    app.Check("disk", [] { return health::CheckResult::Ok(); }, {.tags = health::kLiveness});

    app.Command("migrate", "create or update the database tables", [&](const gale::app::Args&) {
        auto d = database();
        if (!d) {
            std::fprintf(stderr, "migrate: %s\n", d.error().message().c_str());
            return 1;
        }
        gale::db::Migrator m(*d, Migrations(*d));
        auto applied = m.Apply();
        if (!applied) {
            std::fprintf(stderr, "migrate: %s\n", applied.error().ToString().c_str());
            return 1;
        }
        std::printf("applied %zu migration(s)\n", *applied);
        return 0;
    });

    app.Migrations([&]() -> gale::Result<std::vector<std::string>> {
        auto d = database();
        if (!d) return tl::unexpected(d.error());
        return gale::db::Migrator(*d, Migrations(*d)).Pending();
    });

    return app.Run(argc, argv);
}
