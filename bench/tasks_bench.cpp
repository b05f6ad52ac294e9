// SPDX-License-Identifier: MIT
// Tasks through the embedded queue (bench/README.md, "Tasks"): fill a fresh SQLite queue with N Celery messages,
// then time a gale Worker draining it, wall clock and the process's CPU time (getrusage), for
//   noop          a task that returns None, results disabled (Celery's ignore_result);
//   noop-results  the same, every SUCCESS stored in the embedded result backend;
//   insert        a task that inserts one row into a SQLite table of its own (one connection per task thread,
//                 bench/tasks_bench_util.hpp).
// Prints one line per run: tasks/s and tasks per CPU-second of the worker process (this one: the fill is not
// counted), and the publish rate of the fill.
//
//   gale-tasks-bench [--messages N] [--concurrency C] [--prefetch-multiplier M] [--dir DIR] [--modes a,b,…]
#include <sys/resource.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <thread>
#include <vector>

#include <gale/log/log.hpp>
#include <gale/tasks/client.hpp>
#include <gale/tasks/embedded_broker.hpp>
#include <gale/tasks/worker.hpp>

#include "tasks_bench_util.hpp"

namespace {

double CpuSeconds() {
    rusage u{};
    ::getrusage(RUSAGE_SELF, &u);
    return static_cast<double>(u.ru_utime.tv_sec + u.ru_stime.tv_sec) +
           static_cast<double>(u.ru_utime.tv_usec + u.ru_stime.tv_usec) / 1e6;
}

struct Run {
    std::string mode;
    double publish_per_s = 0;
    double tasks_per_s = 0;
    double per_cpu_s = 0;
    double cpu_cores = 0;
};

int Fail(const std::string& what) {
    std::fprintf(stderr, "tasks-bench: %s\n", what.c_str());
    return 2;
}

}  // namespace

int main(int argc, char** argv) {
    std::size_t messages = 200000;
    std::size_t concurrency = 2;
    std::size_t multiplier = 4;
    std::string dir = "/tmp/gale-tasks-bench";
    std::string modes = "noop,noop-results,insert";
    for (int i = 1; i + 1 < argc; i += 2) {
        std::string k = argv[i], v = argv[i + 1];
        if (k == "--messages") {
            messages = std::stoul(v);
        } else if (k == "--concurrency") {
            concurrency = std::stoul(v);
        } else if (k == "--prefetch-multiplier") {
            multiplier = std::stoul(v);
        } else if (k == "--dir") {
            dir = v;
        } else if (k == "--modes") {
            modes = v;
        } else {
            return Fail("unknown option " + k);
        }
    }
    gale::log::SetLevel(gale::log::Level::kWarning);
    std::filesystem::create_directories(dir);
    std::vector<Run> runs;
    std::size_t start = 0;
    while (start <= modes.size()) {
        std::size_t comma = modes.find(',', start);
        std::string mode = modes.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
        start = comma == std::string::npos ? modes.size() + 1 : comma + 1;
        if (mode.empty()) continue;
        if (mode != "noop" && mode != "noop-results" && mode != "insert") return Fail("unknown mode " + mode);

        const std::string queue_path = dir + "/queue-" + mode + ".db";
        const std::string app_path = dir + "/app-" + mode + ".db";
        for (const auto& p : {queue_path, app_path}) {
            for (const char* suffix : {"", "-wal", "-shm"}) std::filesystem::remove(p + suffix);
        }
        auto broker = gale::tasks::EmbeddedBroker::Open(queue_path);
        if (!broker) return Fail(broker.error().ToString());
        std::unique_ptr<gale::tasks::EmbeddedResultBackend> backend;
        if (mode == "noop-results") {
            auto b = gale::tasks::EmbeddedResultBackend::Open(queue_path);
            if (!b) return Fail(b.error().ToString());
            backend = std::move(*b);
        }
        gale::tasks::TaskClient client(**broker, backend.get());

        // Fill.
        const std::string task = mode == "insert" ? "bench.insert" : "bench.noop";
        const auto f0 = std::chrono::steady_clock::now();
        std::vector<gale::tasks::TransportMessage> batch;
        for (std::size_t i = 0; i < messages; ++i) {
            auto built = client.Build(task, nlohmann::json::array({static_cast<std::int64_t>(i)}), {}, {});
            if (!built) return Fail(built.error().ToString());
            batch.push_back(gale::tasks::EncodeTask(built->first));
            if (batch.size() == 1000 || i + 1 == messages) {
                if (auto r = (*broker)->PublishMany({.queue = "celery"}, batch); !r) return Fail(r.error().ToString());
                batch.clear();
            }
        }
        const double fill_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - f0).count();

        // The tasks (bench/tasks_bench_util.hpp: the same bench.noop and bench.insert as the Redis and RabbitMQ
        // benchmarks).
        gale::tasks::TaskRegistry registry;
        gale::bench::PerThreadDatabase app_db(app_path);
        if (auto r = app_db.CreateTable(); !r) return Fail(r.error().ToString());
        if (auto r = gale::bench::AddBenchTasks(registry, app_db); !r) return Fail(r.error().ToString());

        gale::tasks::Worker worker(**broker, registry, backend.get(), client,
                                   {.concurrency = concurrency, .prefetch_multiplier = multiplier});
        const double cpu0 = CpuSeconds();
        const auto t0 = std::chrono::steady_clock::now();
        if (auto r = worker.Start(); !r) return Fail(r.error().ToString());
        const auto done = [&] {
            auto s = worker.Stats();
            return s.outcomes[static_cast<std::size_t>(gale::tasks::TaskOutcome::kSucceeded)] >= messages;
        };
        while (!done()) std::this_thread::sleep_for(std::chrono::milliseconds(2));
        const double wall = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
        const double cpu = CpuSeconds() - cpu0;
        worker.StopFetching();
        (void)worker.WaitIdle(std::chrono::steady_clock::now() + std::chrono::seconds(10));
        worker.Stop();
        auto left = (*broker)->QueueLength("celery");
        if (!left || *left != 0) return Fail("the queue is not empty after the run");
        Run r{mode, static_cast<double>(messages) / fill_s, static_cast<double>(messages) / wall,
              static_cast<double>(messages) / cpu, cpu / wall};
        std::printf("%-13s %8zu tasks  %9.0f tasks/s  %9.0f tasks/CPU-s  (%.2f cores)  fill %8.0f msg/s\n",
                    r.mode.c_str(), messages, r.tasks_per_s, r.per_cpu_s, r.cpu_cores, r.publish_per_s);
        std::fflush(stdout);
        runs.push_back(r);
    }
    return 0;
}
