// SPDX-License-Identifier: MIT
/// @file gale/metrics/detail/shard.hpp
/// @brief Per-thread shard selection for the lock-free metric cells (no stability promise).
#pragma once

#include <atomic>
#include <cstddef>

namespace gale::metrics::detail {

/// Number of slots each sharded metric keeps. Threads are spread over them round-robin, so up to this many hot
/// threads update disjoint cache lines; more threads share slots, which stays correct (atomics) but may contend.
inline constexpr std::size_t kShardCount = 16;

/// Size of the unit of false sharing on the targets gale supports (x86-64, aarch64). Not
/// std::hardware_destructive_interference_size: its value may differ between compilers and g++ warns when it is
/// used in a header.
inline constexpr std::size_t kCacheLineSize = 64;

/// Returns the next slot in round-robin order. Called once per thread, by ShardIndex().
std::size_t AssignShard() noexcept;

/// The calling thread's slot in [0, kShardCount). Assigned on first use and fixed for the thread's life; after
/// that it costs one thread-local load.
inline std::size_t ShardIndex() noexcept {
    // Constant-initialised, so the compiler needs no guard or TLS wrapper call.
    thread_local std::size_t shard = kShardCount;
    if (shard == kShardCount) [[unlikely]] {
        shard = AssignShard();
    }
    return shard;
}

/// One atomic double alone on its cache line.
struct alignas(kCacheLineSize) PaddedAtomicDouble {
    std::atomic<double> value{0.0};
};

}  // namespace gale::metrics::detail
