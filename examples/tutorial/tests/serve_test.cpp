// SPDX-License-Identifier: MIT
// The built binary over loopback, as a client meets it: the routes as Declare registered them (methods, patterns,
// handlers), the check behind /ready, and a graceful stop on SIGTERM. NOTES_BINARY is the notes executable
// (CMakeLists.txt defines it).
#include <fcntl.h>
#include <signal.h>
#include <strings.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <stdexcept>
#include <string>
#include <thread>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <gale/db/database.hpp>
#include <gale/http/client.hpp>

#include "notes/store.hpp"
#include "temp_dir.hpp"

namespace notes {
namespace {

using Json = nlohmann::json;
using std::chrono::steady_clock;

/// `notes serve` in `dir` (so its database is dir/app.db), on ports the kernel picks; its log goes to dir/serve.log.
class Server {
public:
    explicit Server(const testing::TempDir& dir) : log_path_(dir.File("serve.log")) {
        pid_ = ::fork();
        if (pid_ == 0) {
            int log = ::open(log_path_.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
            if (log < 0 || ::chdir(dir.path().c_str()) != 0) ::_exit(127);
            ::dup2(log, STDOUT_FILENO);
            ::dup2(log, STDERR_FILENO);
            ::execl(NOTES_BINARY, NOTES_BINARY, "serve", "--port", "0", "--drain-delay", "0s", nullptr);
            ::_exit(127);
        }
    }
    ~Server() {
        if (pid_ > 0) Stop();
    }
    Server(const Server&) = delete;
    Server& operator=(const Server&) = delete;

    /// Waits until both servers logged their port (false after 30 s or if the process died).
    bool WaitForPorts() {
        for (auto deadline = steady_clock::now() + std::chrono::seconds(30); steady_clock::now() < deadline;) {
            std::ifstream log(log_path_);
            for (std::string line; std::getline(log, line);) {
                Json entry = Json::parse(line, nullptr, /*allow_exceptions=*/false);
                if (!entry.is_object() || !entry.contains("port")) continue;
                if (entry["message"] == "app server listening") port_ = entry["port"].get<int>();
                if (entry["message"] == "probe server listening") probe_port_ = entry["port"].get<int>();
            }
            if (port_ != 0 && probe_port_ != 0) return true;
            if (::waitpid(pid_, nullptr, WNOHANG) == pid_) return false;
            std::this_thread::sleep_for(std::chrono::milliseconds(20));
        }
        return false;
    }

    /// SIGTERM, then the exit status (-1 if it did not exit normally).
    int Stop() {
        ::kill(pid_, SIGTERM);
        int status = 0;
        ::waitpid(pid_, &status, 0);
        pid_ = -1;
        return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    }

    std::string Url(const std::string& path) const { return "http://127.0.0.1:" + std::to_string(port_) + path; }
    std::string ProbeUrl(const std::string& path) const {
        return "http://127.0.0.1:" + std::to_string(probe_port_) + path;
    }

private:
    std::string log_path_;
    pid_t pid_ = -1;
    int port_ = 0;
    int probe_port_ = 0;
};

gale::http::ClientResponse Send(const std::string& method, const std::string& url, const std::string& body = {}) {
    gale::http::Client client;
    auto response = client.Send({.method = method, .url = url, .body = body});
    if (!response) throw std::runtime_error(response.error().message());
    return *response;
}

std::string Header(const gale::http::ClientResponse& response, const std::string& name) {
    for (const auto& [key, value] : response.headers) {
        if (strcasecmp(key.c_str(), name.c_str()) == 0) return value;
    }
    return {};
}

TEST(Serve, TheRoutesAndTheCheckAnswerOverHttpAndSigtermStopsTheServer) {
    testing::TempDir dir;
    ASSERT_TRUE(ApplyMigrations(gale::db::Database::Open(dir.File("app.db")).value()));  // as `notes migrate`
    Server server(dir);
    ASSERT_TRUE(server.WaitForPorts()) << "see " << dir.File("serve.log");

    // Readiness passes once the database check has run (it reports "pending" before its first result).
    auto deadline = steady_clock::now() + std::chrono::seconds(10);
    while (Send("GET", server.ProbeUrl("/ready")).status != 200 && steady_clock::now() < deadline) {
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    auto ready = Send("GET", server.ProbeUrl("/ready"));
    ASSERT_EQ(ready.status, 200) << ready.body;
    EXPECT_EQ(Json::parse(ready.body)["checks"][0]["name"], "database");

    auto created = Send("POST", server.Url("/notes"), R"({"title": "Groceries", "text": "eggs, milk"})");
    EXPECT_EQ(created.status, 201) << created.body;
    ASSERT_EQ(Header(created, "Location"), "/notes/1");
    auto found = Send("GET", server.Url("/notes/1"));
    EXPECT_EQ(found.status, 200);
    EXPECT_EQ(found.body, created.body);

    EXPECT_EQ(Send("GET", server.Url("/notes/one")).status, 400);
    EXPECT_EQ(Send("GET", server.Url("/notes/2")).status, 404);
    EXPECT_EQ(Send("POST", server.Url("/notes"), "{}").status, 400);
    auto put = Send("PUT", server.Url("/notes/1"));
    EXPECT_EQ(put.status, 405);
    EXPECT_EQ(Header(put, "Allow"), "GET, HEAD");

    EXPECT_EQ(server.Stop(), 0);
}

}  // namespace
}  // namespace notes
