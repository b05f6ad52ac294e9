// SPDX-License-Identifier: MIT
//
// Exactly-once under SIGKILL: a worker process (pipe_worker.cpp) drains a topic of an EmbeddedLog into
// applied(msg_id INTEGER PRIMARY KEY, n), with Save and the offset commit in one SQLite transaction. The test kills
// it ~10 times at random points (20–150 ms after each start), alternating one-record and 16-record transactions,
// restarts it until the log is drained, and checks that every message was applied exactly once: a message applied
// twice would fail its Save on the PRIMARY KEY and be dead-lettered (the worker then exits 3), one never applied
// would be missing from the count.
#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>
#include <thread>

#include <gtest/gtest.h>

#include <gale/db/sqlite.hpp>
#include <gale/pipe/embedded_log.hpp>

#ifndef GALE_PIPE_WORKER
#error "GALE_PIPE_WORKER must name the pipe worker binary"
#endif

namespace {

using std::chrono::milliseconds;
using std::chrono::steady_clock;

constexpr int kMessages = 2000;
constexpr int kKills = 10;

pid_t StartWorker(const std::string& db, const std::string& log_path, int batch) {
    pid_t pid = ::fork();
    if (pid == 0) {
        int fd = ::open(log_path.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
        if (fd >= 0) {
            ::dup2(fd, 2);
            ::close(fd);
        }
        std::string batch_arg = std::to_string(batch);
        const char* args[] = {GALE_PIPE_WORKER, db.c_str(), "items", batch_arg.c_str(), "400", nullptr};
        ::execv(GALE_PIPE_WORKER, const_cast<char* const*>(args));
        ::_exit(127);
    }
    return pid;
}

// Waits for `pid` up to `timeout`; returns its wait status, or -1 on timeout.
int WaitFor(pid_t pid, milliseconds timeout) {
    auto until = steady_clock::now() + timeout;
    for (;;) {
        int status = 0;
        pid_t r = ::waitpid(pid, &status, WNOHANG);
        if (r == pid) return status;
        if (steady_clock::now() >= until) return -1;
        std::this_thread::sleep_for(milliseconds(2));
    }
}

std::int64_t One(gale::db::Database& db, const std::string& sql) {
    auto rows = db.Query(sql);
    EXPECT_TRUE(rows) << rows.error().ToString();
    if (!rows || rows->empty()) return -1;
    const auto* v = std::get_if<std::int64_t>(&(*rows)[0][0]);
    return v != nullptr ? *v : -1;
}

TEST(PipeCrash, EveryMessageIsAppliedExactlyOnceAcrossSigkills) {
    const auto started = steady_clock::now();
    auto dir = std::filesystem::temp_directory_path() / ("gale-pipe-crash-" + std::to_string(::getpid()));
    std::filesystem::remove_all(dir);
    std::filesystem::create_directories(dir);
    const std::string db_path = (dir / "service.db").string();
    const std::string worker_log = (dir / "worker.log").string();

    auto log = gale::pipe::EmbeddedLog::Open(db_path);
    ASSERT_TRUE(log) << log.error().ToString();
    // The service's table exists before the first worker starts, so a kill that lands before the worker got as far as
    // creating it (a loaded machine) still leaves a table to count (the worker's CREATE is IF NOT EXISTS).
    ASSERT_TRUE(
        log->database().ExecScript("CREATE TABLE IF NOT EXISTS applied (msg_id INTEGER PRIMARY KEY, n INTEGER)"));
    auto producer = log->Producer();
    ASSERT_TRUE(producer);
    for (int i = 0; i < kMessages; ++i) {
        auto md = (*producer)->Send("items", std::to_string(i % 7),
                                    R"(json:{"type":"item","version":1,"message":{"id":)" + std::to_string(i) +
                                        R"(,"n":)" + std::to_string(i * 3) + "}}");
        ASSERT_TRUE(md) << md.error().ToString();
    }

    std::mt19937 rng(std::random_device{}());
    std::uniform_int_distribution<int> delay_ms(20, 150);
    int kills_landed = 0;
    std::vector<std::int64_t> applied_at_kill;
    for (int k = 0; k < kKills; ++k) {
        pid_t pid = StartWorker(db_path, worker_log, k % 2 == 0 ? 1 : 16);
        ASSERT_GT(pid, 0);
        int status = WaitFor(pid, milliseconds(delay_ms(rng)));
        if (status == -1) {
            ASSERT_EQ(::kill(pid, SIGKILL), 0);
            status = WaitFor(pid, milliseconds(10'000));
            ASSERT_TRUE(WIFSIGNALED(status));
            ++kills_landed;
        } else {
            ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << "worker status " << status;
            break;  // drained before this kill
        }
        auto db = gale::db::Database::Open(db_path).value();
        applied_at_kill.push_back(One(db, "SELECT COUNT(*) FROM applied"));
    }
    pid_t pid = StartWorker(db_path, worker_log, 1);
    int status = WaitFor(pid, milliseconds(40'000));
    if (status == -1) ::kill(pid, SIGKILL);
    std::ifstream in(worker_log);
    std::stringstream worker_output;
    worker_output << in.rdbuf();
    ASSERT_TRUE(WIFEXITED(status)) << worker_output.str();
    EXPECT_EQ(WEXITSTATUS(status), 0) << worker_output.str();
    EXPECT_EQ(worker_output.str().find("DEAD-LETTER"), std::string::npos);
    EXPECT_EQ(worker_output.str().find("Dead-lettered"), std::string::npos);

    auto db = gale::db::Database::Open(db_path).value();
    EXPECT_EQ(One(db, "SELECT COUNT(*) FROM applied"), kMessages);
    EXPECT_EQ(One(db, "SELECT COUNT(DISTINCT msg_id) FROM applied"), kMessages);
    EXPECT_EQ(One(db, "SELECT MIN(msg_id) FROM applied"), 0);
    EXPECT_EQ(One(db, "SELECT MAX(msg_id) FROM applied"), kMessages - 1);
    EXPECT_EQ(One(db, "SELECT COUNT(*) FROM applied WHERE n != msg_id * 3"), 0);
    EXPECT_EQ(One(db, "SELECT COUNT(*) FROM gale_pipe_dead_letters"), 0);
    EXPECT_EQ(log->Lag("crash-test", "items").value(), 0);
    // The kills must have landed mid-stream for the test to mean anything.
    EXPECT_GE(kills_landed, kKills / 2);
    ASSERT_FALSE(applied_at_kill.empty());
    EXPECT_LT(applied_at_kill.front(), kMessages);
    std::string progress;
    for (auto n : applied_at_kill) progress += std::to_string(n) + " ";
    std::printf("kills landed: %d; applied after each kill: %s\n", kills_landed, progress.c_str());
    EXPECT_LT(steady_clock::now() - started, milliseconds(60'000));
    std::filesystem::remove_all(dir);
}

}  // namespace
