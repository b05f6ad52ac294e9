// SPDX-License-Identifier: MIT
/// @file receiver_fixture.hpp (private, tests)
/// @brief A Sentry stand-in over loopback: a gale http::Server that records every envelope POSTed to
///        /api/<project>/envelope/ and answers as told (200, 429 with Retry-After, X-Sentry-Rate-Limits, 500).
///        Also parses envelopes back (header line, item header with type/length, payload), checking the framing.
///
/// Thread-safety: the recording is guarded; set the answer before the requests it should apply to.
#pragma once

#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <gale/http/router.hpp>
#include <gale/http/server.hpp>

namespace gale::sentry::testing {

struct Received {
    std::string path;
    std::string auth;
    std::string content_type;
    std::string body;
};

/// The parts of an envelope with one item; the test fails (ADD_FAILURE) when the framing is wrong.
struct ParsedEnvelope {
    nlohmann::json header;
    nlohmann::json item_header;
    nlohmann::json payload;
};

inline std::optional<ParsedEnvelope> ParseEnvelope(const std::string& body) {
    std::size_t nl1 = body.find('\n');
    if (nl1 == std::string::npos) {
        ADD_FAILURE() << "no envelope header line: " << body;
        return std::nullopt;
    }
    std::size_t nl2 = body.find('\n', nl1 + 1);
    if (nl2 == std::string::npos) {
        ADD_FAILURE() << "no item header line";
        return std::nullopt;
    }
    ParsedEnvelope e;
    e.header = nlohmann::json::parse(body.substr(0, nl1), nullptr, false);
    e.item_header = nlohmann::json::parse(body.substr(nl1 + 1, nl2 - nl1 - 1), nullptr, false);
    if (e.header.is_discarded() || e.item_header.is_discarded() || !e.item_header.contains("length")) {
        ADD_FAILURE() << "envelope headers are not JSON or lack length: " << body;
        return std::nullopt;
    }
    std::size_t length = e.item_header["length"].get<std::size_t>();
    if (nl2 + 1 + length > body.size()) {
        ADD_FAILURE() << "item length " << length << " beyond the body";
        return std::nullopt;
    }
    std::string payload = body.substr(nl2 + 1, length);
    std::string rest = body.substr(nl2 + 1 + length);
    if (rest != "\n" && !rest.empty()) ADD_FAILURE() << "bytes after the item: " << rest;
    e.payload = nlohmann::json::parse(payload, nullptr, false);
    if (e.payload.is_discarded()) {
        ADD_FAILURE() << "payload is not JSON: " << payload;
        return std::nullopt;
    }
    return e;
}

class Receiver {
public:
    struct Answer {
        int status = 200;
        std::vector<std::pair<std::string, std::string>> headers;
        std::chrono::milliseconds delay{0};
    };

    Receiver() {
        (void)router_.Add(http::Method::kPost, "/{prefix...}", [this](http::Request& r) {
            Answer a;
            {
                std::lock_guard lock(mu_);
                received_.push_back({std::string(r.path()), std::string(r.header("X-Sentry-Auth").value_or("")),
                                     std::string(r.header("Content-Type").value_or("")), r.body()});
                a = answer_;
            }
            cv_.notify_all();
            if (a.delay.count() > 0) std::this_thread::sleep_for(a.delay);
            http::Response res = http::Response::Text(a.status, "{}");
            for (const auto& [k, v] : a.headers) res.AddHeader(k, v);
            return res;
        });
        http::ServerOptions o;
        o.name = "receiver";
        o.bind = "127.0.0.1";
        o.port = 0;
        o.loops = 1;
        o.workers = 2;
        o.access_log = false;
        server_ = std::make_unique<http::Server>(o, router_);
        auto listening = server_->Listen();
        EXPECT_TRUE(listening) << listening.error().ToString();
        server_->Start();
    }
    ~Receiver() { server_->Stop(); }

    std::uint16_t port() const { return server_->port(); }
    std::string Dsn(std::string_view key = "publickey", std::string_view project = "42") const {
        return "http://" + std::string(key) + "@127.0.0.1:" + std::to_string(port()) + "/" + std::string(project);
    }
    void SetAnswer(Answer a) {
        std::lock_guard lock(mu_);
        answer_ = std::move(a);
    }
    std::vector<Received> received() const {
        std::lock_guard lock(mu_);
        return received_;
    }
    /// Waits (bounded) until at least `n` envelopes arrived.
    bool WaitFor(std::size_t n, std::chrono::milliseconds timeout = std::chrono::seconds(10)) {
        std::unique_lock lock(mu_);
        return cv_.wait_for(lock, timeout, [&] { return received_.size() >= n; });
    }

private:
    http::Router router_;
    std::unique_ptr<http::Server> server_;
    mutable std::mutex mu_;
    std::condition_variable cv_;
    std::vector<Received> received_;
    Answer answer_;
};

/// A TCP port that accepts connections (the kernel completes them into the backlog) but never answers: a hung
/// Sentry.
class SilentPort {
public:
    SilentPort() {
        fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
        sockaddr_in a{};
        a.sin_family = AF_INET;
        a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        EXPECT_EQ(::bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof(a)), 0);
        EXPECT_EQ(::listen(fd_, 64), 0);
        socklen_t len = sizeof(a);
        ::getsockname(fd_, reinterpret_cast<sockaddr*>(&a), &len);
        port_ = ntohs(a.sin_port);
    }
    ~SilentPort() { ::close(fd_); }
    std::uint16_t port() const { return port_; }

private:
    int fd_ = -1;
    std::uint16_t port_ = 0;
};

/// A loopback port nobody listens on (bound, then closed).
inline std::uint16_t ClosedPort() {
    int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a));
    socklen_t len = sizeof(a);
    ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
    ::close(fd);
    return ntohs(a.sin_port);
}

}  // namespace gale::sentry::testing
