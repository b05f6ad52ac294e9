// SPDX-License-Identifier: MIT
// gale-tasks-redis-bench: the halves of the Celery-on-Redis benchmark (bench/tasks_redis.sh runs them; see
// bench/README.md, "Tasks on Redis").
//   gale-tasks-redis-bench worker URL CONCURRENCY   gale's Worker (TaskClient, Redis broker and result backend) running
//                                                   the no-op task bench.noop with CONCURRENCY threads; prints "ready"
//                                                   once consuming, runs until SIGTERM/SIGINT
//   gale-tasks-redis-bench measure URL N PGID LABEL  with a worker (gale's or Celery's, process group PGID) idle on
//   URL:
//                                                   LPUSHes N bench.noop messages (kombu's envelopes, built before the
//                                                   clock starts, pipelined), waits until N results are stored, and
//                                                   prints one line: LABEL, tasks, seconds, tasks/s, the worker's CPU
//                                                   seconds (every process of PGID, from /proc) and tasks per
//                                                   CPU-second
//   gale-tasks-redis-bench latency URL M LABEL      M tasks one after another, each sent with TaskClient::Send and
//                                                   waited for with the result backend; prints p50, p99 and max in ms
#include <dirent.h>
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <gale/redis/connection.hpp>
#include <gale/tasks/client.hpp>
#include <gale/tasks/redis.hpp>
#include <gale/tasks/task.hpp>
#include <gale/tasks/worker.hpp>

#include "kombu_envelope.hpp"
#include "py_json.hpp"
#include "tasks_bench_util.hpp"

namespace {

using Clock = std::chrono::steady_clock;
namespace tasks = gale::tasks;

int Fail(const std::string& what) {
    std::fprintf(stderr, "gale-tasks-redis-bench: %s\n", what.c_str());
    return 1;
}

int Worker(const std::string& url, std::size_t concurrency) {
    auto broker = tasks::redis::MakeBroker(url);
    auto backend = tasks::redis::MakeResultBackend(url);
    if (!broker || !backend) return Fail("bad URL");
    tasks::TaskRegistry registry;
    (void)registry.Add("bench.noop", [](tasks::TaskContext&) -> gale::Result<nlohmann::json> { return nullptr; });
    tasks::TaskClient client(**broker, backend->get());
    tasks::Worker worker(**broker, registry, backend->get(), client,
                         {.concurrency = concurrency, .hostname = "gale-bench@127.0.0.1"});
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    pthread_sigmask(SIG_BLOCK, &set, nullptr);  // before Start, so every thread inherits it
    if (auto started = worker.Start(); !started) return Fail(started.error().ToString());
    const auto deadline = Clock::now() + std::chrono::seconds(30);
    while (!worker.Stats().connected && Clock::now() < deadline)
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
    if (!worker.Stats().connected) return Fail("the worker did not connect: " + worker.Stats().last_error);
    std::printf("ready\n");
    std::fflush(stdout);
    int sig = 0;
    sigwait(&set, &sig);
    worker.StopFetching();
    (void)worker.WaitIdle(Clock::now() + std::chrono::seconds(10));
    worker.Stop();
    return 0;
}

int Measure(const std::string& url, long n, pid_t pgid, const std::string& label) {
    auto options = gale::redis::ParseUrl(url);
    if (!options) return Fail(options.error().ToString());
    auto c = gale::redis::Connection::Connect(*options);
    if (!c) return Fail(c.error().ToString());
    auto base = (*c)->Command({"DBSIZE"});
    if (!base) return Fail(base.error().ToString());
    std::vector<std::string> envelopes;
    envelopes.reserve(static_cast<std::size_t>(n));
    for (long i = 0; i < n; ++i) {
        tasks::TaskRequest r;
        r.id = tasks::NewTaskId();
        r.root_id = r.id;
        r.task = "bench.noop";
        envelopes.push_back(tasks::detail::PythonJson(
            tasks::redis::detail::MakeEnvelope(tasks::EncodeTask(r), "", "celery", tasks::NewTaskId())));
    }
    const double cpu0 = gale::bench::GroupCpuSeconds(pgid);
    const auto t0 = Clock::now();
    for (std::size_t i = 0; i < envelopes.size(); i += 500) {
        std::vector<gale::redis::Args> batch;
        for (std::size_t j = i; j < std::min(envelopes.size(), i + 500); ++j) {
            batch.push_back({"LPUSH", "celery", envelopes[j]});
        }
        if (auto sent = (*c)->Pipeline(batch); !sent) return Fail(sent.error().ToString());
    }
    // Done when every task has its result key (the queue and the unacked hash are gone by then).
    const auto deadline = t0 + std::chrono::seconds(600);
    for (;;) {
        auto size = (*c)->Command({"DBSIZE"});
        if (!size) return Fail(size.error().ToString());
        auto queued = (*c)->Command({"LLEN", "celery"});
        if (size->integer - base->integer >= n && queued && queued->integer == 0) break;
        if (Clock::now() > deadline) return Fail("not all results within 600 s");
        std::this_thread::sleep_for(std::chrono::milliseconds(2));
    }
    const double seconds = std::chrono::duration<double>(Clock::now() - t0).count();
    const double cpu = gale::bench::GroupCpuSeconds(pgid) - cpu0;
    std::printf("%s tasks=%ld seconds=%.3f tasks/s=%.0f cpu_s=%.3f tasks/cpu_s=%.0f\n", label.c_str(), n, seconds,
                static_cast<double>(n) / seconds, cpu, cpu > 0 ? static_cast<double>(n) / cpu : 0.0);
    return 0;
}

int Latency(const std::string& url, long m, const std::string& label) {
    auto broker = tasks::redis::MakeBroker(url);
    auto backend = tasks::redis::MakeResultBackend(url);
    if (!broker || !backend) return Fail("bad URL");
    tasks::TaskClient client(**broker, backend->get());
    std::vector<double> ms;
    for (long i = 0; i < m; ++i) {
        const auto t0 = Clock::now();
        auto id = client.Send("bench.noop");
        if (!id) return Fail(id.error().ToString());
        auto result = client.Wait(*id, std::chrono::seconds(30));
        if (!result) return Fail(result.error().ToString());
        ms.push_back(std::chrono::duration<double, std::milli>(Clock::now() - t0).count());
    }
    std::sort(ms.begin(), ms.end());
    auto at = [&](double q) { return ms[std::min(ms.size() - 1, static_cast<std::size_t>(q * ms.size()))]; };
    std::printf("%s latency_tasks=%ld p50_ms=%.2f p99_ms=%.2f max_ms=%.2f\n", label.c_str(), m, at(0.50), at(0.99),
                ms.back());
    return 0;
}

}  // namespace

int main(int argc, char** argv) {
    const std::vector<std::string> a(argv + 1, argv + argc);
    if (a.size() == 3 && a[0] == "worker") return Worker(a[1], static_cast<std::size_t>(std::atol(a[2].c_str())));
    if (a.size() == 5 && a[0] == "measure") {
        return Measure(a[1], std::atol(a[2].c_str()), static_cast<pid_t>(std::atol(a[3].c_str())), a[4]);
    }
    if (a.size() == 4 && a[0] == "latency") return Latency(a[1], std::atol(a[2].c_str()), a[3]);
    std::fprintf(stderr,
                 "usage: gale-tasks-redis-bench worker URL CONCURRENCY | measure URL N PGID LABEL | "
                 "latency URL M LABEL\n");
    return 2;
}
