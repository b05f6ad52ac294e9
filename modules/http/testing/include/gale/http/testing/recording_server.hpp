// SPDX-License-Identifier: MIT
/// @file gale/http/testing/recording_server.hpp
/// @brief A tiny blocking HTTP/1.1 server on loopback for tests: records every request, answers with canned responses.
///
/// RecordingServer is thread-safe for its observers: requests() and WaitForRequests() may be called from any thread
/// while the server thread records. The handler runs on the server thread, one request at a time. Every read on an
/// accepted connection is bounded by a timeout, so a client that hangs cannot hang the server.
#pragma once

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include <gale/base/strings.hpp>

namespace gale::http::testing {

/// A TCP socket bound to 127.0.0.1 on an ephemeral port, listening with `backlog` if it is positive; -1 on failure.
/// A bound socket that does not listen refuses connections (a dead peer whose port no one else can take meanwhile),
/// and one that listens but never accepts lets clients connect and then never answers them.
inline int BindLoopback(int backlog, int* port) {
    int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return -1;
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = 0;
    inet_pton(AF_INET, "127.0.0.1", &addr.sin_addr);
    socklen_t len = sizeof(addr);
    if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0 ||
        (backlog > 0 && ::listen(fd, backlog) != 0) ||
        ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
        ::close(fd);
        return -1;
    }
    *port = ntohs(addr.sin_port);
    return fd;
}

/// BindLoopback's socket, closed when the object goes: `LoopbackPort(0)` refuses connections, `LoopbackPort(64)`
/// accepts them into its backlog and never answers. ok() is false when the socket could not be made.
class LoopbackPort {
public:
    explicit LoopbackPort(int backlog) : fd_(BindLoopback(backlog, &port_)) {}
    ~LoopbackPort() {
        if (fd_ >= 0) ::close(fd_);
    }
    LoopbackPort(const LoopbackPort&) = delete;
    LoopbackPort& operator=(const LoopbackPort&) = delete;

    [[nodiscard]] bool ok() const noexcept { return fd_ >= 0; }
    [[nodiscard]] std::uint16_t port() const noexcept { return static_cast<std::uint16_t>(port_); }

private:
    int port_ = 0;
    int fd_;
};

struct ReceivedRequest {
    std::string method;
    std::string target;
    std::vector<std::pair<std::string, std::string>> headers;  // as sent, in order
    std::string body;
    std::chrono::steady_clock::time_point received_at;  // when the head had been read

    /// The first header named `name` (case-insensitive), nullopt if there is none.
    std::optional<std::string> Header(std::string_view name) const {
        for (const auto& [n, v] : headers) {
            if (EqualsIgnoreCase(n, name)) return v;
        }
        return std::nullopt;
    }
};

/// The `{}` initialisers let `CannedResponse{status}` compile cleanly under -Wmissing-field-initializers.
struct CannedResponse {
    int status = 200;
    std::string body{};
    std::vector<std::pair<std::string, std::string>> headers{};  // Content-Length and Connection are added
};

/// Blocking accept, a thread per connection, one request per connection, then close. Records every request;
/// answers with whatever the handler returns for the n-th request (0-based, in order of arrival), or 200 with body
/// "ok" without a handler. The handler may run on several connection threads at once, so one that holds its
/// answer back (a receiver that never answers) delays only its own connection.
class RecordingServer {
public:
    using Handler = std::function<CannedResponse(std::size_t index, const ReceivedRequest&)>;

    explicit RecordingServer(Handler handler = nullptr) : handler_(std::move(handler)) {
        listen_fd_ = BindLoopback(16, &port_);
        if (listen_fd_ >= 0) thread_ = std::thread([this] { Run(); });
    }
    ~RecordingServer() {
        stopping_ = true;
        ::shutdown(listen_fd_, SHUT_RDWR);  // wakes the blocked accept
        if (thread_.joinable()) thread_.join();
        for (auto& t : connections_) t.join();
        if (listen_fd_ >= 0) ::close(listen_fd_);
    }
    RecordingServer(const RecordingServer&) = delete;
    RecordingServer& operator=(const RecordingServer&) = delete;

    bool ok() const { return listen_fd_ >= 0; }
    std::string Url(std::string_view target) const {
        return "http://127.0.0.1:" + std::to_string(port_) + std::string(target);
    }
    std::vector<ReceivedRequest> requests() const {
        std::lock_guard lock(mu_);
        return requests_;
    }
    /// True once at least `n` requests have been recorded; false if `timeout` passes first.
    bool WaitForRequests(std::size_t n, std::chrono::milliseconds timeout) const {
        std::unique_lock lock(mu_);
        return cv_.wait_for(lock, timeout, [&] { return requests_.size() >= n; });
    }

private:
    void Run() {
        while (!stopping_) {
            int fd = ::accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
            if (fd < 0) {
                if (errno == EINTR || errno == ECONNABORTED) continue;
                return;
            }
            connections_.emplace_back([this, fd] { Serve(fd); });
        }
    }

    void Serve(int fd) {
        timeval tv{5, 0};
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
        if (auto request = ReadRequest(fd)) {
            std::size_t index = 0;
            {
                std::lock_guard lock(mu_);
                index = requests_.size();
                requests_.push_back(*request);
            }
            cv_.notify_all();
            CannedResponse response = handler_ ? handler_(index, *request) : CannedResponse{200, "ok", {}};
            std::string out = "HTTP/1.1 " + std::to_string(response.status) + " Canned\r\n";
            for (const auto& [n, v] : response.headers) out += n + ": " + v + "\r\n";
            out += "Content-Length: " + std::to_string(response.body.size()) + "\r\nConnection: close\r\n\r\n";
            out += response.body;
            for (std::size_t sent = 0; sent < out.size();) {
                ssize_t n = ::send(fd, out.data() + sent, out.size() - sent, MSG_NOSIGNAL);
                if (n <= 0) break;
                sent += static_cast<std::size_t>(n);
            }
        }
        ::close(fd);
    }

    static std::optional<ReceivedRequest> ReadRequest(int fd) {
        std::string data;
        char buf[4096];
        std::size_t head_end;
        while ((head_end = data.find("\r\n\r\n")) == std::string::npos) {
            ssize_t n = ::recv(fd, buf, sizeof(buf), 0);
            if (n <= 0) return std::nullopt;
            data.append(buf, static_cast<std::size_t>(n));
        }
        ReceivedRequest request;
        request.received_at = std::chrono::steady_clock::now();
        std::string_view head(data.data(), head_end);
        std::size_t line_end = head.find("\r\n");
        std::string_view line = head.substr(0, line_end);
        std::size_t sp1 = line.find(' ');
        std::size_t sp2 = line.rfind(' ');
        request.method = line.substr(0, sp1);
        request.target = line.substr(sp1 + 1, sp2 - sp1 - 1);
        while (line_end != std::string_view::npos) {
            head.remove_prefix(line_end + 2);
            line_end = head.find("\r\n");
            line = head.substr(0, line_end);
            std::size_t colon = line.find(':');
            std::string_view value = line.substr(colon + 1);
            while (!value.empty() && value.front() == ' ') value.remove_prefix(1);
            request.headers.emplace_back(line.substr(0, colon), value);
        }
        std::size_t length = 0;
        if (auto cl = request.Header("Content-Length")) length = std::stoul(*cl);
        request.body = data.substr(head_end + 4);
        while (request.body.size() < length) {
            ssize_t n = ::recv(fd, buf, sizeof(buf), 0);
            if (n <= 0) return std::nullopt;
            request.body.append(buf, static_cast<std::size_t>(n));
        }
        return request;
    }

    Handler handler_;
    int listen_fd_ = -1;
    int port_ = 0;
    std::atomic<bool> stopping_{false};
    std::thread thread_;
    std::vector<std::thread> connections_;  // touched by the accept thread only (and the destructor after it)
    mutable std::mutex mu_;
    mutable std::condition_variable cv_;
    std::vector<ReceivedRequest> requests_;
};

}  // namespace gale::http::testing
