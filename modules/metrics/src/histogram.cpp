// SPDX-License-Identifier: MIT
#include <algorithm>
#include <bit>
#include <cmath>
#include <utility>

#include <gale/base/check.hpp>
#include <gale/metrics/histogram.hpp>

namespace gale::metrics {
namespace {

// std::atomic<double>::fetch_add on the bits of a double kept in a uint64_t cell, so that a slot's sum and counts
// share one array of cells.
void AddToDoubleCell(std::atomic<std::uint64_t>& cell, double delta) noexcept {
    std::uint64_t old_bits = cell.load(std::memory_order_relaxed);
    while (!cell.compare_exchange_weak(old_bits, std::bit_cast<std::uint64_t>(std::bit_cast<double>(old_bits) + delta),
                                       std::memory_order_relaxed)) {
    }
}

}  // namespace

Histogram::Histogram(std::vector<double> upper_bounds)
    : upper_bounds_(std::move(upper_bounds)),
      lines_per_shard_((upper_bounds_.size() + 2 + kCellsPerLine - 1) / kCellsPerLine),
      lines_(new Line[detail::kShardCount * lines_per_shard_]()) {
    for (std::size_t i = 0; i < upper_bounds_.size(); ++i) {
        GALE_CHECK(std::isfinite(upper_bounds_[i]));
        GALE_CHECK(i == 0 || upper_bounds_[i - 1] < upper_bounds_[i]);
    }
    static_assert(sizeof(std::uint64_t) == sizeof(double));
    // The sum cells start as +0.0, whose bits are all zero, like the value-initialised cells.
    static_assert(std::bit_cast<std::uint64_t>(0.0) == 0);
}

Histogram::~Histogram() = default;

void Histogram::Observe(double value) noexcept {
    // First bound >= value; written as !(value <= b) so that NaN, which compares false with everything, falls
    // through to +Inf instead of landing in the first bucket.
    auto it = std::partition_point(upper_bounds_.begin(), upper_bounds_.end(),
                                   [value](double bound) { return !(value <= bound); });
    const auto bucket = static_cast<std::size_t>(it - upper_bounds_.begin());
    const std::size_t shard = detail::ShardIndex();
    Cell(shard, 1 + bucket).fetch_add(1, std::memory_order_relaxed);
    AddToDoubleCell(Cell(shard, 0), value);
}

Histogram::Snapshot Histogram::Collect() const {
    Snapshot out;
    const std::size_t buckets = upper_bounds_.size() + 1;
    out.cumulative_counts.assign(buckets, 0);
    for (std::size_t shard = 0; shard < detail::kShardCount; ++shard) {
        out.sum += std::bit_cast<double>(Cell(shard, 0).load(std::memory_order_relaxed));
        for (std::size_t i = 0; i < buckets; ++i) {
            out.cumulative_counts[i] += Cell(shard, 1 + i).load(std::memory_order_relaxed);
        }
    }
    for (std::size_t i = 1; i < buckets; ++i) out.cumulative_counts[i] += out.cumulative_counts[i - 1];
    out.count = out.cumulative_counts.back();
    return out;
}

std::vector<double> DefaultBuckets() { return {.005, .01, .025, .05, .075, .1, .25, .5, .75, 1, 2.5, 5, 7.5, 10}; }

std::vector<double> ExponentialBuckets(double start, double factor, std::size_t count) {
    std::vector<double> out;
    out.reserve(count);
    double bound = start;
    for (std::size_t i = 0; i < count; ++i) {
        out.push_back(bound);
        bound *= factor;
    }
    return out;
}

}  // namespace gale::metrics
