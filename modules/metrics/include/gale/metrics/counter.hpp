// SPDX-License-Identifier: MIT
/// @file gale/metrics/counter.hpp
/// @brief Counter: a monotonically increasing value, sharded so that concurrent increments do not contend.
#pragma once

#include <array>
#include <atomic>

#include <gale/base/check.hpp>
#include <gale/metrics/detail/shard.hpp>

namespace gale::metrics {

/// A value that only goes up: requests served, bytes sent, errors.
///
/// Inc() adds to one of detail::kShardCount cache-line-sized slots chosen by the calling thread, with a relaxed
/// atomic: no lock, no allocation, and no cache line shared with other hot threads. Value() sums the slots.
///
/// Thread-safety: all members may be called concurrently. Value() is not a snapshot across slots: an increment
/// racing with it may or may not be included, but every completed Inc() is counted by later reads.
/// Lifetime: neither copyable nor movable (callers keep references); usually owned by a Family in a Registry.
class Counter {
public:
    Counter() = default;
    Counter(const Counter&) = delete;
    Counter& operator=(const Counter&) = delete;

    /// Adds `amount`, which must be >= 0. A negative or NaN amount is a bug: it asserts in debug builds and is
    /// ignored in release builds, so the counter never decreases.
    void Inc(double amount = 1.0) noexcept {
        GALE_ASSERT(amount >= 0.0);
        if (!(amount >= 0.0)) return;
        shards_[detail::ShardIndex()].value.fetch_add(amount, std::memory_order_relaxed);
    }

    /// The sum of all increments so far.
    [[nodiscard]] double Value() const noexcept {
        double sum = 0.0;
        for (const auto& shard : shards_) sum += shard.value.load(std::memory_order_relaxed);
        return sum;
    }

private:
    std::array<detail::PaddedAtomicDouble, detail::kShardCount> shards_{};
};

}  // namespace gale::metrics
