// SPDX-License-Identifier: MIT
// gale-tasks-amqp-bench: the halves of the Celery-on-RabbitMQ benchmark (bench/tasks_amqp.sh runs them; see
// bench/README.md, "Tasks on RabbitMQ"). WORKLOAD is noop (bench.noop) or insert (bench.insert: one row into
// SQLite); both tasks are bench/tasks_bench_util.hpp's.
//   gale-tasks-amqp-bench worker URL CONCURRENCY DB [M]
//                                                   gale's Worker (AMQP broker, rpc:// results) running bench.noop and
//                                                   bench.insert (rows into the SQLite file DB, created if missing)
//                                                   with CONCURRENCY threads, prefetch M × CONCURRENCY (M: 4,
//                                                   Celery's default); prints "ready" once consuming, runs until
//                                                   SIGTERM/SIGINT
//   gale-tasks-amqp-bench probe URL                  exits 0 once a connection to URL opens
//   gale-tasks-amqp-bench wait-queue URL QUEUE       exits 0 once QUEUE exists (Celery's pidbox queue: its consumer
//                                                   runs), 1 after 60 s
//   gale-tasks-amqp-bench measure URL WORKLOAD N PGID LABEL
//                                                   with a worker (gale's or Celery's, process group PGID) idle on
//                                                   queue "celery": publishes N messages of WORKLOAD (Celery's bytes,
//                                                   built before the clock starts, reply_to = a reply queue of its
//                                                   own, no confirms), waits until N results came back on it, and
//                                                   prints LABEL, WORKLOAD, tasks, seconds, tasks/s, the worker's CPU
//                                                   seconds (every process of PGID, from /proc) and tasks per
//                                                   CPU-second
//   gale-tasks-amqp-bench latency URL WORKLOAD M LABEL
//                                                   M tasks one after another, each sent with TaskClient::Send and
//                                                   waited for over rpc://; prints p50, p99 and max in ms
#include <chrono>
#include <cstdlib>
#include <string>
#include <thread>
#include <vector>

#include <gale/amqp/channel.hpp>
#include <gale/tasks/amqp.hpp>
#include <gale/tasks/client.hpp>
#include <gale/tasks/task.hpp>
#include <gale/tasks/worker.hpp>

#include "amqp_transport.hpp"
#include "tasks_bench_util.hpp"

namespace {

using Clock = std::chrono::steady_clock;
namespace tasks = gale::tasks;

constexpr const char* kProgram = "gale-tasks-amqp-bench";

int Fail(const std::string& what) { return gale::bench::Fail(kProgram, what); }

int Worker(const std::string& url, std::size_t concurrency, const std::string& db_path, std::size_t multiplier) {
    auto broker = tasks::amqp::MakeBroker(url);
    if (!broker) return Fail(broker.error().ToString());
    auto backend = tasks::amqp::MakeRpcBackend(**broker);
    if (!backend) return Fail(backend.error().ToString());
    gale::bench::PerThreadDatabase db(db_path);
    if (auto created = db.CreateTable(); !created) return Fail(created.error().ToString());
    tasks::TaskRegistry registry;
    if (auto added = gale::bench::AddBenchTasks(registry, db); !added) return Fail(added.error().ToString());
    tasks::TaskClient client(**broker, backend->get());
    tasks::Worker worker(
        **broker, registry, backend->get(), client,
        {.concurrency = concurrency, .prefetch_multiplier = multiplier, .hostname = "gale-bench@127.0.0.1"});
    const sigset_t stop = gale::bench::BlockStopSignals();  // before Start, so every thread inherits it
    return gale::bench::ServeUntilSignal(kProgram, worker, stop);
}

int Probe(const std::string& url) {
    auto options = gale::amqp::ParseUrl(url);
    if (!options) return Fail(options.error().ToString());
    auto ch = gale::amqp::Channel::Open(*options);
    return ch ? 0 : Fail(ch.error().ToString());
}

int WaitQueue(const std::string& url, const std::string& queue) {
    auto options = gale::amqp::ParseUrl(url);
    if (!options) return Fail(options.error().ToString());
    const auto deadline = Clock::now() + std::chrono::seconds(60);
    while (Clock::now() < deadline) {
        if (auto ch = gale::amqp::Channel::Open(*options); ch && (*ch)->QueueMessageCount(queue)) return 0;
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    return Fail("no queue '" + queue + "' within 60 s");
}

int Measure(const std::string& url, const std::string& workload, long n, pid_t pgid, const std::string& label) {
    auto options = gale::amqp::ParseUrl(url);
    if (!options) return Fail(options.error().ToString());
    auto ch = gale::amqp::Channel::Open(*options);
    if (!ch) return Fail(ch.error().ToString());
    const std::string reply = "gale.bench.reply." + tasks::NewTaskId();
    if (auto q = (*ch)->DeclareQueue({.name = reply, .durable = false, .auto_delete = true}); !q) {
        return Fail(q.error().ToString());
    }
    if (auto c = (*ch)->Consume(reply, {.no_ack = true}); !c) return Fail(c.error().ToString());
    struct Prepared {
        std::string body;
        gale::amqp::Properties properties;
    };
    std::vector<Prepared> messages;
    messages.reserve(static_cast<std::size_t>(n));
    for (long i = 0; i < n; ++i) {
        tasks::TaskRequest r;
        r.id = tasks::NewTaskId();
        r.root_id = r.id;
        r.task = gale::bench::TaskName(workload);
        r.args = gale::bench::TaskArgs(workload, i);
        r.reply_to = reply;
        const tasks::TransportMessage m = tasks::EncodeTask(r);
        gale::amqp::Properties p = tasks::amqp::detail::ToProperties(m);  // the adapter's own mapping
        messages.push_back({m.body, std::move(p)});
    }
    return gale::bench::MeasureRound(kProgram, label, workload, n, pgid, [&]() -> gale::Result<void> {
        long results = 0;
        for (const auto& m : messages) {
            GALE_RETURN_IF_ERROR((*ch)->Publish("", "celery", m.body, m.properties));
            // Drain what has come back meanwhile (the channel buffers deliveries; reading keeps the socket moving).
            while ((*ch)->buffered() > 0) {
                GALE_ASSIGN_OR_RETURN(auto d, (*ch)->Next(std::chrono::milliseconds(0)));
                if (d) ++results;
            }
        }
        const auto deadline = Clock::now() + std::chrono::seconds(600);
        while (results < n) {
            GALE_ASSIGN_OR_RETURN(auto d, (*ch)->Next(std::chrono::milliseconds(100)));
            if (d) ++results;
            if (Clock::now() > deadline)
                return gale::MakeError(gale::ErrorCode::kTimeout, "not all results within 600 s");
        }
        return {};
    });
}

int Latency(const std::string& url, const std::string& workload, long m, const std::string& label) {
    auto broker = tasks::amqp::MakeBroker(url);
    if (!broker) return Fail(broker.error().ToString());
    auto backend = tasks::amqp::MakeRpcBackend(**broker);
    if (!backend) return Fail(backend.error().ToString());
    tasks::TaskClient client(**broker, backend->get());
    // One task before the clock starts: connections, declarations and the reply queue are set up by it.
    return gale::bench::LatencyRound(kProgram, client, label, workload, m, /*warm_up=*/true);
}

}  // namespace

int main(int argc, char** argv) {
    const std::vector<std::string> a(argv + 1, argv + argc);
    if ((a.size() == 4 || a.size() == 5) && a[0] == "worker") {
        const long multiplier = a.size() == 5 ? std::atol(a[4].c_str()) : 4;  // Celery's default prefetch multiplier
        return Worker(a[1], static_cast<std::size_t>(std::atol(a[2].c_str())), a[3],
                      static_cast<std::size_t>(multiplier));
    }
    if (a.size() == 2 && a[0] == "probe") return Probe(a[1]);
    if (a.size() == 3 && a[0] == "wait-queue") return WaitQueue(a[1], a[2]);
    if (a.size() == 6 && a[0] == "measure" && gale::bench::IsWorkload(a[2])) {
        return Measure(a[1], a[2], std::atol(a[3].c_str()), static_cast<pid_t>(std::atol(a[4].c_str())), a[5]);
    }
    if (a.size() == 5 && a[0] == "latency" && gale::bench::IsWorkload(a[2]) && std::atol(a[3].c_str()) > 0) {
        return Latency(a[1], a[2], std::atol(a[3].c_str()), a[4]);
    }
    std::fprintf(stderr,
                 "usage: gale-tasks-amqp-bench worker URL CONCURRENCY DB [MULTIPLIER] | probe URL | "
                 "wait-queue URL QUEUE | measure URL noop|insert N PGID LABEL | latency URL noop|insert M LABEL\n");
    return 2;
}
