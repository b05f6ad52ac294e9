// SPDX-License-Identifier: MIT
#include <gtest/gtest.h>

#include <gale/config/settings.hpp>
#include <gale/sessions/settings.hpp>

#include "test_support.hpp"

namespace gale::sessions {
namespace {

using testing::MapLookup;

TEST(SessionOptionsFromEnvironment, DefaultsAreDjangos) {
    auto o = SessionOptionsFromEnvironment(MapLookup({}));
    ASSERT_TRUE(o);
    EXPECT_EQ(o->cookie_name, "sessionid");
    EXPECT_EQ(o->cookie_age.count(), 1209600);
    EXPECT_EQ(o->cookie_path, "/");
    EXPECT_FALSE(o->cookie_secure);
    EXPECT_TRUE(o->cookie_httponly);
    EXPECT_EQ(o->cookie_samesite, http::SameSite::kLax);
    EXPECT_FALSE(o->expire_at_browser_close);
    EXPECT_FALSE(o->save_every_request);
}

TEST(SessionOptionsFromEnvironment, ReadsEveryVariableAndNamesTheBadOne) {
    auto o = SessionOptionsFromEnvironment(MapLookup({{"SESSION_COOKIE_NAME", "sid"},
                                                      {"SESSION_COOKIE_AGE", "3600"},
                                                      {"SESSION_COOKIE_DOMAIN", ".example.com"},
                                                      {"SESSION_COOKIE_PATH", "/app"},
                                                      {"SESSION_COOKIE_SECURE", "true"},
                                                      {"SESSION_COOKIE_HTTPONLY", "false"},
                                                      {"SESSION_COOKIE_SAMESITE", "Strict"},
                                                      {"SESSION_EXPIRE_AT_BROWSER_CLOSE", "yes"},
                                                      {"SESSION_SAVE_EVERY_REQUEST", "1"}}));
    ASSERT_TRUE(o) << o.error().message();
    EXPECT_EQ(o->cookie_name, "sid");
    EXPECT_EQ(o->cookie_age.count(), 3600);
    EXPECT_EQ(o->cookie_domain, ".example.com");
    EXPECT_EQ(o->cookie_path, "/app");
    EXPECT_TRUE(o->cookie_secure);
    EXPECT_FALSE(o->cookie_httponly);
    EXPECT_EQ(o->cookie_samesite, http::SameSite::kStrict);
    EXPECT_TRUE(o->expire_at_browser_close);
    EXPECT_TRUE(o->save_every_request);
    auto bad = SessionOptionsFromEnvironment(MapLookup({{"SESSION_COOKIE_SECURE", "maybe"}}));
    ASSERT_FALSE(bad);
    EXPECT_TRUE(bad.error().message().starts_with("SESSION_COOKIE_SECURE")) << bad.error().message();
    EXPECT_FALSE(SessionOptionsFromEnvironment(MapLookup({{"SESSION_COOKIE_AGE", "0"}})));
}

TEST(BackendFromEnvironment, NamesTheChoices) {
    EXPECT_EQ(BackendFromEnvironment(MapLookup({})).value(), Backend::kSignedCookies);
    EXPECT_EQ(BackendFromEnvironment(MapLookup({{"SESSION_BACKEND", "Redis"}})).value(), Backend::kRedis);
    EXPECT_EQ(BackendFromEnvironment(MapLookup({{"SESSION_BACKEND", "database"}})).value(), Backend::kDatabase);
    auto bad = BackendFromEnvironment(MapLookup({{"SESSION_BACKEND", "cache"}}));
    ASSERT_FALSE(bad);
    EXPECT_EQ(bad.error().message(), "SESSION_BACKEND: 'cache' is not one of signed_cookies, redis, database");
}

TEST(SessionManagerFromEnvironment, BuildsEachBackend) {
    auto none = SessionManagerFromEnvironment(MapLookup({}));
    ASSERT_FALSE(none);
    EXPECT_TRUE(none.error().message().starts_with("APP_SECRET_KEY")) << none.error().message();

    auto signed_cookies = SessionManagerFromEnvironment(MapLookup({{"APP_SECRET_KEY", "k"}}));
    ASSERT_TRUE(signed_cookies);
    EXPECT_EQ((*signed_cookies)->store(), nullptr);

    auto redis = SessionManagerFromEnvironment(MapLookup({{"APP_SECRET_KEY", "k"}, {"SESSION_BACKEND", "redis"}}));
    ASSERT_FALSE(redis);
    EXPECT_TRUE(redis.error().message().starts_with("SESSION_REDIS_HOST: required")) << redis.error().message();
    auto redis_ok = SessionManagerFromEnvironment(
        MapLookup({{"APP_SECRET_KEY", "k"}, {"SESSION_BACKEND", "redis"}, {"SESSION_REDIS_HOST", "127.0.0.1"}}));
    ASSERT_TRUE(redis_ok) << "no connection is made here";
    EXPECT_EQ((*redis_ok)->store()->name(), "redis");

    testing::TempDir dir;
    auto database = SessionManagerFromEnvironment(MapLookup(
        {{"APP_SECRET_KEY", "k"}, {"SESSION_BACKEND", "database"}, {"DATABASE_NAME", dir.path() + "/app.db"}}));
    ASSERT_TRUE(database) << database.error().message();
    EXPECT_EQ((*database)->store()->name(), "database");
    auto loaded = (*database)->store()->Load(NewSessionKey());
    ASSERT_TRUE(loaded) << "the table was created: " << loaded.error().message();
}

std::vector<std::string> Problems(std::map<std::string, std::string> values) {
    config::Contract contract;
    EXPECT_TRUE(contract.AddGroup(ContractGroup()));
    config::Settings settings;
    for (auto& [k, v] : values) settings.Set(k, v, config::Layer::kEnvironment);
    return contract.Validate(settings);
}

TEST(ContractGroup, IsValidAndItsRulesSpeak) {
    EXPECT_TRUE(Problems({}).empty());
    EXPECT_TRUE(Problems({{"SESSION_BACKEND", "database"}, {"SESSION_COOKIE_SAMESITE", "Strict"}}).empty());
    auto p = Problems({{"SESSION_BACKEND", "redis"}});
    ASSERT_EQ(p.size(), 1U);
    EXPECT_NE(p[0].find("SESSION_REDIS_HOST is required when SESSION_BACKEND"), std::string::npos) << p[0];
    p = Problems({{"CSRF_COOKIE_SAMESITE", "None"}});
    ASSERT_EQ(p.size(), 1U);
    EXPECT_NE(p[0].find("CSRF_COOKIE_SAMESITE (from environment) is None"), std::string::npos) << p[0];
    EXPECT_TRUE(Problems({{"CSRF_COOKIE_SAMESITE", "None"}, {"CSRF_COOKIE_SECURE", "true"}}).empty());
    p = Problems({{"SESSION_BACKEND", "memcached"}, {"SESSION_COOKIE_AGE", "0"}});
    EXPECT_EQ(p.size(), 2U);
}

}  // namespace
}  // namespace gale::sessions
