// SPDX-License-Identifier: MIT
/// @file roles/web.hpp (private)
/// @brief The WEB role: the app server with the service's routes, static and media files, and HTTP metrics.
#pragma once

#include <memory>

#include "runtime/role.hpp"

namespace gale::app {

/// The role `serve` runs. Readiness follows its request queue, liveness its event loops' watchdog and
/// --max-lifetime; it keeps serving through --drain-delay (responses carry Connection: close), then stops accepting
/// and lets in-flight requests finish.
std::unique_ptr<Role> MakeWebRole();

}  // namespace gale::app
