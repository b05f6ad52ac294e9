// SPDX-License-Identifier: MIT
// Beat: settings overrides; sending Celery messages through the embedded broker; state across a restart (no skip,
// no repeat, a missed run sent once); a run claimed and not sent is sent again with its id; two beats on one
// database (SQLite, then a real PostgreSQL server): only the leader sends, the standby takes over within the lease
// when the leader dies, and over the whole run no run is sent twice and no gap exceeds the lease.
#include <algorithm>
#include <atomic>
#include <mutex>
#include <set>
#include <thread>

#include <gtest/gtest.h>

#include <gale/config/contract.hpp>
#include <gale/db/testing/postgres_server.hpp>
#include <gale/tasks/beat.hpp>
#include <gale/tasks/embedded_broker.hpp>
#include <gale/tasks/settings.hpp>

#include "test_util.hpp"

namespace gale::tasks {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

SystemTime T0() { return *ParseIsoTime("2026-06-01T12:00:00Z"); }

Schedule Every(milliseconds period) { return *Schedule::Every(period); }

/// Forwards to a real broker and records what is published (and can refuse, as a broker that is down).
class RecordingBroker final : public Broker {
public:
    struct Sent {
        std::chrono::steady_clock::time_point at;
        TaskRequest request;
        std::string queue;
    };
    explicit RecordingBroker(Broker& inner) : inner_(inner) {}

    std::string_view name() const noexcept override { return inner_.name(); }
    std::string Describe() const override { return inner_.Describe(); }
    Result<void> Declare(const std::vector<Route>& routes) override { return inner_.Declare(routes); }
    Result<void> Publish(const Route& route, const TransportMessage& message) override {
        if (refuse.load()) return MakeError(ErrorCode::kUnavailable, "broker down (test)");
        GALE_RETURN_IF_ERROR(inner_.Publish(route, message));
        auto request = DecodeTask(message);
        EXPECT_TRUE(request) << request.error().message();
        std::lock_guard lock(mu_);
        sent_.push_back({std::chrono::steady_clock::now(), request ? *request : TaskRequest{}, route.queue});
        return {};
    }
    Result<std::unique_ptr<BrokerConsumer>> Consume(const std::vector<std::string>& queues,
                                                    std::size_t prefetch) override {
        return inner_.Consume(queues, prefetch);
    }
    Result<std::uint64_t> QueueLength(const std::string& queue) override { return inner_.QueueLength(queue); }

    std::vector<Sent> sent() const {
        std::lock_guard lock(mu_);
        return sent_;
    }
    std::atomic<bool> refuse{false};

private:
    Broker& inner_;
    mutable std::mutex mu_;
    std::vector<Sent> sent_;
};

struct Fixture {
    testing::TempDir dir;
    std::unique_ptr<EmbeddedBroker> embedded = *EmbeddedBroker::Open(dir.File("tasks.db"));
    RecordingBroker broker{*embedded};
    TaskClient client{broker, nullptr};

    db::ConnectionOptions Sqlite() const {
        db::ConnectionOptions o;
        o.sqlite_path = dir.File("beat.db");
        return o;
    }
};

std::unique_ptr<Beat> MakeBeat(TaskClient& client, const db::ConnectionOptions& db, std::vector<BeatEntry> entries,
                               milliseconds lease = seconds(30), std::string holder = {}) {
    BeatOptions o;
    o.database = db;
    o.lease = lease;
    o.holder = std::move(holder);
    auto beat = Beat::Create(std::move(entries), client, o);
    EXPECT_TRUE(beat) << beat.error().message();
    return beat ? std::move(*beat) : nullptr;
}

// ---- settings ---------------------------------------------------------------------------------------------------

TEST(BeatSchedule, OverridesByNameAndAddsEntries) {
    std::vector<BeatEntry> entries = {
        {.name = "cleanup", .task = "proj.cleanup", .schedule = *Schedule::Parse("*/5 * * * *", "Europe/Vienna")},
        {.name = "report", .task = "proj.report", .schedule = Every(seconds(60))}};
    auto overrides = ParseBeatSchedule(R"({
        "cleanup": {"timezone": "America/New_York", "kwargs": {"dry_run": true}, "queue": "maintenance"},
        "report": {"enabled": false, "schedule": 30},
        "newsletter": {"task": "proj.newsletter", "schedule": "0 8 * * mon", "timezone": "Europe/Vienna",
                       "args": [1, "a"], "expires": 3600, "priority": 7}
    })",
                                       "GALE_BEAT_SCHEDULE");
    ASSERT_TRUE(overrides) << overrides.error().message();
    ASSERT_TRUE(ApplyBeatOverrides(entries, *overrides));
    ASSERT_EQ(entries.size(), 3u);
    EXPECT_EQ(entries[0].schedule.ToString(), "*/5 * * * *");
    EXPECT_EQ(entries[0].schedule.time_zone(), "America/New_York");  // the code's crontab, read in the new zone
    EXPECT_EQ(entries[0].kwargs, (nlohmann::json{{"dry_run", true}}));
    EXPECT_EQ(entries[0].queue, "maintenance");
    EXPECT_FALSE(entries[1].enabled);
    EXPECT_EQ(entries[1].schedule.period(), seconds(30));  // a number: seconds, as Celery's beat_schedule
    EXPECT_EQ(entries[2].task, "proj.newsletter");
    EXPECT_EQ(entries[2].schedule.time_zone(), "Europe/Vienna");
    EXPECT_EQ(entries[2].args, (nlohmann::json{1, "a"}));
    EXPECT_EQ(entries[2].expires, seconds(3600));
    EXPECT_EQ(entries[2].priority, 7);
}

TEST(BeatSchedule, ErrorsNameTheEntryAndTheField) {
    auto err = [](const char* json) {
        auto o = ParseBeatSchedule(json, "GALE_BEAT_SCHEDULE");
        if (!o) return o.error().message();
        std::vector<BeatEntry> entries = {{.name = "report", .task = "proj.report", .schedule = Every(seconds(60))}};
        auto r = ApplyBeatOverrides(entries, *o);
        return r ? std::string("ok") : r.error().message();
    };
    EXPECT_EQ(
        err(R"({"cleanup": {"schedule": "61 * * * *", "task": "t"}})"),
        "GALE_BEAT_SCHEDULE: entry \"cleanup\": schedule: crontab \"61 * * * *\": minute: \"61\" is outside 0-59");
    EXPECT_EQ(err(R"({"cleanup": {"task": "t"}})"),
              "GALE_BEAT_SCHEDULE: entry \"cleanup\": schedule: required for an entry the code does not declare");
    EXPECT_EQ(err(R"({"report": {"timezone": "Europe/Vienna"}})"),
              "GALE_BEAT_SCHEDULE: entry \"report\": timezone: applies to a crontab schedule only");
    EXPECT_EQ(err(R"({"report": {"timezone": "Nowhere/Land"}})"),
              "GALE_BEAT_SCHEDULE: entry \"report\": timezone: unknown time zone \"Nowhere/Land\"");
    EXPECT_EQ(err(R"({"report": {"args": {"a": 1}}})"), "GALE_BEAT_SCHEDULE: entry \"report\": args: not a JSON array");
    EXPECT_EQ(err(R"({"report": {"shedule": "every 1s"}})")
                  .find("GALE_BEAT_SCHEDULE: entry \"report\": shedule: unknown field"),
              0u);
    EXPECT_EQ(err("[1]"), "GALE_BEAT_SCHEDULE: not a JSON object of entry name → {\"task\", \"schedule\", …}");
}

TEST(BeatSchedule, FromSettingsAndTheContract) {
    config::Settings s;
    s.Set("GALE_BEAT_SCHEDULE", R"({"report": {"schedule": "every 5m"}})", config::Layer::kEnvironment);
    auto entries =
        BeatEntriesFromSettings({{.name = "report", .task = "proj.report", .schedule = Every(seconds(1))}}, s);
    ASSERT_TRUE(entries) << entries.error().message();
    EXPECT_EQ((*entries)[0].schedule.period(), std::chrono::minutes(5));

    s.Set("GALE_BEAT_SCHEDULE", R"({"report": {"schedule": "every never"}})", config::Layer::kEnvironment);
    config::Contract c;
    ASSERT_TRUE(c.AddGroup(ContractGroup()));
    auto problems = c.Validate(s);
    ASSERT_EQ(problems.size(), 1u);
    EXPECT_NE(problems[0].find("GALE_BEAT_SCHEDULE (from environment): entry \"report\": schedule:"), std::string::npos)
        << problems[0];
}

// ---- sending and state ------------------------------------------------------------------------------------------

TEST(Beat, SendsCeleryMessagesAWorkerDecodes) {
    Fixture f;
    auto beat = MakeBeat(f.client, f.Sqlite(),
                         {{.name = "add", .task = "proj.tasks.add", .schedule = Every(seconds(10)), .args = {2, 3}},
                          {.name = "report",
                           .task = "proj.tasks.report",
                           .schedule = *Schedule::Crontab("0 7 * * *", "Europe/Vienna"),
                           .kwargs = {{"format", "pdf"}},
                           .queue = "reports",
                           .expires = seconds(60),
                           .priority = 5},
                          {.name = "off", .task = "proj.tasks.off", .schedule = Every(seconds(1)), .enabled = false}});
    ASSERT_TRUE(beat);
    ASSERT_TRUE(beat->Tick(T0()));  // takes the lease; the entries appear now
    EXPECT_TRUE(beat->Stats().leader);
    EXPECT_TRUE(f.broker.sent().empty());
    EXPECT_EQ(beat->Stats().next_entry, "add");
    EXPECT_EQ(beat->Stats().next_due, T0() + seconds(10));
    ASSERT_TRUE(beat->Tick(T0() + seconds(10)));
    ASSERT_TRUE(beat->Tick(*ParseIsoTime("2026-06-02T05:00:00Z")));  // 07:00 CEST
    auto sent = f.broker.sent();
    ASSERT_EQ(sent.size(), 3u);  // add at +10 s, then add (caught up once) and report

    // What a Celery worker gets from the queue.
    auto queued = f.embedded->Peek("celery");
    ASSERT_TRUE(queued);
    ASSERT_EQ(queued->size(), 2u);
    auto add = DecodeTask((*queued)[0].message);
    ASSERT_TRUE(add) << add.error().message();
    EXPECT_EQ(add->task, "proj.tasks.add");
    EXPECT_EQ(add->args, (nlohmann::json{2, 3}));
    EXPECT_EQ(add->id, sent[0].request.id);
    auto reports = f.embedded->Peek("reports");
    ASSERT_TRUE(reports);
    ASSERT_EQ(reports->size(), 1u);
    auto report = DecodeTask((*reports)[0].message);
    ASSERT_TRUE(report);
    EXPECT_EQ(report->task, "proj.tasks.report");
    EXPECT_EQ(report->kwargs, (nlohmann::json{{"format", "pdf"}}));
    EXPECT_TRUE(report->expires.has_value());
    EXPECT_EQ(beat->Stats().entries["add"].sent, 2u);
    EXPECT_EQ(beat->Stats().entries["off"].sent, 0u);
}

TEST(Beat, RestartNeitherSkipsNorRepeatsAndSendsAMissedRunOnce) {
    Fixture f;
    auto entries = [] {
        return std::vector<BeatEntry>{
            {.name = "tick", .task = "proj.tick", .schedule = Every(seconds(10))},
            {.name = "quarter", .task = "proj.quarter", .schedule = *Schedule::Crontab("*/15 * * * *")},
            {.name = "once", .task = "proj.once", .schedule = Schedule::At(T0() + seconds(45))}};
    };
    auto count = [&](const char* task) {
        auto s = f.broker.sent();
        return std::count_if(s.begin(), s.end(), [&](const auto& m) { return m.request.task == task; });
    };
    {
        auto beat = MakeBeat(f.client, f.Sqlite(), entries());
        ASSERT_TRUE(beat->Tick(T0()));
        ASSERT_TRUE(beat->Tick(T0() + seconds(10)));
        ASSERT_TRUE(beat->Tick(T0() + seconds(10)));  // the same turn again: nothing more
        EXPECT_EQ(count("proj.tick"), 1);
    }  // destroyed: Stop releases the lease
    {
        auto beat = MakeBeat(f.client, f.Sqlite(), entries());  // a restart: the state is in the database
        ASSERT_TRUE(beat->Tick(T0() + seconds(15)));
        EXPECT_EQ(count("proj.tick"), 1);  // not due before +20 s: no repeat
        ASSERT_TRUE(beat->Tick(T0() + seconds(20)));
        EXPECT_EQ(count("proj.tick"), 2);  // no skip
    }
    {
        // Down from +20 s to +40 min: tick missed ~240 runs, quarter two (12:15, 12:30), once its time.
        auto beat = MakeBeat(f.client, f.Sqlite(), entries());
        ASSERT_TRUE(beat->Tick(T0() + std::chrono::minutes(40)));
        EXPECT_EQ(count("proj.tick"), 3);  // once, not once per missed slot
        EXPECT_EQ(count("proj.quarter"), 1);
        EXPECT_EQ(count("proj.once"), 1);
        ASSERT_TRUE(beat->Tick(T0() + std::chrono::minutes(40) + seconds(9)));
        EXPECT_EQ(count("proj.tick"), 3);
        ASSERT_TRUE(beat->Tick(T0() + std::chrono::minutes(40) + seconds(10)));  // restarted from the catch-up
        EXPECT_EQ(count("proj.tick"), 4);
        ASSERT_TRUE(beat->Tick(T0() + std::chrono::minutes(45)));
        EXPECT_EQ(count("proj.quarter"), 2);  // 12:45
        ASSERT_TRUE(beat->Tick(T0() + std::chrono::hours(5)));
        EXPECT_EQ(count("proj.once"), 1);  // a one-off runs once
    }
}

TEST(Beat, ARunClaimedAndNotSentIsSentAgainWithItsId) {
    Fixture f;
    std::vector<BeatEntry> entries = {{.name = "tick", .task = "proj.tick", .schedule = Every(seconds(10))}};
    auto first = MakeBeat(f.client, f.Sqlite(), entries, milliseconds(400), "first");
    ASSERT_TRUE(first->Tick(T0()));
    f.broker.refuse = true;
    ASSERT_TRUE(first->Tick(T0() + seconds(10)));  // claimed; the broker refuses the send
    EXPECT_EQ(first->Stats().entries["tick"].failed, 1u);
    EXPECT_NE(first->Stats().last_error.find("broker down"), std::string::npos);
    auto db = *db::Database::Connect(f.Sqlite());
    auto pending = db.Query("SELECT pending_id, pending_holder FROM gale_beat_state WHERE entry = 'tick'");
    ASSERT_TRUE(pending);
    const std::string id = std::get<std::string>((*pending)[0][0]);
    EXPECT_FALSE(id.empty());
    first->AbandonForTest();  // it dies with the run pending and the lease held

    f.broker.refuse = false;
    auto second = MakeBeat(f.client, f.Sqlite(), entries, milliseconds(400), "second");
    ASSERT_TRUE(second->Tick(T0() + seconds(11)));
    EXPECT_FALSE(second->Stats().leader);  // the first one's lease still runs
    std::this_thread::sleep_for(milliseconds(450));
    ASSERT_TRUE(second->Tick(T0() + seconds(11)));
    EXPECT_TRUE(second->Stats().leader);
    auto sent = f.broker.sent();
    ASSERT_EQ(sent.size(), 1u);
    EXPECT_EQ(sent[0].request.id, id);  // the same run, recognisable by its id
    ASSERT_TRUE(second->Tick(T0() + seconds(12)));
    EXPECT_EQ(f.broker.sent().size(), 1u);  // cleared: not again
    ASSERT_TRUE(second->Tick(T0() + seconds(20)));
    EXPECT_EQ(f.broker.sent().size(), 2u);  // the schedule goes on from the claimed slot
}

// ---- two replicas -------------------------------------------------------------------------------------------------

void TwoBeatsTakeOver(const db::ConnectionOptions& database, const std::string& tasks_db) {
    auto embedded = EmbeddedBroker::Open(tasks_db);
    ASSERT_TRUE(embedded);
    RecordingBroker broker(**embedded);
    TaskClient client_a(broker, nullptr);
    TaskClient client_b(broker, nullptr);
    const milliseconds lease(1000);
    const milliseconds period(200);
    std::vector<BeatEntry> entries = {{.name = "pulse", .task = "proj.pulse", .schedule = Every(period)}};
    auto a = MakeBeat(client_a, database, entries, lease, "a");
    auto b = MakeBeat(client_b, database, entries, lease, "b");
    ASSERT_TRUE(a && b);
    ASSERT_TRUE(a->Start());
    ASSERT_TRUE(testing::WaitFor([&] { return a->Stats().leader; }));
    ASSERT_TRUE(b->Start());
    ASSERT_TRUE(testing::WaitFor([&] { return broker.sent().size() >= 5; }));
    EXPECT_TRUE(a->Stats().leader);
    EXPECT_FALSE(b->Stats().leader);
    EXPECT_EQ(b->Stats().entries["pulse"].sent, 0u);  // the standby sends nothing

    const auto killed = std::chrono::steady_clock::now();
    const std::size_t before = broker.sent().size();
    a->AbandonForTest();  // a crash: the lease is not released
    ASSERT_TRUE(testing::WaitFor([&] { return b->Stats().leader; }, seconds(5)));
    const auto took_over = std::chrono::steady_clock::now();
    EXPECT_LE(took_over - killed, lease + b->options().standby_poll + milliseconds(300));
    ASSERT_TRUE(testing::WaitFor([&] { return broker.sent().size() >= before + 5; }));
    EXPECT_GT(b->Stats().entries["pulse"].sent, 0u);

    // A clean stop hands over at once: a new replica leads within its standby poll, not the lease.
    auto c = MakeBeat(client_a, database, entries, lease, "c");
    ASSERT_TRUE(c->Start());
    std::this_thread::sleep_for(milliseconds(250));
    EXPECT_FALSE(c->Stats().leader);
    const auto stopped = std::chrono::steady_clock::now();
    b->Stop();
    ASSERT_TRUE(testing::WaitFor([&] { return c->Stats().leader; }, seconds(5)));
    EXPECT_LT(std::chrono::steady_clock::now() - stopped, lease / 2);
    const std::size_t at_handover = broker.sent().size();
    ASSERT_TRUE(testing::WaitFor([&] { return broker.sent().size() >= at_handover + 3; }));
    c->Stop();

    // Over the whole run: every run once (unique ids, as many as the state counted), no gap beyond the lease.
    auto sent = broker.sent();
    std::set<std::string> ids;
    for (const auto& s : sent) ids.insert(s.request.id);
    EXPECT_EQ(ids.size(), sent.size());
    auto db = *db::Database::Connect(database);
    auto count = db.Query("SELECT total_run_count FROM gale_beat_state WHERE beat = 'default' AND entry = 'pulse'");
    ASSERT_TRUE(count);
    EXPECT_EQ(std::get<std::int64_t>((*count)[0][0]), static_cast<std::int64_t>(sent.size()));
    milliseconds longest(0);
    for (std::size_t i = 1; i < sent.size(); ++i) {
        longest = std::max(longest, std::chrono::duration_cast<milliseconds>(sent[i].at - sent[i - 1].at));
    }
    // A takeover costs at most the lease (from the leader's last renewal) plus a standby poll; the run that was due
    // meanwhile is sent at once (200 ms scheduling slack for a loaded machine).
    EXPECT_LE(longest, lease + b->options().standby_poll + milliseconds(200)) << "longest gap";
}

TEST(Beat, TwoReplicasOnSqliteOneSendsAndTheStandbyTakesOver) {
    Fixture f;
    TwoBeatsTakeOver(f.Sqlite(), f.dir.File("shared-tasks.db"));
}

TEST(Beat, TwoReplicasOnPostgresqlOneSendsAndTheStandbyTakesOver) {
    auto server = db::testing::PostgresServer::Start();
    ASSERT_TRUE(server) << server.error().message();
    testing::TempDir dir;
    TwoBeatsTakeOver((*server)->connection_options(), dir.File("tasks.db"));
}

}  // namespace
}  // namespace gale::tasks
