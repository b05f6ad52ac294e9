// SPDX-License-Identifier: MIT
/// @file gale/metrics/gauge.hpp
/// @brief Gauge: a value that goes up and down (in-flight requests, pool size, temperature).
#pragma once

#include <atomic>

#include <gale/metrics/detail/shard.hpp>

namespace gale::metrics {

/// A current measurement that may go up or down.
///
/// Unlike Counter, a gauge is one relaxed atomic on its own cache line, not sharded: Set() must replace the value
/// exactly, which a sum of slots cannot do. Add() is a lock-free compare-and-swap loop; it is fine for an in-flight
/// gauge on the request path, but a Counter is cheaper where only increments are needed.
///
/// Thread-safety: all members may be called concurrently; each is atomic.
/// Lifetime: neither copyable nor movable; usually owned by a Family in a Registry.
class Gauge {
public:
    Gauge() = default;
    Gauge(const Gauge&) = delete;
    Gauge& operator=(const Gauge&) = delete;

    /// Replaces the value.
    void Set(double value) noexcept { value_.store(value, std::memory_order_relaxed); }
    /// Adds `delta` (may be negative).
    void Add(double delta) noexcept { value_.fetch_add(delta, std::memory_order_relaxed); }
    /// The current value.
    [[nodiscard]] double Value() const noexcept { return value_.load(std::memory_order_relaxed); }

private:
    alignas(detail::kCacheLineSize) std::atomic<double> value_{0.0};
};

}  // namespace gale::metrics
