// SPDX-License-Identifier: MIT
// The Redis cache (contract in gale/cache/redis_cache.hpp).
#include <fmt/format.h>

#include <gale/base/strings.hpp>
#include <gale/cache/redis_cache.hpp>

namespace gale::cache {
namespace {

// INCRBY, and the default time to live (ARGV[2] ms, 0: none) on a key that did not exist before.
const redis::Script kIncrement(R"lua(
local existed = redis.call('EXISTS', KEYS[1])
local value = redis.call('INCRBY', KEYS[1], ARGV[1])
if existed == 0 and tonumber(ARGV[2]) > 0 then redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return value
)lua");

}  // namespace

Result<RedisCacheOptions> RedisCacheOptionsFromEnvironment(const EnvLookup& lookup) {
    auto get = [&](std::string_view name) { return LookupEnv(lookup, name); };
    RedisCacheOptions o;
    auto host = get("CACHE_REDIS_HOST");
    if (!host) return MakeError(ErrorCode::kInvalidArgument, "CACHE_REDIS_HOST: required for the Redis cache");
    o.connection.host = *host;
    if (auto port = get("CACHE_REDIS_PORT")) {
        GALE_ASSIGN_OR_RETURN(auto p, ParseInt("CACHE_REDIS_PORT", *port, 1, 65535));
        o.connection.port = static_cast<int>(p);
    }
    if (auto db = get("CACHE_REDIS_DB")) {
        GALE_ASSIGN_OR_RETURN(auto d, ParseInt("CACHE_REDIS_DB", *db, 0, 2147483647));
        o.connection.db = static_cast<int>(d);
    }
    if (auto password = get("CACHE_REDIS_PASSWORD")) o.connection.password = *password;
    o.connection.source = "CACHE_REDIS_HOST";
    return o;
}

RedisCache::RedisCache(RedisCacheOptions options)
    : options_(std::move(options)), pool_(std::make_unique<redis::Pool>(options_.connection, options_.pool)) {}

RedisCache::~RedisCache() = default;

Result<std::optional<std::string>> RedisCache::Get(std::string_view key) {
    GALE_ASSIGN_OR_RETURN(auto reply, pool_->Command({"GET", Key(key)}));
    return reply.AsOptionalString("GET");
}

Result<void> RedisCache::Set(std::string_view key, std::string value, Ttl ttl) {
    const Ttl effective = ttl ? ttl : options_.default_ttl;
    if (effective && effective->count() <= 0) {
        GALE_RETURN_IF_ERROR(pool_->Command({"DEL", Key(key)}));
        return {};
    }
    redis::Args args = {"SET", Key(key), std::move(value)};
    if (effective) {
        args.emplace_back("PX");
        args.push_back(std::to_string(effective->count()));
    }
    GALE_RETURN_IF_ERROR(pool_->Command(args));
    return {};
}

Result<bool> RedisCache::Delete(std::string_view key) {
    GALE_ASSIGN_OR_RETURN(auto reply, pool_->Command({"DEL", Key(key)}));
    GALE_ASSIGN_OR_RETURN(auto n, reply.AsInteger("DEL"));
    return n > 0;
}

Result<std::int64_t> RedisCache::Increment(std::string_view key, std::int64_t by) {
    const std::int64_t ttl_ms = options_.default_ttl ? options_.default_ttl->count() : 0;
    auto reply = pool_->Eval(kIncrement, {Key(key)}, {std::to_string(by), std::to_string(ttl_ms)});
    if (!reply) {
        if (reply.error().code() != ErrorCode::kInvalidArgument) return tl::unexpected(reply.error());
        // The server's "ERR value is not an integer or out of range" / "increment or decrement would overflow".
        return MakeError(ErrorCode::kInvalidArgument, fmt::format("cache (redis): cannot increment '{}' by {}: {}", key,
                                                                  by, reply.error().message()));
    }
    return reply->AsInteger("INCRBY");
}

Result<void> RedisCache::Ping() {
    GALE_RETURN_IF_ERROR(pool_->Command({"PING"}));
    return {};
}

}  // namespace gale::cache
