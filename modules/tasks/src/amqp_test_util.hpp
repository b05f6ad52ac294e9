// SPDX-License-Identifier: MIT
/// @file amqp_test_util.hpp (private)
/// @brief The RabbitMQ tests' shared pieces: one broker per test binary, unique names, and a loopback TCP proxy that
///        records what a client sends (to compare gale's frames with Celery's captured ones).
#pragma once

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <fstream>
#include <functional>
#include <memory>
#include <mutex>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

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

/// A child process (its own process group) whose stdout is read line by line with a timeout and whose stderr goes
/// to a file; the destructor SIGKILLs the group and reaps it. For the Python Celery side of the interop tests.
class Child {
public:
    /// Runs `argv` in `cwd` with the environment plus `env` ("NAME=value").
    static Result<std::unique_ptr<Child>> Spawn(const std::vector<std::string>& argv,
                                                const std::vector<std::string>& env, const std::string& cwd,
                                                const std::string& stderr_path) {
        int out[2];
        if (::pipe2(out, O_CLOEXEC) != 0) return MakeError(ErrorCode::kIo, "pipe2 failed");
        std::unique_ptr<Child> c(new Child());
        c->stderr_path_ = stderr_path;
        posix_spawn_file_actions_t fa;
        posix_spawn_file_actions_init(&fa);
        posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
        posix_spawn_file_actions_adddup2(&fa, out[1], 1);
        posix_spawn_file_actions_addopen(&fa, 2, stderr_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
        posix_spawnattr_t attr;
        posix_spawnattr_init(&attr);
        posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETPGROUP);
        posix_spawnattr_setpgroup(&attr, 0);
        // posix_spawn has no chdir before glibc 2.29's addchdir_np, which Debian's glibc has.
        posix_spawn_file_actions_addchdir_np(&fa, cwd.c_str());
        std::vector<std::string> e;
        for (char** p = environ; *p != nullptr; ++p) e.emplace_back(*p);
        for (const auto& kv : env) e.push_back(kv);
        std::vector<char*> a, ep;
        for (const auto& x : argv) a.push_back(const_cast<char*>(x.c_str()));
        a.push_back(nullptr);
        for (const auto& x : e) ep.push_back(const_cast<char*>(x.c_str()));
        ep.push_back(nullptr);
        const int rc = ::posix_spawn(&c->pid_, argv[0].c_str(), &fa, &attr, a.data(), ep.data());
        posix_spawn_file_actions_destroy(&fa);
        posix_spawnattr_destroy(&attr);
        ::close(out[1]);
        c->out_ = out[0];
        if (rc != 0) return MakeError(ErrorCode::kIo, "cannot spawn " + argv[0]);
        return c;
    }
    ~Child() {
        if (pid_ > 0) {
            ::kill(-pid_, SIGKILL);
            ::waitpid(pid_, nullptr, 0);
        }
        if (out_ >= 0) ::close(out_);
    }

    /// The next line of stdout (without '\n'). Errors: kTimeout, or kUnavailable at end of output.
    Result<std::string> ReadLine(std::chrono::milliseconds timeout) {
        const auto deadline = std::chrono::steady_clock::now() + timeout;
        for (;;) {
            if (auto nl = buf_.find('\n'); nl != std::string::npos) {
                std::string line = buf_.substr(0, nl);
                buf_.erase(0, nl + 1);
                return line;
            }
            const auto left =
                std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
            if (left.count() <= 0)
                return MakeError(ErrorCode::kTimeout, "no line within the timeout; stderr: " + Stderr());
            pollfd p{out_, POLLIN, 0};
            if (::poll(&p, 1, static_cast<int>(left.count())) <= 0) continue;
            char chunk[4096];
            const ssize_t n = ::read(out_, chunk, sizeof chunk);
            if (n <= 0) return MakeError(ErrorCode::kUnavailable, "the child's output ended; stderr: " + Stderr());
            buf_.append(chunk, static_cast<std::size_t>(n));
        }
    }

    /// Waits until the child's stderr contains `text`.
    bool StderrContains(const std::string& text, std::chrono::milliseconds timeout) {
        return Eventually([&] { return Stderr().find(text) != std::string::npos; }, timeout);
    }

    /// Waits for the child to exit by itself; returns its exit code, or -1 if it had not exited within `timeout`
    /// (then it is killed) or died of a signal.
    int Wait(std::chrono::milliseconds timeout) {
        if (pid_ <= 0) return -1;
        int status = 0;
        const auto deadline = std::chrono::steady_clock::now() + timeout;
        while (::waitpid(pid_, &status, WNOHANG) == 0) {
            if (std::chrono::steady_clock::now() > deadline) {
                ::kill(-pid_, SIGKILL);
                ::waitpid(pid_, &status, 0);
                pid_ = 0;
                return -1;
            }
            std::this_thread::sleep_for(std::chrono::milliseconds(20));
        }
        pid_ = 0;
        return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    }

    /// SIGTERM to the group, then waits (SIGKILL after `grace`). Returns the exit status (waitpid's).
    int Terminate(std::chrono::milliseconds grace = std::chrono::seconds(20)) {
        if (pid_ <= 0) return -1;
        ::kill(-pid_, SIGTERM);
        int status = 0;
        const auto deadline = std::chrono::steady_clock::now() + grace;
        while (::waitpid(pid_, &status, WNOHANG) == 0) {
            if (std::chrono::steady_clock::now() > deadline) {
                ::kill(-pid_, SIGKILL);
                ::waitpid(pid_, &status, 0);
                break;
            }
            std::this_thread::sleep_for(std::chrono::milliseconds(20));
        }
        pid_ = 0;
        return status;
    }

    [[nodiscard]] std::string Stderr() const {
        std::ifstream in(stderr_path_);
        std::stringstream ss;
        ss << in.rdbuf();
        return ss.str();
    }

private:
    Child() = default;
    pid_t pid_ = 0;
    int out_ = -1;
    std::string buf_;
    std::string stderr_path_;
};

}  // namespace gale::tasks::amqp::test
