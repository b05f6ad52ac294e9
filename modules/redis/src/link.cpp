// SPDX-License-Identifier: MIT
// Why not hiredis' redisContext: its blocking mode can bound a wait only with SO_RCVTIMEO, after which the context
// is unusable — fatal for a subscriber that waits "up to 1 s" for a message, and it has no connect deadline for
// AUTH/SELECT. So gale owns the socket (non-blocking, every wait a poll(2) against a deadline) and uses hiredis
// for what it is best at: the RESP reply parser (redisReader). Commands are written as RESP arrays of bulk
// strings, which is all Redis needs and binary-safe. Owning the socket also keeps TLS a contained change.
#include "link.hpp"

#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include <fmt/format.h>
#include <hiredis/hiredis.h>

namespace gale::redis::detail {
namespace {

std::string Errno(int err) { return std::strerror(err); }

int PollMs(Clock::time_point deadline) {
    const auto left = std::chrono::ceil<std::chrono::milliseconds>(deadline - Clock::now()).count();
    return static_cast<int>(std::clamp<std::int64_t>(left, 0, 1 << 30));
}

Reply Convert(const redisReply* r) {
    switch (r->type) {
        case REDIS_REPLY_STRING:
            return Reply::String(std::string(r->str, r->len));
        case REDIS_REPLY_STATUS:
            return Reply::Status(std::string(r->str, r->len));
        case REDIS_REPLY_ERROR:
            return Reply::ErrorReply(std::string(r->str, r->len));
        case REDIS_REPLY_INTEGER:
            return Reply::Integer(r->integer);
        case REDIS_REPLY_ARRAY: {
            std::vector<Reply> elements;
            elements.reserve(r->elements);
            for (std::size_t i = 0; i < r->elements; ++i) elements.push_back(Convert(r->element[i]));
            return Reply::Array(std::move(elements));
        }
        default:
            return Reply::Nil();
    }
}

// One non-blocking connect to `ai`, waited for until `deadline`; the socket, or an error text.
tl::expected<int, std::string> ConnectOne(const addrinfo* ai, Clock::time_point deadline) {
    const int fd = ::socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, ai->ai_protocol);
    if (fd < 0) return tl::unexpected("socket: " + Errno(errno));
    if (::connect(fd, ai->ai_addr, ai->ai_addrlen) != 0) {
        if (errno != EINPROGRESS) {
            const int err = errno;
            ::close(fd);
            return tl::unexpected(Errno(err));
        }
        pollfd p{fd, POLLOUT, 0};
        int n = 0;
        do {
            n = ::poll(&p, 1, PollMs(deadline));
        } while (n < 0 && errno == EINTR);
        if (n == 0) {
            ::close(fd);
            return tl::unexpected(std::string("timed out"));
        }
        int err = 0;
        socklen_t len = sizeof err;
        if (n < 0 || ::getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0 || err != 0) {
            ::close(fd);
            return tl::unexpected(Errno(err != 0 ? err : errno));
        }
    }
    const int one = 1;
    (void)::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    (void)::setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &one, sizeof one);
    return fd;
}

}  // namespace

void AppendCommand(std::string& out, const Args& args) {
    out += fmt::format("*{}\r\n", args.size());
    for (const std::string& a : args) {
        out += fmt::format("${}\r\n", a.size());
        out += a;
        out += "\r\n";
    }
}

void AppendCommand(std::string& out, std::initializer_list<std::string_view> args) {
    out += fmt::format("*{}\r\n", args.size());
    for (std::string_view a : args) {
        out += fmt::format("${}\r\n", a.size());
        out += a;
        out += "\r\n";
    }
}

std::string CommandName(std::string_view arg) {
    std::string name(arg.substr(0, 32));
    for (char& c : name) {
        if (c >= 'a' && c <= 'z') c = static_cast<char>(c - 'a' + 'A');
    }
    return name;
}

Link::Link(int fd, std::string where) : fd_(fd), where_(std::move(where)), reader_(redisReaderCreate()) {}

Link::~Link() {
    if (reader_ != nullptr) redisReaderFree(reader_);
    if (fd_ >= 0) ::close(fd_);
}

Result<std::unique_ptr<Link>> Link::Open(const ConnectionOptions& options) {
    const std::string where = Describe(options);
    const auto deadline = Clock::now() + options.connect_timeout;
    addrinfo hints{};
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    addrinfo* list = nullptr;
    // getaddrinfo has no deadline of its own: a name is resolved by the system resolver within its timeouts
    // (resolv.conf), an address literal at once.
    const std::string port = std::to_string(options.port);
    if (const int rc = ::getaddrinfo(options.host.c_str(), port.c_str(), &hints, &list); rc != 0) {
        return MakeError(ErrorCode::kUnavailable,
                         fmt::format("{}: cannot resolve '{}': {}", where, options.host, ::gai_strerror(rc)));
    }
    std::string failures;
    int fd = -1;
    for (const addrinfo* ai = list; ai != nullptr && fd < 0; ai = ai->ai_next) {
        auto one = ConnectOne(ai, deadline);
        if (one) {
            fd = *one;
        } else {
            failures += (failures.empty() ? "" : "; ") + one.error();
        }
        if (Clock::now() >= deadline) break;
    }
    ::freeaddrinfo(list);
    if (fd < 0) {
        return MakeError(ErrorCode::kUnavailable, fmt::format("{}: connect: {} (connect_timeout {} ms)", where,
                                                              failures, options.connect_timeout.count()));
    }
    std::unique_ptr<Link> link(new Link(fd, where));
    if (link->reader_ == nullptr) return MakeError(ErrorCode::kInternal, "redis: out of memory for the reader");

    // The handshake, in one write: AUTH, SELECT, CLIENT SETNAME as configured.
    std::string out;
    std::vector<std::string> names;
    if (!options.password.empty()) {
        if (options.username.empty()) {
            AppendCommand(out, {"AUTH", options.password});
        } else {
            AppendCommand(out, {"AUTH", options.username, options.password});
        }
        names.emplace_back("AUTH");
    }
    if (options.db != 0) {
        AppendCommand(out, {"SELECT", std::to_string(options.db)});
        names.emplace_back("SELECT");
    }
    if (!options.client_name.empty()) {
        AppendCommand(out, {"CLIENT", "SETNAME", options.client_name});
        names.emplace_back("CLIENT SETNAME");
    }
    if (names.empty()) return link;
    auto fail = [&](const Error& e) {
        return tl::unexpected(Error(e.code(), fmt::format("{}: handshake failed", where), e));
    };
    if (auto w = link->Write(out, deadline); !w) return fail(w.error());
    for (const std::string& name : names) {
        auto reply = link->Read(deadline);
        if (!reply) return fail(reply.error());
        if (reply->is_error()) {
            Error e = ErrorFromReply(name, reply->str);
            return MakeError(
                e.code() == ErrorCode::kUnavailable ? ErrorCode::kUnavailable : ErrorCode::kInvalidArgument,
                fmt::format("{}: {} refused{}: {}", where, name,
                            options.source.empty() ? "" : " (from " + options.source + ")", reply->str));
        }
    }
    return link;
}

Result<void> Link::Write(std::string_view bytes, Clock::time_point deadline) {
    while (!bytes.empty()) {
        const ssize_t n = ::send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL);
        if (n > 0) {
            bytes.remove_prefix(static_cast<std::size_t>(n));
            continue;
        }
        if (n < 0 && errno == EINTR) continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            pollfd p{fd_, POLLOUT, 0};
            const int r = ::poll(&p, 1, PollMs(deadline));
            if (r == 0) return MakeError(ErrorCode::kTimeout, fmt::format("{}: write timed out", where_));
            continue;
        }
        return MakeError(ErrorCode::kUnavailable,
                         fmt::format("{}: connection lost (write: {})", where_, Errno(n < 0 ? errno : EPIPE)));
    }
    return {};
}

Result<std::optional<Reply>> Link::TryRead(Clock::time_point deadline) {
    for (;;) {
        void* raw = nullptr;
        if (redisReaderGetReply(reader_, &raw) != REDIS_OK) {
            return MakeError(ErrorCode::kInternal,
                             fmt::format("{}: protocol error: {}", where_, std::string_view(reader_->errstr)));
        }
        if (raw != nullptr) {
            Reply reply = Convert(static_cast<redisReply*>(raw));
            freeReplyObject(raw);
            return std::optional<Reply>(std::move(reply));
        }
        pollfd p{fd_, POLLIN, 0};
        const int r = ::poll(&p, 1, PollMs(deadline));
        if (r < 0 && errno == EINTR) continue;
        if (r == 0) return std::optional<Reply>();
        char buf[16384];
        const ssize_t n = ::recv(fd_, buf, sizeof buf, 0);
        if (n == 0) {
            return MakeError(ErrorCode::kUnavailable,
                             fmt::format("{}: connection lost (closed by the server)", where_));
        }
        if (n < 0) {
            if (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK) continue;
            return MakeError(ErrorCode::kUnavailable,
                             fmt::format("{}: connection lost (read: {})", where_, Errno(errno)));
        }
        if (redisReaderFeed(reader_, buf, static_cast<std::size_t>(n)) != REDIS_OK) {
            return MakeError(ErrorCode::kInternal, fmt::format("{}: out of memory for a reply", where_));
        }
    }
}

Result<Reply> Link::Read(Clock::time_point deadline) {
    GALE_ASSIGN_OR_RETURN(auto reply, TryRead(deadline));
    if (!reply) return MakeError(ErrorCode::kTimeout, fmt::format("{}: no reply in time", where_));
    return std::move(*reply);
}

}  // namespace gale::redis::detail
