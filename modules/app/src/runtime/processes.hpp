// SPDX-License-Identifier: MIT
/// @file runtime/processes.hpp (private)
/// @brief `serve --processes N`: N processes serve one app port, forked after the app is loaded, under one
///        supervisor that owns the probe port, the webhooks and the drain.
///
/// In the process that was started (the supervisor), before any thread exists:
///   1. every socket is opened: the app port as one SO_REUSEPORT group of N × loops sockets (so a port in use fails
///      once, here, and no stray can join), one loopback probe socket per process, and the public probe port;
///   2. the start-up steps (--command, --check-migrations) run once, in a process of their own forked for them, so
///      that what they open (database connections, an interpreter's state) never reaches the servers;
///   3. N processes are forked (App::OnFork hooks around each); each takes its share of the app sockets and its
///      loopback probe socket and runs the roles as `serve` does, without webhooks, steps or autoreload. Each dies
///      with the supervisor (PR_SET_PDEATHSIG), and its log records carry "process": its index;
///   4. the supervisor runs its own role under the runner: its readiness, liveness and startup are those of every
///      process (one check per process and probe, asking the process's loopback probe port), its metrics path merges
///      every process's metrics with a `process` label, it sends the webhooks, and SIGTERM is forwarded to every
///      process, which drain as one would; the supervisor waits for them.
/// A process that ends while not asked to makes the supervisor drain the others and exit 1: the orchestrator then
/// restarts the whole, as it would restart a single process (processes are not respawned one by one).
#pragma once

#include <functional>
#include <memory>
#include <string_view>
#include <vector>

#include "runtime/role.hpp"
#include "serve_options.hpp"
#include "state.hpp"

namespace gale::app {

using RoleFactory = std::function<std::vector<std::unique_ptr<Role>>()>;

/// Runs `options.processes` processes of the roles `make_roles` gives (see above) and returns the exit code: in the
/// supervisor its own; in a forked process, that process's (the caller returns it from main as usual).
int RunProcesses(App::State& state, const ServeOptions& options, const RoleFactory& make_roles, char** argv,
                 std::string_view logger);

}  // namespace gale::app
