// SPDX-License-Identifier: MIT
#include <atomic>
#include <thread>

#include <fmt/format.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <gale/health/checks.hpp>
#include <gale/health/probes.hpp>

namespace gale::health {
namespace {

using namespace std::chrono_literals;

TEST(CheckRegistry, RejectsBadRegistrations) {
    CheckRegistry reg;
    EXPECT_FALSE(reg.Add("", [] { return CheckResult::Ok(); }));
    EXPECT_FALSE(reg.Add("x", [] { return CheckResult::Ok(); }, {.tags = 0}));
    ASSERT_TRUE(reg.Add("x", [] { return CheckResult::Ok(); }));
    EXPECT_FALSE(reg.Add("x", [] { return CheckResult::Ok(); }));
}

TEST(CheckRegistry, RunsByTagAndCachesResults) {
    CheckRegistry reg(10s);
    std::atomic<int> calls{0};
    ASSERT_TRUE(reg.Add("db",
                        [&] {
                            ++calls;
                            return CheckResult::Ok("fine");
                        },
                        {.tags = kReadiness | kLiveness}));
    ASSERT_TRUE(reg.Add("cache", [] { return CheckResult::Error("down"); }, {.tags = kReadiness}));
    auto live = reg.Run(kLiveness);
    ASSERT_EQ(live.size(), 1U);
    EXPECT_EQ(live[0].name, "db");
    auto ready = reg.Run(kReadiness);
    ASSERT_EQ(ready.size(), 2U);
    EXPECT_FALSE(ready[0].failing);
    EXPECT_TRUE(ready[1].failing);
    EXPECT_EQ(ready[1].message, "down");
    EXPECT_EQ(calls.load(), 1);  // second run came from the cache
    reg.Run(kReadiness, /*use_cache=*/false);
    EXPECT_EQ(calls.load(), 2);
}

TEST(CheckRegistry, TimeoutsExceptionsAndWarningLevel) {
    CheckRegistry reg(0ms);
    std::atomic<bool> release{false};
    ASSERT_TRUE(reg.Add("slow",
                        [&] {
                            while (!release.load()) std::this_thread::sleep_for(1ms);
                            return CheckResult::Ok();
                        },
                        {.tags = kLiveness, .timeout = 50ms}));
    ASSERT_TRUE(reg.Add("throws", []() -> CheckResult { throw std::runtime_error("bad"); }, {.tags = kLiveness}));
    ASSERT_TRUE(
        reg.Add("soft", [] { return CheckResult::Error("meh"); }, {.tags = kLiveness, .level = Status::kWarning}));
    auto start = std::chrono::steady_clock::now();
    auto out = reg.Run(kLiveness);
    EXPECT_LT(std::chrono::steady_clock::now() - start, 1s);
    ASSERT_EQ(out.size(), 3U);
    EXPECT_TRUE(out[0].failing);
    EXPECT_NE(out[0].message.find("timed out"), std::string::npos);
    EXPECT_TRUE(out[1].failing);
    EXPECT_NE(out[1].message.find("bad"), std::string::npos);
    EXPECT_FALSE(out[2].failing);
    EXPECT_EQ(out[2].status, Status::kWarning);
    release = true;
}

TEST(ProbeState, FollowsTheStateTable) {
    CheckRegistry reg(0ms);
    std::atomic<bool> healthy{true};
    ASSERT_TRUE(reg.Add("dep", [&] { return healthy ? CheckResult::Ok() : CheckResult::Error("dep down"); },
                        {.tags = kReadiness}));
    std::atomic<std::size_t> queue{0};
    std::atomic<std::uint64_t> served{0};
    std::atomic<std::int64_t> stall{0};
    ProbeState p(reg, {.req_queue_len = 3, .max_lifetime = 100, .watchdog_timeout = 1000ms},
                 {[&] { return queue.load(); }, [&] { return stall.load(); }, [&] { return served.load(); }});
    EXPECT_EQ(p.Evaluate(Probe::kStartup, CheckWait::kWait).http_status, 503);
    EXPECT_EQ(p.Evaluate(Probe::kReadiness, CheckWait::kWait).http_status, 503);
    EXPECT_EQ(p.Evaluate(Probe::kLiveness, CheckWait::kWait).http_status, 200);
    p.SetStarted();
    EXPECT_EQ(p.Evaluate(Probe::kStartup, CheckWait::kWait).http_status, 200);
    auto ready = p.Evaluate(Probe::kReadiness, CheckWait::kWait);
    EXPECT_EQ(ready.http_status, 200);
    auto j = nlohmann::json::parse(ready.body);
    EXPECT_EQ(j["status"], "pass");
    EXPECT_EQ(j["checks"][0]["name"], "dep");
    healthy = false;
    auto failing = p.Evaluate(Probe::kReadiness, CheckWait::kWait);
    EXPECT_EQ(failing.http_status, 503);
    EXPECT_EQ(nlohmann::json::parse(failing.body)["checks"][0]["message"], "dep down");
    healthy = true;
    queue = 3;
    EXPECT_EQ(p.Evaluate(Probe::kReadiness, CheckWait::kWait).http_status, 503);
    queue = 2;
    EXPECT_EQ(p.Evaluate(Probe::kReadiness, CheckWait::kWait).http_status, 200);
    stall = 5000;
    EXPECT_EQ(p.Evaluate(Probe::kLiveness, CheckWait::kWait).http_status, 500);
    stall = 0;
    served = 101;
    auto life = p.Evaluate(Probe::kLiveness, CheckWait::kWait);
    EXPECT_EQ(life.http_status, 500);
    EXPECT_NE(life.reason.find("max lifetime"), std::string::npos);
    served = 0;
    p.SetDraining();
    EXPECT_EQ(p.Evaluate(Probe::kReadiness, CheckWait::kWait).http_status, 503);
    EXPECT_EQ(p.Evaluate(Probe::kLiveness, CheckWait::kWait).http_status, 200);
}

TEST(CheckRegistry, PeekNeverWaitsAndReportsPendingThenTheLastResult) {
    CheckRegistry reg(0ms);
    // Shared with the check's thread, which may outlive this test's scope.
    struct Gate {
        std::atomic<int> tickets{0};  // runs allowed to finish
        std::atomic<bool> open{false};
        std::atomic<int> runs{0};
    };
    auto gate = std::make_shared<Gate>();
    ASSERT_TRUE(reg.Add("slow",
                        [gate] {
                            while (!gate->open.load() && gate->tickets.load() == 0) std::this_thread::sleep_for(1ms);
                            if (!gate->open.load()) --gate->tickets;
                            return CheckResult::Error(fmt::format("run {}", ++gate->runs));
                        },
                        {.tags = kReadiness, .timeout = 5s}));
    auto t0 = std::chrono::steady_clock::now();
    auto first = reg.Peek(kReadiness, 0ms);
    EXPECT_LT(std::chrono::steady_clock::now() - t0, 100ms);
    ASSERT_EQ(first.size(), 1U);
    EXPECT_TRUE(first[0].pending);
    EXPECT_EQ(first[0].status, Status::kPending);
    EXPECT_FALSE(first[0].failing);
    ++gate->tickets;
    auto waited = reg.Run(kReadiness);  // joins the run in progress
    EXPECT_EQ(waited[0].message, "run 1");
    // Stale again (TTL 0): a new run starts, blocked; Peek reports the last result meanwhile.
    auto last = reg.Peek(kReadiness, 20ms);
    EXPECT_EQ(last[0].message, "run 1");
    EXPECT_TRUE(last[0].failing);
    gate->open.store(true);
}

TEST(CheckRegistry, InvalidateDiscardsAResultFromBeforeIt) {
    CheckRegistry reg(10s);
    std::atomic<bool> migrated{false};
    ASSERT_TRUE(reg.Add("table", [&] { return migrated ? CheckResult::Ok() : CheckResult::Error("no table"); },
                        {.tags = kReadiness}));
    EXPECT_TRUE(reg.Run(kReadiness)[0].failing);
    migrated = true;
    EXPECT_TRUE(reg.Run(kReadiness)[0].failing);  // cached for 10 s
    reg.Invalidate();
    EXPECT_FALSE(reg.Run(kReadiness)[0].failing);
}

}  // namespace
}  // namespace gale::health
