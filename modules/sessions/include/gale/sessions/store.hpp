// SPDX-License-Identifier: MIT
/// @file gale/sessions/store.hpp
/// @brief SessionStore: where server-side sessions live (Redis, a database), keyed by Django-style session keys.
///
/// Keys are 32 characters of [a-z0-9] from OpenSSL's CSPRNG (Django's get_random_string(32, ascii_lowercase +
/// digits): about 165 bits). The data is stored as Django 3.2's SessionBase.encode writes it: signing.dumps(data,
/// salt="django.contrib.sessions.SessionStore", compress=True) under APP_SECRET_KEY, so a row in `django_session`
/// written by gale is a session Django's database backend reads with the same key, and data altered in the store
/// without the key is refused (the session starts empty) rather than trusted.
///
/// Thread-safety: implementations are safe to call from any thread (they share one pool).
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include <gale/base/error.hpp>
#include <gale/sessions/signing.hpp>

namespace gale::sessions {

/// A new session key: 32 characters of [a-z0-9] from the CSPRNG.
[[nodiscard]] std::string NewSessionKey();
/// What a store is ever asked for: 8 to 40 characters of [a-z0-9] (Django refuses keys under 8 characters; 40 is
/// django_session's column). A cookie holding anything else never reaches the store.
[[nodiscard]] bool IsValidSessionKey(std::string_view key) noexcept;

/// Django's SessionBase.encode/decode with the keys of the service (salt "django.contrib.sessions.SessionStore").
class SessionCodec {
public:
    explicit SessionCodec(SigningKeys keys);
    [[nodiscard]] std::string Encode(const nlohmann::json& data) const;
    /// The data, or an error for data that is not signed by one of the keys or is not a JSON object.
    [[nodiscard]] Result<nlohmann::json> Decode(std::string_view encoded) const;

private:
    TimestampSigner signer_;
};

class SessionStore {
public:
    virtual ~SessionStore() = default;

    /// The data stored under `key`, or nullopt when there is none (never saved, deleted, expired, or not decodable
    /// with the service's keys). Errors: the store's (kUnavailable, kTimeout…), naming it.
    [[nodiscard]] virtual Result<std::optional<nlohmann::json>> Load(std::string_view key) = 0;
    /// Stores a new session under `key` for `age`; false (nothing written) when `key` is taken.
    [[nodiscard]] virtual Result<bool> Create(std::string_view key, const nlohmann::json& data,
                                              std::chrono::seconds age) = 0;
    /// Replaces the data of an existing session and restarts its `age`; false (nothing written) when it no longer
    /// exists (deleted by a concurrent logout, or expired).
    [[nodiscard]] virtual Result<bool> Update(std::string_view key, const nlohmann::json& data,
                                              std::chrono::seconds age) = 0;
    /// Deletes the session; deleting one that does not exist is no error.
    [[nodiscard]] virtual Result<void> Delete(std::string_view key) = 0;
    /// "redis", "database": for messages and logs.
    [[nodiscard]] virtual std::string_view name() const noexcept = 0;
};

}  // namespace gale::sessions
