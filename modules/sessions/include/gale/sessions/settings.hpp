// SPDX-License-Identifier: MIT
/// @file gale/sessions/settings.hpp
/// @brief The sessions and CSRF settings (Django's names) read from the environment, the manager they describe,
///        and their group of the environment contract (docs/environment.md).
///
/// | Variable | Meaning | Default |
/// |---|---|---|
/// | SESSION_BACKEND | signed_cookies, redis (SESSION_REDIS_*) or database (DATABASE_*, table django_session) |
/// signed_cookies | | SESSION_COOKIE_NAME, _AGE, _DOMAIN, _PATH, _SECURE, _HTTPONLY, _SAMESITE | the cookie
/// (SessionOptions) | Django's | | SESSION_EXPIRE_AT_BROWSER_CLOSE, SESSION_SAVE_EVERY_REQUEST | as Django | false | |
/// SESSION_REDIS_KEY_PREFIX | before every key in Redis | session: | | APP_SECRET_KEY, APP_SECRET_KEY_FALLBACKS |
/// signing keys (gale/sessions/signing.hpp) | — | | CSRF_* , SECURE_PROXY_SSL_HEADER | gale/sessions/csrf.hpp |
/// Django's |
#pragma once

#include <memory>

#include <gale/base/environment.hpp>
#include <gale/base/error.hpp>
#include <gale/config/contract.hpp>
#include <gale/sessions/manager.hpp>

namespace gale::sessions {

enum class Backend { kSignedCookies, kRedis, kDatabase };

/// SessionOptions from the SESSION_COOKIE_* variables, SESSION_EXPIRE_AT_BROWSER_CLOSE and
/// SESSION_SAVE_EVERY_REQUEST, through `lookup`. Errors (kInvalidArgument) name the variable and the value.
[[nodiscard]] Result<SessionOptions> SessionOptionsFromEnvironment(const EnvLookup& lookup = {});
/// SESSION_BACKEND (case-insensitive; default signed_cookies).
[[nodiscard]] Result<Backend> BackendFromEnvironment(const EnvLookup& lookup = {});

/// The manager the environment describes: the options, the signing keys (APP_SECRET_KEY required) and the backend:
/// signed cookies; a RedisStore on SESSION_REDIS_*; or a DatabaseStore on a db::Pool opened from DATABASE_* (and
/// DATABASE_POOL_SIZE), whose table is created when missing. Errors: the settings' (kInvalidArgument, naming the
/// variable); the database's when it cannot be opened. Redis is not contacted here (its pool connects on first use).
[[nodiscard]] Result<std::shared_ptr<SessionManager>> SessionManagerFromEnvironment(const EnvLookup& lookup = {});

/// The contract group "sessions and CSRF": SESSION_BACKEND first (so setting it enables the group's checks), the
/// cookie settings, SESSION_REDIS_KEY_PREFIX, APP_SECRET_KEY_FALLBACKS, the CSRF settings and SECURE_PROXY_SSL_HEADER.
/// Rules: SESSION_BACKEND=redis needs SESSION_REDIS_HOST; SameSite=None needs the cookie's _SECURE.
[[nodiscard]] config::GroupSpec ContractGroup();

}  // namespace gale::sessions
