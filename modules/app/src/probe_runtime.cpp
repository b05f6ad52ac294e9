// SPDX-License-Identifier: MIT
#include "probe_runtime.hpp"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <gale/metrics/exposition.hpp>

namespace gale::app {

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

LifecycleNotifier::LifecycleNotifier(const std::string& service, const std::string& version, const ServeOptions& o) {
    if (!o.webhook_urls.empty()) {
        webhooks_ = std::make_unique<lifecycle::WebhookSender>(
            lifecycle::WebhookOptions{.urls = o.webhook_urls, .service = service, .version = version});
    }
}

int LifecycleNotifier::FailStartup(int code, const std::string& step, const std::string& error) {
    log::Error("gale.serve", "start-up failed", {{"step", step}, {"error", error}, {"exit_code", code}});
    if (webhooks_) {
        webhooks_->Send(lifecycle::WebhookEvent::kStartup, "failed", {{step, "error", error}});
        (void)webhooks_->Flush(std::chrono::seconds(5));
    }
    return code;
}

void LifecycleNotifier::Send(lifecycle::WebhookEvent event, std::string_view status) {
    if (webhooks_) webhooks_->Send(event, status);
}

void LifecycleNotifier::Finish() {
    if (webhooks_) (void)webhooks_->Flush(std::chrono::seconds(5));
    webhooks_.reset();
}

Result<std::unique_ptr<http::Server>> StartProbeServer(const ServeOptions& o, const http::Router& router) {
    http::ServerOptions po;
    po.name = "probe";
    po.bind = o.bind;
    po.port = o.probe_port;
    po.loops = 1;
    po.workers = 2;
    po.access_log = false;
    auto server = std::make_unique<http::Server>(po, router);
    GALE_RETURN_IF_ERROR(server->Listen());
    server->Start();
    return server;
}

std::vector<lifecycle::FailingCheck> FailingChecks(const health::ProbeReport& report) {
    std::vector<lifecycle::FailingCheck> out;
    for (const auto& c : report.checks) {
        if (c.failing) out.push_back({c.name, std::string(health::ToString(c.status)), c.message});
    }
    if (out.empty() && !report.pass) out.push_back({"probe", "error", report.reason});
    return out;
}

/// Adds the probe and metrics routes to `router`.
Result<void> AddProbeRoutes(http::Router& router, const ServeOptions& o, health::ProbeState& probes,
                            metrics::Registry& registry) {
    auto probe_route = [&](const std::string& path, health::Probe probe) -> Result<void> {
        auto r = router.Add(http::Method::kGet, path, [&probes, probe](http::Request&) {
            health::ProbeReport report = probes.Evaluate(probe);
            http::Response res = http::Response::Json(report.http_status, std::move(report.body));
            res.AddHeader("Cache-Control", "no-store");
            return res;
        });
        if (!r) return tl::unexpected(r.error());
        return {};
    };
    GALE_RETURN_IF_ERROR(probe_route(o.startup_probe, health::Probe::kStartup));
    GALE_RETURN_IF_ERROR(probe_route(o.readiness_probe, health::Probe::kReadiness));
    GALE_RETURN_IF_ERROR(probe_route(o.liveness_probe, health::Probe::kLiveness));
    if (!o.no_metrics) {
        auto r = router.Add(http::Method::kGet, o.metrics_path, [&registry](http::Request& req) {
            auto format = metrics::NegotiateFormat(req.header("accept").value_or(""));
            http::Response res = http::Response::Text(200, registry.Render(format), metrics::ContentType(format));
            res.AddHeader("Cache-Control", "no-store");
            return res;
        });
        if (!r) return tl::unexpected(r.error());
    }
    return {};
}

}  // namespace gale::app
