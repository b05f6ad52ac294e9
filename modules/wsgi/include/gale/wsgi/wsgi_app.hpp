// SPDX-License-Identifier: MIT
/// @file gale/wsgi/wsgi_app.hpp
/// @brief A Python WSGI application (PEP 3333) as a gale HTTP handler.
///
/// Handle runs on a worker-pool thread and holds the GIL only while in Python. The response:
/// - a list or tuple of bytes, or an iterable that ends within `buffer_bytes`: sent with Content-Length;
/// - a longer iterable (a generator, Django's StreamingHttpResponse): streamed as it is produced, chunked for
///   HTTP/1.1 (the server's backpressure: the next piece is asked for only as fast as the client reads);
/// - `wsgi.file_wrapper` over a regular file (Django's FileResponse): sent with sendfile(2) from the file's
///   position; other file-likes are iterated.
/// The iterable's close() is always called: at its end, when the app or the iteration raised, and when the client
/// went away mid-stream (then on gale's Python janitor thread, never on an event loop). An exception in the app is
/// a 500 and an error log line with the request id and the traceback; once the body has started it cuts the
/// connection, so a client never takes a truncated body for a whole one. Thread-safety: Handle from any number of
/// threads at once.
#pragma once

#include <cstddef>
#include <memory>
#include <string>
#include <string_view>

#include <gale/base/error.hpp>
#include <gale/http/message.hpp>

namespace gale::wsgi {

struct WsgiOptions {
    /// The mount prefix ("/app"): SCRIPT_NAME for paths under it. "" mounts the app at the root.
    std::string script_name;
    /// wsgi.multiprocess: true when `--processes` runs several copies (see SetMultiprocess).
    bool multiprocess = false;
    /// A response whose body ends within this many bytes is sent with Content-Length; a longer one streams.
    std::size_t buffer_bytes = 64 * 1024;
};

class WsgiApp {
public:
    /// Imports the application named by `spec`: "package.module:attribute" (the attribute may be dotted; "name()"
    /// calls a factory without arguments; a bare "package.module" means its `application`). Requires a started
    /// interpreter. Errors (kInvalidArgument, with the Python traceback): a malformed spec, a module that cannot be
    /// imported, a missing attribute, an object that is not callable.
    [[nodiscard]] static Result<std::unique_ptr<WsgiApp>> Import(std::string_view spec, WsgiOptions options = {});
    ~WsgiApp();
    WsgiApp(const WsgiApp&) = delete;
    WsgiApp& operator=(const WsgiApp&) = delete;

    http::Response Handle(http::Request& request);
    /// From now on wsgi.multiprocess is `value`: gale-wsgi sets it in each process `serve --processes` forks (the
    /// app is imported before the options are read). Call it before requests are handled.
    void SetMultiprocess(bool value) noexcept;

    struct Impl;

private:
    explicit WsgiApp(std::unique_ptr<Impl> impl);
    std::unique_ptr<Impl> impl_;
};

}  // namespace gale::wsgi
