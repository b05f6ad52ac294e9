// SPDX-License-Identifier: MIT
//
// Design
// - N event loops, each a thread with its own epoll instance and its own SO_REUSEPORT listening socket, so the
//   kernel spreads connections and no lock is shared on the accept or request path.
// - Connections are edge-triggered (EPOLLIN | EPOLLOUT | EPOLLRDHUP registered once, never modified).
// - A connection handles one request at a time, in order (pipelining: the next request is parsed only after the
//   previous response was queued). A blocking handler runs on the worker pool; its result comes back through the
//   loop's completion queue and an eventfd. While a request is on the pool the connection is not read, and it is
//   never destroyed (a hang-up only marks it dead), so the pointer carried by the task stays valid.
// - Hand-offs are batched: what a loop turn queues on the pool wakes the workers once, at the turn's end, and the
//   completions of a turn's worth of requests write the loop's eventfd once (wake_pending), so on a busy core the
//   loop and the workers are not switched once per request.
// - A route with stream_body runs as soon as the head is in; while it runs, the loop goes on reading the body into
//   a StreamedBody (streamed_body.hpp), at most a window ahead of the handler.
// - Timeouts are checked once a second by scanning the loop's connections (O(n), cheap even at 10k connections).
// - Access log lines are formatted into a per-loop buffer and written once per loop turn.
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/sendfile.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <condition_variable>
#include <cstring>
#include <ctime>
#include <mutex>
#include <thread>
#include <vector>

#include <fmt/format.h>

#include <gale/base/strings.hpp>
#include <gale/http/parser.hpp>
#include <gale/http/server.hpp>
#include <gale/http/worker_pool.hpp>
#include <gale/log/log.hpp>

#include "exchange.hpp"
#include "listener.hpp"
#include "streamed_body.hpp"

namespace gale::http {
namespace {

constexpr std::size_t kReadChunk = 16 * 1024;
constexpr std::size_t kMaxOutputBeforePause = 256 * 1024;
// A streamed request body: how far the loop reads ahead of the handler.
constexpr std::size_t kBodyWindow = 256 * 1024;
constexpr const char* kLogger = "gale.server";
// StopAccepting: how long handshakes under way get to complete into the backlog once new SYNs are dropped. Far
// above a data-centre round trip; the drain delay before it is seconds.
constexpr std::chrono::milliseconds kHandshakeGrace{100};

std::int64_t NowMs() noexcept {
    timespec ts{};
    clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
    return static_cast<std::int64_t>(ts.tv_sec) * 1000 + ts.tv_nsec / 1'000'000;
}

std::string ErrnoText(int err) { return std::strerror(err); }

bool IsSaneRequestId(std::string_view id) {
    if (id.empty() || id.size() > 128) return false;
    for (char c : id) {
        if (!(std::isalnum(static_cast<unsigned char>(c)) != 0 || c == '-' || c == '_' || c == '.' || c == ':'))
            return false;
    }
    return true;
}

void AppendHex(std::string& out, std::uint64_t v, int digits) {
    static constexpr char kHex[] = "0123456789abcdef";
    for (int i = digits - 1; i >= 0; --i) out += kHex[(v >> (i * 4)) & 0xf];
}

}  // namespace

struct Loop;

struct Connection {
    enum class State { kHead, kBody, kHandler, kStreaming, kClosed };

    int fd = -1;
    Loop* loop = nullptr;
    std::size_t slot = 0;  // index in loop->conns
    State state = State::kHead;
    std::string in;
    std::string out;
    std::size_t out_pos = 0;
    std::optional<Response> file_response;  // owns the fd being sent with sendfile
    std::uint64_t file_sent = 0;
    Request request;
    ParsedHead head;
    ChunkedDecoder chunked;
    std::uint64_t body_expected = 0;
    detail::Routed routed;                       // the route chosen when the head was complete (or the 404/405 answer)
    std::shared_ptr<detail::StreamedBody> body;  // a streamed body while its handler or response stream runs
    std::uint64_t body_fed = 0;                  // its bytes pushed so far
    bool body_done = false;                      // ... and it ended or failed
    int body_error_status = 0;                   // it failed by the client's fault: the answer is this status
    const char* body_error_message = "";
    bool keep_alive = true;
    bool close_after_write = false;
    bool peer_closed = false;
    bool dead = false;       // hang-up while a pool task held the connection: destroy on completion
    bool pool_busy = false;  // a handler or stream pull for this connection is on the worker pool
    StreamFn stream;         // the producer of a streamed response (state kStreaming)
    bool stream_chunked = false;
    int stream_status = 0;
    std::uint64_t stream_bytes = 0;
    bool readable = true;     // no short read or EAGAIN since the last EPOLLIN edge: a read() may return data
    bool rdhup = false;       // EPOLLRDHUP seen: the peer's FIN is queued behind any data, so a short read is not
                              // "drained" (no further edge will come for it)
    bool lingering = false;   // response sent and write side shut: discarding input until EOF or the deadline
    bool write_wait = false;  // output is stuck in a full socket: deadline_ms is the write deadline
    std::int64_t deadline_ms = 0;
    std::int64_t request_start_ns = 0;
    std::string remote;
};

struct Completion {
    Connection* conn;
    Response response;
    // For a stream pull: the piece produced, whether more follows, and whether the producer threw.
    bool is_chunk = false;
    std::string chunk{};
    bool more = false;
    bool failed = false;
};

struct Loop {
    detail::ServerImpl* server = nullptr;
    std::size_t index = 0;
    int epfd = -1;
    int listen_fd = -1;
    int wake_fd = -1;
    bool accepting = true;
    bool accept_paused = false;            // the listener is out of epoll: at the connection limit, or after EMFILE
    std::int64_t accept_paused_until = 0;  // EMFILE: resume at this time; 0: resume below the connection limit
    std::thread thread;
    std::vector<Connection*> conns;
    std::vector<Connection*> graveyard;  // closed this turn; freed at the end of the turn
    std::mutex mu;
    std::vector<Completion> completions;
    std::vector<std::function<void()>> tasks;
    std::atomic<std::int64_t> last_turn_ms{0};
    std::atomic<bool> in_epoll_wait{false};
    // Set by the first Wake since the loop last took its completions and tasks (cleared under mu as it takes them):
    // later ones need not write the eventfd again.
    std::atomic<bool> wake_pending{false};
    std::size_t unwoken = 0;  // tasks this turn queued on the pool without waking a worker (woken at the turn's end)
    std::atomic<std::size_t> open{0};
    std::string access_buf;
    char date[40] = {};
    std::size_t date_len = 0;
    std::time_t date_sec = 0;
    std::uint64_t id_counter = 0;
    std::uint64_t id_prefix = 0;
    std::int64_t next_sweep_ms = 0;
    std::string scratch;

    void Post(std::function<void()> fn);
    void Wake();
    void Run();
    void OnAccept(bool drain_backlog = false);
    void PauseAccepting(std::int64_t until_ms);
    void MaybeResumeAccepting(std::int64_t now);
    void OnEvent(Connection* c, std::uint32_t events);
    void OnCompletion(Completion& comp);
    template <typename F>
    void Guarded(Connection* c, F&& f) noexcept;
    void OnInternalError(Connection* c, const char* what) noexcept;
    void Process(Connection* c);
    bool ReadInto(Connection* c);
    bool Flush(Connection* c);
    void RouteHead(Connection* c);
    void Dispatch(Connection* c);
    void DispatchStreamingBody(Connection* c);
    void SubmitHandler(Connection* c, const Route* route);
    void FeedBody(Connection* c);
    void DetachBody(Connection* c, std::string_view why);
    void StartResponse(Connection* c, Response response);
    void FinishRequest(Connection* c, int status, std::uint64_t body_bytes);
    void ArmWaitForNextRequest(Connection* c);
    void ArmWriteDeadline(Connection* c, bool progressed);
    void PullStream(Connection* c);
    void OnChunk(Connection* c, Completion& comp);
    void ErrorResponse(Connection* c, int status, std::string_view message);
    void Close(Connection* c);
    void Linger(Connection* c);
    void Sweep(std::int64_t now);
    void CloseIdle();
    void UpdateDate();
    void FlushAccessLog();
};

namespace detail {
struct ServerImpl {
    ServerOptions opts;
    const Router& router;
    Server::Observer observer;
    ParseLimits limits;
    std::vector<std::unique_ptr<Loop>> loops;
    std::unique_ptr<WorkerPool> pool;
    std::uint16_t bound_port = 0;
    std::atomic<bool> draining{false};
    std::atomic<bool> stopping{false};
    std::atomic<std::size_t> in_flight{0};
    std::atomic<std::uint64_t> served{0};
    std::atomic<std::uint64_t> internal_errors{0};
    std::atomic<std::size_t> open_total{0};  // open connections over all loops

    bool AtConnectionLimit() const noexcept {
        return open_total.load(std::memory_order_relaxed) >= opts.max_connections;
    }
    bool started = false;
    bool stopped = false;

    ServerImpl(ServerOptions o, const Router& r, Server::Observer obs)
        : opts(std::move(o)), router(r), observer(std::move(obs)) {
        unsigned cores = std::max(1U, std::thread::hardware_concurrency());
        if (opts.loops == 0) opts.loops = cores;
        if (opts.workers == 0) opts.workers = std::min<std::size_t>(32, cores + 4);
        if (opts.max_queue == 0) opts.max_queue = std::max<std::size_t>(1024, 64 * opts.workers);
        if (opts.max_connections == 0) opts.max_connections = DefaultMaxConnections();
        limits.max_head_bytes = opts.max_header_bytes;
        limits.max_uri_bytes = opts.max_uri_bytes;
        limits.max_headers = opts.max_headers;
    }
};
}  // namespace detail

// ---------------------------------------------------------------------------------------------------------------
// Loop

void Loop::Post(std::function<void()> fn) {
    {
        std::lock_guard lock(mu);
        tasks.push_back(std::move(fn));
    }
    Wake();
}

void Loop::Wake() {
    if (wake_pending.exchange(true, std::memory_order_acq_rel)) return;
    std::uint64_t one = 1;
    ssize_t n = ::write(wake_fd, &one, sizeof(one));
    (void)n;
}

void Loop::UpdateDate() {
    std::time_t now = std::time(nullptr);
    if (now == date_sec) return;
    date_sec = now;
    std::tm tm{};
    gmtime_r(&now, &tm);
    date_len = std::strftime(date, sizeof(date), "%a, %d %b %Y %H:%M:%S GMT", &tm);
}

void Loop::Run() {
    epoll_event events[256];
    scratch.resize(kReadChunk);
    UpdateDate();
    while (true) {
        std::int64_t now = NowMs();
        last_turn_ms.store(now, std::memory_order_relaxed);
        if (now >= next_sweep_ms) {
            Guarded(nullptr, [&] { Sweep(now); });
            next_sweep_ms = now + 1000;
        }
        if (server->stopping.load(std::memory_order_acquire) && conns.empty() && listen_fd < 0) break;
        in_epoll_wait.store(true, std::memory_order_relaxed);
        int n = epoll_wait(epfd, events, 256, 1000);
        in_epoll_wait.store(false, std::memory_order_relaxed);
        if (n < 0) {
            if (errno == EINTR) continue;
            log::Error(kLogger, "epoll_wait failed", {{"error", ErrnoText(errno)}});
            break;
        }
        UpdateDate();
        for (int i = 0; i < n; ++i) {
            void* ptr = events[i].data.ptr;
            if (ptr == &listen_fd) {
                Guarded(nullptr, [&] { OnAccept(); });
            } else if (ptr == &wake_fd) {
                std::uint64_t v;
                ssize_t got = ::read(wake_fd, &v, sizeof(v));  // resets the counter: one read is enough
                (void)got;
                std::vector<Completion> done;
                std::vector<std::function<void()>> todo;
                {
                    std::lock_guard lock(mu);
                    // Under mu: a Wake whose push comes after this swap sees false and writes the eventfd again.
                    wake_pending.store(false, std::memory_order_relaxed);
                    done.swap(completions);
                    todo.swap(tasks);
                }
                for (auto& fn : todo) Guarded(nullptr, fn);
                for (auto& comp : done) Guarded(comp.conn, [&] { OnCompletion(comp); });
            } else {
                auto* c = static_cast<Connection*>(ptr);
                std::uint32_t ev = events[i].events;
                Guarded(c, [&] { OnEvent(c, ev); });
            }
        }
        if (unwoken != 0) {
            // One wake-up for what this turn queued, after the turn: a worker woken for each would, on a busy core,
            // preempt the loop once per request.
            server->pool->Wake(std::exchange(unwoken, 0));
        }
        FlushAccessLog();
        for (Connection* c : graveyard) delete c;
        graveyard.clear();
    }
    FlushAccessLog();
    for (Connection* c : graveyard) delete c;
    graveyard.clear();
}

void Loop::OnCompletion(Completion& comp) {
    Connection* c = comp.conn;
    c->pool_busy = false;
    if (c->dead) {
        c->state = Connection::State::kHead;
        c->stream = nullptr;
        Close(c);
        return;
    }
    if (comp.is_chunk) {
        OnChunk(c, comp);
        return;
    }
    if (c->body_error_status != 0) {
        // The streamed body broke its framing (or grew too large): the client's fault, whatever the handler said.
        int status = std::exchange(c->body_error_status, 0);
        ErrorResponse(c, status, c->body_error_message);
    } else if (c->body && c->body->timed_out()) {
        // The client stopped sending the body for body_timeout: as for a buffered body, its fault.
        ErrorResponse(c, 408,
                      "request timeout: no request body bytes came for " +
                          std::to_string(server->opts.body_timeout.count()) + " ms");
    } else {
        StartResponse(c, std::move(comp.response));
    }
    Process(c);
}

template <typename F>
void Loop::Guarded(Connection* c, F&& f) noexcept {
    // The loop boundary: no exception leaves an event loop. Whatever one event's handling throws (a bug, or memory
    // running out) costs that connection, never the process: it gets a 500 if nothing of a response was sent yet,
    // else it is closed. Logged and counted (Server::internal_errors, gale_http_internal_errors_total).
    try {
        f();
        return;
    } catch (const std::exception& e) {
        OnInternalError(c, e.what());
    } catch (...) {
        OnInternalError(c, "non-standard exception");
    }
}

void Loop::OnInternalError(Connection* c, const char* what) noexcept {
    server->internal_errors.fetch_add(1, std::memory_order_relaxed);
    try {
        log::Error(kLogger, "internal error handling a connection; the server goes on",
                   {{"error", what}, {"server", server->opts.name}, {"remote", c != nullptr ? c->remote : ""}});
        if (c == nullptr || c->state == Connection::State::kClosed || c->fd < 0) return;
        bool nothing_sent = c->out_pos == 0 && c->out.empty() && !c->file_response && !c->lingering &&
                            (c->state == Connection::State::kHead || c->state == Connection::State::kBody ||
                             (c->state == Connection::State::kHandler && !c->pool_busy));
        if (nothing_sent) {
            c->state = Connection::State::kHead;
            ErrorResponse(c, 500, "Internal Server Error");
        } else {
            c->stream = nullptr;
            if (!c->pool_busy) c->state = Connection::State::kHead;
            Close(c);
        }
    } catch (...) {
        if (c != nullptr && c->fd >= 0 && !c->pool_busy) {
            c->state = Connection::State::kHead;
            Close(c);
        }
    }
}

void Loop::FlushAccessLog() {
    if (access_buf.empty()) return;
    log::WriteRaw(access_buf);
    access_buf.clear();
}

void Loop::PauseAccepting(std::int64_t until_ms) {
    if (!accept_paused) epoll_ctl(epfd, EPOLL_CTL_DEL, listen_fd, nullptr);
    accept_paused = true;
    accept_paused_until = until_ms;
}

void Loop::MaybeResumeAccepting(std::int64_t now) {
    if (!accept_paused || listen_fd < 0) return;
    if (accept_paused_until != 0 ? now < accept_paused_until : server->AtConnectionLimit()) return;
    accept_paused = false;
    accept_paused_until = 0;
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.ptr = &listen_fd;
    epoll_ctl(epfd, EPOLL_CTL_ADD, listen_fd, &ev);  // level-triggered: fires at once if clients are waiting
}

void Loop::OnAccept(bool drain_backlog) {
    // drain_backlog: the listener is about to close, so take everything queued (closing would reset it), even past
    // the connection limit.
    if (listen_fd < 0) return;
    for (int i = 0; drain_backlog || i < 128; ++i) {
        if (!drain_backlog && server->AtConnectionLimit()) {
            // At the limit: leave new clients in the backlog until a connection closes (Close, Sweep), keeping the
            // descriptor reserve for the probe server.
            if (!accept_paused) {
                log::Warning(kLogger, "connection limit reached; accepting again when connections close",
                             {{"server", server->opts.name}, {"max_connections", server->opts.max_connections}});
            }
            PauseAccepting(0);
            return;
        }
        sockaddr_storage addr{};
        socklen_t len = sizeof(addr);
        int fd = accept4(listen_fd, reinterpret_cast<sockaddr*>(&addr), &len, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno == EINTR || errno == ECONNABORTED) continue;
            if (errno == EAGAIN) return;
            if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
                // Out of descriptors: stop accepting for a moment instead of spinning on a readable listener.
                log::Warning(kLogger, "accept failed; pausing accepts for 1s", {{"error", ErrnoText(errno)}});
                if (!drain_backlog) PauseAccepting(NowMs() + 1000);
                return;
            }
            log::Warning(kLogger, "accept failed", {{"error", ErrnoText(errno)}});
            return;
        }
        int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
        auto* c = new Connection();
        c->fd = fd;
        c->loop = this;
        c->slot = conns.size();
        // The first request's head is on the header deadline from the moment the connection exists: a client that
        // connects and sends nothing is a slow head, not an idle keep-alive connection.
        c->deadline_ms = NowMs() + server->opts.header_timeout.count();
        char buf[INET6_ADDRSTRLEN] = {};
        if (addr.ss_family == AF_INET) {
            inet_ntop(AF_INET, &reinterpret_cast<sockaddr_in*>(&addr)->sin_addr, buf, sizeof(buf));
        } else if (addr.ss_family == AF_INET6) {
            inet_ntop(AF_INET6, &reinterpret_cast<sockaddr_in6*>(&addr)->sin6_addr, buf, sizeof(buf));
        }
        c->remote = buf;
        conns.push_back(c);
        open.fetch_add(1, std::memory_order_relaxed);
        server->open_total.fetch_add(1, std::memory_order_relaxed);
        epoll_event ev{};
        ev.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET;
        ev.data.ptr = c;
        if (epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &ev) != 0) {
            Close(c);
            continue;
        }
    }
}

void Loop::OnEvent(Connection* c, std::uint32_t events) {
    if (c->state == Connection::State::kClosed) return;
    if ((events & (EPOLLERR | EPOLLHUP)) != 0) {
        Close(c);  // deferred (marked dead) while a pool task holds the connection
        return;
    }
    if ((events & (EPOLLIN | EPOLLRDHUP)) != 0) c->readable = true;
    if ((events & EPOLLRDHUP) != 0) c->rdhup = true;
    if (c->lingering) {
        Linger(c);
        return;
    }
    if (c->body && !c->body_done && (events & (EPOLLIN | EPOLLRDHUP)) != 0) FeedBody(c);
    if ((events & EPOLLOUT) != 0 && (c->out_pos < c->out.size() || c->file_response)) {
        if (!Flush(c)) return;
    }
    if (c->state == Connection::State::kStreaming) {
        if (!c->pool_busy && c->out.size() - c->out_pos <= kMaxOutputBeforePause) PullStream(c);
        return;
    }
    Process(c);
}

bool Loop::ReadInto(Connection* c) {
    // Read until the socket is drained, bounded so one connection cannot monopolise the loop or the memory.
    // A short read means the receive queue was empty at that moment; with edge-triggered epoll any later data
    // brings a new EPOLLIN, so until then we skip the read() that would only return EAGAIN (as nginx does): one
    // syscall less per request.
    if (!c->readable) return true;
    const std::size_t cap = server->limits.max_head_bytes + 2 * kReadChunk;
    for (int round = 0; round < 4; ++round) {
        if (c->in.size() >= cap) return true;
        ssize_t n = ::read(c->fd, scratch.data(), scratch.size());
        if (n > 0) {
            c->in.append(scratch.data(), static_cast<std::size_t>(n));
            if (static_cast<std::size_t>(n) < scratch.size()) {
                if (!c->rdhup) c->readable = false;  // else the next read() returns the FIN's 0
                return true;
            }
            continue;
        }
        if (n == 0) {
            c->peer_closed = true;
            return true;
        }
        if (errno == EINTR) continue;
        if (errno == EAGAIN) {
            c->readable = false;
            return true;
        }
        c->peer_closed = true;
        c->dead = true;
        return true;
    }
    return true;
}

void Loop::Process(Connection* c) {
    detail::ServerImpl& s = *server;
    while (c->state != Connection::State::kClosed) {
        if (c->state == Connection::State::kHandler || c->state == Connection::State::kStreaming) return;
        if (c->out.size() - c->out_pos > kMaxOutputBeforePause || c->file_response) {
            if (!Flush(c)) return;
            if (c->out.size() - c->out_pos > kMaxOutputBeforePause || c->file_response) return;
        }
        if (c->close_after_write) {
            if (c->out_pos == c->out.size() && !c->file_response) Linger(c);
            return;
        }

        if (c->state == Connection::State::kHead) {
            if (!c->in.empty()) {
                ParseStatus st = ParseRequestHead(c->in, s.limits, c->head);
                if (st == ParseStatus::kError) {
                    ErrorResponse(c, c->head.error_status, c->head.error_message);
                    continue;
                }
                if (st == ParseStatus::kComplete) {
                    Request& r = c->request;
                    detail::AdoptRequest(std::string_view(c->in.data(), c->head.head_length), c->head, r);
                    r.SetRemoteAddress(c->remote);
                    c->in.erase(0, c->head.head_length);
                    c->keep_alive = c->head.keep_alive;
                    timespec ts{};
                    clock_gettime(CLOCK_MONOTONIC, &ts);
                    c->request_start_ns = ts.tv_sec * 1'000'000'000LL + ts.tv_nsec;
                    s.in_flight.fetch_add(1, std::memory_order_relaxed);
                    RouteHead(c);
                    if (c->head.body_kind == BodyKind::kNone) {
                        Dispatch(c);
                        continue;
                    }
                    if (c->head.body_kind == BodyKind::kContentLength &&
                        c->head.content_length > s.opts.max_body_size) {
                        ErrorResponse(c, 413, "request body too large");
                        continue;
                    }
                    c->state = Connection::State::kBody;
                    c->body_expected = c->head.content_length;
                    c->chunked.Reset();
                    c->deadline_ms = NowMs() + s.opts.body_timeout.count();
                    if (c->head.expect_continue && c->in.empty()) {
                        c->out.append("HTTP/1.1 100 Continue\r\n\r\n");
                        if (!Flush(c)) return;
                    }
                    if (c->routed.route != nullptr && c->routed.route->options.stream_body) DispatchStreamingBody(c);
                    continue;
                }
            }
        } else if (c->state == Connection::State::kBody) {
            std::string& body = c->request.mutable_body();
            if (c->head.body_kind == BodyKind::kContentLength) {
                std::size_t need = c->body_expected - body.size();
                std::size_t take = std::min(need, c->in.size());
                body.append(c->in, 0, take);
                c->in.erase(0, take);
                if (body.size() == c->body_expected) {
                    Dispatch(c);
                    continue;
                }
            } else if (!c->in.empty()) {
                std::size_t used = 0;
                ParseStatus st = c->chunked.Feed(c->in, body, s.opts.max_body_size, used);
                c->in.erase(0, used);
                if (st == ParseStatus::kError) {
                    ErrorResponse(c, c->chunked.error_status(), c->chunked.error_message());
                    continue;
                }
                if (st == ParseStatus::kComplete) {
                    Dispatch(c);
                    continue;
                }
            }
        }

        // Need more input.
        if (c->peer_closed) {
            // A truncated request can't be answered; a finished one may still have output to send.
            if (c->out_pos < c->out.size() || c->file_response) {
                c->close_after_write = true;
                continue;
            }
            Close(c);
            return;
        }
        bool was_empty = c->in.empty();
        std::size_t old = c->in.size();
        ReadInto(c);
        if (c->in.size() == old && !c->peer_closed) {
            // EAGAIN: wait for the next edge.
            if (c->in.empty() && c->in.capacity() > 4096) std::string().swap(c->in);
            return;
        }
        if (was_empty && c->state == Connection::State::kHead && !c->in.empty() && !c->write_wait) {
            c->deadline_ms = NowMs() + s.opts.header_timeout.count();
        }
    }
}

void Loop::RouteHead(Connection* c) {
    // Request id: the client's if sane, else prefix (per loop) + counter.
    // Written into the request's own buffer, whose capacity survives Reset(): no allocation per request.
    Request& r = c->request;
    std::string& id_text = r.mutable_request_id();
    if (auto id = r.header("x-request-id"); id && IsSaneRequestId(*id)) {
        id_text.assign(*id);
    } else {
        id_text.clear();
        AppendHex(id_text, id_prefix, 8);
        AppendHex(id_text, ++id_counter, 12);
    }
    c->routed = detail::RouteRequest(server->router, r);
}

void Loop::Dispatch(Connection* c) {
    c->state = Connection::State::kHandler;
    c->deadline_ms = 0;
    const Route* route = std::exchange(c->routed.route, nullptr);
    if (route == nullptr) {
        StartResponse(c, std::move(c->routed.response));
        return;
    }
    if (route->options.inline_handler) {
        StartResponse(c, detail::RunHandler(*route, c->request));
        return;
    }
    SubmitHandler(c, route);
}

void Loop::DispatchStreamingBody(Connection* c) {
    c->state = Connection::State::kHandler;
    c->deadline_ms = 0;
    const Route* route = std::exchange(c->routed.route, nullptr);
    auto body = std::make_shared<detail::StreamedBody>(kBodyWindow, server->opts.body_timeout);
    body->conn = c;
    // Run by a reader that drained the window: read on, on the loop (Detach clears it before the connection goes).
    body->SetResume([this, weak = std::weak_ptr<detail::StreamedBody>(body)] {
        Post([this, weak] {
            if (auto b = weak.lock(); b && b->conn != nullptr) Guarded(b->conn, [&] { FeedBody(b->conn); });
        });
    });
    c->body = body;
    c->body_fed = 0;
    c->body_done = false;
    c->body_error_status = 0;
    c->request.SetBodyStream(std::move(body));
    SubmitHandler(c, route);
    if (c->body) FeedBody(c);
}

void Loop::SubmitHandler(Connection* c, const Route* route) {
    detail::ServerImpl& s = *server;
    c->pool_busy = true;
    bool ok = s.pool->Submit(
        [this, c, route] {
            Response res = detail::RunHandler(*route, c->request);
            {
                std::lock_guard lock(mu);
                completions.push_back(Completion{c, std::move(res)});
            }
            Wake();
        },
        /*wake=*/false);
    if (ok) ++unwoken;
    if (!ok) {
        c->pool_busy = false;
        Response res = Response::Text(503, "Service Unavailable: request queue full\n");
        res.AddHeader("Retry-After", "1");
        StartResponse(c, std::move(res));
    }
}

void Loop::FeedBody(Connection* c) {
    // Decode what has come, push it to the reader, read the socket again; until the body ends or fails, the socket
    // has nothing more (the next EPOLLIN comes here again), or the window is full (the reader resumes us).
    detail::StreamedBody* body = c->body.get();
    if (body == nullptr || c->body_done || c->fd < 0) return;
    const std::uint64_t max_body = server->opts.max_body_size;
    std::string piece;
    while (true) {
        bool complete = false;
        piece.clear();
        if (c->head.body_kind == BodyKind::kContentLength) {
            auto take = static_cast<std::size_t>(std::min<std::uint64_t>(c->body_expected - c->body_fed, c->in.size()));
            piece.assign(c->in, 0, take);
            c->in.erase(0, take);
            c->body_fed += take;
            complete = c->body_fed == c->body_expected;
        } else if (!c->in.empty()) {
            std::size_t used = 0;
            ParseStatus st = c->chunked.Feed(c->in, piece, max_body - std::min(max_body, c->body_fed), used);
            c->in.erase(0, used);
            c->body_fed += piece.size();
            if (st == ParseStatus::kError) {
                body->Push(piece);
                c->body_error_status = c->chunked.error_status();
                c->body_error_message = c->chunked.error_message();
                body->Fail(Error(ErrorCode::kInvalidArgument, c->body_error_message));
                c->body_done = true;
                c->in.clear();
                return;
            }
            complete = st == ParseStatus::kComplete;
        }
        bool full = body->Push(piece);
        if (complete) {
            body->End();
            c->body_done = true;
            return;
        }
        if (full) return;
        if (c->peer_closed) {
            body->Fail(Error(ErrorCode::kCancelled, "the client closed the connection before the body ended"));
            c->body_done = true;
            return;
        }
        std::size_t old = c->in.size();
        ReadInto(c);
        if (c->in.size() == old && !c->peer_closed) return;
    }
}

void Loop::DetachBody(Connection* c, std::string_view why) {
    if (!c->body) return;
    c->body->Detach(why);
    c->body.reset();
}

void Loop::StartResponse(Connection* c, Response res) {
    detail::ServerImpl& s = *server;
    const Request& r = c->request;
    if (s.draining.load(std::memory_order_relaxed)) c->keep_alive = false;
    // A streamed body not read to its end: what follows on the connection is not a request head.
    if (c->body && !c->body_done) c->keep_alive = false;
    int status = res.status();
    if (status == 400 || status == 413 || status == 414 || status == 431 || status == 408 || status == 505 ||
        status == 501) {
        // Framing may be broken; don't reuse the connection after these.
        if (c->state != Connection::State::kHandler) c->keep_alive = false;
    }
    std::string& o = c->out;
    if (c->out_pos == o.size()) {
        o.clear();
        c->out_pos = 0;
    }
    detail::Framing f = detail::AppendResponseHead(o, r, res,
                                                   {.date = std::string_view(date, date_len),
                                                    .server_name = s.opts.server_header,
                                                    .default_headers = &s.opts.default_headers,
                                                    .keep_alive = c->keep_alive});
    c->keep_alive = f.keep_alive;
    std::uint64_t body_bytes = 0;
    if (f.stream) {
        c->stream = res.TakeStream();
        c->stream_chunked = f.chunked;
        c->stream_status = f.status;
        c->stream_bytes = 0;
        c->state = Connection::State::kStreaming;
        c->deadline_ms = 0;
        Flush(c);
        if (c->state == Connection::State::kStreaming) PullStream(c);
        return;
    }
    if (f.body) {
        if (res.file()) {
            body_bytes = res.file()->length;
            c->file_sent = 0;
            c->file_response.emplace(std::move(res));
        } else {
            o.append(res.body());
            body_bytes = res.body().size();
        }
    }
    if (!c->keep_alive) c->close_after_write = true;
    FinishRequest(c, f.status, body_bytes);
    DetachBody(c, "the response was complete before the request body was read");
    c->state = Connection::State::kHead;
    ArmWaitForNextRequest(c);
    Flush(c);
}

void Loop::PullStream(Connection* c) {
    // One pull at a time, on the pool: the producer may block. Backpressure: the next pull is scheduled only when
    // the output buffer has drained below kMaxOutputBeforePause (see OnEvent).
    c->pool_busy = true;
    bool ok = server->pool->Submit(
        [this, c] {
            Completion comp{c, Response(), true, {}, false, false};
            try {
                comp.more = c->stream(comp.chunk);
            } catch (const std::exception& e) {
                comp.failed = true;
                log::Error("gale.handler", "stream producer threw; aborting the response",
                           {{"request_id", c->request.request_id()}, {"error", e.what()}});
            } catch (...) {
                comp.failed = true;
                log::Error("gale.handler", "stream producer threw; aborting the response",
                           {{"request_id", c->request.request_id()}});
            }
            {
                std::lock_guard lock(mu);
                completions.push_back(std::move(comp));
            }
            Wake();
        },
        /*wake=*/false);
    if (ok) ++unwoken;
    if (!ok) {
        c->pool_busy = false;
        log::Warning(kLogger, "request queue full: aborting a streamed response",
                     {{"request_id", c->request.request_id()}});
        c->stream = nullptr;
        c->state = Connection::State::kHead;
        Close(c);
    }
}

void Loop::OnChunk(Connection* c, Completion& comp) {
    if (comp.failed) {
        c->stream = nullptr;
        FinishRequest(c, 500, c->stream_bytes);
        DetachBody(c, "the response failed before the request body was read");
        c->state = Connection::State::kHead;
        Close(c);  // no terminating chunk: the client must not take a truncated body as complete
        return;
    }
    std::string& o = c->out;
    if (!comp.chunk.empty()) {
        if (c->stream_chunked) {
            char size[20];
            int n = std::snprintf(size, sizeof(size), "%zx\r\n", comp.chunk.size());
            o.append(size, static_cast<std::size_t>(n));
            o.append(comp.chunk);
            o.append("\r\n");
        } else {
            o.append(comp.chunk);
        }
        c->stream_bytes += comp.chunk.size();
    }
    if (comp.more) {
        if (!Flush(c)) return;
        if (c->out.size() - c->out_pos <= kMaxOutputBeforePause) PullStream(c);
        return;
    }
    if (c->stream_chunked) o.append("0\r\n\r\n");
    c->stream = nullptr;
    FinishRequest(c, c->stream_status, c->stream_bytes);
    if (c->body && !c->body_done) c->keep_alive = false;  // the head said keep-alive; closing is still right
    DetachBody(c, "the response was complete before the request body was read");
    c->state = Connection::State::kHead;
    if (!c->keep_alive) c->close_after_write = true;
    ArmWaitForNextRequest(c);
    if (!Flush(c)) return;
    Process(c);
}

void Loop::ArmWaitForNextRequest(Connection* c) {
    // After a response: an empty input buffer waits for the next request on the keep-alive timeout; bytes already
    // here are the start of the next head (pipelined, or split across packets) and are on the header deadline, so
    // a slow client cannot hold the connection for the keep-alive timeout by sending half a head with a request.
    const auto& o = server->opts;
    c->deadline_ms = NowMs() + (c->in.empty() ? o.keep_alive_timeout : o.header_timeout).count();
    c->write_wait = false;
}

void Loop::FinishRequest(Connection* c, int status, std::uint64_t body_bytes) {
    detail::ServerImpl& s = *server;
    timespec ts{};
    clock_gettime(CLOCK_MONOTONIC, &ts);
    std::int64_t now_ns = ts.tv_sec * 1'000'000'000LL + ts.tv_nsec;
    std::chrono::nanoseconds dur(c->request_start_ns ? now_ns - c->request_start_ns : 0);
    if (c->request_start_ns != 0) s.in_flight.fetch_sub(1, std::memory_order_relaxed);
    s.served.fetch_add(1, std::memory_order_relaxed);
    const Request& r = c->request;
    if (s.opts.access_log && log::Enabled(status >= 500 ? log::Level::kError : log::Level::kInfo)) {
        double ms = static_cast<double>(dur.count()) / 1e6;
        access_buf += log::FormatRecord(log::GetFormat(),
                                        status >= 500   ? log::Level::kError
                                        : status >= 400 ? log::Level::kWarning
                                                        : log::Level::kInfo,
                                        "gale.access", "request",
                                        {{"method", r.method_name()},
                                         {"path", r.path()},
                                         {"status", status},
                                         {"duration_ms", ms},
                                         {"bytes", body_bytes},
                                         {"request_id", r.request_id()},
                                         {"remote", r.remote_address()}});
        if (access_buf.size() > 64 * 1024) FlushAccessLog();
    }
    if (s.observer) s.observer(RequestRecord{r, status, body_bytes, dur, index});
    c->request_start_ns = 0;
}

void Loop::ErrorResponse(Connection* c, int status, std::string_view message) {
    c->keep_alive = false;
    if (c->request_start_ns == 0) {
        // The request never got far enough to be counted in flight; count it now so FinishRequest balances.
        timespec ts{};
        clock_gettime(CLOCK_MONOTONIC, &ts);
        c->request_start_ns = ts.tv_sec * 1'000'000'000LL + ts.tv_nsec;
        server->in_flight.fetch_add(1, std::memory_order_relaxed);
        c->request.Reset();
        c->request.SetRemoteAddress(c->remote);
    }
    if (log::Enabled(log::Level::kDebug)) {
        log::Debug(kLogger, "rejected request", {{"status", status}, {"reason", message}, {"remote", c->remote}});
    }
    c->in.clear();
    StartResponse(c, Response::Text(status, std::string(message) + "\n"));
}

void Loop::ArmWriteDeadline(Connection* c, bool progressed) {
    // The client must take our bytes: the write deadline moves only when a write made progress, never because the
    // client sent something, so a client that trickles input while never reading cannot hold the connection.
    if (progressed || !c->write_wait) {
        c->deadline_ms = NowMs() + server->opts.write_timeout.count();
        c->write_wait = true;
    }
}

bool Loop::Flush(Connection* c) {
    bool progressed = false;
    while (c->out_pos < c->out.size()) {
        ssize_t n = ::send(c->fd, c->out.data() + c->out_pos, c->out.size() - c->out_pos, MSG_NOSIGNAL);
        if (n > 0) {
            c->out_pos += static_cast<std::size_t>(n);
            progressed = true;
            continue;
        }
        if (n < 0 && errno == EINTR) continue;
        if (n < 0 && errno == EAGAIN) {
            ArmWriteDeadline(c, progressed);
            return true;
        }
        Close(c);
        return false;
    }
    c->out.clear();
    c->out_pos = 0;
    if (c->out.capacity() > 64 * 1024) std::string().swap(c->out);
    if (c->file_response) {
        const FileBody& f = *c->file_response->file();
        while (c->file_sent < f.length) {
            off_t off = static_cast<off_t>(f.offset + c->file_sent);
            std::size_t chunk = static_cast<std::size_t>(std::min<std::uint64_t>(f.length - c->file_sent, 1 << 20));
            ssize_t n = ::sendfile(c->fd, f.fd, &off, chunk);
            if (n > 0) {
                c->file_sent += static_cast<std::uint64_t>(n);
                progressed = true;
                continue;
            }
            if (n < 0 && errno == EINTR) continue;
            if (n < 0 && errno == EAGAIN) {
                ArmWriteDeadline(c, progressed);
                return true;
            }
            // n == 0: the file shrank under us; the promised length can't be met, so the connection must go.
            Close(c);
            return false;
        }
        c->file_response.reset();
    }
    if (c->write_wait) {
        // Everything written: back to what the connection was waiting for before the socket filled up.
        c->write_wait = false;
        if (c->state == Connection::State::kHead) {
            ArmWaitForNextRequest(c);
        } else if (c->state == Connection::State::kStreaming) {
            c->deadline_ms = 0;
        } else if (c->state == Connection::State::kBody) {
            c->deadline_ms = NowMs() + server->opts.body_timeout.count();
        }
    }
    if (c->close_after_write) {
        Linger(c);
        return c->state != Connection::State::kClosed;
    }
    return true;
}

void Loop::Linger(Connection* c) {
    // Lingering close: shut our write side, then read and discard what the client still sends until it closes
    // (or 2 s pass). Closing with unread input would send a reset that can destroy our response in flight.
    if (!c->lingering) {
        c->lingering = true;
        c->in.clear();
        ::shutdown(c->fd, SHUT_WR);
        c->deadline_ms = NowMs() + 2000;
    }
    for (int i = 0; i < 64; ++i) {
        ssize_t n = ::read(c->fd, scratch.data(), scratch.size());
        if (n > 0) continue;
        if (n < 0 && errno == EINTR) continue;
        if (n < 0 && errno == EAGAIN) return;
        break;  // EOF or error
    }
    Close(c);
}

void Loop::Close(Connection* c) {
    if (c->fd < 0) return;
    DetachBody(c, "the connection closed before the request body ended");
    if (c->pool_busy) {
        c->dead = true;  // the worker still holds it; finish closing on completion
        return;
    }
    if (c->request_start_ns != 0) {
        server->in_flight.fetch_sub(1, std::memory_order_relaxed);
        c->request_start_ns = 0;
    }
    epoll_ctl(epfd, EPOLL_CTL_DEL, c->fd, nullptr);
    ::close(c->fd);
    c->fd = -1;
    c->state = Connection::State::kClosed;
    // Swap-remove from the connection list.
    Connection* last = conns.back();
    conns[c->slot] = last;
    last->slot = c->slot;
    conns.pop_back();
    open.fetch_sub(1, std::memory_order_relaxed);
    server->open_total.fetch_sub(1, std::memory_order_relaxed);
    graveyard.push_back(c);
    if (accept_paused && accept_paused_until == 0) MaybeResumeAccepting(0);
}

void Loop::Sweep(std::int64_t now) {
    MaybeResumeAccepting(now);
    for (std::size_t i = conns.size(); i-- > 0;) {
        Connection* c = conns[i];
        if (c->pool_busy || c->deadline_ms == 0 || now < c->deadline_ms) continue;
        bool idle =
            c->state == Connection::State::kHead && c->in.empty() && c->out_pos == c->out.size() && !c->file_response;
        if (idle || c->lingering || c->out_pos < c->out.size() || c->file_response || c->close_after_write) {
            Close(c);  // keep-alive expired, or the client stopped reading our response
        } else {
            // Slow client in the head or body: answer 408 and close.
            c->deadline_ms = now + server->opts.write_timeout.count();
            ErrorResponse(c, 408, "request timeout");
        }
    }
}

void Loop::CloseIdle() {
    // Called when the listeners close (after the drain delay). Slow clients must not hold the shutdown for the
    // whole graceful timeout: a request head still arriving is answered 408 now (after the drain delay, a client
    // that has not even sent its head has had its chance), a body still arriving gets at most the header timeout
    // from now. Requests already complete, and responses being written, go on.
    const auto now = NowMs();
    for (std::size_t i = conns.size(); i-- > 0;) {
        Connection* c = conns[i];
        c->keep_alive = false;
        if (c->pool_busy) continue;
        if (c->state == Connection::State::kBody) {
            c->deadline_ms = std::min(c->deadline_ms, now + server->opts.header_timeout.count());
            continue;
        }
        if (c->state == Connection::State::kHead && !c->in.empty() && c->out_pos == c->out.size() &&
            !c->file_response && !c->close_after_write) {
            Process(c);  // a complete request waiting to be parsed is served; a partial head is not
            if (c->state == Connection::State::kHead && !c->in.empty() && c->out_pos == c->out.size() &&
                !c->close_after_write) {
                ErrorResponse(c, 408, "request timeout: the server is shutting down");
            }
            continue;
        }
        if (c->state != Connection::State::kHead || !c->in.empty() || c->out_pos != c->out.size() || c->file_response) {
            continue;  // busy: it closes after its current response (Connection: close)
        }
        // Looks idle, but a request may have arrived since the last event (or the connection was just accepted
        // from the backlog): read first, and close only if nothing came. Closing with unread input would reset it.
        c->readable = true;  // check for real: a request may be in flight towards us
        ReadInto(c);
        if (c->in.empty() && !c->peer_closed) {
            Close(c);
        } else {
            Process(c);
        }
    }
}

// ---------------------------------------------------------------------------------------------------------------
// Server

Server::Server(ServerOptions options, const Router& router, Observer observer)
    : impl_(std::make_unique<detail::ServerImpl>(std::move(options), router, std::move(observer))) {}

Server::~Server() { Stop(); }

Result<void> Server::Listen() {
    detail::ServerImpl& s = *impl_;
    detail::ListenerGroup group;
    if (!s.opts.listen_fds.empty()) {
        if (s.opts.listen_fds.size() != s.opts.loops) {
            return MakeError(ErrorCode::kInvalidArgument,
                             fmt::format("{} server: {} listening sockets given for {} event loops", s.opts.name,
                                         s.opts.listen_fds.size(), s.opts.loops));
        }
        group.fds = std::exchange(s.opts.listen_fds, {});
        group.port = detail::BoundPort(group.fds.front());
    } else {
        GALE_ASSIGN_OR_RETURN(group, detail::OpenListenerGroup(s.opts.name, s.opts.bind, s.opts.port, s.opts.loops,
                                                               detail::kListenBacklog));
    }
    for (std::size_t i = 0; i < s.opts.loops; ++i) {
        auto loop = std::make_unique<Loop>();
        loop->server = &s;
        loop->index = i;
        loop->id_prefix =
            (static_cast<std::uint64_t>(::getpid()) << 8 | i) ^ static_cast<std::uint64_t>(std::time(nullptr));
        loop->listen_fd = group.fds[i];
        loop->epfd = epoll_create1(EPOLL_CLOEXEC);
        loop->wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
        epoll_event ev{};
        ev.events = EPOLLIN;
        ev.data.ptr = &loop->listen_fd;
        epoll_ctl(loop->epfd, EPOLL_CTL_ADD, loop->listen_fd, &ev);
        ev.data.ptr = &loop->wake_fd;
        epoll_ctl(loop->epfd, EPOLL_CTL_ADD, loop->wake_fd, &ev);
        s.loops.push_back(std::move(loop));
    }
    s.bound_port = group.port;
    return {};
}

std::uint16_t Server::port() const noexcept { return impl_->bound_port; }

void Server::Start() {
    detail::ServerImpl& s = *impl_;
    if (s.started) return;
    s.started = true;
    s.pool = std::make_unique<WorkerPool>(s.opts.workers, s.opts.max_queue);
    for (auto& loop : s.loops) {
        Loop* l = loop.get();
        l->last_turn_ms.store(NowMs());
        l->thread = std::thread([l] { l->Run(); });
    }
}

void Server::SetDraining() noexcept { impl_->draining.store(true); }

void Server::StopAccepting() {
    detail::ServerImpl& s = *impl_;
    s.draining.store(true);
    if (!s.started) return;
    // No connection the kernel accepted may be reset (closing a listener resets what waits in its backlog):
    //   1. every listener drops new SYNs from now on (the clients retry, and are refused once it is closed);
    //   2. a short grace lets handshakes already under way complete into the backlog;
    //   3. each loop accepts its whole backlog, then closes its listener, then closes idle keep-alive connections.
    // Synchronous: when this returns, no listening socket is open, so no new connection can land.
    bool filtered = true;
    for (auto& loop : s.loops) {
        if (loop->listen_fd >= 0) filtered = detail::RefuseNewConnections(loop->listen_fd) && filtered;
    }
    if (filtered) std::this_thread::sleep_for(kHandshakeGrace);
    std::mutex mu;
    std::condition_variable cv;
    std::size_t pending = s.loops.size();
    for (auto& loop : s.loops) {
        Loop* l = loop.get();
        l->Post([l, &mu, &cv, &pending] {
            if (l->listen_fd >= 0) {
                l->Guarded(nullptr, [l] { l->OnAccept(/*drain_backlog=*/true); });
                if (!l->accept_paused) epoll_ctl(l->epfd, EPOLL_CTL_DEL, l->listen_fd, nullptr);
                ::close(l->listen_fd);
                l->listen_fd = -1;
            }
            l->Guarded(nullptr, [l] { l->CloseIdle(); });
            std::lock_guard lock(mu);
            if (--pending == 0) cv.notify_all();
        });
    }
    std::unique_lock lock(mu);
    cv.wait(lock, [&] { return pending == 0; });
}

bool Server::WaitForIdle(std::chrono::milliseconds timeout) {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < deadline) {
        if (open_connections() == 0) return true;
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    return open_connections() == 0;
}

void Server::Stop() {
    detail::ServerImpl& s = *impl_;
    if (s.stopped) return;
    s.stopped = true;
    for (int fd : s.opts.listen_fds) ::close(fd);  // given, never adopted by Listen
    s.opts.listen_fds.clear();
    if (s.started) {
        s.stopping.store(true, std::memory_order_release);
        for (auto& loop : s.loops) {
            Loop* l = loop.get();
            l->Post([l] {
                if (l->listen_fd >= 0) {
                    ::close(l->listen_fd);
                    l->listen_fd = -1;
                }
                for (std::size_t i = l->conns.size(); i-- > 0;) {
                    Connection* c = l->conns[i];
                    l->Close(c);  // deferred while a pool task holds it
                }
            });
        }
        // Workers finish what they run; their completions close the dead connections, then each loop exits.
        s.pool->Stop();
        for (auto& loop : s.loops) {
            loop->Wake();
            if (loop->thread.joinable()) loop->thread.join();
        }
    }
    for (auto& loop : s.loops) {
        for (Connection* c : loop->conns) {
            if (c->fd >= 0) ::close(c->fd);
            delete c;
        }
        loop->conns.clear();
        for (Connection* c : loop->graveyard) delete c;
        loop->graveyard.clear();
        if (loop->listen_fd >= 0) ::close(loop->listen_fd);
        if (loop->epfd >= 0) ::close(loop->epfd);
        if (loop->wake_fd >= 0) ::close(loop->wake_fd);
        loop->listen_fd = loop->epfd = loop->wake_fd = -1;
    }
}

std::size_t Server::queue_length() const noexcept { return impl_->pool ? impl_->pool->queued() : 0; }
std::size_t Server::in_flight() const noexcept { return impl_->in_flight.load(std::memory_order_relaxed); }
std::size_t Server::open_connections() const noexcept {
    std::size_t n = 0;
    for (const auto& l : impl_->loops) n += l->open.load(std::memory_order_relaxed);
    return n;
}
std::uint64_t Server::requests_served() const noexcept { return impl_->served.load(std::memory_order_relaxed); }
std::uint64_t Server::internal_errors() const noexcept {
    return impl_->internal_errors.load(std::memory_order_relaxed);
}
std::int64_t Server::max_loop_stall_ms() const noexcept {
    std::int64_t now = NowMs();
    std::int64_t worst = 0;
    for (const auto& l : impl_->loops) {
        if (l->in_epoll_wait.load(std::memory_order_relaxed)) continue;
        worst = std::max(worst, now - l->last_turn_ms.load(std::memory_order_relaxed));
    }
    return worst;
}
const ServerOptions& Server::options() const noexcept { return impl_->opts; }

}  // namespace gale::http
