// SPDX-License-Identifier: MIT
// gale-tasks-redis-bench: the halves of the Celery-on-Redis benchmark (bench/tasks_redis.sh runs them; see
// bench/README.md, "Tasks on Redis"). WORKLOAD is noop (bench.noop) or insert (bench.insert: one row into SQLite);
// both tasks are bench/tasks_bench_util.hpp's.
//   gale-tasks-redis-bench worker URL CONCURRENCY DB  gale's Worker (TaskClient, Redis broker and result backend)
//                                                   running bench.noop and bench.insert (rows into the SQLite file
//                                                   DB, created if missing) with CONCURRENCY threads; prints "ready"
//                                                   once consuming, runs until SIGTERM/SIGINT
//   gale-tasks-redis-bench measure URL WORKLOAD N PGID LABEL
//                                                   with a worker (gale's or Celery's, process group PGID) idle on
//                                                   URL: LPUSHes N messages of WORKLOAD (kombu's envelopes, built
//                                                   before the clock starts, pipelined), waits until N results are
//                                                   stored, and prints one line: LABEL, WORKLOAD, tasks, seconds,
//                                                   tasks/s, the worker's CPU seconds (every process of PGID, from
//                                                   /proc) and tasks per CPU-second
//   gale-tasks-redis-bench latency URL WORKLOAD M LABEL
//                                                   M tasks one after another, each sent with TaskClient::Send and
//                                                   waited for with the result backend; prints p50, p99 and max in ms
#include <algorithm>
#include <chrono>
#include <cstdlib>
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

constexpr const char* kProgram = "gale-tasks-redis-bench";

int Fail(const std::string& what) { return gale::bench::Fail(kProgram, what); }

int Worker(const std::string& url, std::size_t concurrency, const std::string& db_path) {
    auto broker = tasks::redis::MakeBroker(url);
    auto backend = tasks::redis::MakeResultBackend(url);
    if (!broker || !backend) return Fail("bad URL");
    gale::bench::PerThreadDatabase db(db_path);
    if (auto created = db.CreateTable(); !created) return Fail(created.error().ToString());
    tasks::TaskRegistry registry;
    if (auto added = gale::bench::AddBenchTasks(registry, db); !added) return Fail(added.error().ToString());
    tasks::TaskClient client(**broker, backend->get());
    tasks::Worker worker(**broker, registry, backend->get(), client,
                         {.concurrency = concurrency, .hostname = "gale-bench@127.0.0.1"});
    const sigset_t stop = gale::bench::BlockStopSignals();  // before Start, so every thread inherits it
    return gale::bench::ServeUntilSignal(kProgram, worker, stop);
}

int Measure(const std::string& url, const std::string& workload, long n, pid_t pgid, const std::string& label) {
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
        r.task = gale::bench::TaskName(workload);
        r.args = gale::bench::TaskArgs(workload, i);
        envelopes.push_back(tasks::detail::PythonJson(
            tasks::redis::detail::MakeEnvelope(tasks::EncodeTask(r), "", "celery", tasks::NewTaskId())));
    }
    return gale::bench::MeasureRound(kProgram, label, workload, n, pgid, [&]() -> gale::Result<void> {
        for (std::size_t i = 0; i < envelopes.size(); i += 500) {
            std::vector<gale::redis::Args> batch;
            for (std::size_t j = i; j < std::min(envelopes.size(), i + 500); ++j) {
                batch.push_back({"LPUSH", "celery", envelopes[j]});
            }
            GALE_RETURN_IF_ERROR((*c)->Pipeline(batch));
        }
        // Done when every task has its result key (the queue and the unacked hash are gone by then).
        const auto deadline = Clock::now() + std::chrono::seconds(600);
        for (;;) {
            GALE_ASSIGN_OR_RETURN(auto size, (*c)->Command({"DBSIZE"}));
            auto queued = (*c)->Command({"LLEN", "celery"});
            if (size.integer - base->integer >= n && queued && queued->integer == 0) return {};
            if (Clock::now() > deadline)
                return gale::MakeError(gale::ErrorCode::kTimeout, "not all results within 600 s");
            std::this_thread::sleep_for(std::chrono::milliseconds(2));
        }
    });
}

int Latency(const std::string& url, const std::string& workload, long m, const std::string& label) {
    auto broker = tasks::redis::MakeBroker(url);
    auto backend = tasks::redis::MakeResultBackend(url);
    if (!broker || !backend) return Fail("bad URL");
    tasks::TaskClient client(**broker, backend->get());
    return gale::bench::LatencyRound(kProgram, client, label, workload, m, /*warm_up=*/false);
}

}  // namespace

int main(int argc, char** argv) {
    const std::vector<std::string> a(argv + 1, argv + argc);
    if (a.size() == 4 && a[0] == "worker") {
        return Worker(a[1], static_cast<std::size_t>(std::atol(a[2].c_str())), a[3]);
    }
    if (a.size() == 6 && a[0] == "measure" && gale::bench::IsWorkload(a[2])) {
        return Measure(a[1], a[2], std::atol(a[3].c_str()), static_cast<pid_t>(std::atol(a[4].c_str())), a[5]);
    }
    if (a.size() == 5 && a[0] == "latency" && gale::bench::IsWorkload(a[2]) && std::atol(a[3].c_str()) > 0) {
        return Latency(a[1], a[2], std::atol(a[3].c_str()), a[4]);
    }
    std::fprintf(stderr,
                 "usage: gale-tasks-redis-bench worker URL CONCURRENCY DB | measure URL noop|insert N PGID LABEL | "
                 "latency URL noop|insert M LABEL\n");
    return 2;
}
