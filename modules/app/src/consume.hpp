// SPDX-License-Identifier: MIT
/// @file consume.hpp (private)
/// @brief The CONSUME role: every registered log-pipe consumer in one process, round-robin, under the same probe
///        server, metrics, webhooks and SIGTERM handling as `serve`.
#pragma once

#include "serve_options.hpp"
#include "state.hpp"

namespace gale::app {

/// Runs until SIGTERM/SIGINT; returns the exit code. Readiness: started, not draining, and the last round reached
/// every backend. Liveness: the consume loop turned within --watchdog-timeout (a Save stuck for longer fails it).
int Consume(App::State& state, const ServeOptions& options);

}  // namespace gale::app
