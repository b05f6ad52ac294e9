// SPDX-License-Identifier: MIT
/// @file serve.hpp (private)
/// @brief The WEB role: probe server, start-up steps, app server, monitor, drain on SIGTERM.
#pragma once

#include "serve_options.hpp"
#include "state.hpp"

namespace gale::app {

/// Runs `serve` until shutdown; returns the exit code. `argv` is kept for --autoreload's re-exec.
int Serve(App::State& state, const ServeOptions& options, char** argv);

}  // namespace gale::app
