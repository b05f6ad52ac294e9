// SPDX-License-Identifier: MIT
//
// The example service's log pipe end to end, as a newcomer runs it from the README: `hello serve` and
// `hello consume` as real processes, in a fresh directory (so the embedded log is the default ./hello-pipe.db),
// talked to over loopback only. A state is POSTed to `serve` (a message in the log), `consume` applies it, and GET
// on `serve` reads it back; then an update, invalid input, and a graceful SIGTERM of both.
//
// Harness rules (as in serve_test.cpp): every wait has a deadline, every socket read is bounded, ports are chosen by
// the kernel (`--port 0`) and read from the "… server listening" log lines, and a child still running when its
// Process dies gets SIGKILL (and dies with the test process anyway, through PR_SET_PDEATHSIG).
#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <optional>
#include <sstream>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <gale/http/testing/raw_client.hpp>

extern char** environ;

namespace {

using namespace std::chrono_literals;
using gale::http::testing::RawClient;
using gale::http::testing::RawResponse;
using Clock = std::chrono::steady_clock;
using Json = nlohmann::json;
namespace fs = std::filesystem;

#ifndef GALE_HELLO_PATH
#error "GALE_HELLO_PATH must name the hello binary"
#endif
constexpr const char* kHello = GALE_HELLO_PATH;

/// Polls `pred` every `step` until it holds or `timeout` passes; true if it held.
template <typename Pred>
bool Eventually(Pred pred, std::chrono::milliseconds timeout, std::chrono::milliseconds step = 20ms) {
    const auto deadline = Clock::now() + timeout;
    while (true) {
        if (pred()) return true;
        if (Clock::now() >= deadline) return false;
        std::this_thread::sleep_for(step);
    }
}

std::string ReadFile(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

/// One request on a fresh connection; nullopt if the server did not answer within 5 s.
std::optional<RawResponse> Request(std::uint16_t port, std::string_view method, std::string_view path,
                                   std::string_view body = "") {
    std::string req =
        std::string(method) + " " + std::string(path) +
        " HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\nContent-Length: " + std::to_string(body.size()) +
        "\r\n\r\n" + std::string(body);
    RawClient c(port, 5000ms);
    if (!c.connected() || !c.Send(req)) return std::nullopt;
    return c.ReadResponse(method == "HEAD");
}

/// A child process running `hello ARGS…` in `dir`, with stdout and stderr in `log_path`.
class Process {
public:
    /// The environment is the test's, minus what would change hello's behaviour (GALE_*, APP_*, DATABASE_*).
    Process(const std::vector<std::string>& args, const std::string& dir, std::string log_path)
        : log_path_(std::move(log_path)) {
        std::vector<std::string> strings = {kHello};
        strings.insert(strings.end(), args.begin(), args.end());
        std::vector<std::string> env_strings;
        for (char** e = environ; e != nullptr && *e != nullptr; ++e) {
            std::string_view kv(*e);
            if (kv.starts_with("GALE_") || kv.starts_with("APP_") || kv.starts_with("DATABASE_")) continue;
            env_strings.emplace_back(kv);
        }
        std::vector<char*> argv;
        argv.reserve(strings.size() + 1);
        for (auto& a : strings) argv.push_back(a.data());
        argv.push_back(nullptr);
        std::vector<char*> envp;
        envp.reserve(env_strings.size() + 1);
        for (auto& e : env_strings) envp.push_back(e.data());
        envp.push_back(nullptr);

        // Prepared before fork: between fork and exec only async-signal-safe calls.
        const int log_fd = ::open(log_path_.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
        const int null_fd = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
        if (log_fd < 0 || null_fd < 0) {
            ADD_FAILURE() << "cannot open " << log_path_ << " or /dev/null: " << std::strerror(errno);
            if (log_fd >= 0) ::close(log_fd);
            if (null_fd >= 0) ::close(null_fd);
            return;
        }
        const pid_t parent = ::getpid();
        pid_ = ::fork();
        if (pid_ == 0) {
            ::prctl(PR_SET_PDEATHSIG, SIGKILL);  // follows the forking thread: spawn from the test's main thread
            if (::getppid() != parent) ::_exit(127);
            sigset_t none;
            sigemptyset(&none);
            ::sigprocmask(SIG_SETMASK, &none, nullptr);
            if (::chdir(dir.c_str()) != 0) ::_exit(126);
            ::dup2(null_fd, 0);
            ::dup2(log_fd, 1);
            ::dup2(log_fd, 2);
            ::execve(argv[0], argv.data(), envp.data());
            ::_exit(127);
        }
        const int fork_errno = errno;
        ::close(log_fd);
        ::close(null_fd);
        if (pid_ < 0) ADD_FAILURE() << "fork: " << std::strerror(fork_errno);
    }

    ~Process() {
        if (pid_ > 0 && !exit_code_) {
            ::kill(pid_, SIGKILL);
            int status = 0;
            ::waitpid(pid_, &status, 0);
        }
        if (::testing::Test::HasFailure()) {
            std::string log = ReadFile(log_path_);
            if (log.size() > 6000) log = "...\n" + log.substr(log.size() - 6000);
            std::fprintf(stderr, "----- log of %s -----\n%s----- end of log -----\n", log_path_.c_str(), log.c_str());
        }
    }
    Process(const Process&) = delete;
    Process& operator=(const Process&) = delete;

    bool Started() const { return pid_ > 0; }
    void Signal(int sig) {
        if (pid_ > 0 && !exit_code_) ::kill(pid_, sig);
    }

    /// Exit code (128 + signal if killed by one), or nullopt if still running after `timeout`.
    std::optional<int> WaitExit(std::chrono::milliseconds timeout) {
        if (exit_code_ || pid_ <= 0) return exit_code_;
        const auto deadline = Clock::now() + timeout;
        while (true) {
            int status = 0;
            const pid_t r = ::waitpid(pid_, &status, WNOHANG);
            if (r == pid_) {
                exit_code_ = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
                return exit_code_;
            }
            if ((r < 0 && errno != EINTR) || Clock::now() >= deadline) return std::nullopt;
            std::this_thread::sleep_for(5ms);
        }
    }

    /// The "port" of the first JSON log line whose "message" is `message`; 0 at the deadline or if the process exits.
    std::uint16_t WaitForPort(std::string_view message, std::chrono::milliseconds timeout) {
        std::uint16_t port = 0;
        Eventually(
            [&] {
                std::istringstream in(ReadFile(log_path_));
                for (std::string line; std::getline(in, line);) {
                    if (line.empty() || line.front() != '{') continue;
                    Json j = Json::parse(line, nullptr, false);
                    if (j.is_object() && j.value("message", "") == message && j.contains("port") &&
                        j["port"].is_number_integer()) {
                        port = static_cast<std::uint16_t>(j["port"].get<int>());
                        return true;
                    }
                }
                return WaitExit(0ms).has_value();  // exited: stop waiting
            },
            timeout, 10ms);
        return port;
    }

private:
    pid_t pid_ = -1;
    std::string log_path_;
    std::optional<int> exit_code_;
};

class HelloPipeTest : public ::testing::Test {
protected:
    void SetUp() override {
        std::string tmpl = (fs::temp_directory_path() / "gale-hello-pipe-XXXXXX").string();
        ASSERT_NE(::mkdtemp(tmpl.data()), nullptr) << std::strerror(errno);
        dir_ = tmpl;
    }
    void TearDown() override {
        serve_.reset();  // kill first, then remove their files
        consume_.reset();
        std::error_code ec;
        if (!HasFailure()) fs::remove_all(dir_, ec);
    }

    /// The name in GET /states/{code}, or "" while it answers anything but 200.
    std::string StateName(const std::string& code) {
        auto r = Request(app_port_, "GET", "/states/" + code);
        if (!r || r->status != 200) return "";
        Json j = Json::parse(r->body, nullptr, false);
        return j.is_object() && j.value("code", "") == code ? j.value("name", "") : "";
    }

    std::string dir_;
    std::unique_ptr<Process> serve_;
    std::unique_ptr<Process> consume_;
    std::uint16_t app_port_ = 0;
};

TEST_F(HelloPipeTest, ServeProducesConsumeAppliesServeReadsBack) {
    // As the quick start does (the app database's readiness check wants the visits table, in both roles).
    {
        Process migrate({"migrate"}, dir_, dir_ + "/migrate.log");
        auto code = migrate.WaitExit(10s);
        ASSERT_TRUE(code) << "migrate still running after 10 s";
        ASSERT_EQ(*code, 0);
    }
    serve_ = std::make_unique<Process>(
        std::vector<std::string>{"serve", "--bind", "127.0.0.1", "--port", "0", "--drain-delay", "0s"}, dir_,
        dir_ + "/serve.log");
    ASSERT_TRUE(serve_->Started());
    app_port_ = serve_->WaitForPort("app server listening", 10s);
    ASSERT_NE(app_port_, 0) << "no 'app server listening' line with a port";

    // Produced: 202 and where the record went. Not applied yet: no consumer runs.
    auto sent = Request(app_port_, "POST", "/states/NY", "New York");
    ASSERT_TRUE(sent);
    ASSERT_EQ(sent->status, 202) << sent->body;
    EXPECT_EQ(Json::parse(sent->body, nullptr, false),
              Json({{"topic", "us-states"}, {"partition", "0"}, {"offset", "0"}}))
        << sent->body;
    auto missing = Request(app_port_, "GET", "/states/NY");
    ASSERT_TRUE(missing);
    EXPECT_EQ(missing->status, 404) << missing->body;
    EXPECT_TRUE(fs::exists(dir_ + "/hello-pipe.db")) << "the embedded log is not in the working directory";

    // Consumed: `consume` applies the message; serve reads the consumer's table.
    consume_ = std::make_unique<Process>(std::vector<std::string>{"consume", "--bind", "127.0.0.1", "--port", "0"},
                                         dir_, dir_ + "/consume.log");
    ASSERT_TRUE(consume_->Started());
    const std::uint16_t probe_port = consume_->WaitForPort("probe server listening", 10s);
    ASSERT_NE(probe_port, 0) << "no 'probe server listening' line with a port";
    ASSERT_TRUE(Eventually([&] { return StateName("NY") == "New York"; }, 10s)) << "NY was not applied";

    // An update (lower-case code accepted, stored upper-case) is applied by the running consumer.
    auto update = Request(app_port_, "POST", "/states/ny", "New York State");
    ASSERT_TRUE(update);
    ASSERT_EQ(update->status, 202) << update->body;
    ASSERT_TRUE(Eventually([&] { return StateName("NY") == "New York State"; }, 10s)) << "the update was not applied";

    // Invalid input is refused before it reaches the log: the next record's offset is 2.
    for (const auto& [path, body] :
         std::vector<std::pair<std::string, std::string>>{{"/states/N1", "Nowhere"},
                                                          {"/states/NYC", "New York City"},
                                                          {"/states/CA", ""},
                                                          {"/states/CA", "Cali\nfornia"},
                                                          {"/states/CA", "\xff\xfe"},
                                                          {"/states/CA", std::string(101, 'a')}}) {
        SCOPED_TRACE(::testing::Message() << path << " " << body);
        auto bad = Request(app_port_, "POST", path, body);
        ASSERT_TRUE(bad);
        EXPECT_EQ(bad->status, 400) << bad->body;
        EXPECT_FALSE(bad->body.empty());
    }
    auto bad_get = Request(app_port_, "GET", "/states/N1");
    ASSERT_TRUE(bad_get);
    EXPECT_EQ(bad_get->status, 400);
    auto next = Request(app_port_, "POST", "/states/CA", "California");
    ASSERT_TRUE(next);
    ASSERT_EQ(next->status, 202) << next->body;
    EXPECT_EQ(Json::parse(next->body, nullptr, false).value("offset", ""), "2") << next->body;
    ASSERT_TRUE(Eventually([&] { return StateName("CA") == "California"; }, 10s));
    EXPECT_EQ(StateName("NY"), "New York State");

    // The consumer's probes answer on its own port.
    auto ready = Request(probe_port, "GET", "/ready");
    ASSERT_TRUE(ready);
    EXPECT_EQ(ready->status, 200) << ready->body;

    // SIGTERM: both drain and exit 0.
    serve_->Signal(SIGTERM);
    consume_->Signal(SIGTERM);
    auto serve_code = serve_->WaitExit(5s);
    auto consume_code = consume_->WaitExit(5s);
    ASSERT_TRUE(serve_code) << "serve still running 5 s after SIGTERM";
    ASSERT_TRUE(consume_code) << "consume still running 5 s after SIGTERM";
    EXPECT_EQ(*serve_code, 0);
    EXPECT_EQ(*consume_code, 0);
}

}  // namespace
