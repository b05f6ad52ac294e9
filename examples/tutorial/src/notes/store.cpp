// SPDX-License-Identifier: MIT
#include "notes/store.hpp"

#include <utility>
#include <variant>

#include <gale/db/migrator.hpp>

namespace notes {
namespace {

constexpr std::size_t kMaxTitleBytes = 200;

// Append new migrations at the end; never edit one that has been applied somewhere. The engines disagree on
// auto-increment keys, so each has its own DDL under the same ids.
const std::vector<gale::db::Migration> kSqliteMigrations = {
    {"0001_create_notes",
     "CREATE TABLE notes (id INTEGER PRIMARY KEY, title TEXT NOT NULL, text TEXT NOT NULL, ref TEXT UNIQUE)"},
};
const std::vector<gale::db::Migration> kPostgresqlMigrations = {
    {"0001_create_notes",
     "CREATE TABLE notes (id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY, title TEXT NOT NULL, "
     "text TEXT NOT NULL, ref TEXT UNIQUE)"},
};

gale::db::Migrator MigratorFor(gale::db::Database db) {
    const bool postgresql = db.engine() == gale::db::Engine::kPostgresql;
    return gale::db::Migrator(std::move(db), postgresql ? kPostgresqlMigrations : kSqliteMigrations);
}

gale::Error Invalid(std::string message) { return {gale::ErrorCode::kInvalidArgument, std::move(message)}; }

Note FromRow(const gale::db::Row& row) {
    Note note{std::get<std::int64_t>(row[0]), std::get<std::string>(row[1]), std::get<std::string>(row[2]), {}};
    if (const auto* ref = std::get_if<std::string>(&row[3])) note.ref = *ref;
    return note;
}

}  // namespace

gale::Result<std::size_t> ApplyMigrations(gale::db::Database db) { return MigratorFor(std::move(db)).Apply(); }

gale::Result<std::vector<std::string>> PendingMigrations(gale::db::Database db) {
    return MigratorFor(std::move(db)).Pending();
}

gale::Result<void> ValidateNote(std::string_view title, std::string_view text, const Options& options) {
    if (title.empty()) return tl::unexpected(Invalid("field 'title': empty"));
    if (title.size() > kMaxTitleBytes) {
        return tl::unexpected(Invalid("field 'title': longer than " + std::to_string(kMaxTitleBytes) + " bytes"));
    }
    if (static_cast<std::int64_t>(text.size()) > options.max_length) {
        return tl::unexpected(
            Invalid("field 'text': longer than " + std::to_string(options.max_length) + " bytes (NOTES_MAX_LENGTH)"));
    }
    return {};
}

gale::Result<Note> NoteStore::Add(const std::string& title, const std::string& text) {
    GALE_ASSIGN_OR_RETURN(auto rows,
                          db_.Query("INSERT INTO notes (title, text) VALUES (?, ?) RETURNING id", {title, text}));
    return Note{std::get<std::int64_t>(rows.at(0).at(0)), title, text, {}};
}

gale::Result<std::optional<Note>> NoteStore::Find(std::int64_t id) {
    GALE_ASSIGN_OR_RETURN(auto rows, db_.Query("SELECT id, title, text, ref FROM notes WHERE id = ?", {id}));
    if (rows.empty()) return std::optional<Note>();
    return FromRow(rows[0]);
}

gale::Result<void> NoteStore::Put(const std::string& ref, const std::string& title, const std::string& text) {
    GALE_RETURN_IF_ERROR(
        db_.Execute("INSERT INTO notes (ref, title, text) VALUES (?, ?, ?) "
                    "ON CONFLICT (ref) DO UPDATE SET title = excluded.title, text = excluded.text",
                    {ref, title, text}));
    return {};
}

gale::Result<std::int64_t> NoteStore::Count() {
    GALE_ASSIGN_OR_RETURN(auto rows, db_.Query("SELECT COUNT(*) FROM notes"));
    return std::get<std::int64_t>(rows.at(0).at(0));
}

gale::health::CheckResult CheckDatabase(NoteStore& store) {
    auto count = store.Count();
    if (!count) return gale::health::CheckResult::Error(count.error().message());
    return gale::health::CheckResult::Ok(std::to_string(*count) + (*count == 1 ? " note" : " notes"));
}

}  // namespace notes
