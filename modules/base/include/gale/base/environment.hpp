// SPDX-License-Identifier: MIT
/// @file gale/base/environment.hpp
/// @brief Reading environment variables through a replaceable lookup (tests pass a map; production the process
///        environment), with one rule for every reader of settings: an empty value counts as unset.
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <string_view>

namespace gale {

/// Looks a variable up; nullopt when unset.
using EnvLookup = std::function<std::optional<std::string>(std::string_view name)>;

/// `lookup(name)`, or the process environment (getenv) without a lookup; nullopt when unset or empty.
[[nodiscard]] std::optional<std::string> LookupEnv(const EnvLookup& lookup, std::string_view name);

}  // namespace gale
