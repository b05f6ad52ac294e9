// SPDX-License-Identifier: MIT
/// @file gale/tasks/beat.hpp
/// @brief The periodic scheduler (Celery beat): entries on schedules, sent as Celery task messages by exactly one
///        of several replicas (a lease in the database), with the last run of each entry kept in the database.
///
/// @code
///   std::vector<gale::tasks::BeatEntry> entries = {
///       {.name = "cleanup", .task = "proj.tasks.cleanup", .schedule = *Schedule::Parse("*/5 * * * *")},
///       {.name = "report", .task = "proj.tasks.report", .schedule = *Schedule::Crontab("0 7 * * mon",
///       "Europe/Vienna"),
///        .kwargs = {{"format", "pdf"}}, .queue = "reports"}};
///   GALE_ASSIGN_OR_RETURN(entries, gale::tasks::BeatEntriesFromSettings(std::move(entries), settings));
///   GALE_ASSIGN_OR_RETURN(auto beat, gale::tasks::Beat::Create(entries, client, {.database = db_options}));
///   GALE_RETURN_IF_ERROR(beat->Start());   // … beat->Stop() hands over to a standby at once
/// @endcode
///
/// Tables (created if missing, SQLite and PostgreSQL; times are Unix milliseconds):
///   gale_beat_lease(name TEXT PRIMARY KEY, holder TEXT, expires_at BIGINT, acquired_at BIGINT) — one row per beat
///   gale_beat_state(beat, entry, created_at, last_run_at, total_run_count, pending_id, pending_holder, last_sent_at;
///                   PRIMARY KEY (beat, entry))
///
/// One turn (Tick), on the beat's own connection:
///   1. Lease: one statement, `INSERT … ON CONFLICT (name) DO UPDATE … WHERE holder = me OR expires_at < now`, both
///      taking and renewing (renewed every lease/3); a row changed means this replica leads until now + lease.
///      `now` is the database's clock, so the replicas' clocks do not matter to who leads. A standby tries every
///      standby_poll.
///   2. Only the leader goes on. An entry is due when schedule.NextAfter(last_run_at) <= now (never run: a one-off
///      at its time, the others NextAfter(created_at) — a new interval entry runs one period after it first
///      appears, a crontab at its next match, as Celery's beat does).
///   3. Claim, then send, then clear: `UPDATE gale_beat_state SET last_run_at = …, total_run_count + 1, pending_id =
///      <new task id> WHERE total_run_count = <as read> AND pending_id = '' AND <the lease row is mine and
///      unexpired>` — one statement that is both the compare-and-set on the entry and the lease check, so two
///      replicas never claim one run and a replica whose lease ran out claims nothing. Then the message is sent with
///      that task id, then pending_id is cleared.
///   4. A row still pending (its sender died between claim and clear, or the broker refused the send) is sent again by
///      the leader with the SAME task id, then cleared: a run is never lost.
///
/// Residual duplicate window: a leader that stops (crash, SIGKILL, a pause longer than the lease) after its send
/// and before the clear leaves the row pending, and the next leader sends the run again — a second message with the
/// same task id. Tasks that must not run twice dedupe on the id (completion.hpp's RunOnce does it). Nothing is sent
/// twice otherwise, and no run is lost. A run may be late by up to lease + standby_poll when a leader dies without
/// Stop() (Stop releases the lease: the standby takes over within standby_poll).
///
/// Catch-up: after downtime (or a takeover), an entry whose runs were missed is sent ONCE, not once per missed slot,
/// as Celery's beat does; its next run is then the next slot after now. An on-time interval run records its slot
/// (no drift); a late one records now (the period restarts from the catch-up run).
///
/// Ownership: the TaskClient (and its broker) must outlive the Beat. Thread-safety: Start, Stop and AbandonForTest
/// from one thread; Stats from any thread; Tick only while the background thread is not running (tests).
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include <gale/base/error.hpp>
#include <gale/config/settings.hpp>
#include <gale/db/database.hpp>
#include <gale/metrics/registry.hpp>
#include <gale/tasks/client.hpp>
#include <gale/tasks/schedule.hpp>

namespace gale::tasks {

/// One periodic task (Celery's beat_schedule entry). Value type.
struct BeatEntry {
    std::string name;  ///< unique within a beat; the key of its state
    std::string task;  ///< the Celery task name, e.g. "proj.tasks.cleanup"
    Schedule schedule;
    nlohmann::json args = nlohmann::json::array();       ///< a JSON array
    nlohmann::json kwargs = nlohmann::json::object();    ///< a JSON object
    std::string queue{};                                 ///< empty: the task's route, else the default queue
    std::optional<std::chrono::milliseconds> expires{};  ///< the message expires this long after it is sent
    std::optional<int> priority{};                       ///< 0–9
    bool enabled = true;
};

/// The Prometheus metrics of a Beat (BeatOptions::metrics).
///
/// | metric | kind | labels | what |
/// |---|---|---|---|
/// | gale_beat_leader | gauge | | 1 while this replica holds the lease |
/// | gale_beat_last_tick_timestamp_seconds | gauge | | when the tick loop last turned (Unix time) |
/// | gale_beat_next_due_timestamp_seconds | gauge | | the next due time of any entry (leader only; 0 unknown) |
/// | gale_beat_entries_sent_total | counter | entry, outcome | sent, resent (a pending run sent again), failed |
///
/// `entry` is a declared entry's name (a bounded set). The registry must outlive this, and this every Beat given it.
/// Thread-safety: every member may be used from any thread.
class BeatMetrics {
public:
    explicit BeatMetrics(metrics::Registry& registry);
    /// The counter of (entry, outcome "sent" | "resent" | "failed"), or null if the family is not registered.
    [[nodiscard]] metrics::Counter* Sent(std::string_view entry, std::string_view outcome);
    metrics::Gauge* leader = nullptr;
    metrics::Gauge* last_tick = nullptr;
    metrics::Gauge* next_due = nullptr;

private:
    metrics::Family<metrics::Counter>* sent_ = nullptr;
};

/// | Field | Default | |
/// |---|---|---|
/// | name | "default" | the lease's name and the key of the state rows: one schedule per name in a database |
/// | database | SQLite "app.db" | where the lease and the state live (the Beat opens its own connection) |
/// | lease | 30 s | a leader that stops renewing loses it after this; renewed every lease/3 |
/// | standby_poll | lease/10 | how often a standby tries to take the lease |
/// | max_tick | 5 s | the longest sleep between turns of a leader (django-celery-beat's 5 s; Celery's 300 s) |
/// | holder | "<hostname>:<pid>:<random>" | this replica's identity in the lease row |
struct BeatOptions {
    std::string name = "default";
    db::ConnectionOptions database{};
    std::chrono::milliseconds lease{std::chrono::seconds(30)};
    std::chrono::milliseconds standby_poll{0};  ///< 0: lease/10
    std::chrono::milliseconds max_tick{std::chrono::seconds(5)};
    std::string holder{};
    BeatMetrics* metrics = nullptr;
    /// The wall clock schedules are evaluated against (tests inject one); empty: system_clock.
    std::function<SystemTime()> clock{};
};

struct BeatEntryStats {
    std::uint64_t sent = 0;    ///< sent by this replica (resends included)
    std::uint64_t failed = 0;  ///< sends the broker refused (retried at the next turn)
    std::optional<SystemTime> last_sent{};
    std::optional<SystemTime> next_due{};  ///< as last seen by this replica while leading
};

struct BeatStats {
    bool running = false;
    bool leader = false;
    std::string holder{};
    std::optional<SystemTime> last_tick{};
    std::chrono::steady_clock::time_point last_turn{};  ///< for liveness: when the loop last finished a turn
    std::string next_entry{};                           ///< the entry due next (leader only)
    std::optional<SystemTime> next_due{};
    std::map<std::string, BeatEntryStats> entries{};
    std::string last_error{};  ///< the last database or broker error, empty once a turn succeeds
};

class Beat {
public:
    /// Checks the entries, opens the connection and creates the tables. Errors (kInvalidArgument): an entry without
    /// a name or task, two entries of one name, args not an array, kwargs not an object, a priority outside 0–9, a
    /// lease under 300 ms or a standby_poll not below the lease; the database's errors (kUnavailable).
    [[nodiscard]] static Result<std::unique_ptr<Beat>> Create(std::vector<BeatEntry> entries, TaskClient& client,
                                                              BeatOptions options = {});
    ~Beat();  ///< Stop()
    Beat(const Beat&) = delete;
    Beat& operator=(const Beat&) = delete;

    /// Starts the background thread (leader or standby). Errors: kInvalidArgument when already running.
    [[nodiscard]] Result<void> Start();
    /// Stops the thread after its current turn and releases the lease (if held), so a standby takes over within
    /// its standby_poll. Idempotent.
    void Stop();
    /// Stops the thread WITHOUT releasing the lease or clearing anything: what a crash leaves (tests of takeover).
    void AbandonForTest();

    /// One turn (see the file comment) at wall time `now` (default: the clock). Returns how long the loop would sleep
    /// before the next. Errors: the database's (the turn stops there; a broker error is recorded in the state and
    /// the stats, not returned). Not while the thread runs.
    [[nodiscard]] Result<std::chrono::milliseconds> Tick(std::optional<SystemTime> now = std::nullopt);

    [[nodiscard]] BeatStats Stats() const;
    [[nodiscard]] const std::string& holder() const noexcept { return options_.holder; }
    [[nodiscard]] const BeatOptions& options() const noexcept { return options_; }
    [[nodiscard]] const std::vector<BeatEntry>& entries() const noexcept { return entries_; }

private:
    Beat(std::vector<BeatEntry> entries, TaskClient& client, BeatOptions options, db::Database db);
    void Run();
    Result<void> Lease(SystemTime now);
    Result<void> Release();
    Result<void> SendDue(SystemTime now);
    void Publish(const BeatEntry& entry, const std::string& task_id, bool resend, SystemTime now);
    void SetLeader(bool leader);
    std::string Now() const;  // the database's clock in ms, as SQL

    std::vector<BeatEntry> entries_;
    TaskClient& client_;
    BeatOptions options_;
    std::optional<db::Database> db_;
    bool leader_ = false;
    std::chrono::steady_clock::time_point leader_until_{};
    std::chrono::steady_clock::time_point renew_at_{};

    mutable std::mutex mu_;
    std::condition_variable cv_;
    bool stop_ = false;
    BeatStats stats_;
    std::thread thread_;
};

/// Creates gale_beat_lease and gale_beat_state if they do not exist. Errors: the database's.
[[nodiscard]] Result<void> EnsureBeatTables(db::Database& db);

/// One entry of GALE_BEAT_SCHEDULE: what it changes (unset: kept from the code's entry).
struct BeatOverride {
    std::string name;
    std::optional<std::string> task{};
    std::optional<std::string> schedule{};  ///< a text form of Schedule::Parse ("every 30s", a crontab, "at …")
    std::optional<std::string> time_zone{};
    std::optional<DayRule> day_rule{};
    std::optional<bool> enabled{};
    std::optional<nlohmann::json> args{};
    std::optional<nlohmann::json> kwargs{};
    std::optional<std::string> queue{};
    std::optional<std::chrono::milliseconds> expires{};
    std::optional<int> priority{};
};

/// Parses GALE_BEAT_SCHEDULE's JSON: an object of entry name → {"task", "schedule" (a text form, or a number of
/// seconds), "timezone", "day_rule" ("either" | "both"), "enabled", "args" (array), "kwargs" (object), "queue",
/// "expires" (seconds), "priority" (0–9)}. Unknown fields are errors (a typo must not pass silently). Schedules
/// are parsed here, so a bad one is found at start-up. Errors (kInvalidArgument) start with `what` and name the
/// entry and the field: `GALE_BEAT_SCHEDULE (from environment): entry "cleanup": schedule: crontab "…": minute: …`.
[[nodiscard]] Result<std::vector<BeatOverride>> ParseBeatSchedule(std::string_view json_text, std::string_view what);

/// Applies `overrides` to `entries` by name: a named entry changes field by field; an unknown name adds an entry,
/// which then needs "task" and "schedule". A new "timezone" without a "schedule" re-reads the entry's crontab in
/// it. Errors (kInvalidArgument), naming `what`, the entry and the field: a new entry without task or schedule, a
/// time zone on a schedule that is not a crontab, the schedule's own errors.
[[nodiscard]] Result<void> ApplyBeatOverrides(std::vector<BeatEntry>& entries,
                                              const std::vector<BeatOverride>& overrides,
                                              std::string_view what = "GALE_BEAT_SCHEDULE");

/// The code's entries with GALE_BEAT_SCHEDULE from `settings` applied (unchanged when it is unset). Errors as
/// ParseBeatSchedule and ApplyBeatOverrides, naming the variable and its source.
[[nodiscard]] Result<std::vector<BeatEntry>> BeatEntriesFromSettings(std::vector<BeatEntry> entries,
                                                                     const config::Settings& settings);

}  // namespace gale::tasks
