// SPDX-License-Identifier: MIT
// hello: the smallest complete gale service. SQLite-backed visit counter, a custom health check, a migrate command,
// and GET / answering a plain-text hello world (the benchmark's route). Run: `hello migrate && hello serve`.
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <mutex>
#include <string>

#include <gale/app/app.hpp>
#include <gale/db/sqlite.hpp>

namespace {

std::string DatabasePath() {
    const char* p = std::getenv("GALE_HELLO_DB");
    return p != nullptr && *p != '\0' ? p : "hello.db";
}

const std::vector<gale::db::Migration> kMigrations = {
    {"0001_create_visits",
     "CREATE TABLE visits (id INTEGER PRIMARY KEY, name TEXT NOT NULL, "
     "at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ','now')))"},
};

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
            auto opened = gale::db::Database::Open(DatabasePath());
            if (!opened) return tl::unexpected(opened.error());
            db = std::make_shared<gale::db::Database>(std::move(*opened));
        }
        return *db;
    };

    app.Get("/", [](Request&) { return Response::Text(200, "Hello, world!\n"); }, {.inline_handler = true});

    app.Post("/visits/{name}", [&](Request& req) {
        auto d = database();
        if (!d) return Response::Text(503, d.error().message() + "\n");
        auto r = d->Execute("INSERT INTO visits (name) VALUES (?)", {std::string(req.param("name"))});
        if (!r) return Response::Text(500, r.error().message() + "\n");
        return Response::Json(201, "{\"id\":" + std::to_string(r->last_insert_id) + "}\n");
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
        gale::db::Migrator m(*d, kMigrations);
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
        return gale::db::Migrator(*d, kMigrations).Pending();
    });

    return app.Run(argc, argv);
}
