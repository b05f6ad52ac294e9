// SPDX-License-Identifier: MIT
/// @file runtime/role.hpp (private)
/// @brief What one role of a long-running process declares. The Runner (runner.hpp) owns everything else:
///        start-up steps, the probe server, metrics, webhooks, autoreload and the drain.
///
/// A process runs one or more roles (`serve`: the web role; `consume`: log-pipe consumers, AMQP consumers) under
/// one probe server and one drain budget. The Runner calls, in this order and from its own (the main) thread:
///   Declare → [probe server up, start-up steps] → Start → … → BeginDrain → StopTaking → WaitIdle → Stop.
/// Only the health accessors (queue_length, stall_ms, requests_served) are called from other threads (the probe
/// server, the monitor), so they must be thread-safe.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>

#include <gale/base/error.hpp>
#include <gale/health/checks.hpp>
#include <gale/http/router.hpp>
#include <gale/lifecycle/shutdown.hpp>
#include <gale/metrics/registry.hpp>
#include <gale/sentry/integration.hpp>

#include "serve_options.hpp"
#include "state.hpp"

namespace gale::app {

/// What a role may use while it declares itself.
struct RoleContext {
    App::State& state;
    const ServeOptions& options;
    metrics::Registry* registry;  ///< null with --no-metrics
    lifecycle::ShutdownController& shutdown;
    sentry::Integration* sentry = nullptr;  ///< null without SENTRY_DSN; reports 5xx answers (web role)
};

class Role {
public:
    virtual ~Role() = default;
    /// The role's name in logs ("web", "pipe-consumers").
    virtual std::string_view name() const noexcept = 0;
    /// Before the probe server starts: register the role's checks and metrics, prepare what must exist before
    /// start-up succeeds (not yet taking work). An error stops start-up: exit 2 for kInvalidArgument, else 1.
    virtual Result<void> Declare(RoleContext& context) = 0;
    /// When the probes share this role's port (serve's --probe-port equal to --port): the router they go on.
    virtual http::Router* ProbeRouter() noexcept { return nullptr; }
    /// After the start-up steps: start taking work (listen, consume). Errors as for Declare.
    virtual Result<void> Start() = 0;
    /// True when clients reach the role through a load balancer that needs time to see readiness fail (serve):
    /// such a role keeps working through --drain-delay. Others stop taking work as soon as the drain begins.
    virtual bool WaitsForDrainDelay() const noexcept { return false; }
    /// The drain began (readiness fails from now on); keep working, but tell clients to move (Connection: close).
    virtual void BeginDrain() {}
    /// Stop taking new work (close listeners, stop fetching); work in flight continues.
    virtual void StopTaking() = 0;
    /// Waits until in-flight work is done or `deadline` passes. True when everything finished.
    virtual bool WaitIdle(std::chrono::steady_clock::time_point deadline) = 0;
    /// After WaitIdle: end what remains (close connections, join threads) and log the role's summary.
    virtual void Stop() = 0;

    // Health inputs (thread-safe): readiness fails while queue_length() >= --req-queue-len; liveness fails when
    // stall_ms() passes --watchdog-timeout, or requests_served() passes --max-lifetime.
    virtual std::size_t queue_length() const noexcept { return 0; }
    virtual std::int64_t stall_ms() const noexcept { return 0; }
    virtual std::uint64_t requests_served() const noexcept { return 0; }

    /// The process's exit code after a drain, as far as this role decides it (the supervisor of --processes: 1 when
    /// a process it ran failed). The runner exits with the highest.
    virtual int exit_code() const noexcept { return 0; }
    /// When set: what the probe port's metrics path serves instead of this process's registry (the supervisor of
    /// --processes merges every process's metrics).
    virtual std::function<std::string(metrics::Format)> MetricsRenderer() { return {}; }
};

}  // namespace gale::app
