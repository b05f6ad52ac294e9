// SPDX-License-Identifier: MIT
#include <gale/metrics/detail/shard.hpp>

namespace gale::metrics::detail {

std::size_t AssignShard() noexcept {
    // Round-robin rather than hashing the thread id: the first kShardCount threads (an event loop per core, a
    // worker pool) are guaranteed distinct slots.
    static std::atomic<std::size_t> next{0};
    return next.fetch_add(1, std::memory_order_relaxed) % kShardCount;
}

}  // namespace gale::metrics::detail
