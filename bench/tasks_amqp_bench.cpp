// SPDX-License-Identifier: MIT
// gale-tasks-amqp-bench: the halves of the Celery-on-RabbitMQ benchmark (bench/tasks_amqp.sh runs them; see
// bench/README.md, "Tasks on RabbitMQ").
//   gale-tasks-amqp-bench worker URL CONCURRENCY [M] gale's Worker (AMQP broker, rpc:// results) running the no-op task
//                                                   bench.noop with CONCURRENCY threads, prefetch M × CONCURRENCY
//                                                   (M: 4, Celery's default); prints "ready" once
//                                                   consuming, runs until SIGTERM/SIGINT
//   gale-tasks-amqp-bench probe URL                  exits 0 once a connection to URL opens
//   gale-tasks-amqp-bench wait-queue URL QUEUE       exits 0 once QUEUE exists (Celery's pidbox queue: its consumer
//                                                   runs), 1 after 60 s
//   gale-tasks-amqp-bench measure URL N PGID LABEL   with a worker (gale's or Celery's, process group PGID) idle on
//                                                   queue "celery": publishes N bench.noop messages (Celery's bytes,
//                                                   built before the clock starts, reply_to = a reply queue of its
//                                                   own, no confirms), waits until N results came back on it, and
//                                                   prints LABEL, tasks, seconds, tasks/s, the worker's CPU seconds
//                                                   (every process of PGID, from /proc) and tasks per CPU-second
//   gale-tasks-amqp-bench latency URL M LABEL        M tasks one after another, each sent with TaskClient::Send and
//                                                   waited for over rpc://; prints p50, p99 and max in ms
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

int Fail(const std::string& what) {
    std::fprintf(stderr, "gale-tasks-amqp-bench: %s\n", what.c_str());
    return 1;
}

int Worker(const std::string& url, std::size_t concurrency, std::size_t multiplier) {
    auto broker = tasks::amqp::MakeBroker(url);
    if (!broker) return Fail(broker.error().ToString());
    auto backend = tasks::amqp::MakeRpcBackend(**broker);
    if (!backend) return Fail(backend.error().ToString());
    tasks::TaskRegistry registry;
    (void)registry.Add("bench.noop", [](tasks::TaskContext&) -> gale::Result<nlohmann::json> { return nullptr; });
    tasks::TaskClient client(**broker, backend->get());
    tasks::Worker worker(
        **broker, registry, backend->get(), client,
        {.concurrency = concurrency, .prefetch_multiplier = multiplier, .hostname = "gale-bench@127.0.0.1"});
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

int Measure(const std::string& url, long n, pid_t pgid, const std::string& label) {
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
        r.task = "bench.noop";
        r.reply_to = reply;
        const tasks::TransportMessage m = tasks::EncodeTask(r);
        gale::amqp::Properties p = tasks::amqp::detail::ToProperties(m);  // the adapter's own mapping
        messages.push_back({m.body, std::move(p)});
    }
    const double cpu0 = gale::bench::GroupCpuSeconds(pgid);
    const auto t0 = Clock::now();
    long results = 0;
    for (const auto& m : messages) {
        if (auto sent = (*ch)->Publish("", "celery", m.body, m.properties); !sent) return Fail(sent.error().ToString());
        // Drain what has come back meanwhile (the channel buffers deliveries; reading keeps the socket moving).
        while ((*ch)->buffered() > 0) {
            auto d = (*ch)->Next(std::chrono::milliseconds(0));
            if (!d) return Fail(d.error().ToString());
            if (*d) ++results;
        }
    }
    const auto deadline = t0 + std::chrono::seconds(600);
    while (results < n) {
        auto d = (*ch)->Next(std::chrono::milliseconds(100));
        if (!d) return Fail(d.error().ToString());
        if (*d) ++results;
        if (Clock::now() > deadline) return Fail("not all results within 600 s");
    }
    const double seconds = std::chrono::duration<double>(Clock::now() - t0).count();
    const double cpu = gale::bench::GroupCpuSeconds(pgid) - cpu0;
    std::printf("%s tasks=%ld seconds=%.3f tasks/s=%.0f cpu_s=%.3f tasks/cpu_s=%.0f\n", label.c_str(), n, seconds,
                static_cast<double>(n) / seconds, cpu, cpu > 0 ? static_cast<double>(n) / cpu : 0.0);
    return 0;
}

int Latency(const std::string& url, long m, const std::string& label) {
    auto broker = tasks::amqp::MakeBroker(url);
    if (!broker) return Fail(broker.error().ToString());
    auto backend = tasks::amqp::MakeRpcBackend(**broker);
    if (!backend) return Fail(backend.error().ToString());
    tasks::TaskClient client(**broker, backend->get());
    // One task before the clock starts: connections, declarations and the reply queue are set up by it.
    if (auto warm = client.Send("bench.noop"); !warm || !client.Wait(*warm, std::chrono::seconds(30))) {
        return Fail("the warm-up task failed");
    }
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
    if ((a.size() == 3 || a.size() == 4) && a[0] == "worker") {
        const long multiplier = a.size() == 4 ? std::atol(a[3].c_str()) : 4;  // Celery's default prefetch multiplier
        return Worker(a[1], static_cast<std::size_t>(std::atol(a[2].c_str())), static_cast<std::size_t>(multiplier));
    }
    if (a.size() == 2 && a[0] == "probe") return Probe(a[1]);
    if (a.size() == 3 && a[0] == "wait-queue") return WaitQueue(a[1], a[2]);
    if (a.size() == 5 && a[0] == "measure") {
        return Measure(a[1], std::atol(a[2].c_str()), static_cast<pid_t>(std::atol(a[3].c_str())), a[4]);
    }
    if (a.size() == 4 && a[0] == "latency" && std::atol(a[2].c_str()) > 0) {
        return Latency(a[1], std::atol(a[2].c_str()), a[3]);
    }
    std::fprintf(stderr,
                 "usage: gale-tasks-amqp-bench worker URL CONCURRENCY [MULTIPLIER] | probe URL | wait-queue URL QUEUE "
                 "| measure URL "
                 "N PGID LABEL "
                 "| latency URL M LABEL\n");
    return 2;
}
