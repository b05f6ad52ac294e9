// SPDX-License-Identifier: MIT
/// @file gale/cache/cache.hpp
/// @brief A key-value cache for services (issue 12 §4): get, set with a time to live, delete, increment, and
///        get-or-compute with one computation per key at a time. MemoryCache (gale/cache/memory_cache.hpp) is the
///        in-process one; a Redis one is to follow behind the same interface.
///
/// Values are bytes (std::string); keys are any text. Thread-safety: every member may be called from any thread.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include <gale/base/error.hpp>

namespace gale::cache {

/// A time to live; nullopt: the cache's default (which may be "forever").
using Ttl = std::optional<std::chrono::milliseconds>;

class Cache {
public:
    Cache();
    virtual ~Cache();
    Cache(const Cache&) = delete;
    Cache& operator=(const Cache&) = delete;

    /// The value, or nullopt when absent or expired.
    [[nodiscard]] virtual Result<std::optional<std::string>> Get(std::string_view key) = 0;
    /// Stores `value` under `key` for `ttl` (a zero or negative ttl: the entry is not kept).
    [[nodiscard]] virtual Result<void> Set(std::string_view key, std::string value, Ttl ttl = std::nullopt) = 0;
    /// Whether there was an entry to remove.
    [[nodiscard]] virtual Result<bool> Delete(std::string_view key) = 0;
    /// Adds `by` to the decimal integer stored under `key` (absent: 0) and returns the sum, keeping the entry's
    /// time to live (a new entry gets the default). Errors: kInvalidArgument when the value is not a 64-bit decimal
    /// integer or the sum overflows.
    [[nodiscard]] virtual Result<std::int64_t> Increment(std::string_view key, std::int64_t by = 1) = 0;

    /// The cached value, or `compute()`'s, which is stored for `ttl`. While one caller computes a key, the others
    /// asking for it (in this process) wait for that result instead of computing it again; an error is returned to
    /// each of them and not cached, so the next call computes again.
    [[nodiscard]] Result<std::string> GetOrCompute(std::string_view key,
                                                   const std::function<Result<std::string>()>& compute,
                                                   Ttl ttl = std::nullopt);

private:
    struct Flights;  // the keys being computed now, and who waits for them
    std::unique_ptr<Flights> flights_;
};

}  // namespace gale::cache
