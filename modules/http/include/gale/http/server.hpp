// SPDX-License-Identifier: MIT
/// @file gale/http/server.hpp
/// @brief The HTTP/1.1 server: one epoll event loop per thread on SO_REUSEPORT sockets, plus a worker pool.
///
/// Ownership: the Server borrows the Router and the observer, which must outlive it. Thread-safety: Listen, Start
/// and Stop are called from one controlling thread; the query functions (queue_length, in_flight, ...) and
/// SetDraining/StopAccepting may be called from any thread.
///
/// Config keys (as `serve` options; see the README for environment names):
/// | Name              | Description                                         | Default   |
/// |-------------------|-----------------------------------------------------|-----------|
/// | bind              | address to listen on                                | 0.0.0.0   |
/// | port              | TCP port (0 picks a free one, see port())           | 8000      |
/// | loops             | event loops (threads)                               | cores     |
/// | workers           | worker pool threads for blocking handlers           | cores + 4 |
/// | max_body_size     | request body limit (413 above)                      | 10 MiB    |
/// | max_header_bytes  | request head limit (431 above)                      | 8 KiB     |
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include <gale/base/error.hpp>
#include <gale/http/message.hpp>
#include <gale/http/router.hpp>

namespace gale::http {

namespace detail {
struct ServerImpl;
}  // namespace detail

struct ServerOptions {
    std::string name = "app";  ///< used in logs and thread names
    std::string bind = "0.0.0.0";
    std::uint16_t port = 8000;
    std::size_t loops = 0;      ///< 0: one per core
    std::size_t workers = 0;    ///< 0: min(32, cores + 4)
    std::size_t max_queue = 0;  ///< requests waiting for a worker before 503; 0: max(1024, 64 * workers)
    std::uint64_t max_body_size = 10ULL << 20;
    std::size_t max_header_bytes = 8 * 1024;
    std::size_t max_uri_bytes = 8 * 1024;
    std::size_t max_headers = 100;
    std::chrono::milliseconds header_timeout{10'000};      ///< from a request's first byte to its complete head
    std::chrono::milliseconds body_timeout{60'000};        ///< from the complete head to the complete body
    std::chrono::milliseconds keep_alive_timeout{75'000};  ///< idle time between requests
    std::chrono::milliseconds write_timeout{60'000};       ///< a response not written within this closes
    /// Open connections at most; at the limit the server stops accepting (clients wait in the backlog) until one
    /// closes. 0: the descriptor limit minus a reserve for the probe server and the process's other files (a
    /// quarter of RLIMIT_NOFILE, between 64 and 1024), so probes still answer when the app port is full.
    std::size_t max_connections = 0;
    bool access_log = true;
    std::string server_header = "gale";
    /// Extra headers added to every response (e.g. security headers).
    std::vector<std::pair<std::string, std::string>> default_headers;
    /// Listening sockets opened ahead (OpenListeners, in the process that forked this one): one per loop, used by
    /// Listen instead of opening new ones (bind and port are then ignored; port() reads the sockets' own). The
    /// server owns them from construction: it closes them when it stops, or when destroyed without Listen.
    std::vector<int> listen_fds;
};

/// Listening sockets for servers to come: one SO_REUSEPORT group of `count` sockets on `bind`:`port`, opened with
/// the in-use checks of Server::Listen (nothing else may listen there). `serve --processes N` opens N × loops of
/// them before it forks, and each process's server takes its share (ServerOptions::listen_fds), so the kernel
/// spreads connections over every loop of every process. Errors as for Server::Listen; `name` is the server's.
struct Listeners {
    std::vector<int> fds;  ///< non-blocking, close-on-exec; the caller owns them
    std::uint16_t port = 0;
};
[[nodiscard]] Result<Listeners> OpenListeners(const std::string& name, const std::string& bind, std::uint16_t port,
                                              std::size_t count);

/// Raises this process's soft RLIMIT_NOFILE to its hard limit (what nginx's worker_rlimit_nofile lets one do;
/// `serve` and every role call it at start) and returns the soft limit in force afterwards.
std::uint64_t RaiseOpenFileLimit() noexcept;

/// What the server reports after each request (on the event loop thread; must be cheap and must not throw).
struct RequestRecord {
    const Request& request;
    int status;
    std::uint64_t response_bytes;  ///< body bytes sent (0 for HEAD)
    std::chrono::nanoseconds duration;
    std::size_t loop_index;
};

class Server {
public:
    using Observer = std::function<void(const RequestRecord&)>;

    Server(ServerOptions options, const Router& router, Observer observer = {});
    ~Server();
    Server(const Server&) = delete;
    Server& operator=(const Server&) = delete;

    /// Binds and listens (one SO_REUSEPORT socket per loop), or adopts ServerOptions::listen_fds (kInvalidArgument
    /// unless there is one per loop). Errors name the address and the system error.
    [[nodiscard]] Result<void> Listen();
    /// The bound port (useful with port 0). Valid after Listen.
    std::uint16_t port() const noexcept;
    /// Starts the loop threads and the worker pool.
    void Start();
    /// Responses from now on carry `Connection: close`, so keep-alive clients move to other replicas.
    void SetDraining() noexcept;
    /// Closes the listening sockets and idle keep-alive connections; requests in progress continue.
    void StopAccepting();
    /// Waits until no connection is open or `timeout` passed. Returns true if all connections closed.
    bool WaitForIdle(std::chrono::milliseconds timeout);
    /// Closes every connection and joins the threads. Idempotent.
    void Stop();

    /// Requests waiting for a worker (the request queue).
    std::size_t queue_length() const noexcept;
    /// Requests being handled (parsed, not yet answered).
    std::size_t in_flight() const noexcept;
    std::size_t open_connections() const noexcept;
    std::uint64_t requests_served() const noexcept;
    /// Events whose handling threw inside an event loop (a bug or memory exhaustion): each cost one connection (a
    /// 500 or a close), never the process.
    std::uint64_t internal_errors() const noexcept;
    /// Milliseconds since the slowest event loop last turned (0 when all are responsive); the liveness watchdog.
    std::int64_t max_loop_stall_ms() const noexcept;
    const ServerOptions& options() const noexcept;

private:
    std::unique_ptr<detail::ServerImpl> impl_;
};

}  // namespace gale::http
