// SPDX-License-Identifier: MIT
/// @file runtime/runner.hpp (private)
/// @brief The one runner of every long-running role: start-up, probes, metrics, webhooks, autoreload and the
///        drain on SIGTERM, shared by `serve`, `consume` and the roles to come.
///
/// Start-up (each step logged as one JSON line):
///   1. the roles declare their checks and metrics; the probe server listens at once, so /startup answers 503
///      while the next steps run (on the app port instead when serve's --probe-port equals --port);
///   2. --command steps, in order; a failure sends startup/failed and exits with the command's code;
///   3. --check-migrations: re-checked every second until nothing is pending;
///   4. every role starts (serve: the app port opens); the check results are invalidated (the steps may have
///      changed what they read), /startup passes, startup/succeeded is sent.
/// Drain on SIGTERM/SIGINT (a second signal exits at once with 1):
///   readiness fails at once and a readiness/failed webhook says so (if readiness was passing), shutdown/started;
///   roles that clients reach through a load balancer keep working for --drain-delay (serve), the others stop
///   taking work at once; then every role stops taking work and in-flight work gets --graceful-timeout, shared by
///   all roles; shutdown/finished; pending webhooks get kWebhookBudget more; exit 0 (1 after a forced stop).
/// With the defaults, 5 s drain delay + 20 s graceful timeout + 2 s for webhooks + 2 s for Sentry's queue (with
/// SENTRY_DSN set) fit Kubernetes' default 30 s termination grace period.
#pragma once

#include <chrono>
#include <memory>
#include <string_view>
#include <vector>

#include "runtime/role.hpp"
#include "serve_options.hpp"
#include "state.hpp"

namespace gale::app {

/// How long shutdown waits for webhooks still being delivered (then they are cancelled and abandoned, logged).
inline constexpr std::chrono::milliseconds kWebhookBudget{2000};
/// How long shutdown waits for error events still queued for Sentry (then they are dropped, logged).
inline constexpr std::chrono::milliseconds kSentryBudget{2000};

/// Runs `roles` in this process until asked to stop, drains them and returns the exit code. `logger` names the
/// process's role in logs ("gale.serve", "gale.consume"); `argv` is kept for --autoreload's re-exec. Roles must
/// not have started threads yet: the runner blocks the termination signals before any thread starts.
int RunRoles(App::State& state, const ServeOptions& options, std::vector<std::unique_ptr<Role>> roles, char** argv,
             std::string_view logger);

/// A start-up failure before RunRoles could begin (serve --processes opening its sockets): logged as RunRoles logs
/// one, and sent as startup/failed to --webhook-url. Returns `code`.
int FailStartupBeforeRoles(const App::State& state, const ServeOptions& options, std::string_view logger, int code,
                           const std::string& step, const std::string& error);

/// Only the start-up steps of `options` (--command, --check-migrations), as RunRoles runs them, with a shutdown
/// controller and webhooks of their own: the start-up process of `serve --processes`, so that they run once, not
/// once per process. Returns 0 when they succeeded or a stop was asked for, else the exit code to stop with.
int RunStartupStepsAlone(App::State& state, const ServeOptions& options, std::string_view logger);

}  // namespace gale::app
