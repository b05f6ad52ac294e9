// SPDX-License-Identifier: MIT
/// @file gale/health/probe_server.hpp
/// @brief The probe server every long-running role has: startup, readiness, liveness and metrics on a port of
///        their own, so that probes answer while the app port is saturated.
///
/// The probe routes run inline on the probe server's event loop and never wait for a check (ProbeState::Evaluate
/// with CheckWait::kPeek), so one probe never waits behind another, whatever the checks do; the metrics route
/// renders on the server's two workers.
///
/// Config keys (as `serve` options):
/// | Name            | Description                                           | Default  |
/// |-----------------|-------------------------------------------------------|----------|
/// | bind, port      | where it listens                                      | 0.0.0.0, app port + 1 |
/// | startup_path    | startup probe                                         | /startup |
/// | readiness_path  | readiness probe                                       | /ready   |
/// | liveness_path   | liveness probe                                        | /alive   |
/// | metrics_path    | Prometheus/OpenMetrics exposition; empty: none        | /metrics |
/// | max_connections | open connections at most (kubelet opens one per probe) | 256      |
///
/// Ownership: the ProbeState and the registry must outlive the server. Thread-safety: Start and Stop from one
/// thread; port() from any.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include <gale/base/error.hpp>
#include <gale/health/probes.hpp>
#include <gale/http/router.hpp>
#include <gale/http/server.hpp>
#include <gale/metrics/exposition.hpp>

namespace gale::metrics {
class Registry;
}  // namespace gale::metrics

namespace gale::health {

struct ProbeServerOptions {
    std::string bind = "0.0.0.0";
    std::uint16_t port = 8001;
    std::string startup_path = "/startup";
    std::string readiness_path = "/ready";
    std::string liveness_path = "/alive";
    std::string metrics_path = "/metrics";
    std::size_t max_connections = 256;
    /// A listening socket opened ahead (http::OpenListeners): used instead of bind and port, owned by the server.
    int listen_fd = -1;
    /// When set, the metrics route serves what this returns for the negotiated format instead of the registry's
    /// own rendering (`serve --processes`: the metrics of every process, merged). Thread-safe; it may block.
    std::function<std::string(metrics::Format)> render_metrics{};
};

/// Adds the three probe routes, and the metrics route when `registry` (or render_metrics) is given and metrics_path
/// is not empty, to
/// `router` (for a server of its own, or the app's router when probes share the app port). Errors: a path that is
/// not a valid route or is already taken.
[[nodiscard]] Result<void> AddProbeRoutes(http::Router& router, const ProbeServerOptions& options, ProbeState& probes,
                                          metrics::Registry* registry);

class ProbeServer {
public:
    /// Listens on options.bind:options.port and starts serving. Errors: the routes (see AddProbeRoutes), or the
    /// port (in use, by any process: kUnavailable naming the address).
    [[nodiscard]] static Result<std::unique_ptr<ProbeServer>> Start(const ProbeServerOptions& options,
                                                                    ProbeState& probes, metrics::Registry* registry);
    ~ProbeServer();
    ProbeServer(const ProbeServer&) = delete;
    ProbeServer& operator=(const ProbeServer&) = delete;

    std::uint16_t port() const noexcept { return server_->port(); }
    /// Closes the port and joins the server's threads. Idempotent.
    void Stop();

private:
    ProbeServer() = default;
    http::Router router_;
    std::unique_ptr<http::Server> server_;
};

}  // namespace gale::health
