// SPDX-License-Identifier: MIT
// Capped exponential backoff, for handler retries and reconnects. Pure functions: the randomness is a parameter.
#pragma once

#include <algorithm>
#include <chrono>

namespace gale::amqp::detail {

/// The wait after `failures` (>= 1) consecutive failures: initial * 2^(failures-1), at most `max`.
[[nodiscard]] inline std::chrono::milliseconds Backoff(int failures, std::chrono::milliseconds initial,
                                                       std::chrono::milliseconds max) noexcept {
    auto d = initial;
    for (int i = 1; i < failures && d < max; ++i) d *= 2;
    return std::min(d, max);
}

/// `d` jittered into [d/2, d] by `unit` in [0, 1) ("equal jitter": replicas that lost the same broker spread out,
/// and no wait is shorter than half the schedule).
[[nodiscard]] inline std::chrono::milliseconds Jitter(std::chrono::milliseconds d, double unit) noexcept {
    unit = std::clamp(unit, 0.0, 1.0);
    const auto half = d.count() / 2;
    return std::chrono::milliseconds(
        half + static_cast<std::chrono::milliseconds::rep>(static_cast<double>(d.count() - half) * unit));
}

}  // namespace gale::amqp::detail
