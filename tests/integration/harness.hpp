// SPDX-License-Identifier: MIT
/// @file tests/integration/harness.hpp
/// @brief What the integration tests share: child processes with a log file each, bounded waits and HTTP calls.
///
/// Header-only, for tests/integration/*_test.cpp (GoogleTest, nlohmann::json and gale::http_testing linked). The
/// rules it keeps, so that a broken server fails a test instead of hanging it:
///  - every wait has a deadline, and every HTTP call is bounded (RawClient's 5 s timeout);
///  - a child dies with its Process object (SIGKILL, then reaped) and with the test process, even on a crash
///    (PR_SET_PDEATHSIG); if the test failed, the tail of the child's log is printed to stderr;
///  - a test reads the JSON log lines its children write (`{"message": "…", "port": …}`), so it learns their ports
///    from the "… server listening" records and can start servers with `--port 0`.
#pragma once

#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cctype>
#include <cerrno>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <sstream>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <gale/http/testing/raw_client.hpp>

extern char** environ;

namespace gale::testing::integration {

// ------------------------------------------------------------------------------------------------------------------
// Waiting and files

/// Polls `pred` every `step` until it holds or `timeout` passes; true if it held. Calls `pred` at least once.
template <typename Pred>
bool Eventually(Pred pred, std::chrono::milliseconds timeout,
                std::chrono::milliseconds step = std::chrono::milliseconds(20)) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (true) {
        if (pred()) return true;
        if (std::chrono::steady_clock::now() >= deadline) return false;
        std::this_thread::sleep_for(step);
    }
}

/// The whole content of `path`; "" if it cannot be read.
inline std::string ReadFile(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

// ------------------------------------------------------------------------------------------------------------------
// HTTP over loopback, one request per fresh connection. Thread-safe (each call has its own RawClient).

/// `METHOD PATH HTTP/1.1` to 127.0.0.1:`port` with `Connection: close`, then `extra_headers` (each ending in
/// "\r\n"), then `body` (with a Content-Length when it is not empty or the method is POST). nullopt if the
/// connection or the send failed, or no complete response came within 5 s.
inline std::optional<gale::http::testing::RawResponse> Request(std::uint16_t port, std::string_view method,
                                                               std::string_view path,
                                                               std::string_view extra_headers = "",
                                                               std::string_view body = "") {
    std::string req = std::string(method) + " " + std::string(path) + " HTTP/1.1\r\nHost: 127.0.0.1\r\n" +
                      "Connection: close\r\n" + std::string(extra_headers);
    if (!body.empty() || method == "POST") req += "Content-Length: " + std::to_string(body.size()) + "\r\n";
    req += "\r\n";
    req += body;
    gale::http::testing::RawClient c(port, std::chrono::milliseconds(5000));
    if (!c.connected() || !c.Send(req)) return std::nullopt;
    return c.ReadResponse(method == "HEAD");
}

/// GET `path`; as Request.
inline std::optional<gale::http::testing::RawResponse> Get(std::uint16_t port, std::string_view path,
                                                           std::string_view extra_headers = "") {
    return Request(port, "GET", path, extra_headers);
}

/// POST `body` to `path` (always with a Content-Length); as Request.
inline std::optional<gale::http::testing::RawResponse> Post(std::uint16_t port, std::string_view path,
                                                            std::string_view body,
                                                            std::string_view extra_headers = "") {
    return Request(port, "POST", path, extra_headers, body);
}

/// The status of GET `path`, or 0 if there was no response.
inline int StatusOf(std::uint16_t port, std::string_view path) {
    auto r = Get(port, path);
    return r ? r->status : 0;
}

// ------------------------------------------------------------------------------------------------------------------
// Process: a child with its own log file

/// How a Process starts its child, beyond its arguments and log file.
struct SpawnOptions {
    /// Set in the child, each replacing an inherited variable of the same name.
    std::map<std::string, std::string> env;
    /// Inherited variables whose names start with one of these are not passed on (so the runner's own settings
    /// cannot change what the test sees).
    std::vector<std::string> unset_prefixes;
    /// The child's stdin.
    std::string stdin_path = "/dev/null";
    /// The child's working directory; empty: the test's.
    std::string working_dir;
};

/// A child process started with fork + execve, its stdout and stderr appended to one log file.
///
/// Ownership: the object owns the child. Its destructor SIGKILLs and reaps a child still running, then (if the
/// current test has failed) prints the last 6000 bytes of the log to stderr; the log file itself is left to the test.
/// The child also gets SIGKILL when the thread that spawned it exits (PR_SET_PDEATHSIG follows the forking
/// *thread*), so construct Process objects on the test's main thread only.
///
/// Thread-safety: none; one thread (the test's main thread) uses a Process. Failures to start are reported with
/// ADD_FAILURE and leave started() false.
class Process {
public:
    /// Spawns `args[0]` (a path: no PATH search) with argv `args`, the test's environment as `options` edits it, the
    /// signal mask emptied and SIGPIPE back at its default. The child exits 126 if it cannot enter
    /// `options.working_dir`, and 127 if the exec fails.
    Process(std::vector<std::string> args, std::string log_path, const SpawnOptions& options = {})
        : log_path_(std::move(log_path)) {
        std::vector<std::string> env_strings;
        for (char** e = environ; e != nullptr && *e != nullptr; ++e) {
            const std::string_view kv(*e);
            if (Dropped(kv, options)) continue;
            env_strings.emplace_back(kv);
        }
        for (const auto& [k, v] : options.env) env_strings.push_back(k + "=" + v);
        std::vector<char*> argv;
        argv.reserve(args.size() + 1);
        for (auto& a : args) argv.push_back(a.data());
        argv.push_back(nullptr);
        std::vector<char*> envp;
        envp.reserve(env_strings.size() + 1);
        for (auto& e : env_strings) envp.push_back(e.data());
        envp.push_back(nullptr);
        const char* const working_dir = options.working_dir.empty() ? nullptr : options.working_dir.c_str();

        // Everything the child needs is prepared here: between fork and exec only async-signal-safe calls.
        const int in_fd = ::open(options.stdin_path.c_str(), O_RDONLY | O_CLOEXEC);
        const int log_fd = ::open(log_path_.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
        if (in_fd < 0 || log_fd < 0) {
            ADD_FAILURE() << "cannot open " << options.stdin_path << " or " << log_path_ << ": "
                          << std::strerror(errno);
            if (in_fd >= 0) ::close(in_fd);
            if (log_fd >= 0) ::close(log_fd);
            return;
        }
        const pid_t parent = ::getpid();
        pid_ = ::fork();
        if (pid_ == 0) {
            // The child dies with the test process (even on a crash or SIGKILL), so no server outlives its test.
            ::prctl(PR_SET_PDEATHSIG, SIGKILL);
            if (::getppid() != parent) ::_exit(127);  // the parent died before the prctl
            struct sigaction dfl {};
            dfl.sa_handler = SIG_DFL;
            ::sigaction(SIGPIPE, &dfl, nullptr);  // a test may ignore SIGPIPE; the child starts clean
            sigset_t none;
            sigemptyset(&none);
            ::sigprocmask(SIG_SETMASK, &none, nullptr);
            if (working_dir != nullptr && ::chdir(working_dir) != 0) ::_exit(126);
            ::dup2(in_fd, 0);
            ::dup2(log_fd, 1);
            ::dup2(log_fd, 2);
            ::execve(argv[0], argv.data(), envp.data());
            ::_exit(127);
        }
        const int fork_errno = errno;
        ::close(in_fd);
        ::close(log_fd);
        if (pid_ < 0) {
            ADD_FAILURE() << "fork: " << std::strerror(fork_errno);
            pid_ = -1;
        }
    }

    ~Process() {
        if (pid_ > 0 && !exit_code_) {
            ::kill(pid_, SIGKILL);
            int status = 0;
            ::waitpid(pid_, &status, 0);
        }
        if (::testing::Test::HasFailure()) {
            std::string log = Log();
            if (log.size() > 6000) log = "...\n" + log.substr(log.size() - 6000);
            std::fprintf(stderr, "----- log of pid %d (%s) -----\n%s----- end of log -----\n", pid_, log_path_.c_str(),
                         log.c_str());
        }
    }
    Process(const Process&) = delete;
    Process& operator=(const Process&) = delete;

    /// The child's pid; -1 if it was not started.
    pid_t pid() const { return pid_; }
    /// Whether fork succeeded (the exec may still have failed: see WaitExit's 127).
    bool started() const { return pid_ > 0; }

    /// Reaps the child: its exit code (128 + signal number if a signal killed it), or nullopt if it is still running
    /// after `timeout` (or was never started). Once reaped, returns the same code at once.
    std::optional<int> WaitExit(std::chrono::milliseconds timeout) {
        if (exit_code_ || pid_ <= 0) return exit_code_;
        const auto deadline = std::chrono::steady_clock::now() + timeout;
        while (true) {
            int status = 0;
            const pid_t r = ::waitpid(pid_, &status, WNOHANG);
            if (r == pid_) {
                exit_code_ = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
                return exit_code_;
            }
            if (r < 0 && errno != EINTR) return std::nullopt;
            if (std::chrono::steady_clock::now() >= deadline) return std::nullopt;
            std::this_thread::sleep_for(std::chrono::milliseconds(5));
        }
    }
    /// True while the child runs (reaps it if it has exited).
    bool Running() { return pid_ > 0 && !WaitExit(std::chrono::milliseconds(0)).has_value(); }
    /// Sends `sig` to a child not yet reaped; no-op otherwise.
    void Signal(int sig) {
        if (pid_ > 0 && !exit_code_) ::kill(pid_, sig);
    }

    /// Everything the child has written so far.
    std::string Log() const { return ReadFile(log_path_); }

    /// The JSON log records (lines that are JSON objects) whose "message" is `message`, in order.
    std::vector<nlohmann::json> Records(std::string_view message) const {
        std::vector<nlohmann::json> out;
        std::istringstream in(Log());
        for (std::string line; std::getline(in, line);) {
            if (line.empty() || line.front() != '{') continue;
            nlohmann::json j = nlohmann::json::parse(line, nullptr, false);
            if (j.is_discarded() || !j.is_object()) continue;
            if (j.value("message", "") == message) out.push_back(std::move(j));
        }
        return out;
    }

    /// Waits for the `nth` (1-based) record with `message`; returns it, or nullopt at the deadline or if the
    /// process exits first without having logged it.
    std::optional<nlohmann::json> WaitForRecord(std::string_view message, std::chrono::milliseconds timeout,
                                                std::size_t nth = 1) {
        const auto deadline = std::chrono::steady_clock::now() + timeout;
        while (true) {
            auto records = Records(message);
            if (records.size() >= nth) return records[nth - 1];
            if (!Running()) {
                records = Records(message);  // it may have logged just before exiting
                return records.size() >= nth ? std::optional<nlohmann::json>(records[nth - 1]) : std::nullopt;
            }
            if (std::chrono::steady_clock::now() >= deadline) return std::nullopt;
            std::this_thread::sleep_for(std::chrono::milliseconds(10));
        }
    }

    /// The integer "port" of the `nth` record with `message` (as WaitForRecord), or 0 if there is none.
    std::uint16_t WaitForPort(std::string_view message, std::chrono::milliseconds timeout, std::size_t nth = 1) {
        auto r = WaitForRecord(message, timeout, nth);
        if (!r || !r->contains("port") || !(*r)["port"].is_number_integer()) return 0;
        return static_cast<std::uint16_t>((*r)["port"].get<int>());
    }

private:
    static bool Dropped(std::string_view kv, const SpawnOptions& options) {
        for (const auto& prefix : options.unset_prefixes) {
            if (kv.starts_with(prefix)) return true;
        }
        const std::string_view name = kv.substr(0, kv.find('='));
        return options.env.count(std::string(name)) != 0;
    }

    pid_t pid_ = -1;
    std::string log_path_;
    std::optional<int> exit_code_;
};

// ------------------------------------------------------------------------------------------------------------------
// TempDirTest and ProcessTest: a test in a directory of its own, and one that runs programs there

/// A fixture base: SetUp makes a fresh directory gale-<name>-XXXXXX under the temporary directory, TearDown removes
/// it unless the test failed (then it stays for a look).
class TempDirTest : public ::testing::Test {
protected:
    explicit TempDirTest(std::string name) : name_(std::move(name)) {}

    void SetUp() override {
        std::string tmpl = (std::filesystem::temp_directory_path() / ("gale-" + name_ + "-XXXXXX")).string();
        ASSERT_NE(::mkdtemp(tmpl.data()), nullptr) << std::strerror(errno);
        dir_ = tmpl;
    }
    void TearDown() override {
        std::error_code ec;
        if (!HasFailure()) std::filesystem::remove_all(dir_, ec);
    }

    std::string dir_;

private:
    std::string name_;
};

/// A TempDirTest whose Spawn runs programs in its directory, each with its log file `procN.log` there. TearDown
/// kills what still runs (printing each child's log tail if the test failed) before the directory goes.
class ProcessTest : public TempDirTest {
protected:
    /// Inherited variables starting with one of `unset_prefixes` are not passed on to the children (the runner's
    /// own settings cannot change what they do).
    ProcessTest(std::string name, std::vector<std::string> unset_prefixes)
        : TempDirTest(std::move(name)), unset_prefixes_(std::move(unset_prefixes)) {}

    void TearDown() override {
        procs_.clear();
        TempDirTest::TearDown();
    }

    /// `args[0]` (a path) with argv `args` in dir_, the test's environment with `env` set and the unset prefixes
    /// dropped; its output goes to LogOf(its index).
    Process& Spawn(std::vector<std::string> args, std::map<std::string, std::string> env = {}) {
        SpawnOptions options;
        options.unset_prefixes = unset_prefixes_;
        options.working_dir = dir_;
        options.env = std::move(env);
        std::string log = LogPath(procs_.size());
        procs_.push_back(std::make_unique<Process>(std::move(args), log, options));
        return *procs_.back();
    }
    std::string LogPath(std::size_t index) const { return dir_ + "/proc" + std::to_string(index) + ".log"; }
    std::string LogOf(std::size_t index) const { return ReadFile(LogPath(index)); }

    std::vector<std::unique_ptr<Process>> procs_;

private:
    std::vector<std::string> unset_prefixes_;
};

// ------------------------------------------------------------------------------------------------------------------
// Load: keep-alive clients counting what they sent and what came back

/// `s` in lower case (ASCII), for comparing header values.
inline std::string Lower(std::string s) {
    for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return s;
}

struct LoadStats {
    std::atomic<int> sent{0};
    std::atomic<int> ok{0};
    std::atomic<int> reconnects{0};
    std::mutex mu;
    std::vector<std::string> failures;

    void Fail(std::string what) {
        std::lock_guard lock(mu);
        failures.push_back(std::move(what));
    }
};

/// Joins its threads when it goes out of scope, so a failed ASSERT cannot leave a joinable std::thread behind
/// (which would std::terminate the whole test binary).
class Threads {
public:
    ~Threads() { JoinAll(); }
    template <typename F>
    void Start(F f) {
        threads_.emplace_back(std::move(f));
    }
    void JoinAll() {
        for (auto& t : threads_) {
            if (t.joinable()) t.join();
        }
    }

private:
    std::vector<std::thread> threads_;
};

/// Keep-alive GET `path` in a loop; reconnects after `Connection: close`. Every request sent must get a 200.
inline void LoadLoop(std::uint16_t port, const std::atomic<bool>& stop, LoadStats& stats,
                     const std::string& path = "/") {
    std::unique_ptr<gale::http::testing::RawClient> c;
    while (!stop.load()) {
        if (!c) {
            c = std::make_unique<gale::http::testing::RawClient>(port, std::chrono::milliseconds(3000));
            if (!c->connected()) {
                stats.Fail("connect refused");
                c.reset();
                std::this_thread::sleep_for(std::chrono::milliseconds(10));
                continue;
            }
        }
        ++stats.sent;
        if (!c->Send("GET " + path + " HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")) {
            stats.Fail("send failed");
            c.reset();
            continue;
        }
        auto r = c->ReadResponse();
        if (!r) {
            stats.Fail("no response");
            c.reset();
            continue;
        }
        if (r->status != 200)
            stats.Fail("status " + std::to_string(r->status));
        else
            ++stats.ok;
        if (Lower(r->header("connection")) == "close") {
            ++stats.reconnects;
            c.reset();
        }
    }
}

}  // namespace gale::testing::integration
