// SPDX-License-Identifier: MIT
/// @file gale/sentry/settings.hpp
/// @brief The Reporter's options from the environment (the contract's "Sentry" group).
///
/// | Variable | Meaning | Default |
/// |----------|---------|---------|
/// | SENTRY_DSN | where events go; unset: no reporting | unset |
/// | SENTRY_ENVIRONMENT | `environment` of every event | `production` (Sentry's own default) |
/// | SENTRY_RELEASE | `release` of every event | `<service>@<version>` |
/// | SENTRY_SAMPLE_RATE | share of events sent, 0 to 1 | 1 |
/// | SENTRY_MAX_EVENTS_PER_MINUTE | the client's budget | 60 |
#pragma once

#include <optional>
#include <string_view>

#include <gale/base/environment.hpp>
#include <gale/base/error.hpp>
#include <gale/sentry/reporter.hpp>

namespace gale::sentry {

/// Reads the variables above through `lookup` (the process environment when empty). nullopt when SENTRY_DSN is
/// unset or empty. server_name is the host name (the pod's name on Kubernetes). Errors (kInvalidArgument) name the
/// variable; a bad DSN's value is never quoted.
[[nodiscard]] Result<std::optional<ReporterOptions>> ReporterOptionsFromEnvironment(const EnvLookup& lookup,
                                                                                    std::string_view service,
                                                                                    std::string_view version);

}  // namespace gale::sentry
