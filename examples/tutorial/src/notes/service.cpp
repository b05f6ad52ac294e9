// SPDX-License-Identifier: MIT
#include "notes/service.hpp"

#include <cstdio>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <gale/config/settings.hpp>
#include <gale/db/database.hpp>
#include <gale/health/checks.hpp>
#include <gale/pipe/embedded_log.hpp>

#include "notes/inbox.hpp"
#include "notes/routes.hpp"
#include "notes/settings.hpp"
#include "notes/store.hpp"

namespace notes {
namespace {

using gale::http::Request;

/// A connection to the database that gale's DATABASE_* variables describe (docs/environment.md): SQLite at
/// DATABASE_NAME (default app.db), or PostgreSQL with DATABASE_ENGINE=postgresql or a postgresql:// DATABASE_URL.
gale::Result<gale::db::Database> ConnectDatabase(const gale::config::Settings& settings) {
    auto lookup = [&settings](std::string_view key) { return settings.Find(key); };
    GALE_ASSIGN_OR_RETURN(auto options, gale::db::OptionsFromEnvironment(lookup));
    return gale::db::Database::Connect(options);
}

/// What the routes, the check and the migration status share, opened on first use: App::Run loads the settings
/// (dotenv files included) before any of them runs, and `notes --help` should not need a database. A failure is
/// not kept, so the next call tries again. Thread-safe.
class Resources {
public:
    struct Opened {
        gale::db::Database db;
        NoteStore store;
        Options options;
    };

    explicit Resources(const gale::app::App& app) : app_(app) {}

    gale::Result<Opened*> Get() {
        std::lock_guard lock(mu_);
        if (!opened_) {
            GALE_ASSIGN_OR_RETURN(auto options, ReadOptions(app_.settings()));
            GALE_ASSIGN_OR_RETURN(auto db, ConnectDatabase(app_.settings()));
            opened_.emplace(Opened{db, NoteStore(db), std::move(options)});
        }
        return &*opened_;
    }

private:
    const gale::app::App& app_;
    std::mutex mu_;
    std::optional<Opened> opened_;
};

int Fail(const char* command, const gale::Error& error) {
    std::fprintf(stderr, "%s: %s\n", command, error.ToString().c_str());
    return 1;
}

/// `notes migrate`: applies the pending migrations; exit 0, or 1 naming what failed.
int Migrate(const gale::app::App& app) {
    // A connection of its own: a migration is a transaction, and the check may use the shared one meanwhile.
    auto db = ConnectDatabase(app.settings());
    if (!db) return Fail("migrate", db.error());
    auto applied = ApplyMigrations(*db);
    if (!applied) return Fail("migrate", applied.error());
    std::printf("applied %zu migration(s)\n", *applied);
    return 0;
}

/// `notes send-note REF TITLE TEXT`: what another service would send; exit 0, 1 (the log failed) or 2 (usage).
int SendNoteCommand(const gale::app::App& app, const gale::app::Args& args) {
    if (args.size() != 3) {
        std::fprintf(stderr, "usage: %s send-note REF TITLE TEXT\n", app.name().c_str());
        return 2;
    }
    auto options = ReadOptions(app.settings());
    if (!options) return Fail("send-note", options.error());
    auto log = gale::pipe::EmbeddedLog::Open(options->pipe_path);
    if (!log) return Fail("send-note", log.error());
    auto sent = SendNote(*log, {args[0], args[1], args[2]});
    if (!sent) return Fail("send-note", sent.error());
    std::printf("sent to %s, partition %s, offset %s\n", sent->topic.c_str(), sent->partition.c_str(),
                sent->offset.c_str());
    return 0;
}

}  // namespace

void Declare(gale::app::App& app) {
    auto resources = std::make_shared<Resources>(app);

    // The service's own settings: validated with gale's before any role starts, and by `notes config check`.
    app.EnvironmentGroup(SettingsGroup());

    // Routes. The handlers block on the database, so they run on the worker pool (gale's default).
    app.Post("/notes", [resources](Request& request) {
        auto r = resources->Get();
        if (!r) return ErrorResponse(503, r.error().message());
        return CreateNote((*r)->store, (*r)->options, request);
    });
    app.Get("/notes/{id}", [resources](Request& request) {
        auto r = resources->Get();
        if (!r) return ErrorResponse(503, r.error().message());
        return GetNote((*r)->store, request);
    });

    // The health check: readiness and startup fail while the notes table cannot be read.
    app.Check("database",
              [resources] {
                  auto r = resources->Get();
                  if (!r) return gale::health::CheckResult::Error(r.error().message());
                  return CheckDatabase((*r)->store);
              },
              {.tags = gale::health::kReadiness | gale::health::kStartup});

    // Commands, and what `--check-migrations` waits for.
    app.Command("migrate", "create or update the notes table", [&app](const gale::app::Args&) { return Migrate(app); });
    app.Command("send-note", "send a note to the log pipe, as another service would: send-note REF TITLE TEXT",
                [&app](const gale::app::Args& args) { return SendNoteCommand(app, args); });
    app.Migrations([resources]() -> gale::Result<std::vector<std::string>> {
        GALE_ASSIGN_OR_RETURN(auto* r, resources->Get());
        return PendingMigrations(r->db);
    });

    // The log-pipe consumer that `notes consume` runs, built once the settings are loaded.
    app.Consumer("notes", [](const gale::config::Settings& settings) -> gale::Result<gale::app::ConsumerSpec> {
        GALE_ASSIGN_OR_RETURN(auto options, ReadOptions(settings));
        GALE_ASSIGN_OR_RETURN(auto db, ConnectDatabase(settings));
        GALE_ASSIGN_OR_RETURN(auto log, gale::pipe::EmbeddedLog::Open(options.pipe_path));
        return MakeNoteConsumer(log, NoteStore(std::move(db)), options);
    });
}

}  // namespace notes
