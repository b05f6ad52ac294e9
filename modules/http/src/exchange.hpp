// SPDX-License-Identifier: MIT
/// @file exchange.hpp (private)
/// @brief What the server does with one parsed request, apart from sockets: building the Request from the parsed
///        head, routing it, running its handler, and writing the response head. The event loop (server.cpp) calls
///        these; the exchange fuzz target calls them on arbitrary bytes.
///
/// None of these throws for any input: a handler's exception becomes a 500 (or the HttpError's status) here.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <gale/http/message.hpp>
#include <gale/http/parser.hpp>
#include <gale/http/router.hpp>

namespace gale::http::detail {

/// Resets `request` and fills it from a complete head: copies `raw` (the head's bytes, head.head_length of them)
/// into the request's own storage and points method, target and headers into that copy. `head` must come from
/// ParseRequestHead(raw, …) returning kComplete (its views lie inside `raw`).
void AdoptRequest(std::string_view raw, const ParsedHead& head, Request& request);

/// The router's decision for a request: the route to run, or a response already made (404, or 405 with Allow).
struct Routed {
    const Route* route = nullptr;
    Response response;
};

/// Routes `request` (setting its route pattern and parameters on a match).
Routed RouteRequest(const Router& router, Request& request);

/// Runs the route's handler. HttpError gives its status and message; any other exception is logged with the request
/// id and answered 500.
Response RunHandler(const Route& route, Request& request) noexcept;

/// Per-connection facts the response head depends on.
struct HeadContext {
    std::string_view date;         ///< the Date header value
    std::string_view server_name;  ///< the Server header value
    const std::vector<std::pair<std::string, std::string>>* default_headers =
        nullptr;             ///< unless the response has them
    bool keep_alive = true;  ///< the connection may stay open after this response
};

/// How the body of a response is sent, decided with its head.
struct Framing {
    int status = 200;        ///< the status actually sent (an out-of-range status becomes 500)
    bool body = false;       ///< body, file or stream bytes follow the head
    bool stream = false;     ///< the body comes from the response's stream producer
    bool chunked = false;    ///< ... with the chunked coding (HTTP/1.1); otherwise the body ends with the connection
    bool keep_alive = true;  ///< the connection stays open after the body
};

/// Appends the status line and header block of `response` to `out`, and says how its body goes. The header block
/// is well-formed whatever the response holds (Response::AddHeader refuses CR, LF and NUL), and framing headers
/// (Content-Length, Transfer-Encoding, Connection, Date, Server) are the server's, never the handler's.
Framing AppendResponseHead(std::string& out, const Request& request, const Response& response,
                           const HeadContext& context);

}  // namespace gale::http::detail
