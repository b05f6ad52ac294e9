// SPDX-License-Identifier: MIT
// The Python Celery side of the tasks_redis interop tests: child processes in their own process group (killed by
// their destructor), interop.py, and a Celery worker (-P solo) on the test's redis-server. Every wait is bounded.
#pragma once

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <gale/redis/connection.hpp>

#include "redis_test_util.hpp"

extern char** environ;

namespace gale::tasks::redis::test {

using json = nlohmann::json;
namespace r = gale::redis;

inline std::string ReadFile(const std::string& path) {
    std::ifstream in(path);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

/// A child process in its own process group, output to a file; killed (the whole group) by the destructor.
class Child {
public:
    Child(const std::vector<std::string>& argv, const std::vector<std::string>& extra_env, std::string log)
        : log_(std::move(log)) {
        std::vector<std::string> env;
        for (char** e = environ; *e != nullptr; ++e) env.emplace_back(*e);
        env.insert(env.end(), extra_env.begin(), extra_env.end());
        posix_spawn_file_actions_t fa;
        posix_spawn_file_actions_init(&fa);
        posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
        posix_spawn_file_actions_addopen(&fa, 1, log_.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
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
        if (::posix_spawn(&pid_, argv[0].c_str(), &fa, &attr, a.data(), e.data()) != 0) pid_ = 0;
        posix_spawn_file_actions_destroy(&fa);
        posix_spawnattr_destroy(&attr);
    }
    ~Child() { Kill(SIGKILL); }
    Child(const Child&) = delete;
    Child& operator=(const Child&) = delete;

    [[nodiscard]] bool started() const { return pid_ > 0; }
    /// Waits up to `timeout` for the exit; the exit status, or -1 (then the group is killed).
    int Wait(Ms timeout) {
        const auto deadline = std::chrono::steady_clock::now() + timeout;
        while (pid_ > 0) {
            int status = 0;
            if (::waitpid(pid_, &status, WNOHANG) == pid_) {
                pid_ = 0;
                return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
            }
            if (std::chrono::steady_clock::now() > deadline) break;
            std::this_thread::sleep_for(Ms(10));
        }
        Kill(SIGKILL);
        return -1;
    }
    void Kill(int sig) {
        if (pid_ <= 0) return;
        ::kill(-pid_, sig);
        int status = 0;
        ::waitpid(pid_, &status, 0);
        pid_ = 0;
    }
    [[nodiscard]] std::string Output() const { return ReadFile(log_); }

private:
    std::string log_;
    pid_t pid_ = 0;
};

class CeleryInterop : public ::testing::Test {
protected:
    void SetUp() override {
        server_ = test::FreshServer(error_);
        ASSERT_NE(server_, nullptr) << error_;
        ASSERT_TRUE(std::filesystem::exists(GALE_CELERY_PYTHON)) << GALE_CELERY_PYTHON << " is missing";
        dir_ = server_->dir();
    }

    std::vector<std::string> Env(int visibility_timeout = 3600) const {
        return {"GALE_REDIS_URL=" + server_->url(), std::string("PYTHONPATH=") + GALE_CELERY_REDIS_DIR,
                "GALE_VISIBILITY_TIMEOUT=" + std::to_string(visibility_timeout), "PYTHONDONTWRITEBYTECODE=1"};
    }

    /// Runs interop.py `command` with `spec`; its JSON answer (a test failure, and null, on any error).
    json Python(const std::string& command, const json& spec, Ms timeout = Ms(60000)) {
        const std::string log = dir_ + "/interop-" + std::to_string(++runs_) + ".out";
        Child child({GALE_CELERY_PYTHON, std::string(GALE_CELERY_REDIS_DIR) + "/interop.py", command, spec.dump()},
                    Env(), log);
        EXPECT_TRUE(child.started());
        const int rc = child.Wait(timeout);
        const std::string out = child.Output();
        EXPECT_EQ(rc, 0) << "interop.py " << command << " failed:\n" << out;
        if (rc != 0) return nullptr;
        // The answer is the last line (Celery may warn before it).
        std::string last = out.substr(0, out.find_last_not_of('\n') + 1);
        last = last.substr(last.find_last_of('\n') == std::string::npos ? 0 : last.find_last_of('\n') + 1);
        auto parsed = json::parse(last, nullptr, false);
        EXPECT_FALSE(parsed.is_discarded()) << out;
        return parsed;
    }

    /// A Celery worker (-P solo) on the test's server; returns once it logged "ready".
    std::unique_ptr<Child> StartWorker(int visibility_timeout = 3600) {
        auto worker = std::make_unique<Child>(
            std::vector<std::string>{GALE_CELERY_PYTHON, "-m", "celery", "-A", "celery_redis_app", "worker", "-P",
                                     "solo", "-c", "1", "-n", "py1@127.0.0.1", "--without-gossip", "--without-mingle",
                                     "--without-heartbeat", "-Q", "celery", "--loglevel", "INFO"},
            Env(visibility_timeout), dir_ + "/worker.out");
        EXPECT_TRUE(worker->started());
        const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
        while (std::chrono::steady_clock::now() < deadline) {
            if (worker->Output().find(" ready.") != std::string::npos) return worker;
            std::this_thread::sleep_for(Ms(50));
        }
        ADD_FAILURE() << "the Celery worker did not become ready within 60 s:\n" << worker->Output();
        return worker;
    }

    std::unique_ptr<r::Connection> Redis() {
        auto c = r::Connection::Connect(server_->connection_options());
        EXPECT_TRUE(c) << c.error().ToString();
        return c ? std::move(*c) : nullptr;
    }

    r::testing::RedisServer* server_ = nullptr;
    std::string error_;
    std::string dir_;
    int runs_ = 0;
};

}  // namespace gale::tasks::redis::test
