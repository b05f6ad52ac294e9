// SPDX-License-Identifier: MIT
// The in-process cache (contract in gale/cache/memory_cache.hpp).
//
// Invariants (under mu_): index_ holds exactly the entries of lru_, each pointing at its node; bytes_ is the sum of
// their Cost(); after every change lru_.size() <= max_entries and bytes_ <= max_bytes.
#include <charconv>

#include <fmt/format.h>

#include <gale/cache/memory_cache.hpp>
#include <gale/metrics/registry.hpp>

namespace gale::cache {

struct MemoryCache::Metrics {
    metrics::Counter* hits = nullptr;
    metrics::Counter* misses = nullptr;
    metrics::Counter* evictions = nullptr;
    metrics::Gauge* entries = nullptr;
};

MemoryCache::MemoryCache(MemoryCacheOptions options) : options_(std::move(options)) {
    if (options_.metrics == nullptr) return;
    auto m = std::make_unique<Metrics>();
    auto& r = *options_.metrics;
    // A second cache of the same registry finds the families registered (kAlreadyExists): it goes without metrics
    // rather than failing, as a cache is never worth failing a service for.
    auto hits = r.AddCounter("gale_cache_hits", "Lookups that found a live entry.", {"cache"});
    auto misses = r.AddCounter("gale_cache_misses", "Lookups that found none (or an expired one).", {"cache"});
    auto evictions = r.AddCounter("gale_cache_evictions", "Entries dropped to stay within the bounds.", {"cache"});
    auto entries = r.AddGauge("gale_cache_entries", "Entries held.", {"cache"});
    if (!hits || !misses || !evictions || !entries) return;
    m->hits = &(*hits)->WithLabels({options_.name});
    m->misses = &(*misses)->WithLabels({options_.name});
    m->evictions = &(*evictions)->WithLabels({options_.name});
    m->entries = &(*entries)->WithLabels({options_.name});
    metrics_ = std::move(m);
}

MemoryCache::~MemoryCache() = default;

MemoryCache::Clock::time_point MemoryCache::ExpiryOf(Ttl ttl) const {
    const Ttl effective = ttl ? ttl : options_.default_ttl;
    if (!effective) return Clock::time_point::max();
    return Now() + *effective;
}

MemoryCache::List::iterator MemoryCache::FindLocked(std::string_view key, Clock::time_point now) {
    auto it = index_.find(key);
    if (it == index_.end()) return lru_.end();
    if (it->second->expires <= now) {
        EraseLocked(it->second);
        return lru_.end();
    }
    lru_.splice(lru_.begin(), lru_, it->second);  // the most recently used
    return lru_.begin();
}

void MemoryCache::EraseLocked(List::iterator it) {
    bytes_ -= Cost(*it);
    index_.erase(index_.find(std::string_view(it->key)));
    lru_.erase(it);
    if (metrics_) metrics_->entries->Set(static_cast<double>(lru_.size()));
}

void MemoryCache::StoreLocked(std::string_view key, std::string value, Clock::time_point expires) {
    if (auto it = index_.find(key); it != index_.end()) EraseLocked(it->second);
    Entry e{std::string(key), std::move(value), expires};
    if (Cost(e) > options_.max_bytes || options_.max_entries == 0) return;  // would not fit even alone
    bytes_ += Cost(e);
    lru_.push_front(std::move(e));
    index_.emplace(lru_.front().key, lru_.begin());
    EvictLocked();
    if (metrics_) metrics_->entries->Set(static_cast<double>(lru_.size()));
}

void MemoryCache::EvictLocked() {
    while (!lru_.empty() && (lru_.size() > options_.max_entries || bytes_ > options_.max_bytes)) {
        EraseLocked(std::prev(lru_.end()));
        if (metrics_) metrics_->evictions->Inc();
    }
}

Result<std::optional<std::string>> MemoryCache::Get(std::string_view key) {
    std::lock_guard lock(mu_);
    auto it = FindLocked(key, Now());
    if (it == lru_.end()) {
        if (metrics_) metrics_->misses->Inc();
        return std::optional<std::string>();
    }
    if (metrics_) metrics_->hits->Inc();
    return std::optional<std::string>(it->value);
}

Result<void> MemoryCache::Set(std::string_view key, std::string value, Ttl ttl) {
    std::lock_guard lock(mu_);
    if (ttl && ttl->count() <= 0) {
        if (auto it = index_.find(key); it != index_.end()) EraseLocked(it->second);
        return {};
    }
    StoreLocked(key, std::move(value), ExpiryOf(ttl));
    return {};
}

Result<bool> MemoryCache::Delete(std::string_view key) {
    std::lock_guard lock(mu_);
    auto it = FindLocked(key, Now());
    if (it == lru_.end()) return false;
    EraseLocked(it);
    return true;
}

Result<std::int64_t> MemoryCache::Increment(std::string_view key, std::int64_t by) {
    std::lock_guard lock(mu_);
    auto it = FindLocked(key, Now());
    std::int64_t current = 0;
    Clock::time_point expires = it == lru_.end() ? ExpiryOf(std::nullopt) : it->expires;
    if (it != lru_.end()) {
        const std::string& v = it->value;
        auto [end, ec] = std::from_chars(v.data(), v.data() + v.size(), current);
        if (ec != std::errc() || end != v.data() + v.size()) {
            return MakeError(ErrorCode::kInvalidArgument,
                             fmt::format("cache '{}': the value of '{}' is not a 64-bit integer", options_.name, key));
        }
    }
    std::int64_t sum = 0;
    if (__builtin_add_overflow(current, by, &sum)) {
        return MakeError(ErrorCode::kInvalidArgument,
                         fmt::format("cache '{}': incrementing '{}' by {} overflows", options_.name, key, by));
    }
    StoreLocked(key, std::to_string(sum), expires);
    return sum;
}

std::size_t MemoryCache::size() const {
    std::lock_guard lock(mu_);
    return lru_.size();
}

std::size_t MemoryCache::bytes() const {
    std::lock_guard lock(mu_);
    return bytes_;
}

}  // namespace gale::cache
