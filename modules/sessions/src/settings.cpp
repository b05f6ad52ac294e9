// SPDX-License-Identifier: MIT
#include <fmt/format.h>

#include <gale/base/strings.hpp>
#include <gale/config/settings.hpp>
#include <gale/db/pool.hpp>
#include <gale/sessions/database_store.hpp>
#include <gale/sessions/redis_store.hpp>
#include <gale/sessions/settings.hpp>

namespace gale::sessions {
namespace {

using config::Var;

void RedisHostRule(const config::Settings& settings, std::vector<std::string>& problems) {
    if (ToLower(settings.Find("SESSION_BACKEND").value_or("")) != "redis" ||
        config::IsSet(settings, "SESSION_REDIS_HOST")) {
        return;
    }
    problems.push_back(fmt::format("SESSION_REDIS_HOST is required when {} is redis",
                                   config::NameWithSource(settings, "SESSION_BACKEND")));
}

void SameSiteNoneRule(const config::Settings& settings, std::vector<std::string>& problems) {
    for (const char* prefix : {"SESSION", "CSRF"}) {
        const std::string samesite = std::string(prefix) + "_COOKIE_SAMESITE";
        const std::string secure = std::string(prefix) + "_COOKIE_SECURE";
        if (ToLower(settings.Find(samesite).value_or("")) != "none") continue;
        auto on = ParseBool(secure, settings.Find(secure).value_or("false"));
        if (on && *on) continue;
        problems.push_back(fmt::format("{} is None, which browsers accept only with {}=true ({})",
                                       config::NameWithSource(settings, samesite), secure,
                                       config::NameWithSource(settings, secure)));
    }
}

}  // namespace

Result<SessionOptions> SessionOptionsFromEnvironment(const EnvLookup& lookup) {
    auto get = [&](std::string_view name) { return LookupEnv(lookup, name); };
    SessionOptions o;
    if (auto v = get("SESSION_COOKIE_NAME")) o.cookie_name = *v;
    if (auto v = get("SESSION_COOKIE_AGE")) {
        GALE_ASSIGN_OR_RETURN(auto age, ParseInt("SESSION_COOKIE_AGE", *v, 1, 10LL * 365 * 86400));
        o.cookie_age = std::chrono::seconds(age);
    }
    if (auto v = get("SESSION_COOKIE_DOMAIN")) o.cookie_domain = *v;
    if (auto v = get("SESSION_COOKIE_PATH")) o.cookie_path = *v;
    if (auto v = get("SESSION_COOKIE_SECURE")) {
        GALE_ASSIGN_OR_RETURN(o.cookie_secure, ParseBool("SESSION_COOKIE_SECURE", *v));
    }
    if (auto v = get("SESSION_COOKIE_HTTPONLY")) {
        GALE_ASSIGN_OR_RETURN(o.cookie_httponly, ParseBool("SESSION_COOKIE_HTTPONLY", *v));
    }
    if (auto v = get("SESSION_COOKIE_SAMESITE")) {
        GALE_ASSIGN_OR_RETURN(o.cookie_samesite, http::ParseSameSite("SESSION_COOKIE_SAMESITE", *v));
    }
    if (auto v = get("SESSION_EXPIRE_AT_BROWSER_CLOSE")) {
        GALE_ASSIGN_OR_RETURN(o.expire_at_browser_close, ParseBool("SESSION_EXPIRE_AT_BROWSER_CLOSE", *v));
    }
    if (auto v = get("SESSION_SAVE_EVERY_REQUEST")) {
        GALE_ASSIGN_OR_RETURN(o.save_every_request, ParseBool("SESSION_SAVE_EVERY_REQUEST", *v));
    }
    return o;
}

Result<Backend> BackendFromEnvironment(const EnvLookup& lookup) {
    auto v = LookupEnv(lookup, "SESSION_BACKEND");
    if (!v) return Backend::kSignedCookies;
    const std::string b = ToLower(*v);
    if (b == "signed_cookies") return Backend::kSignedCookies;
    if (b == "redis") return Backend::kRedis;
    if (b == "database") return Backend::kDatabase;
    return MakeError(ErrorCode::kInvalidArgument,
                     fmt::format("SESSION_BACKEND: '{}' is not one of signed_cookies, redis, database", *v));
}

Result<std::shared_ptr<SessionManager>> SessionManagerFromEnvironment(const EnvLookup& lookup) {
    GALE_ASSIGN_OR_RETURN(SessionOptions options, SessionOptionsFromEnvironment(lookup));
    GALE_ASSIGN_OR_RETURN(SigningKeys keys, SigningKeysFromEnvironment(lookup));
    GALE_ASSIGN_OR_RETURN(Backend backend, BackendFromEnvironment(lookup));
    switch (backend) {
        case Backend::kSignedCookies:
            return std::make_shared<SessionManager>(std::move(options), std::move(keys));
        case Backend::kRedis: {
            GALE_ASSIGN_OR_RETURN(RedisStoreOptions redis, RedisStoreOptionsFromEnvironment(lookup));
            return std::make_shared<SessionManager>(std::move(options),
                                                    std::make_shared<RedisStore>(std::move(redis), std::move(keys)));
        }
        case Backend::kDatabase: {
            GALE_ASSIGN_OR_RETURN(db::ConnectionOptions connection, db::OptionsFromEnvironment(lookup));
            GALE_ASSIGN_OR_RETURN(db::PoolOptions pool_options, db::PoolOptionsFromEnvironment(lookup));
            pool_options.name = "sessions";
            GALE_ASSIGN_OR_RETURN(auto pool, db::Pool::Open(connection, pool_options));
            GALE_ASSIGN_OR_RETURN(auto store, DatabaseStore::Open(std::move(pool), std::move(keys)));
            GALE_RETURN_IF_ERROR(store->CreateTable());
            return std::make_shared<SessionManager>(std::move(options),
                                                    std::shared_ptr<SessionStore>(std::move(store)));
        }
    }
    return MakeError(ErrorCode::kInternal, "SESSION_BACKEND: unknown backend");
}

config::GroupSpec ContractGroup() {
    using config::VariableType;
    config::GroupSpec g;
    g.name = "sessions and CSRF";
    g.description =
        "Django's session and CSRF settings, read by gale::sessions (gale/sessions/settings.hpp). The production and "
        "staging profiles set SESSION_COOKIE_SECURE and CSRF_COOKIE_SECURE to true. Rules: SESSION_BACKEND=redis "
        "needs SESSION_REDIS_HOST (the \"Redis sessions\" group); a cookie with SameSite=None needs its _SECURE.";
    g.always_enabled = true;
    g.vars = {
        Var("SESSION_BACKEND", VariableType::kEnum,
            "Where sessions live: in the signed cookie itself (Django's signed_cookies), in Redis (SESSION_REDIS_*), "
            "or in the database (DATABASE_*; Django's django_session table, created when missing).",
            "signed_cookies"),
        Var("SESSION_COOKIE_NAME", VariableType::kString, "Name of the session cookie.", "sessionid"),
        Var("SESSION_COOKIE_AGE", VariableType::kInt,
            "Seconds a session lives: the cookie's Max-Age, the store's expiry, a signed cookie's maximum age.",
            "1209600"),
        Var("SESSION_COOKIE_DOMAIN", VariableType::kString,
            "Domain attribute of the session cookie (unset: host-only)."),
        Var("SESSION_COOKIE_PATH", VariableType::kString, "Path attribute of the session cookie.", "/"),
        Var("SESSION_COOKIE_SECURE", VariableType::kBool,
            "Send the session cookie over HTTPS only (true in the production and staging profiles).", "false"),
        Var("SESSION_COOKIE_HTTPONLY", VariableType::kBool, "Hide the session cookie from scripts.", "true"),
        Var("SESSION_COOKIE_SAMESITE", VariableType::kEnum, "SameSite of the session cookie: Lax, Strict, None, false.",
            "Lax"),
        Var("SESSION_EXPIRE_AT_BROWSER_CLOSE", VariableType::kBool, "A cookie without Max-Age (gone with the browser).",
            "false"),
        Var("SESSION_SAVE_EVERY_REQUEST", VariableType::kBool,
            "Save the session on every response, not only when modified.", "false"),
        Var("SESSION_REDIS_KEY_PREFIX", VariableType::kString, "SESSION_BACKEND=redis: put before every session key.",
            "session:"),
        config::Secret(Var("APP_SECRET_KEY_FALLBACKS", VariableType::kString,
                           "Older secret keys (commas or spaces between them) that still verify what they signed; "
                           "APP_SECRET_KEY signs (Django 4.1's SECRET_KEY_FALLBACKS).")),
        Var("CSRF_COOKIE_NAME", VariableType::kString, "Name of the CSRF cookie.", "csrftoken"),
        Var("CSRF_COOKIE_AGE", VariableType::kInt, "Max-Age of the CSRF cookie, in seconds.", "31449600"),
        Var("CSRF_COOKIE_DOMAIN", VariableType::kString, "Domain attribute of the CSRF cookie (unset: host-only)."),
        Var("CSRF_COOKIE_PATH", VariableType::kString, "Path attribute of the CSRF cookie.", "/"),
        Var("CSRF_COOKIE_SECURE", VariableType::kBool,
            "Send the CSRF cookie over HTTPS only (true in the production and staging profiles).", "false"),
        Var("CSRF_COOKIE_HTTPONLY", VariableType::kBool, "Hide the CSRF cookie from scripts.", "false"),
        Var("CSRF_COOKIE_SAMESITE", VariableType::kEnum, "SameSite of the CSRF cookie: Lax, Strict, None, false.",
            "Lax"),
        Var("CSRF_HEADER_NAME", VariableType::kString,
            "Header that carries the token (Django's HTTP_X_CSRFTOKEN form is accepted too).", "X-CSRFToken"),
        Var("CSRF_TRUSTED_ORIGINS", VariableType::kString,
            "Hosts whose HTTPS pages may post here besides the Host itself (`api.example.com`, `.example.com` for a "
            "domain and its subdomains; `https://…` accepted), separated by commas or spaces."),
        Var("SECURE_PROXY_SSL_HEADER", VariableType::kString,
            "`Header-Name: value` that marks a request as HTTPS (e.g. `X-Forwarded-Proto: https`); only behind a "
            "proxy that sets and strips it. Unset: no request is HTTPS, so the CSRF Referer check is off."),
    };
    g.vars[0].choices = {"signed_cookies", "redis", "database"};
    for (auto& v : g.vars) {
        if (v.name == "SESSION_COOKIE_AGE" || v.name == "CSRF_COOKIE_AGE") {
            v.min_value = 1;
            v.max_value = 10LL * 365 * 86400;
        }
        if (v.name.ends_with("_COOKIE_SAMESITE")) v.choices = {"Lax", "Strict", "None", "false"};
    }
    g.rules = {RedisHostRule, SameSiteNoneRule};
    return g;
}

}  // namespace gale::sessions
