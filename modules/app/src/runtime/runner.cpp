// SPDX-License-Identifier: MIT
//
// The sequence is documented in runner.hpp. Invariants:
//  - the ShutdownController is constructed before any thread starts (it blocks the signals for all threads);
//  - the probe server is up before the start-up steps, and stopped only after every role stopped, so probes
//    answer through the whole life of the process;
//  - readiness fails (ProbeState::SetDraining) before any role stops taking work;
//  - the graceful timeout is one deadline shared by all roles, not one per role.
#include "runtime/runner.hpp"

#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <condition_variable>
#include <cstring>
#include <mutex>
#include <optional>
#include <thread>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <gale/base/check.hpp>
#include <gale/base/version.hpp>
#include <gale/health/probe_server.hpp>
#include <gale/health/probes.hpp>
#include <gale/http/server.hpp>
#include <gale/lifecycle/autoreload.hpp>
#include <gale/lifecycle/shutdown.hpp>
#include <gale/lifecycle/webhooks.hpp>
#include <gale/log/log.hpp>
#include <gale/metrics/process_collector.hpp>
#include <gale/sentry/integration.hpp>
#include <gale/sentry/reporter.hpp>
#include <gale/sentry/settings.hpp>

namespace gale::app {
namespace {

/// The webhook sender of --webhook-url (none without URLs) and the start-up failure path.
class LifecycleNotifier {
public:
    LifecycleNotifier(const App::State& state, const ServeOptions& o, std::string_view logger) : logger_(logger) {
        if (!o.webhook_urls.empty()) {
            webhooks_ = std::make_unique<lifecycle::WebhookSender>(
                lifecycle::WebhookOptions{.urls = o.webhook_urls, .service = state.name, .version = state.version});
        }
    }
    lifecycle::WebhookSender* webhooks() noexcept { return webhooks_.get(); }
    /// Logs the failed step, sends startup/failed (waiting up to kWebhookBudget for delivery), returns `code`.
    int FailStartup(int code, const std::string& step, const std::string& error) {
        log::Error(logger_, "start-up failed", {{"step", step}, {"error", error}, {"exit_code", code}});
        if (webhooks_) {
            webhooks_->Send(lifecycle::WebhookEvent::kStartup, "failed", {{step, "error", error}});
            (void)webhooks_->Flush(kWebhookBudget);
        }
        return code;
    }
    void Send(lifecycle::WebhookEvent event, std::string_view status, std::vector<lifecycle::FailingCheck> f = {}) {
        if (webhooks_) webhooks_->Send(event, status, std::move(f));
    }
    /// Waits up to kWebhookBudget for pending webhooks; then drops the sender (cancelling what is left).
    void Finish() {
        if (webhooks_ && !webhooks_->Flush(kWebhookBudget)) {
            log::Warning(logger_, "webhooks still pending after the shutdown budget; abandoning them",
                         {{"budget_ms", kWebhookBudget.count()}});
        }
        webhooks_.reset();
    }

private:
    std::string_view logger_;
    std::unique_ptr<lifecycle::WebhookSender> webhooks_;
};

/// The failing checks of a report, for a webhook payload (the reason itself when no check failed).
std::vector<lifecycle::FailingCheck> FailingChecks(const health::ProbeReport& report) {
    std::vector<lifecycle::FailingCheck> out;
    for (const auto& c : report.checks) {
        if (c.failing || c.pending) out.push_back({c.name, std::string(health::ToString(c.status)), c.message});
    }
    if (out.empty() && !report.pass) out.push_back({"probe", "error", report.reason});
    return out;
}

/// Evaluates readiness and liveness every second after start-up (waiting for the checks, so the HTTP probes,
/// which never wait, always find results at most about a second old); on a change, sends a webhook and logs.
class Monitor {
public:
    Monitor(health::ProbeState& probes, LifecycleNotifier& notifier, metrics::Family<metrics::Gauge>* gauge)
        : probes_(probes), notifier_(notifier), gauge_(gauge), thread_([this] { Run(); }) {}
    ~Monitor() {
        {
            std::lock_guard lock(mu_);
            stop_ = true;
        }
        cv_.notify_all();
        thread_.join();
    }
    /// The drain began: readiness now fails on purpose. Says so once, if it was passing.
    void OnDrain() {
        std::lock_guard lock(state_mu_);
        if (ready_.value_or(true)) {
            notifier_.Send(lifecycle::WebhookEvent::kReadiness, "failed",
                           {{"probe", "error", "draining: shutting down"}});
        }
        ready_ = false;
        if (gauge_ != nullptr) gauge_->WithLabels({"readiness"}).Set(0);
    }

private:
    void Run() {
        std::unique_lock lock(mu_);
        while (!stop_) {
            lock.unlock();
            Observe(health::Probe::kReadiness, lifecycle::WebhookEvent::kReadiness, ready_);
            Observe(health::Probe::kLiveness, lifecycle::WebhookEvent::kLiveness, alive_);
            lock.lock();
            cv_.wait_for(lock, std::chrono::seconds(1), [this] { return stop_; });
        }
    }
    void Observe(health::Probe probe, lifecycle::WebhookEvent event, std::optional<bool>& last) {
        health::ProbeReport r = probes_.Evaluate(probe, health::CheckWait::kWait);
        std::lock_guard lock(state_mu_);
        // While draining, readiness fails on purpose; OnDrain already said so.
        bool expected = probe == health::Probe::kReadiness && probes_.draining();
        if (expected) return;
        if (gauge_ != nullptr) gauge_->WithLabels({health::ToString(probe)}).Set(r.pass ? 1 : 0);
        if (last.has_value() && *last == r.pass) return;
        bool first = !last.has_value();
        last = r.pass;
        if (first && r.pass) return;  // the startup webhook already said we are up
        log::Write(r.pass ? log::Level::kInfo : log::Level::kWarning, "gale.probes", "probe state changed",
                   {{"probe", health::ToString(probe)}, {"pass", r.pass}, {"reason", r.reason}});
        notifier_.Send(event, r.pass ? "succeeded" : "failed", FailingChecks(r));
    }

    health::ProbeState& probes_;
    LifecycleNotifier& notifier_;
    metrics::Family<metrics::Gauge>* gauge_;
    std::mutex state_mu_;  // ready_, alive_
    std::optional<bool> ready_;
    std::optional<bool> alive_;
    std::mutex mu_;
    std::condition_variable cv_;
    bool stop_ = false;
    std::thread thread_;
};

/// --check-migrations: asks every second until nothing is pending (logging what is) or a stop is requested.
/// Returns true when the migrations are applied, false when stopped first.
bool WaitForMigrations(const MigrationStatusFn& migrations, lifecycle::ShutdownController& shutdown,
                       std::string_view logger) {
    while (!shutdown.requested()) {
        auto pending = migrations();
        if (pending && pending->empty()) {
            log::Info(logger, "migrations are applied");
            return true;
        }
        if (pending) {
            log::Warning(logger, "migrations pending; re-checking in 1s",
                         {{"pending", fmt::format("{}", fmt::join(*pending, ","))}});
        } else {
            log::Warning(logger, "cannot check migrations; re-checking in 1s", {{"error", pending.error().ToString()}});
        }
        shutdown.WaitFor(std::chrono::seconds(1));
    }
    return false;
}

/// Error reporting while SENTRY_DSN is set: the reporter and its log/HTTP integration, for the whole run. On the
/// way out (every return of RunRoles) the integration stops observing, then what is queued gets kSentryBudget.
class ErrorReporting {
public:
    ErrorReporting() = default;
    ErrorReporting(const ErrorReporting&) = delete;
    ErrorReporting& operator=(const ErrorReporting&) = delete;
    ~ErrorReporting() {
        if (!reporter_) return;
        integration_->Uninstall();
        if (!reporter_->Flush(kSentryBudget)) {
            log::Warning("gale.sentry", "events still unsent after the shutdown budget; dropping them",
                         {{"budget_ms", kSentryBudget.count()}});
        }
        reporter_->Stop();
    }
    /// Reads SENTRY_* (nothing to do without SENTRY_DSN) and installs the integration. `role` is the event tag.
    Result<void> Start(const App::State& state, metrics::Registry* registry, std::string_view role) {
        GALE_ASSIGN_OR_RETURN(auto options, sentry::ReporterOptionsFromEnvironment({}, state.name, state.version));
        if (!options) return {};
        options->registry = registry;
        options->tags.emplace_back("role", std::string(role));
        const std::string environment = options->environment;
        const std::string release = options->release;
        reporter_ = std::make_unique<sentry::Reporter>(std::move(*options));
        integration_ = std::make_unique<sentry::Integration>(*reporter_);
        integration_->Install();
        log::Info("gale.sentry", "reporting errors to Sentry",
                  {{"environment", environment},
                   {"release", release},
                   {"max_events_per_minute", reporter_->options().max_events_per_minute}});
        return {};
    }
    sentry::Integration* integration() noexcept { return integration_.get(); }

private:
    std::unique_ptr<sentry::Reporter> reporter_;
    std::unique_ptr<sentry::Integration> integration_;
};

int ExitCodeOf(const Error& error) { return error.code() == ErrorCode::kInvalidArgument ? 2 : 1; }

/// --command steps, in order, then --check-migrations. Returns the exit code to stop with (0 when a stop was asked
/// for meanwhile), or nothing to go on.
std::optional<int> RunStartupSteps(App::State& state, const ServeOptions& o, lifecycle::ShutdownController& shutdown,
                                   LifecycleNotifier& notifier, std::string_view logger) {
    for (const auto& cmd : o.commands) {
        if (shutdown.requested()) return 0;
        const CommandEntry* entry = state.FindCommand(cmd.front());
        if (entry == nullptr) {
            return notifier.FailStartup(2, "--command " + cmd.front(), "unknown command '" + cmd.front() + "'");
        }
        int code = RunCommand(*entry, Args(cmd.begin() + 1, cmd.end()));
        if (code != 0) {
            return notifier.FailStartup(code, "--command " + cmd.front(), fmt::format("exited with code {}", code));
        }
    }
    if (o.check_migrations) {
        if (!state.migrations) {
            return notifier.FailStartup(2, "--check-migrations",
                                        "the service declared no migrations (App::Migrations)");
        }
        if (!WaitForMigrations(state.migrations, shutdown, logger)) return 0;
    }
    // A stop asked for during the start-up steps: nobody was routed here yet, so exit without starting the roles
    // or sitting out a drain.
    if (shutdown.requested()) return 0;
    return std::nullopt;
}

/// Re-executes the binary at `path` (recorded at start-up: after a rebuild /proc/self/exe names the deleted old
/// file). A linker may still be writing the new file: ETXTBSY, ENOEXEC, ENOENT and EACCES (not executable yet)
/// are retried for up to 10 s.
int ReExec(const std::string& path, char** argv, std::string_view logger) {
    int err = 0;
    for (int attempt = 0; attempt < 50; ++attempt) {
        ::execv(path.c_str(), argv);
        err = errno;
        if (err != ETXTBSY && err != ENOEXEC && err != ENOENT && err != EACCES) break;
        std::this_thread::sleep_for(std::chrono::milliseconds(200));
    }
    log::Error(logger, "autoreload: exec failed", {{"path", path}, {"error", std::strerror(err)}});
    return 1;
}

}  // namespace

int RunRoles(App::State& state, const ServeOptions& o, std::vector<std::unique_ptr<Role>> roles, char** argv,
             std::string_view logger) {
    auto t0 = std::chrono::steady_clock::now();
    lifecycle::ShutdownController shutdown;  // before any thread starts: blocks SIGTERM/SIGINT for all of them
    const std::string self = lifecycle::AutoReloader::SelfExecutable();  // before any rebuild replaces it

    for (const auto& err : state.registration_errors) log::Error(logger, "invalid declaration", {{"error", err}});
    if (!state.registration_errors.empty()) return 2;
    std::uint64_t fd_limit = http::RaiseOpenFileLimit();
    log::Debug(logger, "open file limit", {{"nofile", fd_limit}});

    // --- metrics every role shares ---
    metrics::Registry* registry = o.no_metrics ? nullptr : &state.registry;
    metrics::Family<metrics::Gauge>* probe_gauge = nullptr;
    if (registry != nullptr) {
        (void)registry->AddInfo("gale_build_info", "Service and gale version.",
                                {{"service", state.name}, {"version", state.version}, {"gale_version", kVersion}});
        if (auto g = registry->AddGauge("gale_probe_status", "1 when the probe passes, 0 when it fails.", {"probe"})) {
            probe_gauge = *g;
        }
        (void)registry->AddCallbackCounter("gale_bugs", "Internal inconsistencies survived (GALE_BUG sites reached).",
                                           [] { return static_cast<double>(BugsReported()); });
        metrics::AddProcessCollector(*registry);
    }

    // --- probes: figures from every role ---
    health::ProbeState probes(
        state.checks,
        {.req_queue_len = o.req_queue_len, .max_lifetime = o.max_lifetime, .watchdog_timeout = o.watchdog_timeout},
        {[&roles] {
             std::size_t n = 0;
             for (const auto& r : roles) n += r->queue_length();
             return n;
         },
         [&roles] {
             std::int64_t worst = 0;
             for (const auto& r : roles) worst = std::max(worst, r->stall_ms());
             return worst;
         },
         [&roles] {
             std::uint64_t n = 0;
             for (const auto& r : roles) n += r->requests_served();
             return n;
         }});

    LifecycleNotifier notifier(state, o, logger);
    ErrorReporting sentry;  // after the notifier: start-up failures below are reported before it goes
    std::string_view role_tag = logger.starts_with("gale.") ? logger.substr(5) : logger;
    if (auto r = sentry.Start(state, registry, role_tag); !r) {
        return notifier.FailStartup(2, "sentry", r.error().ToString());
    }
    RoleContext context{state, o, registry, shutdown, sentry.integration()};
    for (auto& role : roles) {
        if (auto r = role->Declare(context); !r) {
            return notifier.FailStartup(ExitCodeOf(r.error()), std::string(role->name()), r.error().ToString());
        }
    }

    // --- probe server (or the probe routes on a role's own port) ---
    health::ProbeServerOptions po{.bind = o.bind,
                                  .port = o.probe_port,
                                  .startup_path = o.startup_probe,
                                  .readiness_path = o.readiness_probe,
                                  .liveness_path = o.liveness_probe,
                                  .metrics_path = o.no_metrics ? std::string() : o.metrics_path,
                                  .listen_fd = o.inherited.probe};
    for (auto& role : roles) {
        if (auto render = role->MetricsRenderer()) po.render_metrics = std::move(render);
    }
    std::unique_ptr<health::ProbeServer> probe_server;
    http::Router* integrated = nullptr;
    for (auto& role : roles) integrated = integrated != nullptr ? integrated : role->ProbeRouter();
    if (o.no_probe) {
        log::Info(logger, "no probe server (--no-probe); metrics off");
    } else if (integrated != nullptr) {
        if (auto r = health::AddProbeRoutes(*integrated, po, probes, registry); !r) {
            return notifier.FailStartup(2, "probe routes", r.error().ToString());
        }
    } else {
        auto started = health::ProbeServer::Start(po, probes, registry);
        if (!started) {
            return notifier.FailStartup(ExitCodeOf(started.error()), "probe server", started.error().ToString());
        }
        probe_server = std::move(*started);
        log::Info(logger, "probe server listening",
                  {{"port", probe_server->port()},
                   {"startup", o.startup_probe},
                   {"readiness", o.readiness_probe},
                   {"liveness", o.liveness_probe},
                   {"metrics", o.no_metrics ? std::string("off") : o.metrics_path}});
    }

    // --- start-up steps ---
    if (auto r = state.resources.CreateAtStart(); !r) {
        return notifier.FailStartup(1, "resources", r.error().ToString());
    }
    if (auto stop = RunStartupSteps(state, o, shutdown, notifier, logger)) return *stop;

    // --- the roles take work ---
    std::size_t started_roles = 0;
    for (auto& role : roles) {
        if (auto r = role->Start(); !r) {
            for (std::size_t i = started_roles; i-- > 0;) roles[i]->Stop();
            return notifier.FailStartup(ExitCodeOf(r.error()), std::string(role->name()), r.error().ToString());
        }
        ++started_roles;
    }
    state.checks.Invalidate();  // the start-up steps may have changed what the checks read (migrations)
    probes.SetStarted();
    double startup_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    if (registry != nullptr) {
        (void)registry->AddCallbackGauge("gale_startup_duration_seconds",
                                         "Time from the start of the process's role to it taking work.",
                                         [startup_s] { return startup_s; });
    }
    notifier.Send(lifecycle::WebhookEvent::kStartup, "succeeded");

    std::unique_ptr<lifecycle::AutoReloader> reloader;
    if (o.autoreload) {
        std::vector<std::string> paths = o.watch;
        paths.push_back(self);
        reloader = std::make_unique<lifecycle::AutoReloader>(
            paths,
            [&shutdown, logger](const std::string& changed) {
                log::Info(logger, "autoreload: change detected; restarting", {{"path", changed}});
                shutdown.Request(lifecycle::StopReason::kReload, changed);
            },
            std::chrono::milliseconds(500), o.watch_suffixes);
    }
    auto monitor = std::make_unique<Monitor>(probes, notifier, probe_gauge);

    // --- run until asked to stop, then drain ---
    lifecycle::StopReason reason = shutdown.Wait();
    bool reload = reason == lifecycle::StopReason::kReload;
    probes.SetDraining();
    monitor->OnDrain();
    notifier.Send(lifecycle::WebhookEvent::kShutdown, "started");
    bool delayed = false;
    for (auto& role : roles) delayed = delayed || role->WaitsForDrainDelay();
    log::Info(logger, "shutdown started",
              {{"reason", shutdown.why()},
               {"drain_delay_ms", reload || !delayed ? 0 : o.drain_delay.count()},
               {"graceful_timeout_ms", o.graceful_timeout.count()}});
    for (auto& role : roles) role->BeginDrain();
    for (auto& role : roles) {
        if (!role->WaitsForDrainDelay()) role->StopTaking();
    }
    if (delayed && !reload) shutdown.SleepUnlessForced(o.drain_delay);
    for (auto& role : roles) {
        if (role->WaitsForDrainDelay()) role->StopTaking();
    }
    auto deadline = std::chrono::steady_clock::now() + o.graceful_timeout;
    bool clean = true;
    for (auto& role : roles) clean = role->WaitIdle(deadline) && clean;
    if (!clean) log::Warning(logger, "graceful timeout: ending the work still in flight");
    monitor.reset();
    reloader.reset();
    for (std::size_t i = roles.size(); i-- > 0;) roles[i]->Stop();
    if (probe_server) probe_server->Stop();
    std::uint64_t served = 0;
    for (const auto& role : roles) served += role->requests_served();
    log::Info(logger, "shutdown finished", {{"clean", clean}, {"requests_served", served}});
    notifier.Send(lifecycle::WebhookEvent::kShutdown, "finished");
    notifier.Finish();
    if (reload) return ReExec(self, argv, logger);
    int code = 0;
    for (const auto& role : roles) code = std::max(code, role->exit_code());
    return code;
}

int FailStartupBeforeRoles(const App::State& state, const ServeOptions& o, std::string_view logger, int code,
                           const std::string& step, const std::string& error) {
    LifecycleNotifier notifier(state, o, logger);
    return notifier.FailStartup(code, step, error);
}

int RunStartupStepsAlone(App::State& state, const ServeOptions& o, std::string_view logger) {
    lifecycle::ShutdownController shutdown;
    LifecycleNotifier notifier(state, o, logger);
    auto stop = RunStartupSteps(state, o, shutdown, notifier, logger);
    notifier.Finish();
    return stop.value_or(0);
}

}  // namespace gale::app
