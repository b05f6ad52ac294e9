// SPDX-License-Identifier: MIT
#include <gale/health/probe_server.hpp>
#include <gale/metrics/exposition.hpp>
#include <gale/metrics/registry.hpp>

namespace gale::health {

Result<void> AddProbeRoutes(http::Router& router, const ProbeServerOptions& options, ProbeState& probes,
                            metrics::Registry* registry) {
    auto probe_route = [&](const std::string& path, Probe probe) -> Result<void> {
        auto r = router.Add(http::Method::kGet, path,
                            [&probes, probe](http::Request&) {
                                ProbeReport report = probes.Evaluate(probe, CheckWait::kPeek);
                                http::Response res = http::Response::Json(report.http_status, std::move(report.body));
                                res.AddHeader("Cache-Control", "no-store");
                                return res;
                            },
                            {.inline_handler = true});  // never waits: see CheckWait::kPeek
        if (!r) return tl::unexpected(r.error());
        return {};
    };
    GALE_RETURN_IF_ERROR(probe_route(options.startup_path, Probe::kStartup));
    GALE_RETURN_IF_ERROR(probe_route(options.readiness_path, Probe::kReadiness));
    GALE_RETURN_IF_ERROR(probe_route(options.liveness_path, Probe::kLiveness));
    if ((registry != nullptr || options.render_metrics) && !options.metrics_path.empty()) {
        auto render = options.render_metrics;
        if (!render) render = [registry](metrics::Format format) { return registry->Render(format); };
        auto r = router.Add(http::Method::kGet, options.metrics_path, [render](http::Request& req) {
            auto format = metrics::NegotiateFormat(req.header("accept").value_or(""));
            http::Response res = http::Response::Text(200, render(format), metrics::ContentType(format));
            res.AddHeader("Cache-Control", "no-store");
            return res;
        });
        if (!r) return tl::unexpected(r.error());
    }
    return {};
}

Result<std::unique_ptr<ProbeServer>> ProbeServer::Start(const ProbeServerOptions& options, ProbeState& probes,
                                                        metrics::Registry* registry) {
    std::unique_ptr<ProbeServer> self(new ProbeServer());
    GALE_RETURN_IF_ERROR(AddProbeRoutes(self->router_, options, probes, registry));
    http::ServerOptions so;
    so.name = "probe";
    so.bind = options.bind;
    so.port = options.port;
    so.loops = 1;
    so.workers = 2;
    so.access_log = false;
    so.max_connections = options.max_connections;
    if (options.listen_fd >= 0) so.listen_fds = {options.listen_fd};
    self->server_ = std::make_unique<http::Server>(so, self->router_);
    GALE_RETURN_IF_ERROR(self->server_->Listen());
    self->server_->Start();
    return self;
}

ProbeServer::~ProbeServer() { Stop(); }

void ProbeServer::Stop() {
    if (server_) server_->Stop();
}

}  // namespace gale::health
