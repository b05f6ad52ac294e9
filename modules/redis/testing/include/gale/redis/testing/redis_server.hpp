// SPDX-License-Identifier: MIT
/// @file gale/redis/testing/redis_server.hpp
/// @brief A throwaway Redis server for tests: Debian's redis-server on a free loopback port, in a temp dir.
///
/// Start() makes a temp directory and runs /usr/bin/redis-server (Debian's `redis-server` package, or
/// $GALE_REDIS_SERVER) in the foreground with its own config file: `bind 127.0.0.1`, a free port, `dir` and
/// `logfile` inside that directory, `save ""` and `appendonly no` (nothing is written to disk, nothing survives a
/// restart), `protected-mode no`, no unix socket, and `requirepass` when Options::password is set. It returns once
/// the server answers PING (with AUTH), about 50 ms. Works as root (CI) and as any other user; the system's own
/// redis-server (if any) is neither used nor touched.
///
/// The server runs in its own process group. Stop() sends SIGTERM and waits, Kill() sends SIGKILL, StartAgain()
/// starts it again on the same port and directory (the data is gone: `save ""`), Restart() is Stop + StartAgain.
/// The destructor stops the server and deletes the directory: only what Start() started is ever signalled.
/// Start() fails, never skips, when redis-server is not installed (tools/install-deps.sh test).
///
/// Ownership: the object owns the process and the directory. Thread-compatible. Header-only; POSIX.
#pragma once

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <gale/base/error.hpp>
#include <gale/redis/connection.hpp>
#include <gale/redis/options.hpp>

extern char** environ;

namespace gale::redis::testing {

class RedisServer {
public:
    struct Options {
        std::string password{};  ///< requirepass when set
        std::chrono::seconds start_timeout{20};
    };

    [[nodiscard]] static Result<std::unique_ptr<RedisServer>> Start() { return Start(Options()); }
    [[nodiscard]] static Result<std::unique_ptr<RedisServer>> Start(Options options) {
        namespace fs = std::filesystem;
        std::unique_ptr<RedisServer> s(new RedisServer(std::move(options)));
        const char* env = std::getenv("GALE_REDIS_SERVER");
        s->binary_ = env != nullptr && *env != '\0' ? env : "/usr/bin/redis-server";
        if (!fs::exists(s->binary_)) {
            return MakeError(ErrorCode::kNotFound, "redis fixture: " + s->binary_ +
                                                       " not found: install Debian's redis-server "
                                                       "(tools/install-deps.sh test) or set GALE_REDIS_SERVER");
        }
        std::string templ = (fs::temp_directory_path() / "gale-redis-XXXXXX").string();
        std::vector<char> buf(templ.begin(), templ.end());
        buf.push_back('\0');
        if (::mkdtemp(buf.data()) == nullptr) return MakeError(ErrorCode::kIo, "redis fixture: mkdtemp failed");
        s->dir_ = buf.data();
        // The port is free when probed; another process could take it before the server binds, so retry.
        Result<void> started = MakeError(ErrorCode::kUnavailable, "not started");
        for (int attempt = 0; attempt < 3 && !started; ++attempt) {
            s->port_ = FreePort();
            s->WriteConfig();
            started = s->StartAgain();
        }
        GALE_RETURN_IF_ERROR(started);
        return s;
    }

    ~RedisServer() {
        if (pid_ > 0) (void)Kill();
        if (!dir_.empty()) {
            std::error_code ec;
            std::filesystem::remove_all(dir_, ec);
        }
    }
    RedisServer(const RedisServer&) = delete;
    RedisServer& operator=(const RedisServer&) = delete;

    /// Options for this server on 127.0.0.1 (db 0), with short timeouts.
    [[nodiscard]] ConnectionOptions connection_options(int db = 0) const {
        ConnectionOptions o;
        o.host = "127.0.0.1";
        o.port = port_;
        o.db = db;
        o.password = options_.password;
        o.connect_timeout = std::chrono::seconds(2);
        o.command_timeout = std::chrono::seconds(5);
        o.source = "the test server";
        return o;
    }
    /// redis://[:password@]127.0.0.1:port/db
    [[nodiscard]] std::string url(int db = 0) const {
        return "redis://" + (options_.password.empty() ? std::string() : ":" + options_.password + "@") +
               "127.0.0.1:" + std::to_string(port_) + "/" + std::to_string(db);
    }
    [[nodiscard]] int port() const noexcept { return port_; }
    [[nodiscard]] pid_t pid() const noexcept { return pid_; }
    [[nodiscard]] const std::string& dir() const noexcept { return dir_; }
    [[nodiscard]] bool running() const noexcept { return pid_ > 0; }

    /// Graceful stop: SIGTERM, then waits for the process (SIGKILL after 10 s).
    [[nodiscard]] Result<void> Stop() { return Signal(SIGTERM, std::chrono::seconds(10)); }
    /// SIGKILL to the server's process group.
    [[nodiscard]] Result<void> Kill() { return Signal(SIGKILL, std::chrono::seconds(10)); }
    /// Stop, then StartAgain.
    [[nodiscard]] Result<void> Restart() {
        GALE_RETURN_IF_ERROR(Stop());
        return StartAgain();
    }

    /// Starts the server (again) on the same port and directory; returns once it answers PING.
    [[nodiscard]] Result<void> StartAgain() {
        if (pid_ > 0) return {};
        std::vector<std::string> env;
        for (char** e = environ; *e != nullptr; ++e) env.emplace_back(*e);
        GALE_ASSIGN_OR_RETURN(pid_, Spawn({binary_, dir_ + "/redis.conf"}, env, dir_ + "/server.out"));
        return WaitReady();
    }

    /// The last `bytes` of the server's console output and log, for failure messages.
    [[nodiscard]] std::string LogTail(std::size_t bytes = 3000) const {
        std::string out;
        for (const char* name : {"/server.out", "/redis.log"}) {
            std::ifstream in(dir_ + name);
            std::stringstream ss;
            ss << in.rdbuf();
            std::string text = ss.str();
            if (text.size() > bytes) text = text.substr(text.size() - bytes);
            out += std::string("--- ") + name + "\n" + text + "\n";
        }
        return out;
    }

    /// A port no one listens on now (for "unreachable server" tests).
    static int FreePort() {
        int fd = ::socket(AF_INET, SOCK_STREAM, 0);
        sockaddr_in addr{};
        addr.sin_family = AF_INET;
        addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        socklen_t len = sizeof addr;
        int port = 0;
        if (fd >= 0 && ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0 &&
            ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0) {
            port = ntohs(addr.sin_port);
        }
        if (fd >= 0) ::close(fd);
        return port;
    }

private:
    explicit RedisServer(Options options) : options_(std::move(options)) {}

    void WriteConfig() const {
        std::ofstream conf(dir_ + "/redis.conf");
        conf << "bind 127.0.0.1\n"
             << "port " << port_ << "\n"
             << "protected-mode no\n"
             << "daemonize no\n"
             << "supervised no\n"
             << "dir " << dir_ << "\n"
             << "logfile " << dir_ << "/redis.log\n"
             << "pidfile " << dir_ << "/redis.pid\n"
             << "save \"\"\n"
             << "appendonly no\n"
             << "databases 16\n"
             << "loglevel notice\n";
        if (!options_.password.empty()) conf << "requirepass " << options_.password << "\n";
    }

    /// posix_spawn in a new process group, stdout+stderr to `out`.
    static Result<pid_t> Spawn(const std::vector<std::string>& argv, const std::vector<std::string>& env,
                               const std::string& out) {
        posix_spawn_file_actions_t fa;
        posix_spawn_file_actions_init(&fa);
        posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
        posix_spawn_file_actions_addopen(&fa, 1, out.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
        posix_spawn_file_actions_adddup2(&fa, 1, 2);
        posix_spawnattr_t attr;
        posix_spawnattr_init(&attr);
        posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETPGROUP);
        posix_spawnattr_setpgroup(&attr, 0);
        std::vector<char*> a;
        for (const auto& s : argv) a.push_back(const_cast<char*>(s.c_str()));
        a.push_back(nullptr);
        std::vector<char*> e;
        for (const auto& s : env) e.push_back(const_cast<char*>(s.c_str()));
        e.push_back(nullptr);
        pid_t pid = 0;
        const int rc = ::posix_spawn(&pid, argv[0].c_str(), &fa, &attr, a.data(), e.data());
        posix_spawn_file_actions_destroy(&fa);
        posix_spawnattr_destroy(&attr);
        if (rc != 0) return MakeError(ErrorCode::kIo, "redis fixture: cannot spawn " + argv[0]);
        return pid;
    }

    Result<void> WaitReady() {
        const auto deadline = std::chrono::steady_clock::now() + options_.start_timeout;
        std::string last = "no attempt";
        ConnectionOptions o = connection_options();
        o.connect_timeout = std::chrono::milliseconds(500);
        o.command_timeout = std::chrono::milliseconds(500);
        while (std::chrono::steady_clock::now() < deadline) {
            int status = 0;
            if (::waitpid(pid_, &status, WNOHANG) == pid_) {
                pid_ = 0;
                return MakeError(ErrorCode::kUnavailable,
                                 "redis fixture: redis-server exited during start-up:\n" + LogTail());
            }
            if (auto c = Connection::Connect(o)) {
                auto pong = (*c)->Command({"PING"});
                if (pong) return {};
                last = pong.error().ToString();
            } else {
                last = c.error().ToString();
            }
            std::this_thread::sleep_for(std::chrono::milliseconds(20));
        }
        return MakeError(ErrorCode::kTimeout, "redis fixture: no PONG within " +
                                                  std::to_string(options_.start_timeout.count()) + " s (" + last +
                                                  "):\n" + LogTail());
    }

    bool PortOpen() const {
        int fd = ::socket(AF_INET, SOCK_STREAM, 0);
        sockaddr_in addr{};
        addr.sin_family = AF_INET;
        addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        addr.sin_port = htons(static_cast<std::uint16_t>(port_));
        const bool ok = fd >= 0 && ::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0;
        if (fd >= 0) ::close(fd);
        return ok;
    }

    Result<void> Signal(int sig, std::chrono::seconds wait) {
        if (pid_ <= 0) return {};
        ::kill(-pid_, sig);
        const auto deadline = std::chrono::steady_clock::now() + wait;
        for (;;) {
            int status = 0;
            if (::waitpid(pid_, &status, WNOHANG) == pid_) break;
            if (std::chrono::steady_clock::now() > deadline) {
                ::kill(-pid_, SIGKILL);
                ::waitpid(pid_, &status, 0);
                break;
            }
            std::this_thread::sleep_for(std::chrono::milliseconds(10));
        }
        pid_ = 0;
        // Until the listener is gone, a restart on the same port would fail.
        for (int i = 0; i < 250 && PortOpen(); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(20));
        return {};
    }

    Options options_;
    std::string binary_;
    std::string dir_;
    int port_ = 0;
    pid_t pid_ = 0;
};

}  // namespace gale::redis::testing
