// SPDX-License-Identifier: MIT
// What the task benchmarks share (bench/tasks_bench.cpp, bench/tasks_redis_bench.cpp, bench/tasks_amqp_bench.cpp):
//   - the CPU time of a worker's whole process group, read from /proc (Celery's master and its pool processes; gale's
//     one process);
//   - the two workloads: bench.noop (returns None) and bench.insert (inserts its argument as one row into a SQLite
//     table, through one connection per task thread, opened on the thread's first task: gale::db's SQLite, WAL,
//     synchronous=NORMAL, foreign_keys=ON, busy timeout 5 s — the Celery side, bench/tasks_celery_sqlite.py, sets
//     the same);
//   - a gale worker process that runs until SIGTERM/SIGINT, the result lines the scripts read, and the latency loop
//     (tasks one after another, send → result).
#pragma once

#include <dirent.h>
#include <signal.h>
#include <sys/types.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iterator>
#include <map>
#include <mutex>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <gale/db/database.hpp>
#include <gale/tasks/client.hpp>
#include <gale/tasks/task.hpp>
#include <gale/tasks/worker.hpp>

namespace gale::bench {

// utime + stime of every process in process group `pgid`, in seconds (threads are counted in their process).
inline double GroupCpuSeconds(pid_t pgid) {
    const double tick = static_cast<double>(::sysconf(_SC_CLK_TCK));
    double total = 0;
    DIR* proc = ::opendir("/proc");
    if (proc == nullptr) return 0;
    while (dirent* e = ::readdir(proc)) {
        if (e->d_name[0] < '0' || e->d_name[0] > '9') continue;
        std::ifstream in(std::string("/proc/") + e->d_name + "/stat");
        std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
        const auto close = text.rfind(')');
        if (close == std::string::npos) continue;
        std::istringstream fields(text.substr(close + 2));
        std::string f[13];
        for (auto& x : f)
            fields >> x;  // state ppid pgrp session tty tpgid flags minflt cminflt majflt cmajflt utime stime
        if (std::atol(f[2].c_str()) != pgid) continue;
        total += (std::atof(f[11].c_str()) + std::atof(f[12].c_str())) / tick;
    }
    ::closedir(proc);
    return total;
}

// The workloads, by the name the scripts and the result lines use.
inline bool IsWorkload(const std::string& workload) { return workload == "noop" || workload == "insert"; }
inline std::string TaskName(const std::string& workload) { return "bench." + workload; }
// bench.noop takes nothing; bench.insert the value of its row.
inline nlohmann::json TaskArgs(const std::string& workload, long i) {
    return workload == "insert" ? nlohmann::json::array({static_cast<std::int64_t>(i)}) : nlohmann::json::array();
}

// bench.insert's table; the Celery side creates the same.
inline constexpr const char* kInsertSchema = "CREATE TABLE IF NOT EXISTS rows (id INTEGER PRIMARY KEY, n INTEGER)";

// The SQLite database of bench.insert: one gale::db connection per task thread, opened on that thread's first task
// (the map is read under a mutex once per task, which costs nothing next to the INSERT's fsync-free WAL write).
class PerThreadDatabase {
public:
    explicit PerThreadDatabase(std::string path) : path_(std::move(path)) {}

    // Creates the table (on a connection of its own, closed again).
    [[nodiscard]] Result<void> CreateTable() const {
        GALE_ASSIGN_OR_RETURN(auto setup, db::Database::Open(path_));
        return setup.ExecScript(kInsertSchema);
    }

    // The calling thread's connection. Errors: those of db::Database::Open.
    [[nodiscard]] Result<db::Database*> ForThisThread() {
        std::lock_guard lock(mu_);
        auto it = conns_.find(std::this_thread::get_id());
        if (it == conns_.end()) {
            GALE_ASSIGN_OR_RETURN(auto opened, db::Database::Open(path_));
            it = conns_.emplace(std::this_thread::get_id(), std::move(opened)).first;
        }
        return &it->second;
    }

private:
    std::string path_;
    std::mutex mu_;
    std::map<std::thread::id, db::Database> conns_;
};

// Registers bench.noop and bench.insert (into `db`, which must outlive the registry's use).
inline Result<void> AddBenchTasks(tasks::TaskRegistry& registry, PerThreadDatabase& db) {
    GALE_RETURN_IF_ERROR(
        registry.Add("bench.noop", [](tasks::TaskContext&) -> gale::Result<nlohmann::json> { return nullptr; }));
    return registry.Add("bench.insert", [&db](tasks::TaskContext& ctx) -> gale::Result<nlohmann::json> {
        GALE_ASSIGN_OR_RETURN(db::Database * conn, db.ForThisThread());
        GALE_RETURN_IF_ERROR(conn->Execute("INSERT INTO rows (n) VALUES (?)", {ctx.args().at(0).get<std::int64_t>()}));
        return nullptr;
    });
}

inline int Fail(const char* program, const std::string& what) {
    std::fprintf(stderr, "%s: %s\n", program, what.c_str());
    return 1;
}

// Blocks SIGTERM and SIGINT in the calling thread, and so in every thread it starts afterwards (call it before the
// worker's Start); ServeUntilSignal waits for them.
inline sigset_t BlockStopSignals() {
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    pthread_sigmask(SIG_BLOCK, &set, nullptr);
    return set;
}

// Starts `worker`, waits (30 s at most) until it consumes, prints "ready" (what the scripts wait for), runs until a
// signal of `set` arrives, then drains (10 s at most) and stops. Returns the process's exit status.
inline int ServeUntilSignal(const char* program, tasks::Worker& worker, const sigset_t& set) {
    if (auto started = worker.Start(); !started) return Fail(program, started.error().ToString());
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
    while (!worker.Stats().connected && std::chrono::steady_clock::now() < deadline) {
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    if (!worker.Stats().connected) return Fail(program, "the worker did not connect: " + worker.Stats().last_error);
    std::printf("ready\n");
    std::fflush(stdout);
    int sig = 0;
    sigwait(&set, &sig);
    worker.StopFetching();
    (void)worker.WaitIdle(std::chrono::steady_clock::now() + std::chrono::seconds(10));
    worker.Stop();
    return 0;
}

// The throughput line the scripts read: LABEL WORKLOAD tasks= seconds= tasks/s= cpu_s= tasks/cpu_s=.
inline void PrintThroughput(const std::string& label, const std::string& workload, long n, double seconds, double cpu) {
    std::printf("%s %s tasks=%ld seconds=%.3f tasks/s=%.0f cpu_s=%.3f tasks/cpu_s=%.0f\n", label.c_str(),
                workload.c_str(), n, seconds, static_cast<double>(n) / seconds, cpu,
                cpu > 0 ? static_cast<double>(n) / cpu : 0.0);
    std::fflush(stdout);
}

// The throughput round around `send_and_wait` (Result<void>(): sends the n tasks, returns once all n results are
// in): the wall time and the CPU time of process group `pgid` over it, printed by PrintThroughput.
template <typename SendAndWait>
int MeasureRound(const char* program, const std::string& label, const std::string& workload, long n, pid_t pgid,
                 SendAndWait&& send_and_wait) {
    const double cpu0 = GroupCpuSeconds(pgid);
    const auto t0 = std::chrono::steady_clock::now();
    if (auto done = send_and_wait(); !done) return Fail(program, done.error().ToString());
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    PrintThroughput(label, workload, n, seconds, GroupCpuSeconds(pgid) - cpu0);
    return 0;
}

// The latency round: `m` tasks of `workload` one after another, each sent with TaskClient::Send and waited for
// through the client's result backend; prints LABEL WORKLOAD latency_tasks= p50_ms= p99_ms= max_ms=. With
// `warm_up`, one bench.noop first, before the clock starts (connections, declarations, a reply queue).
inline int LatencyRound(const char* program, tasks::TaskClient& client, const std::string& label,
                        const std::string& workload, long m, bool warm_up) {
    using Clock = std::chrono::steady_clock;
    if (warm_up) {
        auto id = client.Send("bench.noop");
        if (!id || !client.Wait(*id, std::chrono::seconds(30))) return Fail(program, "the warm-up task failed");
    }
    std::vector<double> ms;
    for (long i = 0; i < m; ++i) {
        const auto t0 = Clock::now();
        auto id = client.Send(TaskName(workload), TaskArgs(workload, i));
        if (!id) return Fail(program, id.error().ToString());
        auto result = client.Wait(*id, std::chrono::seconds(30));
        if (!result) return Fail(program, result.error().ToString());
        if (result->state != tasks::TaskState::kSuccess) {
            return Fail(program, TaskName(workload) + " did not succeed: " + result->result.dump());
        }
        ms.push_back(std::chrono::duration<double, std::milli>(Clock::now() - t0).count());
    }
    if (ms.empty()) return Fail(program, "no latency tasks");
    std::sort(ms.begin(), ms.end());
    auto at = [&](double q) { return ms[std::min(ms.size() - 1, static_cast<std::size_t>(q * ms.size()))]; };
    std::printf("%s %s latency_tasks=%ld p50_ms=%.2f p99_ms=%.2f max_ms=%.2f\n", label.c_str(), workload.c_str(), m,
                at(0.50), at(0.99), ms.back());
    std::fflush(stdout);
    return 0;
}

}  // namespace gale::bench
