// SPDX-License-Identifier: MIT
/// @file gale/http/router.hpp
/// @brief Routes (method + path pattern) to handlers; 404 and 405-with-Allow when nothing matches.
///
/// Patterns are '/'-separated segments; a segment is literal text, `{name}` (one segment) or, last only,
/// `{name...}` (the rest of the path, possibly empty). Literal routes are found by hash lookup; patterns are tried
/// in the order they were added. Routes are added before serving starts; after that the router is read-only and
/// safe to use from any number of threads.
#pragma once

#include <cstddef>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include <gale/base/error.hpp>
#include <gale/http/message.hpp>

namespace gale::http {

using Handler = std::function<Response(Request&)>;
/// A handler that may fail: its error is answered by ErrorResponse (see HandleErrors).
using ResultHandler = std::function<Result<Response>(Request&)>;

/// The answer to a handler's error. The status comes from the code: kInvalidArgument 400, kNotFound 404,
/// kAlreadyExists 409, kUnavailable, kTimeout and kCancelled 503, kIo and kInternal 500. The client gets only a
/// short JSON body, `{"error":"<the status's reason phrase, lower-case>","request_id":"…"}`: an error's message may
/// hold SQL, paths or a peer's answer, so it is never sent; it is logged (logger gale.handler, with the request id,
/// method, path and code) for whoever the client quotes the request id to. To tell a client what was wrong with its
/// request, answer with a Response (or throw HttpError) instead.
Response ErrorResponse(const Error& error, const Request& request);
/// A Handler that answers `handler`'s errors with ErrorResponse.
Handler HandleErrors(ResultHandler handler);

struct RouteOptions {
    /// True if the handler never blocks (no I/O, no locks held long): it then runs on the event loop, skipping the
    /// worker pool. Default false: handlers run on the bounded worker pool.
    bool inline_handler = false;
    /// True to stream the request body: the handler runs as soon as the head is in, and reads the body from
    /// Request::body_stream() as it arrives (bounded by the server's max_body_size and body_timeout). Implies the
    /// worker pool (inline_handler is ignored). Default false: the whole body is read into Request::body() first.
    bool stream_body = false;
};

struct Route {
    Method method;
    std::string pattern;
    Handler handler;
    RouteOptions options;
    std::size_t index = 0;
};

struct RouteMatch {
    enum class Kind { kFound, kNotFound, kMethodNotAllowed };
    Kind kind = Kind::kNotFound;
    const Route* route = nullptr;
    std::string allow;  ///< for kMethodNotAllowed: "GET, HEAD, POST"
};

class Router {
public:
    /// Adds a route. Errors: malformed pattern (must start with '/', braces balanced, `...` only last), duplicate
    /// method + pattern.
    [[nodiscard]] Result<const Route*> Add(Method method, std::string pattern, Handler handler,
                                           RouteOptions options = {});

    /// Sets the handler of every request that no route matches, whatever its method or path (an embedded app
    /// with its own URL dispatch: gale-wsgi's Python app behind the static mounts and probes). Its route pattern
    /// (the metrics' `route` label) is "*". Replaces an earlier fallback.
    void SetFallback(Handler handler, RouteOptions options = {});

    /// Matches a raw (percent-encoded) path. On kFound, path parameters are decoded into `request` (if given) and
    /// request->SetRoute() is called. HEAD matches GET routes. A parameter with a malformed escape does not match.
    /// With a fallback set, what would be kNotFound or kMethodNotAllowed is kFound with the fallback.
    RouteMatch Match(Method method, std::string_view path, Request* request) const;

    const std::vector<std::unique_ptr<Route>>& routes() const noexcept { return routes_; }

private:
    struct Segment {
        std::string text;
        bool param = false;
        bool rest = false;
    };
    struct Pattern {
        const Route* route;
        std::vector<Segment> segments;
    };
    bool MatchPattern(const Pattern& p, std::string_view path, Request* request) const;

    RouteMatch MatchRoutes(Method method, std::string_view path, Request* request) const;

    std::vector<std::unique_ptr<Route>> routes_;
    std::unique_ptr<Route> fallback_;
    struct StringHash {
        using is_transparent = void;
        std::size_t operator()(std::string_view s) const noexcept { return std::hash<std::string_view>{}(s); }
    };
    std::unordered_map<std::string, std::vector<const Route*>, StringHash, std::equal_to<>> literal_;
    std::vector<Pattern> patterns_;
};

}  // namespace gale::http
