// SPDX-License-Identifier: MIT
/// @file probe_runtime.hpp (private)
/// @brief What every long-running role shares: the probe and metrics routes, and the monitor that turns probe
///        changes into webhooks and gauges.
#pragma once

#include <condition_variable>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include <gale/app/app.hpp>
#include <gale/base/error.hpp>
#include <gale/health/probes.hpp>
#include <gale/http/router.hpp>
#include <gale/http/server.hpp>
#include <gale/lifecycle/shutdown.hpp>
#include <gale/lifecycle/webhooks.hpp>
#include <gale/log/log.hpp>
#include <gale/metrics/registry.hpp>

#include "serve_options.hpp"

namespace gale::app {

/// The webhook sender of --webhook-url (none without URLs) and the start-up failure path every role shares.
class LifecycleNotifier {
public:
    LifecycleNotifier(const std::string& service, const std::string& version, const ServeOptions& o);
    lifecycle::WebhookSender* webhooks() noexcept { return webhooks_.get(); }
    /// Logs the failed step, sends startup/failed (waiting up to 5 s for delivery) and returns `code`.
    int FailStartup(int code, const std::string& step, const std::string& error);
    /// Sends an event if webhooks are configured.
    void Send(lifecycle::WebhookEvent event, std::string_view status);
    /// Waits (bounded) for pending webhooks; then drops the sender.
    void Finish();

private:
    std::unique_ptr<lifecycle::WebhookSender> webhooks_;
};

/// --check-migrations: asks `migrations` every second until nothing is pending (logging what is) or a stop is
/// requested. Returns true when the migrations are applied, false when stopped first.
bool WaitForMigrations(const MigrationStatusFn& migrations, lifecycle::ShutdownController& shutdown,
                       std::string_view logger);

/// Starts the probe server on --bind/--probe-port (one loop, two workers, no access log) serving `router`.
[[nodiscard]] Result<std::unique_ptr<http::Server>> StartProbeServer(const ServeOptions& o, const http::Router& router);

/// The failing checks of a report, for a webhook payload (the reason itself when no check failed).
std::vector<lifecycle::FailingCheck> FailingChecks(const health::ProbeReport& report);

/// Adds the startup, readiness and liveness routes (and the metrics route unless metrics are off) to `router`.
[[nodiscard]] Result<void> AddProbeRoutes(http::Router& router, const ServeOptions& o, health::ProbeState& probes,
                                          metrics::Registry& registry);

/// Evaluates readiness and liveness every second after start-up; on a change, sends a webhook and updates gauges.
class Monitor {
public:
    Monitor(health::ProbeState& probes, lifecycle::WebhookSender* webhooks,
            metrics::Family<metrics::Gauge>* probe_gauge)
        : probes_(probes), webhooks_(webhooks), probe_gauge_(probe_gauge), thread_([this] { Run(); }) {}
    ~Monitor() {
        {
            std::lock_guard lock(mu_);
            stop_ = true;
        }
        cv_.notify_all();
        thread_.join();
    }

private:
    void Run() {
        std::optional<bool> ready;
        std::optional<bool> alive;
        std::unique_lock lock(mu_);
        while (!stop_) {
            lock.unlock();
            Observe(health::Probe::kReadiness, lifecycle::WebhookEvent::kReadiness, ready);
            Observe(health::Probe::kLiveness, lifecycle::WebhookEvent::kLiveness, alive);
            lock.lock();
            cv_.wait_for(lock, std::chrono::seconds(1), [this] { return stop_; });
        }
    }
    void Observe(health::Probe probe, lifecycle::WebhookEvent event, std::optional<bool>& last) {
        health::ProbeReport r = probes_.Evaluate(probe);
        if (probe_gauge_ != nullptr) probe_gauge_->WithLabels({health::ToString(probe)}).Set(r.pass ? 1 : 0);
        if (last.has_value() && *last == r.pass) return;
        bool first = !last.has_value();
        last = r.pass;
        if (first && r.pass) return;  // the startup webhook already said we are up
        log::Write(r.pass ? log::Level::kInfo : log::Level::kWarning, "gale.probes", "probe state changed",
                   {{"probe", health::ToString(probe)}, {"pass", r.pass}, {"reason", r.reason}});
        // While draining, readiness fails on purpose; the shutdown webhooks already say so.
        bool expected = probe == health::Probe::kReadiness && probes_.draining();
        if (webhooks_ != nullptr && !expected)
            webhooks_->Send(event, r.pass ? "succeeded" : "failed", FailingChecks(r));
    }

    health::ProbeState& probes_;
    lifecycle::WebhookSender* webhooks_;
    metrics::Family<metrics::Gauge>* probe_gauge_;
    std::mutex mu_;
    std::condition_variable cv_;
    bool stop_ = false;
    std::thread thread_;
};

}  // namespace gale::app
