// SPDX-License-Identifier: MIT
#include <map>
#include <string>

#include <gtest/gtest.h>

#include <gale/sentry/settings.hpp>

namespace gale::sentry {
namespace {

EnvLookup Env(std::map<std::string, std::string> vars) {
    return [vars = std::move(vars)](std::string_view name) -> std::optional<std::string> {
        auto it = vars.find(std::string(name));
        if (it == vars.end()) return std::nullopt;
        return it->second;
    };
}

TEST(SentrySettings, NoDsnMeansNoReporting) {
    auto o = ReporterOptionsFromEnvironment(Env({{"SENTRY_ENVIRONMENT", "x"}}), "svc", "1.0");
    ASSERT_TRUE(o);
    EXPECT_FALSE(o->has_value());
    o = ReporterOptionsFromEnvironment(Env({{"SENTRY_DSN", ""}}), "svc", "1.0");
    ASSERT_TRUE(o);
    EXPECT_FALSE(o->has_value());
}

TEST(SentrySettings, DefaultsAndOverrides) {
    auto o = ReporterOptionsFromEnvironment(Env({{"SENTRY_DSN", "https://k@sentry.example/5"}}), "svc", "1.0");
    ASSERT_TRUE(o && o->has_value());
    EXPECT_EQ((*o)->environment, "production");
    EXPECT_EQ((*o)->release, "svc@1.0");
    EXPECT_EQ((*o)->sample_rate, 1.0);
    EXPECT_EQ((*o)->max_events_per_minute, 60U);
    EXPECT_FALSE((*o)->server_name.empty());
    EXPECT_EQ((*o)->dsn.EnvelopeUrl(), "https://sentry.example/api/5/envelope/");

    o = ReporterOptionsFromEnvironment(Env({{"SENTRY_DSN", "https://k@sentry.example/5"},
                                            {"SENTRY_ENVIRONMENT", "staging"},
                                            {"SENTRY_RELEASE", "abc123"},
                                            {"SENTRY_SAMPLE_RATE", "0.25"},
                                            {"SENTRY_MAX_EVENTS_PER_MINUTE", "5"}}),
                                       "svc", "1.0");
    ASSERT_TRUE(o && o->has_value());
    EXPECT_EQ((*o)->environment, "staging");
    EXPECT_EQ((*o)->release, "abc123");
    EXPECT_EQ((*o)->sample_rate, 0.25);
    EXPECT_EQ((*o)->max_events_per_minute, 5U);
}

TEST(SentrySettings, BadValuesNameTheirVariable) {
    const std::string dsn = "https://k@sentry.example/5";
    struct Case {
        std::string var, value, expected;
    };
    for (const Case& c : {Case{"SENTRY_SAMPLE_RATE", "1.5", "SENTRY_SAMPLE_RATE: '1.5'"},
                          Case{"SENTRY_SAMPLE_RATE", "half", "SENTRY_SAMPLE_RATE: 'half'"},
                          Case{"SENTRY_MAX_EVENTS_PER_MINUTE", "0", "SENTRY_MAX_EVENTS_PER_MINUTE"},
                          Case{"SENTRY_DSN", "https://hunter2@host/x", "SENTRY_DSN: the project id"}}) {
        std::map<std::string, std::string> vars = {{"SENTRY_DSN", dsn}};
        vars[c.var] = c.value;
        auto o = ReporterOptionsFromEnvironment(Env(vars), "svc", "1.0");
        ASSERT_FALSE(o) << c.var << "=" << c.value;
        EXPECT_NE(o.error().message().find(c.expected), std::string::npos) << o.error().message();
        EXPECT_EQ(o.error().message().find("hunter2"), std::string::npos);
    }
}

}  // namespace
}  // namespace gale::sentry
