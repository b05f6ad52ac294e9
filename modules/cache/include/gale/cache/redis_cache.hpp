// SPDX-License-Identifier: MIT
/// @file gale/cache/redis_cache.hpp
/// @brief The Redis cache: the Cache interface on a Redis server (base-python's CACHE_REDIS_* settings), shared by
///        every process and pod that uses the same server and prefix.
///
/// Get is GET, Set is SET … PX (a time to live) or SET, Delete is DEL, Increment is one Lua script (INCRBY, and the
/// default time to live on a key it created). GetOrCompute computes once per key at a time in this process (other
/// processes may compute the same key meanwhile; use a lock for once across processes).
/// An unreachable server is an error naming it, within ConnectionOptions' connect and command timeouts, never a
/// hang; the pool connects on first use, so a service starts before its Redis.
/// Thread-safety: every member may be called from any thread.
#pragma once

#include <memory>
#include <string>

#include <gale/base/environment.hpp>
#include <gale/cache/cache.hpp>
#include <gale/redis/options.hpp>
#include <gale/redis/pool.hpp>

namespace gale::cache {

struct RedisCacheOptions {
    redis::ConnectionOptions connection{};
    redis::PoolOptions pool{};
    /// Put before every key ("myapp:"), so that several services share a server without meeting.
    std::string key_prefix{};
    /// The time to live of a Set without one (and of a key Increment creates); nullopt: no expiry.
    std::optional<std::chrono::milliseconds> default_ttl{};
};

/// RedisCacheOptions from CACHE_REDIS_HOST (required), CACHE_REDIS_PORT (6379), CACHE_REDIS_DB (0) and
/// CACHE_REDIS_PASSWORD, through `lookup` (default: the process environment; an empty value counts as unset).
/// Errors (kInvalidArgument) name the variable; never the password.
[[nodiscard]] Result<RedisCacheOptions> RedisCacheOptionsFromEnvironment(const EnvLookup& lookup = {});

class RedisCache final : public Cache {
public:
    explicit RedisCache(RedisCacheOptions options);
    ~RedisCache() override;

    // gale::cache::Cache. Errors: the server's (kUnavailable, kTimeout, naming it); Increment's kInvalidArgument.
    [[nodiscard]] Result<std::optional<std::string>> Get(std::string_view key) override;
    [[nodiscard]] Result<void> Set(std::string_view key, std::string value, Ttl ttl = std::nullopt) override;
    [[nodiscard]] Result<bool> Delete(std::string_view key) override;
    [[nodiscard]] Result<std::int64_t> Increment(std::string_view key, std::int64_t by = 1) override;

    /// PING: for a health check.
    [[nodiscard]] Result<void> Ping();
    /// The cache's connections, for what else needs the server (a RedisLock, gale/cache/redis_lock.hpp).
    [[nodiscard]] redis::Pool& pool() noexcept { return *pool_; }

private:
    std::string Key(std::string_view key) const { return options_.key_prefix + std::string(key); }

    const RedisCacheOptions options_;
    std::unique_ptr<redis::Pool> pool_;
};

}  // namespace gale::cache
