// SPDX-License-Identifier: MIT
/// @file gale/sessions/redis_store.hpp
/// @brief Sessions in Redis (base-python's SESSION_REDIS_* settings): one string per session, expired by Redis.
///
/// `<key_prefix><session key>` holds SessionCodec's encoding. Create is SET NX EX (a taken key is never overwritten),
/// Update is SET XX EX (a session a concurrent logout deleted is not brought back), Delete is DEL, and the time to
/// live is the session's age, restarted by every save. An unreachable server is an error naming it within the
/// connection's timeouts; the pool connects on first use, so a service starts before its Redis.
/// Thread-safety: every member may be called from any thread.
#pragma once

#include <memory>
#include <string>

#include <gale/base/environment.hpp>
#include <gale/redis/options.hpp>
#include <gale/redis/pool.hpp>
#include <gale/sessions/store.hpp>

namespace gale::sessions {

struct RedisStoreOptions {
    redis::ConnectionOptions connection{};
    redis::PoolOptions pool{};
    /// Before every session key, so that services sharing a server do not meet.
    std::string key_prefix = "session:";
};

/// RedisStoreOptions from SESSION_REDIS_HOST (required), SESSION_REDIS_PORT (6379), SESSION_REDIS_DB (0),
/// SESSION_REDIS_PASSWORD and SESSION_REDIS_KEY_PREFIX ("session:"), through `lookup` (default: the process
/// environment). Errors (kInvalidArgument) name the variable, never the password.
[[nodiscard]] Result<RedisStoreOptions> RedisStoreOptionsFromEnvironment(const EnvLookup& lookup = {});

class RedisStore final : public SessionStore {
public:
    RedisStore(RedisStoreOptions options, SigningKeys keys);
    ~RedisStore() override;

    // gale::sessions::SessionStore
    [[nodiscard]] Result<std::optional<nlohmann::json>> Load(std::string_view key) override;
    [[nodiscard]] Result<bool> Create(std::string_view key, const nlohmann::json& data,
                                      std::chrono::seconds age) override;
    [[nodiscard]] Result<bool> Update(std::string_view key, const nlohmann::json& data,
                                      std::chrono::seconds age) override;
    [[nodiscard]] Result<void> Delete(std::string_view key) override;
    [[nodiscard]] std::string_view name() const noexcept override { return "redis"; }

    /// PING: for a health check.
    [[nodiscard]] Result<void> Ping();
    [[nodiscard]] const std::string& key_prefix() const noexcept { return options_.key_prefix; }

private:
    [[nodiscard]] Result<bool> Set(std::string_view key, const nlohmann::json& data, std::chrono::seconds age,
                                   const char* condition);

    const RedisStoreOptions options_;
    const SessionCodec codec_;
    std::unique_ptr<redis::Pool> pool_;
};

}  // namespace gale::sessions
