// SPDX-License-Identifier: MIT
//
// The loop: MultiConsumer::RunRound over every consumer (each RunOnce handles at most one saved record plus any
// skipped ones), then metrics are brought up to date from each consumer's Stats(). A round that fails (a backend
// unreachable, a transaction failing) marks the backends not ready and waits a second before the next round; a
// round that succeeds marks them ready again. SIGTERM: readiness fails at once, the round in progress finishes
// (so the record being saved is saved and committed, or not at all), then the process exits 0.
#include "consume.hpp"

#include <atomic>
#include <chrono>
#include <map>
#include <memory>
#include <tuple>

#include <fmt/format.h>

#include <gale/health/probes.hpp>
#include <gale/http/server.hpp>
#include <gale/lifecycle/shutdown.hpp>
#include <gale/lifecycle/webhooks.hpp>
#include <gale/log/log.hpp>
#include <gale/metrics/process_collector.hpp>
#include <gale/pipe/consumer.hpp>

#include "probe_runtime.hpp"

namespace gale::app {
namespace {

constexpr const char* kLogger = "gale.consume";

std::int64_t NowMs() {
    return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now().time_since_epoch())
        .count();
}

/// Turns each consumer's cumulative Stats() into Prometheus counters (by delta, so counters only ever grow).
class PipeMetrics {
public:
    explicit PipeMetrics(metrics::Registry& registry) {
        if (auto f = registry.AddCounter("gale_pipe_messages", "Log-pipe records by outcome.",
                                         {"topic", "type", "version", "outcome"})) {
            messages_ = *f;
        }
        if (auto f = registry.AddGauge("gale_pipe_consumer_lag", "Records not yet consumed (where the backend knows).",
                                       {"topic"})) {
            lag_ = *f;
        }
        if (auto f = registry.AddGauge("gale_pipe_consumer_lag_seconds",
                                       "How far behind the newest record the consumer is, where the backend reports "
                                       "a time (Kinesis MillisBehindLatest).",
                                       {"topic"})) {
            lag_seconds_ = *f;
        }
        if (auto f = registry.AddCounter("gale_pipe_backend_errors", "Consume rounds that failed.", {"topic"})) {
            errors_ = *f;
        }
    }
    void Update(pipe::Consumer& consumer, pipe::ConsumerBackend& backend) {
        pipe::ConsumerStats stats = consumer.Stats();
        for (const auto& c : stats.counters) {
            auto key = std::make_tuple(stats.topic, c.type, c.version, c.outcome);
            std::uint64_t& seen = seen_[key];
            if (messages_ != nullptr && c.count > seen) {
                messages_->WithLabels({stats.topic, c.type, c.version, pipe::ToString(c.outcome)})
                    .Inc(static_cast<double>(c.count - seen));
            }
            seen = c.count;
        }
        std::uint64_t& seen_errors = seen_errors_[stats.topic];
        if (errors_ != nullptr && stats.backend_errors > seen_errors) {
            errors_->WithLabels({stats.topic}).Inc(static_cast<double>(stats.backend_errors - seen_errors));
        }
        seen_errors = stats.backend_errors;
        if (lag_ != nullptr) {
            if (auto lag = backend.Lag()) lag_->WithLabels({stats.topic}).Set(static_cast<double>(*lag));
        }
        if (lag_seconds_ != nullptr) {
            if (auto lag = backend.LagTime()) {
                lag_seconds_->WithLabels({stats.topic}).Set(std::chrono::duration<double>(*lag).count());
            }
        }
    }

private:
    metrics::Family<metrics::Counter>* messages_ = nullptr;
    metrics::Family<metrics::Gauge>* lag_ = nullptr;
    metrics::Family<metrics::Gauge>* lag_seconds_ = nullptr;
    metrics::Family<metrics::Counter>* errors_ = nullptr;
    std::map<std::tuple<std::string, std::string, std::string, pipe::Outcome>, std::uint64_t> seen_;
    std::map<std::string, std::uint64_t> seen_errors_;
};

}  // namespace

int Consume(App::State& state, const ServeOptions& o) {
    lifecycle::ShutdownController shutdown;  // before any thread starts
    for (const auto& err : state.registration_errors) log::Error(kLogger, "invalid declaration", {{"error", err}});
    if (!state.registration_errors.empty()) return 2;
    if (state.consumers.empty()) {
        log::Error(kLogger, "no consumers registered: declare them with App::Consumer");
        return 2;
    }

    LifecycleNotifier notifier(state.name, state.version, o);
    auto fail_startup = [&](int code, const std::string& what, const std::string& error) {
        return notifier.FailStartup(code, what, error);
    };

    // --- health: the loop's heartbeat is the watchdog; backend reachability is a readiness check ---
    std::atomic<std::int64_t> last_turn_ms{NowMs()};
    std::atomic<bool> backends_ok{true};
    std::string last_backend_error;
    std::mutex error_mu;
    (void)state.checks.Add("pipe-backends",
                           [&] {
                               if (backends_ok.load())
                                   return health::CheckResult::Ok("every consumer's backend answered");
                               std::lock_guard lock(error_mu);
                               return health::CheckResult::Error(last_backend_error);
                           },
                           {.tags = health::kReadiness});
    health::ProbeState probes(
        state.checks, {.req_queue_len = o.req_queue_len, .max_lifetime = 0, .watchdog_timeout = o.watchdog_timeout},
        {[] { return std::size_t{0}; }, [&] { return NowMs() - last_turn_ms.load(); },
         [] { return std::uint64_t{0}; }});

    metrics::Family<metrics::Gauge>* probe_gauge = nullptr;
    std::unique_ptr<PipeMetrics> pipe_metrics;
    if (!o.no_metrics) {
        (void)state.registry.AddInfo("gale_build_info", "Service and gale version.",
                                     {{"service", state.name}, {"version", state.version}, {"gale_version", "0.1.0"}});
        if (auto g =
                state.registry.AddGauge("gale_probe_status", "1 when the probe passes, 0 when it fails.", {"probe"})) {
            probe_gauge = *g;
        }
        metrics::AddProcessCollector(state.registry);
        pipe_metrics = std::make_unique<PipeMetrics>(state.registry);
    }

    http::Router probe_router;
    std::unique_ptr<http::Server> probe_server;
    if (!o.no_probe) {
        if (auto r = AddProbeRoutes(probe_router, o, probes, state.registry); !r) {
            return fail_startup(2, "probe routes", r.error().ToString());
        }
        auto started = StartProbeServer(o, probe_router);
        if (!started) return fail_startup(1, "probe server", started.error().ToString());
        probe_server = std::move(*started);
        log::Info("gale.serve", "probe server listening",
                  {{"port", probe_server->port()}, {"role", "consume"}, {"readiness", o.readiness_probe}});
    }

    // --check-migrations: a consumer's Save needs the service's tables (the startup probe fails meanwhile).
    if (o.check_migrations) {
        if (!state.migrations) {
            return fail_startup(2, "--check-migrations", "the service declared no migrations (App::Migrations)");
        }
        if (!WaitForMigrations(state.migrations, shutdown, kLogger)) return 0;
    }

    // --- consumers ---
    std::vector<ConsumerSpec> specs;
    std::vector<pipe::Consumer*> consumers;
    for (auto& [name, factory] : state.consumers) {
        auto spec = factory(state.settings);
        if (!spec) return fail_startup(1, "consumer " + name, spec.error().ToString());
        if (!spec->consumer || !spec->backend) {
            return fail_startup(2, "consumer " + name, "the factory returned no consumer or no backend");
        }
        consumers.push_back(spec->consumer.get());
        log::Info(kLogger, "consumer ready", {{"consumer", name}, {"topic", spec->consumer->topic()}});
        specs.push_back(std::move(*spec));
    }
    pipe::MultiConsumer multi(consumers);

    probes.SetStarted();
    log::Info(kLogger, "consuming", {{"service", state.name}, {"consumers", consumers.size()}});
    notifier.Send(lifecycle::WebhookEvent::kStartup, "succeeded");
    auto monitor = std::make_unique<Monitor>(probes, notifier.webhooks(), probe_gauge);

    while (!shutdown.requested()) {
        auto round = multi.RunRound(std::chrono::milliseconds(500));
        last_turn_ms.store(NowMs());
        if (pipe_metrics) {
            for (auto& spec : specs) pipe_metrics->Update(*spec.consumer, *spec.backend);
        }
        if (!round) {
            {
                std::lock_guard lock(error_mu);
                last_backend_error = round.error().ToString();
            }
            if (backends_ok.exchange(false)) {
                log::Warning(kLogger, "consume round failed; retrying every second",
                             {{"error", round.error().ToString()}});
            }
            shutdown.WaitFor(std::chrono::seconds(1));
            last_turn_ms.store(NowMs());
            continue;
        }
        if (!backends_ok.exchange(true)) log::Info(kLogger, "backends reachable again");
    }

    probes.SetDraining();
    notifier.Send(lifecycle::WebhookEvent::kShutdown, "started");
    log::Info(kLogger, "shutdown started", {{"reason", shutdown.why()}});
    monitor.reset();
    if (probe_server) probe_server->Stop();
    std::uint64_t processed = 0;
    for (auto* c : consumers) processed += c->Stats().Total(pipe::Outcome::kProcessed);
    log::Info(kLogger, "shutdown finished", {{"processed", processed}});
    notifier.Send(lifecycle::WebhookEvent::kShutdown, "finished");
    notifier.Finish();
    return 0;
}

}  // namespace gale::app
