// SPDX-License-Identifier: MIT
/// @file gale/config/run_mode.hpp
/// @brief The run modes (base-python's APP_RUN_MODE): which role the binary plays when started without a
///        sub-command. One enum for the environment contract, the command line and `deploy k8s`.
#pragma once

#include <array>
#include <string>
#include <string_view>
#include <vector>

#include <gale/base/error.hpp>

namespace gale::config {

/// | mode    | role                                                         |
/// |---------|--------------------------------------------------------------|
/// | WEB     | `serve`: the HTTP app server (the default)                  |
/// | TASK    | the commands of APP_TASK_COMMANDS, run to completion         |
/// | WORKER  | the task worker                                              |
/// | BEAT    | the periodic scheduler                                       |
/// | CONSUME | `consume`: log-pipe and AMQP consumers                       |
enum class RunMode { kWeb, kTask, kWorker, kBeat, kConsume };

inline constexpr std::array<RunMode, 5> kRunModes = {RunMode::kWeb, RunMode::kTask, RunMode::kWorker, RunMode::kBeat,
                                                     RunMode::kConsume};

/// The wire name: "WEB", "TASK", "WORKER", "BEAT", "CONSUME".
std::string_view ToString(RunMode mode) noexcept;

/// Every wire name, in kRunModes order (the contract's choices).
std::vector<std::string> RunModeNames();

/// Parses a run mode, case-insensitively. The error (kInvalidArgument) names `what` (e.g. "APP_RUN_MODE"), the
/// value and the choices.
[[nodiscard]] Result<RunMode> ParseRunMode(std::string_view text, std::string_view what = "run mode");

}  // namespace gale::config
