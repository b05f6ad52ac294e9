// SPDX-License-Identifier: MIT
// The Reporter against a real receiver over loopback (receiver_fixture.hpp): what arrives, Sentry's rate limits,
// the client's own budgets, and a hung or absent Sentry.
#include <chrono>
#include <thread>

#include <gtest/gtest.h>

#include <gale/metrics/registry.hpp>
#include <gale/sentry/reporter.hpp>

#include "receiver_fixture.hpp"

namespace gale::sentry {
namespace {

using namespace std::chrono_literals;
using testing::ParseEnvelope;
using testing::Receiver;

ReporterOptions OptionsFor(const std::string& dsn) {
    ReporterOptions o;
    o.dsn = ParseDsn(dsn).value();
    o.release = "svc@1.2.3";
    o.environment = "test";
    o.server_name = "host-1";
    o.tags = {{"role", "serve"}};
    o.send_timeout = 2000ms;
    o.connect_timeout = 500ms;
    return o;
}

Event Simple(std::string message) {
    Event e;
    e.message = std::move(message);
    e.logger = "test";
    return e;
}

TEST(Reporter, SendsEnvelopesWithAuthAndDefaults) {
    Receiver receiver;
    metrics::Registry registry;
    ReporterOptions o = OptionsFor(receiver.Dsn());
    o.registry = &registry;
    Reporter reporter(o);
    Event e = Simple("first");
    e.tags = {{"role", "worker"}};  // the event's own tag wins over the default
    EXPECT_EQ(reporter.Capture(std::move(e)), CaptureResult::kQueued);
    ASSERT_TRUE(reporter.Flush(5s));
    auto got = receiver.received();
    ASSERT_EQ(got.size(), 1U);
    EXPECT_EQ(got[0].path, "/api/42/envelope/");
    EXPECT_EQ(got[0].content_type, "application/x-sentry-envelope");
    EXPECT_TRUE(got[0].auth.starts_with("Sentry sentry_version=7, sentry_client=gale/")) << got[0].auth;
    EXPECT_TRUE(got[0].auth.ends_with(", sentry_key=publickey")) << got[0].auth;
    auto env = ParseEnvelope(got[0].body);
    ASSERT_TRUE(env);
    const auto& p = env->payload;
    EXPECT_EQ(p["event_id"].get<std::string>().size(), 32U);
    EXPECT_EQ(p["event_id"], env->header["event_id"]);
    EXPECT_EQ(p["event_id"].get<std::string>()[12], '4');  // UUID version 4
    EXPECT_EQ(p["message"]["formatted"], "first");
    EXPECT_EQ(p["release"], "svc@1.2.3");
    EXPECT_EQ(p["environment"], "test");
    EXPECT_EQ(p["server_name"], "host-1");
    EXPECT_EQ(p["tags"]["role"], "worker");
    EXPECT_EQ(reporter.stats().sent, 1U);
    const std::string text = registry.Render();
    EXPECT_NE(text.find("gale_sentry_events_sent_total 1"), std::string::npos) << text;
    EXPECT_NE(text.find("gale_sentry_events_dropped_total{reason=\"queue_full\"} 0"), std::string::npos);
}

TEST(Reporter, A429WithRetryAfterStopsSendingUntilThen) {
    Receiver receiver;
    receiver.SetAnswer({429, {{"Retry-After", "3600"}}, 0ms});
    Reporter reporter(OptionsFor(receiver.Dsn()));
    EXPECT_EQ(reporter.Capture(Simple("one")), CaptureResult::kQueued);
    ASSERT_TRUE(reporter.Flush(5s));
    ASSERT_EQ(receiver.received().size(), 1U);
    EXPECT_FALSE(reporter.Accepting());
    for (int i = 0; i < 5; ++i) EXPECT_EQ(reporter.Capture(Simple("more")), CaptureResult::kServerLimited);
    ASSERT_TRUE(reporter.Flush(5s));
    EXPECT_EQ(receiver.received().size(), 1U);  // nothing sent while limited
    ReporterStats s = reporter.stats();
    EXPECT_EQ(s.sent, 0U);
    EXPECT_EQ(s.dropped_server_limited, 6U);  // the 429'd one and the five after it
    EXPECT_EQ(s.send_failures, 0U);
}

TEST(Reporter, XSentryRateLimitsHoldsBackOnlyTheNamedCategories) {
    Receiver receiver;
    receiver.SetAnswer({200, {{"X-Sentry-Rate-Limits", "3600:transaction:key"}}, 0ms});
    Reporter reporter(OptionsFor(receiver.Dsn()));
    EXPECT_EQ(reporter.Capture(Simple("a")), CaptureResult::kQueued);
    ASSERT_TRUE(reporter.Flush(5s));
    EXPECT_TRUE(reporter.Accepting());  // transactions are limited, errors are not
    receiver.SetAnswer({200, {{"X-Sentry-Rate-Limits", "3600:error;default:organization"}}, 0ms});
    EXPECT_EQ(reporter.Capture(Simple("b")), CaptureResult::kQueued);
    ASSERT_TRUE(reporter.Flush(5s));
    EXPECT_EQ(reporter.Capture(Simple("c")), CaptureResult::kServerLimited);
    ASSERT_TRUE(reporter.Flush(5s));
    EXPECT_EQ(receiver.received().size(), 2U);
    EXPECT_EQ(reporter.stats().sent, 2U);
}

TEST(Reporter, AFullQueueDropsAndCounts) {
    Receiver receiver;
    receiver.SetAnswer({200, {}, 1000ms});  // a slow Sentry, so the queue fills
    ReporterOptions o = OptionsFor(receiver.Dsn());
    o.queue_capacity = 2;
    Reporter reporter(o);
    // The first is taken by the sender (in flight), two wait, the fourth finds the queue full.
    EXPECT_EQ(reporter.Capture(Simple("1")), CaptureResult::kQueued);
    ASSERT_TRUE(receiver.WaitFor(1));
    EXPECT_EQ(reporter.Capture(Simple("2")), CaptureResult::kQueued);
    EXPECT_EQ(reporter.Capture(Simple("3")), CaptureResult::kQueued);
    EXPECT_EQ(reporter.Capture(Simple("4")), CaptureResult::kQueueFull);
    ASSERT_TRUE(reporter.Flush(10s));
    ReporterStats s = reporter.stats();
    EXPECT_EQ(s.sent, 3U);
    EXPECT_EQ(s.dropped_queue_full, 1U);
    EXPECT_EQ(s.dropped_client_limited, 0U);
}

TEST(Reporter, ClientBudgetAndSamplingDropAndCount) {
    Receiver receiver;
    ReporterOptions o = OptionsFor(receiver.Dsn());
    o.max_events_per_minute = 3;
    Reporter reporter(o);
    for (int i = 0; i < 3; ++i) EXPECT_EQ(reporter.Capture(Simple("ok")), CaptureResult::kQueued);
    EXPECT_FALSE(reporter.Accepting());
    EXPECT_EQ(reporter.Capture(Simple("over")), CaptureResult::kClientLimited);
    EXPECT_EQ(reporter.Capture(Simple("over")), CaptureResult::kClientLimited);
    ASSERT_TRUE(reporter.Flush(5s));
    EXPECT_EQ(reporter.stats().sent, 3U);
    EXPECT_EQ(reporter.stats().dropped_client_limited, 2U);
    EXPECT_EQ(receiver.received().size(), 3U);

    ReporterOptions sampled = OptionsFor(receiver.Dsn());
    double next = 0.0;
    sampled.sample_rate = 0.5;
    sampled.random_for_test = [&next] { return next; };
    Reporter r2(sampled);
    next = 0.49;
    EXPECT_EQ(r2.Capture(Simple("kept")), CaptureResult::kQueued);
    next = 0.5;
    EXPECT_EQ(r2.Capture(Simple("dropped")), CaptureResult::kSampled);
    EXPECT_EQ(r2.stats().dropped_sampled, 1U);
}

TEST(Reporter, AHungSentryNeverSlowsCaptureAndFlushKeepsItsTimeout) {
    testing::SilentPort silent;
    ReporterOptions o = OptionsFor("http://k@127.0.0.1:" + std::to_string(silent.port()) + "/1");
    o.send_timeout = 10s;  // longer than the Flush below: Flush must not wait for it
    auto reporter = std::make_unique<Reporter>(o);
    const auto t0 = std::chrono::steady_clock::now();
    for (int i = 0; i < 50; ++i) (void)reporter->Capture(Simple("x"));
    const auto capture_time = std::chrono::steady_clock::now() - t0;
    EXPECT_LT(capture_time, 50ms);
    const auto f0 = std::chrono::steady_clock::now();
    EXPECT_FALSE(reporter->Flush(300ms));
    const auto flush_time = std::chrono::steady_clock::now() - f0;
    EXPECT_GE(flush_time, 300ms);
    EXPECT_LT(flush_time, 1000ms);
    // Destruction cancels the send in flight (libcurl notices within about a second) and drops the rest.
    const auto d0 = std::chrono::steady_clock::now();
    reporter.reset();
    EXPECT_LT(std::chrono::steady_clock::now() - d0, 2500ms);
}

TEST(Reporter, AClosedPortCountsFailedSends) {
    testing::RefusingPort refusing;
    ReporterOptions o = OptionsFor("http://k@127.0.0.1:" + std::to_string(refusing.port()) + "/1");
    Reporter reporter(o);
    for (int i = 0; i < 3; ++i) EXPECT_EQ(reporter.Capture(Simple("x")), CaptureResult::kQueued);
    ASSERT_TRUE(reporter.Flush(5s));
    ReporterStats s = reporter.stats();
    EXPECT_EQ(s.send_failures, 3U);
    EXPECT_EQ(s.dropped_send_failed, 3U);
    EXPECT_EQ(s.sent, 0U);
}

TEST(Reporter, EventsInARequestWaitForItsContextOrGoWithoutIt) {
    Receiver receiver;
    ReporterOptions o = OptionsFor(receiver.Dsn());
    o.request_hold = 200ms;
    Reporter reporter(o);
    EXPECT_FALSE(reporter.WantsRequest(200));
    EXPECT_TRUE(reporter.WantsRequest(503));
    EXPECT_EQ(reporter.CaptureInRequest(Simple("in r1"), "r1"), CaptureResult::kQueued);
    EXPECT_EQ(reporter.CaptureInRequest(Simple("also in r1"), "r1"), CaptureResult::kQueued);
    EXPECT_TRUE(reporter.WantsRequest(200));
    EXPECT_TRUE(reporter.RequestFinished("r1", RequestContext{"GET", "/a", "", {{"Host", "h"}}}));
    EXPECT_FALSE(reporter.RequestFinished("r1", RequestContext{}));  // once only
    EXPECT_FALSE(reporter.RequestFinished("r-unknown", RequestContext{}));
    ASSERT_TRUE(reporter.Flush(5s));
    auto got = receiver.received();
    ASSERT_EQ(got.size(), 2U);
    for (const auto& r : got) {
        auto env = ParseEnvelope(r.body);
        ASSERT_TRUE(env);
        EXPECT_EQ(env->payload["request"]["url"], "/a");
    }
    // No end for r2: after request_hold it goes without a request.
    EXPECT_EQ(reporter.CaptureInRequest(Simple("in r2"), "r2"), CaptureResult::kQueued);
    ASSERT_TRUE(receiver.WaitFor(3));
    auto env = ParseEnvelope(receiver.received()[2].body);
    ASSERT_TRUE(env);
    EXPECT_FALSE(env->payload.contains("request"));
    EXPECT_FALSE(reporter.WantsRequest(200));
}

TEST(Reporter, StoppedReporterDropsEverything) {
    Receiver receiver;
    Reporter reporter(OptionsFor(receiver.Dsn()));
    reporter.Stop();
    EXPECT_EQ(reporter.Capture(Simple("late")), CaptureResult::kStopped);
    EXPECT_FALSE(reporter.Accepting());
    EXPECT_EQ(reporter.stats().dropped_stopped, 1U);
}

}  // namespace
}  // namespace gale::sentry
