// SPDX-License-Identifier: MIT
/// @file gale/cache/memory_cache.hpp
/// @brief The in-process cache (the default): bounded by entries and bytes, least recently used evicted first,
///        entries expired by their time to live when next touched.
///
/// @code
///   gale::cache::MemoryCache cache({.max_entries = 10'000, .default_ttl = std::chrono::minutes(5)});
///   auto page = cache.GetOrCompute("page:/about", [&] { return Render("/about"); });
/// @endcode
/// Thread-safety: every member may be called from any thread (one mutex; the computations of GetOrCompute run
/// outside it).
#pragma once

#include <chrono>
#include <cstddef>
#include <functional>
#include <list>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>

#include <gale/cache/cache.hpp>

namespace gale::metrics {
class Registry;
class Counter;
class Gauge;
}  // namespace gale::metrics

namespace gale::cache {

struct MemoryCacheOptions {
    /// At most this many entries; beyond, the least recently used go.
    std::size_t max_entries = 10'000;
    /// At most this many bytes of keys and values (plus 64 bytes of bookkeeping per entry); beyond, the least
    /// recently used go. An entry larger than this on its own is not stored.
    std::size_t max_bytes = 64u << 20;
    /// The time to live of a Set without one; nullopt: until evicted.
    std::optional<std::chrono::milliseconds> default_ttl{};
    /// If set, gale_cache_hits_total, gale_cache_misses_total, gale_cache_evictions_total and gale_cache_entries,
    /// labelled cache=`name`, are exported there (the registry must outlive the cache).
    metrics::Registry* metrics = nullptr;
    std::string name = "default";
    /// The clock of the times to live (tests); default steady_clock::now.
    std::function<std::chrono::steady_clock::time_point()> clock{};
};

class MemoryCache final : public Cache {
public:
    explicit MemoryCache(MemoryCacheOptions options = {});
    ~MemoryCache() override;

    // gale::cache::Cache; never fail but for Increment's kInvalidArgument.
    [[nodiscard]] Result<std::optional<std::string>> Get(std::string_view key) override;
    [[nodiscard]] Result<void> Set(std::string_view key, std::string value, Ttl ttl = std::nullopt) override;
    [[nodiscard]] Result<bool> Delete(std::string_view key) override;
    [[nodiscard]] Result<std::int64_t> Increment(std::string_view key, std::int64_t by = 1) override;

    /// Entries held now (expired ones not yet touched included) and their bytes.
    [[nodiscard]] std::size_t size() const;
    [[nodiscard]] std::size_t bytes() const;

private:
    using Clock = std::chrono::steady_clock;
    struct Entry {
        std::string key;
        std::string value;
        Clock::time_point expires;  // time_point::max(): never
    };
    using List = std::list<Entry>;
    struct Hash {
        using is_transparent = void;
        std::size_t operator()(std::string_view s) const noexcept { return std::hash<std::string_view>{}(s); }
    };
    struct Metrics;

    Clock::time_point Now() const { return options_.clock ? options_.clock() : Clock::now(); }
    Clock::time_point ExpiryOf(Ttl ttl) const;
    static std::size_t Cost(const Entry& e) noexcept { return e.key.size() + e.value.size() + 64; }
    /// The live entry for `key` (an expired one is dropped), or end().
    List::iterator FindLocked(std::string_view key, Clock::time_point now);
    void EraseLocked(List::iterator it);
    void StoreLocked(std::string_view key, std::string value, Clock::time_point expires);
    void EvictLocked();

    const MemoryCacheOptions options_;
    std::unique_ptr<Metrics> metrics_;
    mutable std::mutex mu_;
    List lru_;  // most recently used first
    std::unordered_map<std::string, List::iterator, Hash, std::equal_to<>> index_;
    std::size_t bytes_ = 0;
};

}  // namespace gale::cache
