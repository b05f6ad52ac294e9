// SPDX-License-Identifier: MIT
#include <gale/base/strings.hpp>
#include <gale/log/log.hpp>
#include <gale/sessions/redis_store.hpp>

namespace gale::sessions {

Result<RedisStoreOptions> RedisStoreOptionsFromEnvironment(const EnvLookup& lookup) {
    auto get = [&](std::string_view name) { return LookupEnv(lookup, name); };
    RedisStoreOptions o;
    auto host = get("SESSION_REDIS_HOST");
    if (!host) {
        return MakeError(ErrorCode::kInvalidArgument, "SESSION_REDIS_HOST: required for SESSION_BACKEND=redis");
    }
    o.connection.host = *host;
    if (auto port = get("SESSION_REDIS_PORT")) {
        GALE_ASSIGN_OR_RETURN(auto p, ParseInt("SESSION_REDIS_PORT", *port, 1, 65535));
        o.connection.port = static_cast<int>(p);
    }
    if (auto db = get("SESSION_REDIS_DB")) {
        GALE_ASSIGN_OR_RETURN(auto d, ParseInt("SESSION_REDIS_DB", *db, 0, 2147483647));
        o.connection.db = static_cast<int>(d);
    }
    if (auto password = get("SESSION_REDIS_PASSWORD")) o.connection.password = *password;
    if (auto prefix = get("SESSION_REDIS_KEY_PREFIX")) o.key_prefix = *prefix;
    o.connection.source = "SESSION_REDIS_HOST";
    return o;
}

RedisStore::RedisStore(RedisStoreOptions options, SigningKeys keys)
    : options_(std::move(options)),
      codec_(std::move(keys)),
      pool_(std::make_unique<redis::Pool>(options_.connection, options_.pool)) {}

RedisStore::~RedisStore() = default;

Result<std::optional<nlohmann::json>> RedisStore::Load(std::string_view key) {
    GALE_ASSIGN_OR_RETURN(auto reply, pool_->Command({"GET", options_.key_prefix + std::string(key)}));
    GALE_ASSIGN_OR_RETURN(auto value, reply.AsOptionalString("GET"));
    if (!value) return std::nullopt;
    auto data = codec_.Decode(*value);
    if (!data) {
        // Not signed with our keys (another service's prefix, a rotated-out key, or tampering): a new session.
        log::Warning("gale.sessions", "a stored session could not be decoded; starting a new one",
                     {{"store", "redis"}, {"error", data.error().message()}});
        return std::nullopt;
    }
    return std::move(*data);
}

Result<bool> RedisStore::Set(std::string_view key, const nlohmann::json& data, std::chrono::seconds age,
                             const char* condition) {
    GALE_ASSIGN_OR_RETURN(auto reply,
                          pool_->Command({"SET", options_.key_prefix + std::string(key), codec_.Encode(data), "EX",
                                          std::to_string(age.count() > 0 ? age.count() : 1), condition}));
    return !reply.is_nil();
}

Result<bool> RedisStore::Create(std::string_view key, const nlohmann::json& data, std::chrono::seconds age) {
    return Set(key, data, age, "NX");
}

Result<bool> RedisStore::Update(std::string_view key, const nlohmann::json& data, std::chrono::seconds age) {
    return Set(key, data, age, "XX");
}

Result<void> RedisStore::Delete(std::string_view key) {
    GALE_RETURN_IF_ERROR(pool_->Command({"DEL", options_.key_prefix + std::string(key)}));
    return {};
}

Result<void> RedisStore::Ping() {
    GALE_RETURN_IF_ERROR(pool_->Command({"PING"}));
    return {};
}

}  // namespace gale::sessions
