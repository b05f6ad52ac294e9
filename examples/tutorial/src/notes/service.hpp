// SPDX-License-Identifier: MIT
/// @file notes/service.hpp
/// @brief Declares the notes service on a gale::app::App: its setting, routes, check, commands, migrations and
///        log-pipe consumer.
#pragma once

#include <gale/app/app.hpp>

namespace notes {

/// Registers everything the service has with `app` (which must outlive what it runs, as main's App does). Nothing
/// is opened here: the database is opened on first use, once App::Run has loaded the settings.
///
/// The notes live in the database of gale's DATABASE_* variables (SQLite at DATABASE_NAME, default app.db, or
/// PostgreSQL); the embedded log the consumer reads is the SQLite file NOTES_PIPE_PATH (default notes-pipe.db).
void Declare(gale::app::App& app);

}  // namespace notes
