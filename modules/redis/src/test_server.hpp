// SPDX-License-Identifier: MIT
// The server tests' shared pieces: one redis-server per test binary (started on first use), a fresh database per
// test, Eventually, and a loopback listener that accepts and never answers.
#pragma once

#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <thread>

#include <gtest/gtest.h>

#include <gale/redis/testing/redis_server.hpp>

namespace gale::redis::test {

inline Result<std::unique_ptr<testing::RedisServer>>& SharedServerResult() {
    static Result<std::unique_ptr<testing::RedisServer>> server = testing::RedisServer::Start();
    return server;
}
inline testing::RedisServer* SharedServer() {
    auto& r = SharedServerResult();
    return r ? r->get() : nullptr;
}
inline std::string SharedServerError() {
    auto& r = SharedServerResult();
    return r ? std::string() : r.error().ToString();
}

#define GALE_SHARED_REDIS(var)                       \
    auto* var = ::gale::redis::test::SharedServer(); \
    ASSERT_NE(var, nullptr) << ::gale::redis::test::SharedServerError()

/// Polls `pred` every 10 ms until it holds or `timeout` passes.
inline bool Eventually(const std::function<bool()>& pred,
                       std::chrono::milliseconds timeout = std::chrono::seconds(10)) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < deadline) {
        if (pred()) return true;
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    return pred();
}

/// A loopback TCP listener that the kernel accepts connections for but nobody ever reads from or answers.
class SilentListener {
public:
    SilentListener() {
        fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
        sockaddr_in addr{};
        addr.sin_family = AF_INET;
        addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        socklen_t len = sizeof addr;
        if (fd_ >= 0 && ::bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0 && ::listen(fd_, 16) == 0 &&
            ::getsockname(fd_, reinterpret_cast<sockaddr*>(&addr), &len) == 0) {
            port_ = ntohs(addr.sin_port);
        }
    }
    ~SilentListener() {
        if (fd_ >= 0) ::close(fd_);
    }
    SilentListener(const SilentListener&) = delete;
    SilentListener& operator=(const SilentListener&) = delete;
    [[nodiscard]] int port() const noexcept { return port_; }

private:
    int fd_ = -1;
    int port_ = 0;
};

using Ms = std::chrono::milliseconds;
inline Ms Since(std::chrono::steady_clock::time_point start) {
    return std::chrono::duration_cast<Ms>(std::chrono::steady_clock::now() - start);
}

}  // namespace gale::redis::test
