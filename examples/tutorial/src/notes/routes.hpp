// SPDX-License-Identifier: MIT
/// @file notes/routes.hpp
/// @brief The HTTP API: POST /notes and GET /notes/{id}, JSON in and out.
///
/// Handlers are plain functions of the store, the options and the request, so tests call them with a Request they
/// build. They block on the database, so they run on gale's worker pool (the default, not inline_handler). A
/// database failure throws: gale answers 500 and logs the error with the request id.
#pragma once

#include <string_view>

#include <gale/http/message.hpp>

#include "notes/settings.hpp"
#include "notes/store.hpp"

namespace notes {

/// POST /notes with {"title": "…", "text": "…"}: 201 with the note ({"id","title","text","ref"}) and a Location
/// header; 400 with {"error": "…"} when the body is not such an object or the note breaks ValidateNote.
gale::http::Response CreateNote(NoteStore& store, const Options& options, gale::http::Request& request);

/// GET /notes/{id}: 200 with the note; 400 when id is not a positive integer; 404 when there is no such note.
gale::http::Response GetNote(NoteStore& store, gale::http::Request& request);

/// {"error": message} with `status`.
gale::http::Response ErrorResponse(int status, std::string_view message);

}  // namespace notes
