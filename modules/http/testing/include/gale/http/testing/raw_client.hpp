// SPDX-License-Identifier: MIT
/// @file gale/http/testing/raw_client.hpp
/// @brief A tiny blocking HTTP/1.1 client over loopback for tests: raw bytes in, parsed responses out.
///
/// Not thread-safe; one instance per thread. Every read is bounded by a timeout, so a server that hangs fails the
/// test instead of hanging it.
#pragma once

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <map>
#include <optional>
#include <string>
#include <string_view>

namespace gale::http::testing {

struct RawResponse {
    int status = 0;
    std::string head;
    std::multimap<std::string, std::string> headers;  // lower-case names
    std::string body;

    std::string header(const std::string& name) const {
        auto it = headers.find(name);
        return it == headers.end() ? std::string() : it->second;
    }
};

class RawClient {
public:
    explicit RawClient(std::uint16_t port, std::chrono::milliseconds timeout = std::chrono::milliseconds(5000))
        : timeout_(timeout) {
        fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        sockaddr_in addr{};
        addr.sin_family = AF_INET;
        addr.sin_port = htons(port);
        addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        if (::connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
            ::close(fd_);
            fd_ = -1;
        }
        int one = 1;
        if (fd_ >= 0) setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    }
    ~RawClient() {
        if (fd_ >= 0) ::close(fd_);
    }
    RawClient(const RawClient&) = delete;
    RawClient& operator=(const RawClient&) = delete;

    bool connected() const { return fd_ >= 0; }
    int fd() const { return fd_; }

    bool Send(std::string_view bytes) {
        while (!bytes.empty()) {
            ssize_t n = ::send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL);
            if (n <= 0) return false;
            bytes.remove_prefix(static_cast<std::size_t>(n));
        }
        return true;
    }

    /// Reads one response (Content-Length, chunked, or until close). nullopt on timeout or a closed connection
    /// before a complete head. `head_request` means no body follows.
    std::optional<RawResponse> ReadResponse(bool head_request = false) {
        while (true) {
            std::size_t end = buf_.find("\r\n\r\n");
            if (end != std::string::npos) {
                RawResponse r;
                r.head = buf_.substr(0, end + 2);
                r.status = std::atoi(r.head.c_str() + 9);
                std::size_t pos = r.head.find("\r\n") + 2;
                while (pos < r.head.size()) {
                    std::size_t eol = r.head.find("\r\n", pos);
                    std::string line = r.head.substr(pos, eol - pos);
                    pos = eol + 2;
                    std::size_t colon = line.find(':');
                    std::string name = line.substr(0, colon);
                    for (char& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
                    std::size_t v = colon + 1;
                    while (v < line.size() && line[v] == ' ') ++v;
                    r.headers.emplace(name, line.substr(v));
                }
                std::size_t body_start = end + 4;
                if (r.status == 100) {
                    buf_.erase(0, body_start);
                    return r;
                }
                bool no_body = head_request || r.status == 204 || r.status == 304;
                std::string cl = r.header("content-length");
                if (!no_body && r.header("transfer-encoding") == "chunked") {
                    // Decode the chunked body; any framing error is a failed read.
                    std::size_t at = body_start;
                    while (true) {
                        std::size_t eol;
                        while ((eol = buf_.find("\r\n", at)) == std::string::npos) {
                            if (!Fill()) return std::nullopt;
                        }
                        std::size_t size = std::strtoull(buf_.c_str() + at, nullptr, 16);
                        at = eol + 2;
                        if (size == 0) {
                            if (!FillTo(at + 2)) return std::nullopt;
                            if (buf_.compare(at, 2, "\r\n") != 0) return std::nullopt;
                            buf_.erase(0, at + 2);
                            return r;
                        }
                        if (!FillTo(at + size + 2)) return std::nullopt;
                        r.body.append(buf_, at, size);
                        if (buf_.compare(at + size, 2, "\r\n") != 0) return std::nullopt;
                        at += size + 2;
                    }
                }
                if (no_body) {
                    buf_.erase(0, body_start);
                    return r;
                }
                if (!cl.empty()) {
                    std::size_t n = std::strtoull(cl.c_str(), nullptr, 10);
                    if (!FillTo(body_start + n)) return std::nullopt;
                    r.body = buf_.substr(body_start, n);
                    buf_.erase(0, body_start + n);
                    return r;
                }
                // Until close.
                while (Fill()) {
                }
                r.body = buf_.substr(body_start);
                buf_.clear();
                return r;
            }
            if (!Fill()) return std::nullopt;
        }
    }

    /// True if the server closed the connection (read returns 0) within the timeout.
    bool WaitForClose() {
        while (true) {
            pollfd p{fd_, POLLIN, 0};
            if (::poll(&p, 1, static_cast<int>(timeout_.count())) <= 0) return false;
            char tmp[4096];
            ssize_t n = ::recv(fd_, tmp, sizeof(tmp), 0);
            if (n <= 0) return true;
            buf_.append(tmp, static_cast<std::size_t>(n));
        }
    }

    std::string& buffer() { return buf_; }

private:
    bool Fill() {
        pollfd p{fd_, POLLIN, 0};
        if (::poll(&p, 1, static_cast<int>(timeout_.count())) <= 0) return false;
        char tmp[16384];
        ssize_t n = ::recv(fd_, tmp, sizeof(tmp), 0);
        if (n <= 0) return false;
        buf_.append(tmp, static_cast<std::size_t>(n));
        return true;
    }
    bool FillTo(std::size_t size) {
        while (buf_.size() < size) {
            if (!Fill()) return false;
        }
        return true;
    }

    int fd_ = -1;
    std::chrono::milliseconds timeout_;
    std::string buf_;
};

/// One request on a fresh connection.
inline std::optional<RawResponse> Fetch(std::uint16_t port, std::string_view request, bool head_request = false) {
    RawClient c(port);
    if (!c.connected() || !c.Send(request)) return std::nullopt;
    return c.ReadResponse(head_request);
}

}  // namespace gale::http::testing
