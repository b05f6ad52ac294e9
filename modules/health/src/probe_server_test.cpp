// SPDX-License-Identifier: MIT
#include <atomic>
#include <thread>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <gale/health/probe_server.hpp>
#include <gale/http/testing/raw_client.hpp>
#include <gale/log/log.hpp>
#include <gale/metrics/registry.hpp>

namespace gale::health {
namespace {

using namespace std::chrono_literals;
using http::testing::Fetch;

std::string Get(std::string_view path) { return "GET " + std::string(path) + " HTTP/1.1\r\nHost: probe\r\n\r\n"; }

// Issue 8: with the database check hanging, /ready and /startup took 2 s each and /alive up to 10 s under a storm
// of /ready pollers. Probes answer at once whatever the checks do.
TEST(ProbeServer, ProbesAnswerAtOnceWhileACheckHangsUnderAProbeStorm) {
    log::SetLevel(log::Level::kError);
    CheckRegistry checks;
    auto release = std::make_shared<std::atomic<bool>>(false);  // the check's thread may outlive the test
    ASSERT_TRUE(checks.Add("database",
                           [release] {
                               while (!release->load()) std::this_thread::sleep_for(5ms);
                               return CheckResult::Ok();
                           },
                           {.tags = kReadiness | kStartup, .timeout = 700ms}));
    ASSERT_TRUE(checks.Add("heart", [] { return CheckResult::Ok("beating"); }, {.tags = kLiveness}));
    ProbeState probes(checks, {}, {});
    probes.SetStarted();
    metrics::Registry registry;
    auto server = ProbeServer::Start({.bind = "127.0.0.1", .port = 0}, probes, &registry);
    ASSERT_TRUE(server) << server.error().ToString();
    std::uint16_t port = (*server)->port();

    std::atomic<bool> stop{false};
    std::atomic<int> ready_answers{0};
    std::vector<std::thread> storm;
    for (int i = 0; i < 10; ++i) {
        storm.emplace_back([&] {
            while (!stop.load()) {
                if (auto r = Fetch(port, Get("/ready")); r && r->status == 503) ++ready_answers;
            }
        });
    }
    auto worst = 0ms;
    bool saw_pending = false;
    bool saw_timeout = false;
    auto until = std::chrono::steady_clock::now() + 1500ms;
    while (std::chrono::steady_clock::now() < until) {
        for (std::string_view path : {"/alive", "/startup", "/ready"}) {
            auto t0 = std::chrono::steady_clock::now();
            auto r = Fetch(port, Get(path));
            auto took = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0);
            worst = std::max(worst, took);
            ASSERT_TRUE(r) << path;
            if (path == "/alive") {
                EXPECT_EQ(r->status, 200) << r->body;  // liveness never waits on, or fails for, a readiness check
                continue;
            }
            EXPECT_EQ(r->status, 503) << path << r->body;
            auto checks_json = nlohmann::json::parse(r->body)["checks"];
            ASSERT_EQ(checks_json.size(), 1U);
            saw_pending = saw_pending || checks_json[0]["status"] == "pending";
            saw_timeout = saw_timeout || checks_json[0]["message"].get<std::string>().find("timed out") == 0;
        }
    }
    stop.store(true);
    for (auto& t : storm) t.join();
    release->store(true);
    EXPECT_LT(worst, 250ms) << "a probe waited for a check";
    EXPECT_TRUE(saw_pending) << "before its first result the check is reported pending";
    EXPECT_TRUE(saw_timeout) << "past its timeout the hanging check is reported timed out";
    EXPECT_GT(ready_answers.load(), 100);
}

TEST(ProbeServer, MetricsAndProbesOnTheirOwnPortAndAPathTakenTwiceIsAnError) {
    CheckRegistry checks;
    ProbeState probes(checks, {}, {});
    metrics::Registry registry;
    ASSERT_TRUE(registry.AddCallbackGauge("gale_test_value", "A test value.", [] { return 42.0; }));
    auto server = ProbeServer::Start({.bind = "127.0.0.1", .port = 0}, probes, &registry);
    ASSERT_TRUE(server);
    auto m = Fetch((*server)->port(), Get("/metrics"));
    ASSERT_TRUE(m);
    EXPECT_EQ(m->status, 200);
    EXPECT_NE(m->body.find("gale_test_value 42"), std::string::npos);
    auto startup = Fetch((*server)->port(), Get("/startup"));
    ASSERT_TRUE(startup);
    EXPECT_EQ(startup->status, 503);  // not started
    auto clash = ProbeServer::Start({.bind = "127.0.0.1", .port = 0, .readiness_path = "/alive"}, probes, nullptr);
    EXPECT_FALSE(clash);
}

}  // namespace
}  // namespace gale::health
