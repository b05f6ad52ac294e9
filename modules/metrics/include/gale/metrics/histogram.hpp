// SPDX-License-Identifier: MIT
/// @file gale/metrics/histogram.hpp
/// @brief Histogram: counts observations into fixed buckets, sharded so that concurrent observations do not contend.
#pragma once

#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <vector>

#include <gale/metrics/detail/shard.hpp>

namespace gale::metrics {

/// A distribution of observations (latencies, sizes) over buckets with upper bounds fixed at creation, plus their
/// count and sum. Bucket `le=b` counts the observations <= b; the implicit last bucket `+Inf` counts all of them.
///
/// Observe() finds the bucket by binary search and updates the calling thread's slot (see detail::ShardIndex) with
/// relaxed atomics: no lock, no allocation. Each slot spans whole cache lines, so hot threads never share one.
/// Memory: detail::kShardCount * ceil((buckets + 2) / 8) * 64 bytes, 2 KiB for the 14 default buckets.
///
/// Thread-safety: all members may be called concurrently. Collect() sums the slots without stopping writers;
/// its bucket counts and count are always consistent with each other (count is derived from the buckets), while
/// the sum may include an observation whose bucket increment is not yet visible, or vice versa.
/// Lifetime: neither copyable nor movable; usually owned by a Family in a Registry.
class Histogram {
public:
    /// A point-in-time reading.
    struct Snapshot {
        std::vector<std::uint64_t> cumulative_counts;  ///< one per upper bound, then one for +Inf (== count)
        double sum = 0.0;
        std::uint64_t count = 0;
    };

    /// `upper_bounds` must be finite and strictly increasing, without the implicit +Inf; it may be empty. A
    /// violation is a bug and fails a GALE_CHECK (Registry::AddHistogram validates and returns an error instead).
    explicit Histogram(std::vector<double> upper_bounds);
    Histogram(const Histogram&) = delete;
    Histogram& operator=(const Histogram&) = delete;
    ~Histogram();

    /// Records one observation. NaN is counted in the +Inf bucket only and makes the sum NaN, as in the Prometheus
    /// client libraries; pass only real values.
    void Observe(double value) noexcept;

    /// Sums the slots.
    [[nodiscard]] Snapshot Collect() const;

    /// The finite upper bounds given at creation.
    [[nodiscard]] std::span<const double> UpperBounds() const noexcept { return upper_bounds_; }

private:
    static constexpr std::size_t kCellsPerLine = detail::kCacheLineSize / sizeof(std::uint64_t);
    struct alignas(detail::kCacheLineSize) Line {
        std::array<std::atomic<std::uint64_t>, kCellsPerLine> cells;
    };
    // Cell 0 of a slot holds the sum (bits of a double); cell 1 + i the count of bucket i (not cumulative), the
    // last one being +Inf.
    std::atomic<std::uint64_t>& Cell(std::size_t shard, std::size_t index) const noexcept {
        return lines_[shard * lines_per_shard_ + index / kCellsPerLine].cells[index % kCellsPerLine];
    }

    std::vector<double> upper_bounds_;
    std::size_t lines_per_shard_;
    std::unique_ptr<Line[]> lines_;
};

/// The Prometheus client libraries' default buckets, in seconds: .005 .01 .025 .05 .075 .1 .25 .5 .75 1 2.5 5 7.5 10.
std::vector<double> DefaultBuckets();

/// `count` bounds: start, start*factor, start*factor^2, … Needs start > 0 and factor > 1; other arguments yield
/// bounds that Registry::AddHistogram rejects.
std::vector<double> ExponentialBuckets(double start, double factor, std::size_t count);

}  // namespace gale::metrics
