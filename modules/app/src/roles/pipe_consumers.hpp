// SPDX-License-Identifier: MIT
/// @file roles/pipe_consumers.hpp (private)
/// @brief The log-pipe consumers of `consume`: every consumer registered with App::Consumer, round-robin on one
///        thread of their own.
#pragma once

#include <memory>

#include "runtime/role.hpp"

namespace gale::app {

/// Readiness: the last round reached every backend (a readiness check, "pipe-backends"). Liveness: the consume loop
/// turned within --watchdog-timeout (a Save stuck for longer fails it). On the drain the round in progress
/// finishes (the record being saved is saved and committed, or not at all) and the loop ends; consumers do not
/// sit out --drain-delay, since no load balancer sends them work.
std::unique_ptr<Role> MakePipeConsumersRole();

}  // namespace gale::app
