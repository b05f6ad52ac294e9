// SPDX-License-Identifier: MIT
//
// Start-up order (each step logged as one JSON line):
//   1. probe server listens at once (so /startup answers 503 while the next steps run)
//   2. --command steps, in order; a failure sends the startup/failed webhook and exits with the command's code
//   3. --check-migrations: re-checked every second until nothing is pending
//   4. the app server listens; /startup passes; startup/succeeded webhook
// Shutdown on SIGTERM/SIGINT: readiness fails at once, the app keeps serving (responses carry Connection: close)
// for --drain-delay, then stops accepting and waits up to --graceful-timeout for in-flight requests; exit 0.
// A second signal exits at once (ShutdownController).
#include "serve.hpp"

#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <condition_variable>
#include <cstring>
#include <optional>
#include <thread>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <gale/base/clock.hpp>
#include <gale/health/probes.hpp>
#include <gale/http/server.hpp>
#include <gale/http/static_files.hpp>
#include <gale/lifecycle/autoreload.hpp>
#include <gale/lifecycle/shutdown.hpp>
#include <gale/lifecycle/webhooks.hpp>
#include <gale/log/log.hpp>
#include <gale/metrics/exposition.hpp>
#include <gale/metrics/process_collector.hpp>

#include "http_metrics.hpp"
#include "probe_runtime.hpp"

namespace gale::app {
namespace {

constexpr const char* kLogger = "gale.serve";

Result<void> MountFiles(http::Router& router, const Mount& mount,
                        std::vector<std::unique_ptr<http::StaticFiles>>& keep) {
    auto files = http::StaticFiles::Create({.root = mount.dir, .url_prefix = mount.url});
    if (!files) return tl::unexpected(files.error());
    keep.push_back(std::make_unique<http::StaticFiles>(std::move(*files)));
    http::StaticFiles* f = keep.back().get();
    auto r = router.Add(http::Method::kGet, mount.url + "{path...}", [f](http::Request& req) { return f->Serve(req); });
    if (!r) return tl::unexpected(r.error());
    log::Info(kLogger, "serving files", {{"url", mount.url}, {"root", f->root()}});
    return {};
}

}  // namespace

int Serve(App::State& state, const ServeOptions& o, char** argv) {
    auto t0 = std::chrono::steady_clock::now();
    lifecycle::ShutdownController shutdown;  // before any thread starts: blocks SIGTERM/SIGINT for all of them

    for (const auto& err : state.registration_errors) log::Error(kLogger, "invalid declaration", {{"error", err}});
    if (!state.registration_errors.empty()) return 2;

    // --- servers (not yet listening) ---
    http::ServerOptions app_opts;
    app_opts.name = "app";
    app_opts.bind = o.bind;
    app_opts.port = o.port;
    app_opts.loops = o.loops;
    app_opts.workers = o.workers;
    app_opts.max_body_size = o.max_body_size;
    app_opts.header_timeout = o.header_timeout;
    app_opts.keep_alive_timeout = o.keep_alive_timeout;
    app_opts.access_log = o.access_log;
    if (o.security_headers) {
        // A handler's own header of the same name wins over these.
        app_opts.default_headers = {{"Strict-Transport-Security", "max-age=31536000; includeSubDomains"},
                                    {"X-Content-Type-Options", "nosniff"},
                                    {"X-Frame-Options", "DENY"},
                                    {"Referrer-Policy", "strict-origin-when-cross-origin"}};
    }

    std::vector<std::unique_ptr<http::StaticFiles>> file_mounts;
    for (const auto* m : {&o.static_mount, &o.media_mount}) {
        if (!m->has_value()) continue;
        if (auto r = MountFiles(state.router, **m, file_mounts); !r) {
            log::Error(kLogger, "cannot serve files", {{"error", r.error().ToString()}});
            return 2;
        }
    }

    std::unique_ptr<HttpMetrics> http_metrics;
    http::Server::Observer observer;
    std::size_t loops = o.loops != 0 ? o.loops : std::max(1U, std::thread::hardware_concurrency());
    app_opts.loops = loops;
    if (!o.no_metrics) {
        http_metrics = std::make_unique<HttpMetrics>(state.registry, loops);
        observer = [m = http_metrics.get()](const http::RequestRecord& r) { m->Observe(r); };
    }
    http::Server app_server(app_opts, state.router, observer);

    health::ProbeState probes(
        state.checks,
        {.req_queue_len = o.req_queue_len, .max_lifetime = o.max_lifetime, .watchdog_timeout = o.watchdog_timeout},
        {[&] { return app_server.queue_length(); }, [&] { return app_server.max_loop_stall_ms(); },
         [&] { return app_server.requests_served(); }});

    metrics::Family<metrics::Gauge>* probe_gauge = nullptr;
    if (!o.no_metrics) {
        metrics::Registry& reg = state.registry;
        (void)reg.AddCallbackGauge("gale_http_requests_in_flight", "Requests being handled.",
                                   [&] { return static_cast<double>(app_server.in_flight()); });
        (void)reg.AddCallbackGauge("gale_http_request_queue_length", "Requests waiting for a worker thread.",
                                   [&] { return static_cast<double>(app_server.queue_length()); });
        (void)reg.AddCallbackGauge("gale_http_open_connections", "Open client connections on the app port.",
                                   [&] { return static_cast<double>(app_server.open_connections()); });
        (void)reg.AddInfo("gale_build_info", "Service and gale version.",
                          {{"service", state.name}, {"version", state.version}, {"gale_version", "0.1.0"}});
        if (auto g = reg.AddGauge("gale_probe_status", "1 when the probe passes, 0 when it fails.", {"probe"})) {
            probe_gauge = *g;
        }
        metrics::AddProcessCollector(reg);
    }

    LifecycleNotifier notifier(state.name, state.version, o);
    auto fail_startup = [&](int code, const std::string& what, const std::string& error) {
        return notifier.FailStartup(code, what, error);
    };

    // --- probe server ---
    bool integrated = !o.no_probe && o.probe_port == o.port && o.port != 0;
    http::Router probe_router;
    std::unique_ptr<http::Server> probe_server;
    if (!o.no_probe) {
        http::Router& target = integrated ? state.router : probe_router;
        if (auto r = AddProbeRoutes(target, o, probes, state.registry); !r) {
            return fail_startup(2, "probe routes", r.error().ToString());
        }
    }
    if (!o.no_probe && !integrated) {
        auto started = StartProbeServer(o, probe_router);
        if (!started) return fail_startup(1, "probe server", started.error().ToString());
        probe_server = std::move(*started);
        log::Info(kLogger, "probe server listening",
                  {{"port", probe_server->port()},
                   {"startup", o.startup_probe},
                   {"readiness", o.readiness_probe},
                   {"liveness", o.liveness_probe},
                   {"metrics", o.no_metrics ? std::string("off") : o.metrics_path}});
    } else if (o.no_probe) {
        log::Info(kLogger, "no probe server (--no-probe); metrics off");
    }

    // --- start-up steps ---
    for (const auto& cmd : o.commands) {
        if (shutdown.requested()) return 0;
        const CommandEntry* entry = state.FindCommand(cmd.front());
        if (entry == nullptr)
            return fail_startup(2, "--command " + cmd.front(), "unknown command '" + cmd.front() + "'");
        int code = RunCommand(*entry, Args(cmd.begin() + 1, cmd.end()));
        if (code != 0) {
            return fail_startup(code, "--command " + cmd.front(), fmt::format("exited with code {}", code));
        }
    }
    if (o.check_migrations) {
        if (!state.migrations) {
            return fail_startup(2, "--check-migrations", "the service declared no migrations (App::Migrations)");
        }
        if (!WaitForMigrations(state.migrations, shutdown, kLogger)) return 0;
    }

    // A stop asked for during the start-up steps (the checks above run only before each step): nobody was routed
    // here yet, so exit without opening the app port or sitting out a drain.
    if (shutdown.requested()) return 0;

    // --- app server ---
    if (auto r = app_server.Listen(); !r) return fail_startup(1, "app server", r.error().ToString());
    app_server.Start();
    probes.SetStarted();
    double startup_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    if (!o.no_metrics) {
        (void)state.registry.AddCallbackGauge("gale_startup_duration_seconds",
                                              "Time from the start of serve to the app port opening.",
                                              [startup_s] { return startup_s; });
    }
    log::Info(kLogger, "app server listening",
              {{"service", state.name},
               {"version", state.version},
               {"port", app_server.port()},
               {"loops", app_server.options().loops},
               {"workers", app_server.options().workers},
               {"startup_ms", startup_s * 1000},
               {"probes", integrated ? "integrated" : "separate"}});
    notifier.Send(lifecycle::WebhookEvent::kStartup, "succeeded");

    std::unique_ptr<lifecycle::AutoReloader> reloader;
    if (o.autoreload) {
        std::vector<std::string> paths = o.watch;
        paths.push_back(lifecycle::AutoReloader::SelfExecutable());
        reloader = std::make_unique<lifecycle::AutoReloader>(paths, [&shutdown](const std::string& changed) {
            log::Info(kLogger, "autoreload: change detected; restarting", {{"path", changed}});
            shutdown.Request(lifecycle::StopReason::kReload, changed);
        });
    }
    auto monitor = std::make_unique<Monitor>(probes, notifier.webhooks(), probe_gauge);

    // --- run until asked to stop ---
    lifecycle::StopReason reason = shutdown.Wait();
    bool reload = reason == lifecycle::StopReason::kReload;
    probes.SetDraining();
    app_server.SetDraining();
    notifier.Send(lifecycle::WebhookEvent::kShutdown, "started");
    log::Info(kLogger, "shutdown started",
              {{"reason", shutdown.why()},
               {"drain_delay_ms", reload ? 0 : o.drain_delay.count()},
               {"in_flight", app_server.in_flight()}});
    if (!reload) shutdown.SleepUnlessForced(o.drain_delay);
    app_server.StopAccepting();
    bool clean = app_server.WaitForIdle(o.graceful_timeout);
    if (!clean) {
        log::Warning(kLogger, "graceful timeout: closing remaining connections",
                     {{"open_connections", app_server.open_connections()}, {"in_flight", app_server.in_flight()}});
    }
    monitor.reset();
    reloader.reset();
    app_server.Stop();
    if (probe_server) probe_server->Stop();
    log::Info(kLogger, "shutdown finished", {{"clean", clean}, {"requests_served", app_server.requests_served()}});
    notifier.Send(lifecycle::WebhookEvent::kShutdown, "finished");
    notifier.Finish();
    if (reload) {
        std::string self = lifecycle::AutoReloader::SelfExecutable();
        ::execv(self.c_str(), argv);
        log::Error(kLogger, "autoreload: exec failed", {{"path", self}, {"error", std::strerror(errno)}});
        return 1;
    }
    return 0;
}

}  // namespace gale::app
