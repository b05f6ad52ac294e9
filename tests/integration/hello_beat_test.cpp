// SPDX-License-Identifier: MIT
//
// The BEAT role (issue 10 §4) as a user runs it: two `hello beat` replicas and a `hello worker` in one directory,
// on the embedded queue and hello's SQLite database (where the lease and the beat's state live). The entry
// "visit-every-minute" is overridden to every second through GALE_BEAT_SCHEDULE, so that each run records one visit
// named "beat". One replica leads and sends, the other stands by (ready, not leader); the leader is SIGKILLed (no
// lease release); the standby takes over within the lease; over the whole run no run is sent twice under two ids,
// no gap exceeds the lease plus a period, and the visits equal the distinct runs (RunOnce absorbs a resend).
#include <signal.h>

#include <algorithm>
#include <chrono>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <gale/db/database.hpp>
#include <gale/tasks/message.hpp>

#include "harness.hpp"

namespace {

using namespace std::chrono_literals;
using gale::testing::integration::Eventually;
using gale::testing::integration::Get;
using gale::testing::integration::Process;
using gale::testing::integration::ProcessTest;
using Json = nlohmann::json;

#ifndef GALE_HELLO_PATH
#error "GALE_HELLO_PATH must name the hello binary"
#endif
constexpr const char* kHello = GALE_HELLO_PATH;
constexpr auto kLease = 2s;
constexpr const char* kEverySecond = R"({"visit-every-minute": {"schedule": "every 1s"}})";

class HelloBeatTest : public ProcessTest {
protected:
    HelloBeatTest() : ProcessTest("hello-beat", {"GALE_", "APP_", "DATABASE_", "AMQP_", "RABBITMQ_", "CELERY_"}) {}

    Process& Hello(std::vector<std::string> args, std::map<std::string, std::string> env = {}) {
        args.insert(args.begin(), kHello);
        return Spawn(std::move(args), std::move(env));
    }
    Process& Beat() {
        return Hello({"beat", "--bind", "127.0.0.1", "--port", "0", "--lease", "2s", "--drain-delay", "0s"},
                     {{"GALE_BEAT_SCHEDULE", kEverySecond}});
    }

    static bool IsLeader(std::uint16_t probe) {
        auto r = Get(probe, "/metrics");
        return r && r->status == 200 && r->body.find("\ngale_beat_leader 1") != std::string::npos;
    }

    /// The visits named "beat" in hello.db, or -1.
    std::int64_t BeatVisits() {
        auto db = gale::db::Database::Open(dir_ + "/hello.db");
        if (!db) return -1;
        auto rows = db->Query("SELECT COUNT(*) FROM visits WHERE name = 'beat'");
        if (!rows || rows->empty()) return -1;
        return std::get<std::int64_t>((*rows)[0][0]);
    }
};

TEST_F(HelloBeatTest, OneOfTwoReplicasSendsAndTheStandbyTakesOverWithinTheLeaseWhenTheLeaderIsKilled) {
    {
        Process& migrate = Hello({"migrate"});
        auto code = migrate.WaitExit(10s);
        ASSERT_TRUE(code);
        ASSERT_EQ(*code, 0);
    }
    Process& worker = Hello({"worker", "--bind", "127.0.0.1", "--port", "0", "--drain-delay", "0s"});
    ASSERT_NE(worker.WaitForPort("probe server listening", 10s), 0);

    Process& first = Beat();
    const std::uint16_t first_probe = first.WaitForPort("probe server listening", 10s);
    ASSERT_NE(first_probe, 0);
    ASSERT_TRUE(Eventually([&] { return IsLeader(first_probe); }, 10s)) << "the first beat never led";
    Process& second = Beat();
    const std::uint16_t second_probe = second.WaitForPort("probe server listening", 10s);
    ASSERT_NE(second_probe, 0);
    // The standby is ready (it is what takes over) and does not send.
    ASSERT_TRUE(Eventually([&] { return gale::testing::integration::StatusOf(second_probe, "/ready") == 200; }, 10s));
    ASSERT_TRUE(first.WaitForRecord("beat entry sent", 10s, 4)) << "the leader does not send every second";
    EXPECT_FALSE(IsLeader(second_probe));
    EXPECT_TRUE(second.Records("beat entry sent").empty()) << "the standby sent while the leader held the lease";

    // The leader dies without releasing its lease; the standby leads within it.
    first.Signal(SIGKILL);
    ASSERT_TRUE(first.WaitExit(5s));
    const auto killed = std::chrono::steady_clock::now();
    ASSERT_TRUE(second.WaitForRecord("beat is now the leader", 10s)) << "no takeover";
    const auto took_over = std::chrono::steady_clock::now() - killed;
    EXPECT_LE(took_over, kLease + 1500ms)
        << "took over after " << std::chrono::duration_cast<std::chrono::milliseconds>(took_over).count() << " ms";
    ASSERT_TRUE(second.WaitForRecord("beat entry sent", 10s, 4)) << "the new leader does not send";
    second.Signal(SIGTERM);
    auto code = second.WaitExit(15s);
    ASSERT_TRUE(code);
    EXPECT_EQ(*code, 0);

    // Every run the two logs name: one id per scheduled run, no id sent by both under different runs, and no gap
    // between consecutive sends beyond the lease plus one period (and the poll's slack).
    std::vector<gale::tasks::SystemTime> sent_at;
    std::set<std::string> ids;
    std::size_t records = 0;
    for (Process* p : {&first, &second}) {
        for (const Json& r : p->Records("beat entry sent")) {
            ++records;
            ids.insert(r.value("id", ""));
            auto t = gale::tasks::ParseIsoTime(r.value("time", ""));
            ASSERT_TRUE(t) << r.dump();
            sent_at.push_back(*t);
        }
    }
    ASSERT_GE(records, 8U);
    std::sort(sent_at.begin(), sent_at.end());
    for (std::size_t i = 1; i < sent_at.size(); ++i) {
        const auto gap = sent_at[i] - sent_at[i - 1];
        EXPECT_LE(gap, kLease + 1s + 1500ms)
            << "a gap of " << std::chrono::duration_cast<std::chrono::milliseconds>(gap).count() << " ms";
        EXPECT_GE(gap, 500ms) << "two sends of one period (a duplicate run)";
    }
    // A run the killed leader claimed but may not have recorded as sent is sent again with its id: fewer ids than
    // records is allowed, the worker's RunOnce then records it once.
    EXPECT_TRUE(Eventually([&] { return BeatVisits() == static_cast<std::int64_t>(ids.size()); }, 15s))
        << BeatVisits() << " visits for " << ids.size() << " runs";
    worker.Signal(SIGTERM);
    auto worker_code = worker.WaitExit(15s);
    ASSERT_TRUE(worker_code);
    EXPECT_EQ(*worker_code, 0);
}

TEST_F(HelloBeatTest, ABadScheduleOverrideIsRefusedAtStartNamingTheEntry) {
    Process& beat = Hello({"beat", "--port", "0"},
                          {{"GALE_BEAT_SCHEDULE", R"({"visit-every-minute": {"schedule": "61 * * * *"}})"}});
    auto code = beat.WaitExit(10s);
    ASSERT_TRUE(code);
    EXPECT_EQ(*code, 2);
    EXPECT_NE(beat.Log().find("visit-every-minute"), std::string::npos) << beat.Log();
    EXPECT_NE(beat.Log().find("61"), std::string::npos) << beat.Log();
}

}  // namespace

namespace {

TEST_F(HelloBeatTest, BadRoleOptionsAreReportedTogetherNamingTheFlagOrTheVariable) {
    Process& beat = Hello({"beat", "--port", "0", "--max-tick", "soon"}, {{"GALE_BEAT_LEASE", "zz"}});
    auto code = beat.WaitExit(10s);
    ASSERT_TRUE(code);
    EXPECT_EQ(*code, 2);
    EXPECT_NE(beat.Log().find("GALE_BEAT_LEASE: 'zz' is not a duration"), std::string::npos) << beat.Log();
    EXPECT_NE(beat.Log().find("--max-tick: 'soon' is not a duration"), std::string::npos) << beat.Log();
    Process& worker = Hello({"worker", "--port", "0", "--max-outage", "x"}, {{"GALE_WORKER_PREFETCH_MULTIPLIER", "0"}});
    code = worker.WaitExit(10s);
    ASSERT_TRUE(code);
    EXPECT_EQ(*code, 2);
    EXPECT_NE(worker.Log().find("GALE_WORKER_PREFETCH_MULTIPLIER: 0 is out of range"), std::string::npos)
        << worker.Log();
    EXPECT_NE(worker.Log().find("--max-outage: 'x' is not a duration"), std::string::npos) << worker.Log();
}

}  // namespace
