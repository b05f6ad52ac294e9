// SPDX-License-Identifier: MIT
// Fuzzes what the server does with a request once the parser accepted its head (issue 8: the parser was fuzzed,
// but the server's use of its output killed the process): the head adopted into a Request (its views rebased onto
// the request's own copy), routing over literal, parameter and rest patterns, a handler that echoes what it was
// given, and the response head. Nothing may crash or read out of bounds, every view of the Request must lie in
// its own storage, and the response head must be well-formed HTTP whatever the request held.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include <gale/http/message.hpp>
#include <gale/http/parser.hpp>
#include <gale/http/router.hpp>

#include "exchange.hpp"

namespace {

using gale::http::Method;
using gale::http::Request;
using gale::http::Response;

void Require(bool ok) {
    if (!ok) std::abort();
}

Response Echo(Request& r) {
    std::string body;
    body.append(r.path()).append("\n").append(r.param("id")).append("\n").append(r.param("rest")).append("\n");
    if (auto q = r.query_param("q")) body.append(*q);
    Response res = Response::Text(200, std::move(body));
    // Handler-chosen headers carry request bytes: AddHeader must refuse CR, LF and NUL.
    res.AddHeader("X-Echo", std::string(r.param("id")));
    if (auto h = r.header("x-h")) res.AddHeader(std::string(*h), "v");
    if (r.param("id") == "throw") throw std::runtime_error("handler failure");
    if (r.param("id") == "http-error") throw gale::http::HttpError(418, "teapot");
    if (r.param("id") == "status") res.set_status(1000);
    return res;
}

const gale::http::Router& TheRouter() {
    static const gale::http::Router router = [] {
        gale::http::Router r;
        (void)r.Add(Method::kGet, "/", Echo);
        (void)r.Add(Method::kGet, "/items/{id}", Echo);
        (void)r.Add(Method::kPost, "/items/{id}", Echo);
        (void)r.Add(Method::kGet, "/items/{id}/tags", Echo);
        (void)r.Add(Method::kGet, "/static/{rest...}", Echo);
        return r;
    }();
    return router;
}

bool Inside(std::string_view view, std::string_view storage) {
    return view.empty() ||
           (view.data() >= storage.data() && view.data() + view.size() <= storage.data() + storage.size());
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    std::string_view in(reinterpret_cast<const char*>(data), size);
    gale::http::ParsedHead head;
    if (gale::http::ParseRequestHead(in, {}, head) != gale::http::ParseStatus::kComplete) return 0;
    Request request;
    gale::http::detail::AdoptRequest(in.substr(0, head.head_length), head, request);
    // The request must not point into the input buffer any more (it is reused for the next read) ...
    Require(request.method_name() == head.method);
    Require(request.path() == "*" || request.path().starts_with('/'));
    for (const auto& h : request.headers()) {
        Require(!Inside(h.name, in) || h.name.empty());
        Require(!Inside(h.value, in) || h.value.empty());
    }
    gale::http::detail::Routed routed = gale::http::detail::RouteRequest(TheRouter(), request);
    Response response =
        routed.route != nullptr ? gale::http::detail::RunHandler(*routed.route, request) : std::move(routed.response);
    std::string out;
    const std::vector<std::pair<std::string, std::string>> defaults = {{"X-Frame-Options", "DENY"}};
    auto framing = gale::http::detail::AppendResponseHead(out, request, response,
                                                          {.date = "Mon, 01 Jan 2026 00:00:00 GMT",
                                                           .server_name = "gale",
                                                           .default_headers = &defaults,
                                                           .keep_alive = head.keep_alive});
    // ... and the head we would send is well-formed: a status line, CRLF-terminated fields, one blank line.
    Require(out.starts_with("HTTP/1.1 ") || out.starts_with("HTTP/1.0 "));
    Require(framing.status >= 200 && framing.status <= 599);
    Require(out.size() >= 4 && out.ends_with("\r\n\r\n"));
    Require(out.find("\r\n\r\n") == out.size() - 4);
    for (std::size_t i = 0; i < out.size(); ++i) {
        char c = out[i];
        Require(c != '\0');
        if (c == '\r') Require(i + 1 < out.size() && out[i + 1] == '\n');
        if (c == '\n') Require(i > 0 && out[i - 1] == '\r');
    }
    return 0;
}
