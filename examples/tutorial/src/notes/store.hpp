// SPDX-License-Identifier: MIT
/// @file notes/store.hpp
/// @brief The notes table: its migrations, the rules a note follows, reads and writes, and its health check.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <gale/base/error.hpp>
#include <gale/db/database.hpp>
#include <gale/health/checks.hpp>

#include "notes/settings.hpp"

namespace notes {

/// A stored note. `ref` is the sender's id of a note that came through the log pipe (a later message with the same
/// ref updates it); notes created over HTTP have none.
struct Note {
    std::int64_t id = 0;
    std::string title;
    std::string text;
    std::optional<std::string> ref;
};

/// Applies the migrations of db's engine (SQLite or PostgreSQL) not yet applied; returns how many were. Errors name
/// the failing migration. Use a connection of its own: each migration is a transaction spanning several calls.
gale::Result<std::size_t> ApplyMigrations(gale::db::Database db);
/// The migrations not yet applied to `db` (what `serve --check-migrations` waits for).
gale::Result<std::vector<std::string>> PendingMigrations(gale::db::Database db);

/// The rules of a note, whichever way it comes in (POST /notes, or a message of the log pipe): a title of 1 to 200
/// bytes and a text of at most options.max_length bytes. Errors (kInvalidArgument) name the field:
/// "field 'text': longer than 2000 bytes (NOTES_MAX_LENGTH)".
gale::Result<void> ValidateNote(std::string_view title, std::string_view text, const Options& options);

/// Reads and writes the notes table through one database handle (copies share its connection), on SQLite or
/// PostgreSQL. Thread-safe as gale::db::Database is: calls from several threads are serialised on the connection.
class NoteStore {
public:
    explicit NoteStore(gale::db::Database db) : db_(std::move(db)) {}

    /// Stores a new note (already validated) and returns it with its id.
    gale::Result<Note> Add(const std::string& title, const std::string& text);
    /// The note with this id, or nullopt.
    gale::Result<std::optional<Note>> Find(std::int64_t id);
    /// Creates the note with this ref, or replaces its title and text: senders send a note again when it changes,
    /// and a message delivered twice changes nothing the second time.
    gale::Result<void> Put(const std::string& ref, const std::string& title, const std::string& text);
    gale::Result<std::int64_t> Count();

private:
    gale::db::Database db_;
};

/// The `database` health check: the notes table can be read. Fails before `notes migrate` has run.
gale::health::CheckResult CheckDatabase(NoteStore& store);

}  // namespace notes
