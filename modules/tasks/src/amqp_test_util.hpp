// SPDX-License-Identifier: MIT
/// @file amqp_test_util.hpp (private)
/// @brief The RabbitMQ tests' shared pieces: one broker per test binary, unique names, and a loopback TCP proxy that
///        records what a client sends (to compare gale's frames with Celery's captured ones).
#pragma once

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include <gtest/gtest.h>

#include <gale/amqp/testing/rabbitmq_server.hpp>

namespace gale::tasks::amqp::test {

inline Result<std::unique_ptr<gale::amqp::testing::RabbitMqServer>>& SharedBrokerResult() {
    static Result<std::unique_ptr<gale::amqp::testing::RabbitMqServer>> broker =
        gale::amqp::testing::RabbitMqServer::Start();
    return broker;
}

#define GALE_TASKS_SHARED_BROKER(var)                                     \
    auto& var##_result = ::gale::tasks::amqp::test::SharedBrokerResult(); \
    ASSERT_TRUE(var##_result) << var##_result.error().ToString();         \
    ::gale::amqp::testing::RabbitMqServer* var = var##_result->get()

/// "<suite>.<test>.<suffix>", unique per test.
inline std::string Name(const std::string& suffix) {
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    return std::string(info->test_suite_name()) + "." + info->name() + "." + suffix;
}

/// Polls `pred` every 10 ms until it holds or `timeout` passes.
inline bool Eventually(const std::function<bool()>& pred,
                       std::chrono::milliseconds timeout = std::chrono::seconds(20)) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < deadline) {
        if (pred()) return true;
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    return pred();
}

/// Accepts connections on a loopback port and relays each to `upstream_port`, recording the client→server bytes
/// of all of them (in order of arrival per connection, connections one after the other). Stops at destruction.
class RecordingProxy {
public:
    explicit RecordingProxy(int upstream_port) : upstream_port_(upstream_port) {
        listen_fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
        sockaddr_in addr{};
        addr.sin_family = AF_INET;
        addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        socklen_t len = sizeof addr;
        if (::bind(listen_fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0 && ::listen(listen_fd_, 8) == 0 &&
            ::getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&addr), &len) == 0) {
            port_ = ntohs(addr.sin_port);
        }
        thread_ = std::thread([this] { Run(); });
    }
    ~RecordingProxy() {
        stop_.store(true);
        thread_.join();
        ::close(listen_fd_);
    }
    RecordingProxy(const RecordingProxy&) = delete;
    RecordingProxy& operator=(const RecordingProxy&) = delete;

    [[nodiscard]] int port() const noexcept { return port_; }
    [[nodiscard]] std::string sent() const {
        std::lock_guard lock(mu_);
        return sent_;
    }

private:
    void Run() {
        while (!stop_.load()) {
            pollfd p{listen_fd_, POLLIN, 0};
            if (::poll(&p, 1, 50) <= 0) continue;
            const int client = ::accept(listen_fd_, nullptr, nullptr);
            if (client < 0) continue;
            const int server = ::socket(AF_INET, SOCK_STREAM, 0);
            sockaddr_in addr{};
            addr.sin_family = AF_INET;
            addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
            addr.sin_port = htons(static_cast<std::uint16_t>(upstream_port_));
            if (::connect(server, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
                ::close(client);
                ::close(server);
                continue;
            }
            Relay(client, server);
            ::close(client);
            ::close(server);
        }
    }

    void Relay(int client, int server) {
        char buf[65536];
        while (!stop_.load()) {
            pollfd fds[2] = {{client, POLLIN, 0}, {server, POLLIN, 0}};
            if (::poll(fds, 2, 50) <= 0) continue;
            for (int i = 0; i < 2; ++i) {
                if ((fds[i].revents & (POLLIN | POLLHUP | POLLERR)) == 0) continue;
                const ssize_t n = ::read(fds[i].fd, buf, sizeof buf);
                if (n <= 0) return;
                if (i == 0) {
                    std::lock_guard lock(mu_);
                    sent_.append(buf, static_cast<std::size_t>(n));
                }
                const int to = i == 0 ? server : client;
                for (ssize_t off = 0; off < n;) {
                    const ssize_t w = ::write(to, buf + off, static_cast<std::size_t>(n - off));
                    if (w <= 0) return;
                    off += w;
                }
            }
        }
    }

    int upstream_port_;
    int listen_fd_ = -1;
    int port_ = 0;
    std::atomic<bool> stop_{false};
    mutable std::mutex mu_;
    std::string sent_;
    std::thread thread_;
};

}  // namespace gale::tasks::amqp::test
