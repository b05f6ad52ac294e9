// SPDX-License-Identifier: MIT
/// @file gale/base/clock.hpp
/// @brief Clock helpers: monotonic and wall time in the units the runtime uses.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>

namespace gale {

using SteadyClock = std::chrono::steady_clock;
using SystemClock = std::chrono::system_clock;

/// Monotonic milliseconds since an unspecified epoch; cheap (vDSO).
inline std::int64_t SteadyMillis() noexcept {
    return std::chrono::duration_cast<std::chrono::milliseconds>(SteadyClock::now().time_since_epoch()).count();
}

/// Wall-clock time as an RFC 3339 UTC string with milliseconds: 2026-11-26T10:32:03.123Z.
std::string FormatRfc3339(SystemClock::time_point t);

}  // namespace gale
