// SPDX-License-Identifier: MIT

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <future>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <gale/base/clock.hpp>
#include <gale/http/testing/recording_server.hpp>
#include <gale/lifecycle/webhooks.hpp>
#include <gale/log/log.hpp>
#include <gale/log/testing/captured_log.hpp>

namespace gale::lifecycle {
namespace {

using std::chrono::milliseconds;
using Clock = std::chrono::steady_clock;
using http::testing::CannedResponse;
using http::testing::LoopbackPort;
using http::testing::ReceivedRequest;
using http::testing::RecordingServer;

// Everything here talks to 127.0.0.1; keep a proxy named in the environment out of the way. Runs during static
// initialisation, before any thread exists.
[[maybe_unused]] const int kNoProxyForLoopback = setenv("no_proxy", "127.0.0.1", 1);

using log::testing::CapturedLog;

WebhookOptions Options(std::vector<std::string> urls) {
    WebhookOptions options;
    options.urls = std::move(urls);
    options.service = "orders";
    options.version = "1.2.3";
    options.pod_name = "orders-7d9f";
    options.initial_backoff = milliseconds(20);
    options.max_backoff = milliseconds(100);
    options.timeout = milliseconds(2000);
    return options;
}

TEST(WebhookSender, PostsPayloadsNumberedInSendOrder) {
    RecordingServer receiver;
    ASSERT_TRUE(receiver.ok());
    WebhookSender sender(Options({receiver.Url("/hooks/lifecycle")}));
    auto before = std::chrono::system_clock::now();
    sender.Send(WebhookEvent::kStartup, "succeeded");
    sender.Send(WebhookEvent::kReadiness, "failed",
                {{"db", "failed", "connection refused"}, {"queue", "degraded", "depth \"12\"\n"}});
    sender.Send(WebhookEvent::kLiveness, "succeeded");
    sender.Send(WebhookEvent::kShutdown, "started");
    sender.Send(WebhookEvent::kShutdown, "finished");
    ASSERT_TRUE(sender.Flush(milliseconds(5000)));
    auto after = std::chrono::system_clock::now();

    auto requests = receiver.requests();
    ASSERT_EQ(requests.size(), 5U);
    // Up to max_in_flight deliveries run at once, so arrival order is not Send order: `sequence` is.
    std::sort(requests.begin(), requests.end(), [](const auto& a, const auto& b) {
        return nlohmann::json::parse(a.body)["sequence"].template get<int>() <
               nlohmann::json::parse(b.body)["sequence"].template get<int>();
    });
    const std::vector<std::pair<std::string, std::string>> expected = {{"startup", "succeeded"},
                                                                       {"readiness", "failed"},
                                                                       {"liveness", "succeeded"},
                                                                       {"shutdown", "started"},
                                                                       {"shutdown", "finished"}};
    for (std::size_t i = 0; i < requests.size(); ++i) {
        const auto& r = requests[i];
        SCOPED_TRACE(r.body);
        EXPECT_EQ(r.method, "POST");
        EXPECT_EQ(r.target, "/hooks/lifecycle");
        EXPECT_EQ(r.Header("Content-Type"), "application/json");
        EXPECT_EQ(r.Header("User-Agent"), "gale/1.2.3");
        EXPECT_EQ(r.Header("X-Gale-Event"), expected[i].first);

        auto doc = nlohmann::ordered_json::parse(r.body);
        std::vector<std::string> keys;
        for (const auto& item : doc.items()) keys.push_back(item.key());
        EXPECT_EQ(keys, (std::vector<std::string>{"service", "version", "event", "status", "timestamp",
                                                  "timestamp_unix", "pod", "failing_checks", "sequence"}));
        EXPECT_EQ(doc["sequence"], i + 1);
        EXPECT_EQ(doc["service"], "orders");
        EXPECT_EQ(doc["version"], "1.2.3");
        EXPECT_EQ(doc["event"], expected[i].first);
        EXPECT_EQ(doc["status"], expected[i].second);
        EXPECT_EQ(doc["pod"], "orders-7d9f");

        auto unix_seconds = doc["timestamp_unix"].get<std::int64_t>();
        EXPECT_GE(unix_seconds, std::chrono::duration_cast<std::chrono::seconds>(before.time_since_epoch()).count());
        EXPECT_LE(unix_seconds, std::chrono::duration_cast<std::chrono::seconds>(after.time_since_epoch()).count());
        auto timestamp = doc["timestamp"].get<std::string>();
        ASSERT_EQ(timestamp.size(), 24U);
        EXPECT_EQ(timestamp.back(), 'Z');
        // Same second as timestamp_unix: compare "YYYY-MM-DDTHH:MM:SS".
        std::chrono::system_clock::time_point at{std::chrono::seconds(unix_seconds)};
        EXPECT_EQ(timestamp.substr(0, 19), FormatRfc3339(at).substr(0, 19));

        ASSERT_TRUE(doc["failing_checks"].is_array());
        if (i != 1) {
            EXPECT_TRUE(doc["failing_checks"].empty());
        }
    }
    auto checks = nlohmann::json::parse(requests[1].body)["failing_checks"];
    ASSERT_EQ(checks.size(), 2U);
    EXPECT_EQ(checks[0], (nlohmann::json{{"name", "db"}, {"status", "failed"}, {"message", "connection refused"}}));
    EXPECT_EQ(checks[1]["message"], "depth \"12\"\n");
}

TEST(WebhookSender, InvalidUtf8InCheckMessagesIsReplacedNotThrown) {
    RecordingServer receiver;
    ASSERT_TRUE(receiver.ok());
    WebhookSender sender(Options({receiver.Url("/hook")}));
    sender.Send(WebhookEvent::kReadiness, "failed", {{"disk", "failed", "bad \xff byte"}});
    ASSERT_TRUE(sender.Flush(milliseconds(5000)));
    auto requests = receiver.requests();
    ASSERT_EQ(requests.size(), 1U);
    auto doc = nlohmann::json::parse(requests[0].body);
    EXPECT_EQ(doc["failing_checks"][0]["message"], "bad \xEF\xBF\xBD byte");
}

TEST(WebhookSender, PodNameDefaultsToHostname) {
    auto options = Options({});
    options.pod_name.clear();
    WebhookSender sender(options);
    std::string expected;
    if (const char* env = std::getenv("HOSTNAME"); env != nullptr && *env != '\0') {
        expected = env;
    } else {
        char name[256] = {};
        ASSERT_EQ(gethostname(name, sizeof(name) - 1), 0);
        expected = name;
    }
    EXPECT_EQ(sender.pod_name(), expected);
    EXPECT_FALSE(sender.pod_name().empty());
}

TEST(WebhookSender, RetriesServerErrorsWithBackoffThenSucceeds) {
    RecordingServer receiver([](std::size_t index, const ReceivedRequest&) {
        return CannedResponse{index == 0 ? 503 : index == 1 ? 429 : 200};
    });
    ASSERT_TRUE(receiver.ok());
    CapturedLog captured;
    {
        WebhookSender sender(Options({receiver.Url("/hook")}));
        sender.Send(WebhookEvent::kStartup, "succeeded");
        ASSERT_TRUE(sender.Flush(milliseconds(5000)));
    }
    auto requests = receiver.requests();
    ASSERT_EQ(requests.size(), 3U);
    EXPECT_EQ(requests[1].body, requests[0].body);
    EXPECT_EQ(requests[2].body, requests[0].body);
    // Waits of 20ms then 40ms, each drawn from its upper half.
    EXPECT_GE(requests[1].received_at - requests[0].received_at, milliseconds(10));
    EXPECT_GE(requests[2].received_at - requests[1].received_at, milliseconds(20));

    std::vector<nlohmann::json> failures;
    for (auto& line : captured.Lines()) {
        if (line["logger"] == "gale.webhooks") failures.push_back(line);
    }
    ASSERT_EQ(failures.size(), 2U);
    EXPECT_EQ(failures[0]["level"], "warning");
    EXPECT_EQ(failures[0]["url"], receiver.Url("/hook"));
    EXPECT_EQ(failures[0]["event"], "startup");
    EXPECT_EQ(failures[0]["attempt"], 1);
    EXPECT_EQ(failures[0]["error"], "HTTP 503");
    EXPECT_EQ(failures[1]["attempt"], 2);
    EXPECT_EQ(failures[1]["error"], "HTTP 429");
}

TEST(WebhookSender, GivesUpAfterMaxAttempts) {
    RecordingServer receiver([](std::size_t, const ReceivedRequest&) { return CannedResponse{500}; });
    ASSERT_TRUE(receiver.ok());
    auto options = Options({receiver.Url("/hook")});
    options.max_attempts = 3;
    options.initial_backoff = milliseconds(5);
    WebhookSender sender(options);
    sender.Send(WebhookEvent::kStartup, "succeeded");
    sender.Send(WebhookEvent::kReadiness, "succeeded");
    ASSERT_TRUE(sender.Flush(milliseconds(5000)));
    auto requests = receiver.requests();
    ASSERT_EQ(requests.size(), 6U);
    std::map<std::string, int> attempts;
    for (const auto& r : requests) ++attempts[r.Header("X-Gale-Event").value_or("")];
    EXPECT_EQ(attempts, (std::map<std::string, int>{{"readiness", 3}, {"startup", 3}}));
}

// Issue 8: with one receiver that accepts and never answers, the shutdown events were abandoned behind the
// retrying startup event, and shutdown took 5 s longer.
TEST(WebhookSender, AHangingDeliveryDelaysNoOtherEventAndStoppingCancelsIt) {
    std::promise<void> release;
    std::shared_future<void> released = release.get_future().share();
    RecordingServer receiver([released](std::size_t, const ReceivedRequest& r) {
        if (r.Header("X-Gale-Event") == "startup") released.wait_for(std::chrono::seconds(20));  // never answers
        return CannedResponse{200};
    });
    ASSERT_TRUE(receiver.ok());
    auto options = Options({receiver.Url("/hook")});
    options.timeout = milliseconds(15000);
    auto sender = std::make_unique<WebhookSender>(options);
    sender->Send(WebhookEvent::kStartup, "succeeded");
    ASSERT_TRUE(receiver.WaitForRequests(1, milliseconds(5000)));
    sender->Send(WebhookEvent::kShutdown, "started");
    sender->Send(WebhookEvent::kShutdown, "finished");
    EXPECT_TRUE(receiver.WaitForRequests(3, milliseconds(3000))) << "later events waited behind the hanging one";
    EXPECT_FALSE(sender->Flush(milliseconds(100)));  // the startup delivery is still hanging
    auto t0 = std::chrono::steady_clock::now();
    sender.reset();  // cancels the attempt under way
    EXPECT_LT(std::chrono::steady_clock::now() - t0, milliseconds(2500));
    release.set_value();
}

TEST(WebhookSender, ClientErrorIsNotRetried) {
    RecordingServer receiver([](std::size_t, const ReceivedRequest&) { return CannedResponse{400}; });
    ASSERT_TRUE(receiver.ok());
    CapturedLog captured;
    {
        WebhookSender sender(Options({receiver.Url("/hook")}));
        sender.Send(WebhookEvent::kStartup, "succeeded");
        sender.Send(WebhookEvent::kReadiness, "succeeded");
        ASSERT_TRUE(sender.Flush(milliseconds(5000)));
    }
    // Flush returned, so nothing is left to retry: exactly one attempt of each.
    auto requests = receiver.requests();
    ASSERT_EQ(requests.size(), 2U);
    std::map<std::string, int> attempts;
    for (const auto& r : requests) ++attempts[r.Header("X-Gale-Event").value_or("")];
    EXPECT_EQ(attempts, (std::map<std::string, int>{{"readiness", 1}, {"startup", 1}}));
    std::size_t logged = 0;
    for (auto& line : captured.Lines()) {
        if (line["logger"] != "gale.webhooks") continue;
        ++logged;
        EXPECT_EQ(line["message"], "webhook delivery failed; not retrying");
        EXPECT_EQ(line["error"], "HTTP 400");
    }
    EXPECT_EQ(logged, 2U);
}

TEST(WebhookSender, DeadReceiverNeverBlocksTheCaller) {
    const LoopbackPort refusing(0);  // bound, not listening: every connection is refused
    ASSERT_TRUE(refusing.ok());
    auto options = Options({"http://127.0.0.1:" + std::to_string(refusing.port()) + "/hook"});
    options.initial_backoff = milliseconds(200);
    options.max_backoff = milliseconds(5000);
    log::SetLevel(log::Level::kError);  // the expected warnings are noise here
    auto sender = std::make_unique<WebhookSender>(options);
    for (int i = 0; i < 20; ++i) {
        auto started = Clock::now();
        sender->Send(WebhookEvent::kLiveness, i % 2 == 0 ? "failed" : "succeeded");
        // Blocking on the dead receiver would take a retry's backoff (200 ms); the bound leaves room for a loaded
        // machine under ASan (6.4 ms seen in CI against the 5 ms this was).
        EXPECT_LT(Clock::now() - started, milliseconds(100));
    }
    auto started = Clock::now();
    EXPECT_FALSE(sender->Flush(milliseconds(200)));
    auto waited = Clock::now() - started;
    EXPECT_GE(waited, milliseconds(200));
    EXPECT_LT(waited, milliseconds(1000));

    started = Clock::now();
    sender.reset();  // abandons the pending retries
    EXPECT_LT(Clock::now() - started, milliseconds(1000));
    log::SetLevel(log::Level::kInfo);
}

TEST(WebhookSender, DeadReceiverDoesNotDelayALiveOne) {
    const LoopbackPort refusing(0);
    ASSERT_TRUE(refusing.ok());
    RecordingServer live;
    ASSERT_TRUE(live.ok());
    auto options = Options({"http://127.0.0.1:" + std::to_string(refusing.port()) + "/hook", live.Url("/hook")});
    options.initial_backoff = milliseconds(1000);
    log::SetLevel(log::Level::kError);
    {
        WebhookSender sender(options);
        sender.Send(WebhookEvent::kStartup, "succeeded");
        sender.Send(WebhookEvent::kReadiness, "succeeded");
        sender.Send(WebhookEvent::kLiveness, "succeeded");
        EXPECT_TRUE(live.WaitForRequests(3, milliseconds(800)));
    }
    log::SetLevel(log::Level::kInfo);
    auto requests = live.requests();
    ASSERT_EQ(requests.size(), 3U);
    std::set<std::string> events;
    for (const auto& r : requests) events.insert(r.Header("X-Gale-Event").value_or(""));
    EXPECT_EQ(events, (std::set<std::string>{"liveness", "readiness", "startup"}));
}

TEST(WebhookSender, EveryUrlReceivesEveryEvent) {
    RecordingServer first;
    RecordingServer second;
    ASSERT_TRUE(first.ok() && second.ok());
    WebhookSender sender(Options({first.Url("/a"), second.Url("/b")}));
    sender.Send(WebhookEvent::kStartup, "succeeded");
    sender.Send(WebhookEvent::kShutdown, "started");
    ASSERT_TRUE(sender.Flush(milliseconds(5000)));
    auto a = first.requests();
    auto b = second.requests();
    ASSERT_EQ(a.size(), 2U);
    ASSERT_EQ(b.size(), 2U);
    EXPECT_EQ(a[0].target, "/a");
    EXPECT_EQ(b[0].target, "/b");
    // The same documents (arrival order may differ: deliveries run in parallel).
    auto bodies = [](const std::vector<ReceivedRequest>& rs) {
        std::vector<std::string> out;
        for (const auto& r : rs) out.push_back(r.body);
        std::sort(out.begin(), out.end());
        return out;
    };
    EXPECT_EQ(bodies(a), bodies(b));
}

TEST(WebhookSender, FullQueueDropsTheOldest) {
    std::promise<void> release;
    std::shared_future<void> released = release.get_future().share();
    RecordingServer receiver([released](std::size_t index, const ReceivedRequest&) {
        if (index == 0) released.wait_for(std::chrono::seconds(5));  // hold the first delivery in flight
        return CannedResponse{200};
    });
    ASSERT_TRUE(receiver.ok());
    auto options = Options({receiver.Url("/hook")});
    options.max_queue = 2;
    options.max_in_flight = 1;  // so that s1… queue up behind s0
    CapturedLog captured;
    {
        WebhookSender sender(options);
        sender.Send(WebhookEvent::kLiveness, "s0");
        bool in_flight = receiver.WaitForRequests(1, milliseconds(5000));
        if (in_flight) {
            for (const char* status : {"s1", "s2", "s3", "s4"}) sender.Send(WebhookEvent::kLiveness, status);
        }
        release.set_value();
        ASSERT_TRUE(in_flight);
        ASSERT_TRUE(sender.Flush(milliseconds(5000)));
    }
    // s0 was in flight when it was dropped (its answer is ignored), then s1 and s2 were dropped from the queue.
    std::vector<std::string> statuses;
    for (const auto& r : receiver.requests()) statuses.push_back(nlohmann::json::parse(r.body)["status"]);
    EXPECT_EQ(statuses, (std::vector<std::string>{"s0", "s3", "s4"}));
    std::size_t drops = 0;
    for (auto& line : captured.Lines()) {
        if (line["message"] == "webhook queue full; dropping the oldest event") ++drops;
    }
    EXPECT_EQ(drops, 3U);
}

TEST(WebhookSender, WithoutUrlsSendDoesNothing) {
    WebhookSender sender(Options({}));
    sender.Send(WebhookEvent::kStartup, "succeeded");
    EXPECT_TRUE(sender.Flush(milliseconds(0)));
}

TEST(WebhookEvent, WireNames) {
    EXPECT_EQ(ToString(WebhookEvent::kStartup), "startup");
    EXPECT_EQ(ToString(WebhookEvent::kReadiness), "readiness");
    EXPECT_EQ(ToString(WebhookEvent::kLiveness), "liveness");
    EXPECT_EQ(ToString(WebhookEvent::kShutdown), "shutdown");
}

}  // namespace
}  // namespace gale::lifecycle
