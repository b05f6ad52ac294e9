// SPDX-License-Identifier: MIT
#include "notes/routes.hpp"

#include <cstdint>
#include <limits>
#include <stdexcept>
#include <string>

#include <nlohmann/json.hpp>

#include <gale/base/strings.hpp>

namespace notes {
namespace {

using gale::http::Response;
using Json = nlohmann::ordered_json;  // keeps the keys in the order written

Response JsonResponse(int status, const Json& body) {
    // Stored text is valid UTF-8 (nlohmann's parser and gale's pipe refuse anything else); `replace` makes sure.
    return Response::Json(status, body.dump(-1, ' ', false, Json::error_handler_t::replace) + "\n");
}

Json ToJson(const Note& note) {
    return {{"id", note.id}, {"title", note.title}, {"text", note.text}, {"ref", note.ref ? Json(*note.ref) : Json()}};
}

}  // namespace

Response ErrorResponse(int status, std::string_view message) { return JsonResponse(status, {{"error", message}}); }

Response CreateNote(NoteStore& store, const Options& options, gale::http::Request& request) {
    const Json body = Json::parse(request.body(), nullptr, /*allow_exceptions=*/false);
    if (!body.is_object()) return ErrorResponse(400, R"(the body must be a JSON object {"title": "…", "text": "…"})");
    for (const char* field : {"title", "text"}) {
        if (!body.contains(field) || !body[field].is_string()) {
            return ErrorResponse(400, std::string("field '") + field + "': a string is required");
        }
    }
    const auto& title = body["title"].get_ref<const std::string&>();
    const auto& text = body["text"].get_ref<const std::string&>();
    if (auto valid = ValidateNote(title, text, options); !valid) return ErrorResponse(400, valid.error().message());

    auto note = store.Add(title, text);
    if (!note) throw std::runtime_error(note.error().ToString());  // gale: 500, logged with the request id
    Response response = JsonResponse(201, ToJson(*note));
    response.SetHeader("Location", "/notes/" + std::to_string(note->id));
    return response;
}

Response GetNote(NoteStore& store, gale::http::Request& request) {
    auto id = gale::ParseInt("id", request.param("id"), 1, std::numeric_limits<std::int64_t>::max());
    if (!id) return ErrorResponse(400, id.error().message());
    auto note = store.Find(*id);
    if (!note) throw std::runtime_error(note.error().ToString());
    if (!*note) return ErrorResponse(404, "no note " + std::to_string(*id));
    return JsonResponse(200, ToJson(**note));
}

}  // namespace notes
