// SPDX-License-Identifier: MIT
/// @file gale/aws/testing/moto_server.hpp
/// @brief A real moto_server (AWS mock) for tests: started on a free loopback port as a child process in its own
///        process group, stopped (SIGTERM, then SIGKILL) when the object dies.
///
/// moto_server is looked up in $GALE_MOTO_SERVER, then PATH, then the usual pyenv/pip locations. Not thread-safe;
/// one instance per test suite is plenty (moto keeps its state in memory).
#pragma once

#include <arpa/inet.h>
#include <fcntl.h>
#include <glob.h>
#include <netinet/in.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <cstring>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <gale/http/client.hpp>

extern char** environ;

namespace gale::aws::testing {

// Everything here talks to 127.0.0.1; keep a proxy named in the environment out of the way.
[[maybe_unused]] inline const int kNoProxyForLoopback = setenv("no_proxy", "127.0.0.1", 1);

inline bool IsExecutable(const std::string& path) { return access(path.c_str(), X_OK) == 0; }

inline std::optional<std::string> FindMotoServer() {
    if (const char* explicit_path = std::getenv("GALE_MOTO_SERVER"); explicit_path && IsExecutable(explicit_path)) {
        return std::string(explicit_path);
    }
    if (const char* path = std::getenv("PATH")) {
        std::string_view rest = path;
        while (!rest.empty()) {
            const auto colon = rest.find(':');
            const std::string dir(rest.substr(0, colon));
            if (!dir.empty() && IsExecutable(dir + "/moto_server")) return dir + "/moto_server";
            if (colon == std::string_view::npos) break;
            rest.remove_prefix(colon + 1);
        }
    }
    std::vector<std::string> patterns = {"/root/.pyenv/versions/*/bin/moto_server", "/usr/local/bin/moto_server",
                                         "/root/.local/bin/moto_server"};
    if (const char* home = std::getenv("HOME")) {
        patterns.push_back(std::string(home) + "/.pyenv/versions/*/bin/moto_server");
        patterns.push_back(std::string(home) + "/.local/bin/moto_server");
    }
    for (const auto& pattern : patterns) {
        glob_t matches{};
        if (glob(pattern.c_str(), 0, nullptr, &matches) == 0) {
            for (std::size_t i = matches.gl_pathc; i > 0; --i) {  // newest Python version sorts last
                const std::string candidate = matches.gl_pathv[i - 1];
                if (IsExecutable(candidate)) {
                    globfree(&matches);
                    return candidate;
                }
            }
        }
        globfree(&matches);
    }
    return std::nullopt;
}

// A loopback port nothing listens on right now (bound with port 0, then released).
inline int FreePort() {
    const int fd = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = 0;
    if (bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
        close(fd);
        return -1;
    }
    socklen_t len = sizeof addr;
    getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
    close(fd);
    return ntohs(addr.sin_port);
}

class MotoServer {
public:
    MotoServer() {
        const auto binary = FindMotoServer();
        if (!binary) {
            problem_ =
                "moto_server not found ($GALE_MOTO_SERVER, PATH, ~/.pyenv/versions/*/bin, ~/.local/bin); "
                "install it with: pip install 'moto[server]'";
            return;
        }
        const int port = FreePort();
        url_ = "http://127.0.0.1:" + std::to_string(port);
        const std::string port_text = std::to_string(port);
        std::vector<std::string> args = {*binary, "-H", "127.0.0.1", "-p", port_text};
        std::vector<char*> argv;
        for (auto& arg : args) argv.push_back(arg.data());
        argv.push_back(nullptr);

        posix_spawn_file_actions_t actions;
        posix_spawn_file_actions_init(&actions);
        log_ = "/tmp/gale-aws-moto-" + port_text + ".log";
        const std::string& log = log_;
        posix_spawn_file_actions_addopen(&actions, STDOUT_FILENO, log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
        posix_spawn_file_actions_adddup2(&actions, STDOUT_FILENO, STDERR_FILENO);
        posix_spawnattr_t attr;
        posix_spawnattr_init(&attr);
        posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETPGROUP);
        posix_spawnattr_setpgroup(&attr, 0);  // its own group, so Stop reaches moto's children and nothing else
        const int rc = posix_spawn(&pid_, binary->c_str(), &actions, &attr, argv.data(), environ);
        posix_spawn_file_actions_destroy(&actions);
        posix_spawnattr_destroy(&attr);
        if (rc != 0) {
            pid_ = -1;
            problem_ = "could not start " + *binary + ": " + std::strerror(rc);
            return;
        }
        // Wait (bounded) until it answers; moto needs a second or two to import its backends.
        http::Client client;
        const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
        while (std::chrono::steady_clock::now() < deadline) {
            auto response = client.Send({.url = url_ + "/moto-api/", .timeout = std::chrono::milliseconds(2000)});
            if (response && response->status < 500) return;
            int status = 0;
            if (waitpid(pid_, &status, WNOHANG) == pid_) {
                pid_ = -1;
                problem_ = *binary + " exited during start-up; see " + log;
                return;
            }
            std::this_thread::sleep_for(std::chrono::milliseconds(100));
        }
        problem_ = *binary + " did not answer on " + url_ + " within 30 s; see " + log;
    }

    ~MotoServer() {
        if (problem_.empty() && !log_.empty()) unlink(log_.c_str());  // kept only when start-up failed
        if (pid_ <= 0) return;
        kill(-pid_, SIGTERM);
        for (int i = 0; i < 50; ++i) {
            if (waitpid(pid_, nullptr, WNOHANG) == pid_) return;
            std::this_thread::sleep_for(std::chrono::milliseconds(100));
        }
        kill(-pid_, SIGKILL);
        waitpid(pid_, nullptr, 0);
    }
    MotoServer(const MotoServer&) = delete;
    MotoServer& operator=(const MotoServer&) = delete;

    [[nodiscard]] const std::string& problem() const { return problem_; }
    [[nodiscard]] const std::string& url() const { return url_; }

private:
    pid_t pid_ = -1;
    std::string url_;
    std::string log_;
    std::string problem_;
};

}  // namespace gale::aws::testing
