// SPDX-License-Identifier: MIT
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <gale/sentry/event.hpp>

#include "receiver_fixture.hpp"

namespace gale::sentry {
namespace {

TEST(Envelope, HeaderItemHeaderAndPayloadFrameOneEvent) {
    Event e;
    e.event_id = "0123456789abcdef0123456789abcdef";
    e.timestamp = std::chrono::system_clock::time_point(std::chrono::milliseconds(1'764'700'000'123));
    e.level = Level::kError;
    e.logger = "gale.handler";
    e.message = "handler threw; answering 500 — ünïcödé";
    e.exception = ExceptionInfo{"std::runtime_error", "boom", ""};
    e.release = "svc@1.2.3";
    e.environment = "staging";
    e.server_name = "pod-1";
    e.tags = {{"role", "serve"}, {"request_id", "r1"}, {"role", "ignored duplicate"}};
    e.extra = {{"route", "/x"}, {"bad_utf8", "\xff\xfe"}};
    e.request = RequestContext{"GET", "/x", "a=1", {{"Host", "h"}}};
    e.breadcrumbs = {Breadcrumb{e.timestamp, Level::kInfo, "gale.serve", "listening", {{"port", "8000"}}}};
    std::string env = EventEnvelope(e, e.timestamp);
    auto parsed = testing::ParseEnvelope(env);
    ASSERT_TRUE(parsed);
    EXPECT_EQ(parsed->header["event_id"], e.event_id);
    EXPECT_EQ(parsed->header["sent_at"], "2025-12-02T18:26:40.123Z");
    EXPECT_EQ(parsed->item_header["type"], "event");
    const auto& p = parsed->payload;
    EXPECT_EQ(p["event_id"], e.event_id);
    EXPECT_EQ(p["timestamp"], "2025-12-02T18:26:40.123Z");
    EXPECT_EQ(p["platform"], "native");
    EXPECT_EQ(p["level"], "error");
    EXPECT_EQ(p["logger"], "gale.handler");
    EXPECT_EQ(p["message"]["formatted"], e.message);
    EXPECT_EQ(p["exception"]["values"][0]["type"], "std::runtime_error");
    EXPECT_EQ(p["exception"]["values"][0]["value"], "boom");
    EXPECT_EQ(p["release"], "svc@1.2.3");
    EXPECT_EQ(p["environment"], "staging");
    EXPECT_EQ(p["server_name"], "pod-1");
    EXPECT_EQ(p["tags"]["role"], "serve");
    EXPECT_EQ(p["tags"]["request_id"], "r1");
    EXPECT_EQ(p["extra"]["bad_utf8"], "\xEF\xBF\xBD\xEF\xBF\xBD");  // U+FFFD twice
    EXPECT_EQ(p["request"]["method"], "GET");
    EXPECT_EQ(p["request"]["url"], "/x");
    EXPECT_EQ(p["request"]["query_string"], "a=1");
    EXPECT_EQ(p["request"]["headers"]["Host"], "h");
    EXPECT_FALSE(p["request"].contains("data"));
    ASSERT_EQ(p["breadcrumbs"]["values"].size(), 1U);
    EXPECT_EQ(p["breadcrumbs"]["values"][0]["category"], "gale.serve");
    EXPECT_DOUBLE_EQ(p["breadcrumbs"]["values"][0]["timestamp"].get<double>(), 1'764'700'000.123);
    EXPECT_EQ(p["breadcrumbs"]["values"][0]["data"]["port"], "8000");
}

TEST(Envelope, EmptyPartsAreLeftOut) {
    Event e;
    e.event_id = "00000000000000000000000000000000";
    auto parsed = testing::ParseEnvelope(EventEnvelope(e, std::chrono::system_clock::now()));
    ASSERT_TRUE(parsed);
    for (const char* key : {"logger", "message", "exception", "release", "tags", "extra", "request", "breadcrumbs"}) {
        EXPECT_FALSE(parsed->payload.contains(key)) << key;
    }
}

}  // namespace
}  // namespace gale::sentry
