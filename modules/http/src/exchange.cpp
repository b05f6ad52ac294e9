// SPDX-License-Identifier: MIT
//
// Invariant kept here for the event loop: nothing in this file throws, and every view a Request holds points into
// that Request's own copy of its head. AdoptRequest rebases the parser's views by offset; the parser guarantees
// they lie inside the parsed buffer (parser.hpp), and a view that did not would be a parser bug, so it is checked
// and dropped rather than turned into an out-of-range read.
#include "exchange.hpp"

#include <gale/base/check.hpp>
#include <gale/base/strings.hpp>
#include <gale/base/type_name.hpp>
#include <gale/log/log.hpp>

namespace gale::http::detail {
namespace {

void AppendUint(std::string& out, std::uint64_t v) {
    char buf[24];
    char* end = buf + sizeof(buf);
    char* p = end;
    do {
        *--p = static_cast<char>('0' + v % 10);
        v /= 10;
    } while (v != 0);
    out.append(p, static_cast<std::size_t>(end - p));
}

bool BodyAllowed(int status) { return status >= 200 && status != 204 && status != 304; }

bool IsFramingHeader(std::string_view name) {
    return EqualsIgnoreCase(name, "content-length") || EqualsIgnoreCase(name, "transfer-encoding") ||
           EqualsIgnoreCase(name, "connection") || EqualsIgnoreCase(name, "date") || EqualsIgnoreCase(name, "server");
}

}  // namespace

void AdoptRequest(std::string_view raw, const ParsedHead& head, Request& request) {
    request.Reset();
    std::string_view own = request.AdoptHead(raw);
    auto rebase = [&](std::string_view v) -> std::string_view {
        if (v.empty()) return own.substr(own.size());
        auto offset = v.data() - raw.data();
        if (v.data() < raw.data() || static_cast<std::size_t>(offset) + v.size() > raw.size()) {
            GALE_BUG("parser returned a view outside the request buffer");
            return {};
        }
        return own.substr(static_cast<std::size_t>(offset), v.size());
    };
    request.SetLine(ParseMethod(head.method), rebase(head.method), rebase(head.target), head.version_minor);
    for (const Header& h : head.headers) request.AddHeader(rebase(h.name), rebase(h.value));
}

Routed RouteRequest(const Router& router, Request& request) {
    Routed out;
    RouteMatch m = router.Match(request.method(), request.path(), &request);
    switch (m.kind) {
        case RouteMatch::Kind::kFound:
            out.route = m.route;
            break;
        case RouteMatch::Kind::kNotFound:
            out.response = Response::Text(404, "Not Found\n");
            break;
        case RouteMatch::Kind::kMethodNotAllowed:
            out.response = Response::Text(405, "Method Not Allowed\n");
            out.response.AddHeader("Allow", std::move(m.allow));
            break;
    }
    return out;
}

Response RunHandler(const Route& route, Request& request) noexcept {
    try {
        try {
            return route.handler(request);
        } catch (const HttpError& e) {
            return Response::Text(e.status(), std::string(e.what()) + "\n");
        } catch (const std::exception& e) {
            // exception_type: the dynamic type, for error reporting (gale::sentry makes it the event's exception).
            log::Error("gale.handler", "handler threw; answering 500",
                       {{"request_id", request.request_id()},
                        {"route", route.pattern},
                        {"exception_type", TypeName(typeid(e))},
                        {"error", e.what()}});
        } catch (...) {
            log::Error("gale.handler", "handler threw a non-standard exception; answering 500",
                       {{"request_id", request.request_id()}, {"route", route.pattern}});
        }
        return Response::Text(500, "Internal Server Error\n");
    } catch (...) {
        // Logging or building the answer failed (out of memory): a bare 500 needs no allocation.
        return Response(500);
    }
}

Framing AppendResponseHead(std::string& o, const Request& r, const Response& res, const HeadContext& ctx) {
    Framing f;
    f.status = res.status() < 200 || res.status() > 599 ? 500 : res.status();
    f.keep_alive = ctx.keep_alive;
    bool allowed = BodyAllowed(f.status);
    bool head_method = r.method() == Method::kHead;
    f.stream = allowed && !head_method && res.streaming();
    f.body = allowed && !head_method && (f.stream || res.content_length() > 0);
    o.append(r.version_minor() == 0 ? "HTTP/1.0 " : "HTTP/1.1 ");
    AppendUint(o, static_cast<std::uint64_t>(f.status));
    o += ' ';
    // The handler's own phrase only with its own status (not the 500 an out-of-range status became).
    o.append(f.status == res.status() && !res.reason().empty() ? std::string_view(res.reason())
                                                               : ReasonPhrase(f.status));
    o.append("\r\nServer: ");
    o.append(ctx.server_name);
    o.append("\r\nDate: ");
    o.append(ctx.date);
    if (f.stream) {
        if (r.version_minor() == 1) {
            f.chunked = true;
            o.append("\r\nTransfer-Encoding: chunked");
        } else {
            f.keep_alive = false;  // HTTP/1.0: the body ends when the connection does
        }
    } else if (allowed) {
        o.append("\r\nContent-Length: ");
        AppendUint(o, res.content_length());
    }
    if (!f.keep_alive) {
        o.append("\r\nConnection: close");
    } else if (r.version_minor() == 0) {
        o.append("\r\nConnection: keep-alive");
    }
    o.append("\r\nX-Request-ID: ");
    o.append(r.request_id());
    if (ctx.default_headers != nullptr) {
        for (const auto& [k, v] : *ctx.default_headers) {
            if (res.header(k)) continue;
            o.append("\r\n");
            o.append(k);
            o.append(": ");
            o.append(v);
        }
    }
    for (const auto& [k, v] : res.headers()) {
        if (IsFramingHeader(k)) continue;
        o.append("\r\n");
        o.append(k);
        o.append(": ");
        o.append(v);
    }
    o.append("\r\n\r\n");
    return f;
}

}  // namespace gale::http::detail
