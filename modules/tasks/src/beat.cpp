// SPDX-License-Identifier: MIT
// The beat: a lease and per-entry state in SQL, one statement per decision (see beat.hpp for the protocol).
//
// Invariants:
//  - Every write that depends on leading is ONE statement that also checks the lease row (holder = me, expires_at
//    > the database's now): a claim never rests on an earlier read of the lease. On SQLite a write statement holds
//    the write lock from its start, so its reads are current; on PostgreSQL (READ COMMITTED) a concurrent claim of
//    the same row waits for the row lock and re-checks total_run_count on the new version, so it fails.
//  - total_run_count is the entry's version: a claim sets it to the value read + 1, so of two claims from one read
//    only one changes a row.
//  - A run is claimed before it is sent and cleared after: pending_id != '' means "maybe not sent". Any leader
//    sends a pending row again with the same task id (at least once; a duplicate carries the same id).
//  - The local `leader_until_` (steady clock at the lease request + lease) only saves statements: it is never what
//    makes a claim safe.
#include <unistd.h>

#include <algorithm>
#include <random>
#include <set>

#include <fmt/format.h>

#include <gale/base/strings.hpp>
#include <gale/config/contract.hpp>
#include <gale/log/log.hpp>
#include <gale/tasks/beat.hpp>

namespace gale::tasks {
namespace {

constexpr const char* kLogger = "gale.beat";

std::int64_t ToMs(SystemTime t) {
    return std::chrono::duration_cast<std::chrono::milliseconds>(t.time_since_epoch()).count();
}
SystemTime FromMs(std::int64_t ms) { return SystemTime(std::chrono::milliseconds(ms)); }

double ToSeconds(SystemTime t) { return static_cast<double>(ToMs(t)) / 1000.0; }

std::string DefaultHolder() {
    char host[256] = {};
    if (::gethostname(host, sizeof host - 1) != 0) std::snprintf(host, sizeof host, "localhost");
    std::random_device rd;
    return fmt::format("{}:{}:{:08x}", host, ::getpid(), rd());
}

std::optional<std::int64_t> Int(const db::Value& v) {
    if (const auto* i = std::get_if<std::int64_t>(&v)) return *i;
    return std::nullopt;
}
std::string Text(const db::Value& v) {
    if (const auto* s = std::get_if<std::string>(&v)) return *s;
    return {};
}

/// One row of gale_beat_state.
struct StateRow {
    std::int64_t created_at = 0;
    std::optional<std::int64_t> last_run_at;
    std::int64_t total_run_count = 0;
    std::string pending_id;
};

/// When `entry` is due given its state (beat.hpp, step 2).
std::optional<SystemTime> DueOf(const BeatEntry& entry, const StateRow& row) {
    if (!row.last_run_at) {
        if (entry.schedule.kind() == Schedule::Kind::kOnce) return entry.schedule.at();
        return entry.schedule.NextAfter(FromMs(row.created_at));
    }
    return entry.schedule.NextAfter(FromMs(*row.last_run_at));
}

}  // namespace

// ---- metrics ------------------------------------------------------------------------------------------------------

BeatMetrics::BeatMetrics(metrics::Registry& registry) {
    if (auto f = registry.AddGauge("gale_beat_leader", "1 while this beat replica holds the lease.")) {
        leader = &(*f)->WithLabels({});
    }
    if (auto f = registry.AddGauge("gale_beat_last_tick_timestamp_seconds", "When the beat's loop last turned.")) {
        last_tick = &(*f)->WithLabels({});
    }
    if (auto f = registry.AddGauge("gale_beat_next_due_timestamp_seconds",
                                   "The next due time of any beat entry (0: unknown or standby).")) {
        next_due = &(*f)->WithLabels({});
    }
    if (auto f = registry.AddCounter("gale_beat_entries_sent", "Beat entries sent, by entry and outcome.",
                                     {"entry", "outcome"})) {
        sent_ = *f;
    }
}

metrics::Counter* BeatMetrics::Sent(std::string_view entry, std::string_view outcome) {
    return sent_ != nullptr ? &sent_->WithLabels({entry, outcome}) : nullptr;
}

// ---- tables -------------------------------------------------------------------------------------------------------

Result<void> EnsureBeatTables(db::Database& db) {
    GALE_RETURN_IF_ERROR(db.ExecScript(
        "CREATE TABLE IF NOT EXISTS gale_beat_lease (name TEXT PRIMARY KEY, holder TEXT NOT NULL, expires_at BIGINT "
        "NOT NULL, acquired_at BIGINT NOT NULL)"));
    return db.ExecScript(
        "CREATE TABLE IF NOT EXISTS gale_beat_state (beat TEXT NOT NULL, entry TEXT NOT NULL, created_at BIGINT NOT "
        "NULL, last_run_at BIGINT, total_run_count BIGINT NOT NULL DEFAULT 0, pending_id TEXT NOT NULL DEFAULT '', "
        "pending_holder TEXT NOT NULL DEFAULT '', last_sent_at BIGINT, PRIMARY KEY (beat, entry))");
}

// ---- Beat ---------------------------------------------------------------------------------------------------------

Result<std::unique_ptr<Beat>> Beat::Create(std::vector<BeatEntry> entries, TaskClient& client, BeatOptions options) {
    std::set<std::string, std::less<>> names;
    for (const BeatEntry& e : entries) {
        auto bad = [&](std::string_view why) {
            return MakeError(ErrorCode::kInvalidArgument, fmt::format("beat entry \"{}\": {}", e.name, why));
        };
        if (e.name.empty()) return bad("has no name");
        if (!names.insert(e.name).second) return bad("declared twice");
        if (e.task.empty()) return bad("task: empty (a Celery task name)");
        if (!e.args.is_array()) return bad("args: not a JSON array");
        if (!e.kwargs.is_object()) return bad("kwargs: not a JSON object");
        if (e.priority && (*e.priority < 0 || *e.priority > 9)) return bad("priority: outside 0-9");
    }
    if (options.lease < std::chrono::milliseconds(300)) {
        return MakeError(ErrorCode::kInvalidArgument, "beat: the lease must be at least 300 ms");
    }
    if (options.standby_poll.count() == 0) options.standby_poll = options.lease / 10;
    if (options.standby_poll >= options.lease || options.standby_poll.count() < 0) {
        return MakeError(ErrorCode::kInvalidArgument, "beat: standby_poll must be below the lease");
    }
    if (options.max_tick.count() <= 0) options.max_tick = std::chrono::seconds(5);
    if (options.holder.empty()) options.holder = DefaultHolder();
    if (!options.clock) options.clock = [] { return std::chrono::system_clock::now(); };
    GALE_ASSIGN_OR_RETURN(db::Database db, db::Database::Connect(options.database));
    GALE_RETURN_IF_ERROR(EnsureBeatTables(db));
    return std::unique_ptr<Beat>(new Beat(std::move(entries), client, std::move(options), std::move(db)));
}

Beat::Beat(std::vector<BeatEntry> entries, TaskClient& client, BeatOptions options, db::Database db)
    : entries_(std::move(entries)), client_(client), options_(std::move(options)), db_(std::move(db)) {
    stats_.holder = options_.holder;
    for (const BeatEntry& e : entries_) stats_.entries[e.name];
}

Beat::~Beat() { Stop(); }

std::string Beat::Now() const {
    if (db_->engine() == db::Engine::kPostgresql) return "CAST(EXTRACT(EPOCH FROM clock_timestamp()) * 1000 AS BIGINT)";
    return "CAST((julianday('now') - 2440587.5) * 86400000.0 AS INTEGER)";
}

Result<void> Beat::Start() {
    std::lock_guard lock(mu_);
    if (thread_.joinable()) return MakeError(ErrorCode::kInvalidArgument, "beat: already running");
    stop_ = false;
    stats_.running = true;
    stats_.last_turn = std::chrono::steady_clock::now();
    thread_ = std::thread([this] { Run(); });
    return {};
}

void Beat::Stop() {
    {
        std::lock_guard lock(mu_);
        stop_ = true;
    }
    cv_.notify_all();
    if (thread_.joinable()) thread_.join();
    if (leader_) {
        if (auto r = Release(); !r) {
            log::Warning(kLogger, "cannot release the beat lease (a standby takes over when it expires)",
                         {{"beat", options_.name}, {"error", r.error().ToString()}});
        }
    }
    std::lock_guard lock(mu_);
    stats_.running = false;
}

void Beat::AbandonForTest() {
    {
        std::lock_guard lock(mu_);
        stop_ = true;
    }
    cv_.notify_all();
    if (thread_.joinable()) thread_.join();
    leader_ = false;  // forget it without telling the database: the lease runs out on its own
    std::lock_guard lock(mu_);
    stats_.running = false;
    stats_.leader = false;
}

void Beat::Run() {
    log::Info(kLogger, "beat started", {{"beat", options_.name}, {"holder", options_.holder}});
    std::unique_lock lock(mu_);
    while (!stop_) {
        lock.unlock();
        std::chrono::milliseconds sleep = options_.standby_poll;
        if (auto r = Tick()) {
            sleep = *r;
        } else {
            log::Warning(kLogger, "beat turn failed", {{"beat", options_.name}, {"error", r.error().ToString()}});
        }
        lock.lock();
        cv_.wait_for(lock, sleep, [this] { return stop_; });
    }
}

BeatStats Beat::Stats() const {
    std::lock_guard lock(mu_);
    return stats_;
}

void Beat::SetLeader(bool leader) {
    if (leader != leader_) {
        log::Info(kLogger, leader ? "beat is now the leader" : "beat is now a standby",
                  {{"beat", options_.name}, {"holder", options_.holder}});
    }
    leader_ = leader;
    if (options_.metrics != nullptr && options_.metrics->leader != nullptr) {
        options_.metrics->leader->Set(leader ? 1.0 : 0.0);
    }
    std::lock_guard lock(mu_);
    stats_.leader = leader;
}

Result<void> Beat::Lease(SystemTime /*now*/) {
    const auto asked = std::chrono::steady_clock::now();
    if (leader_ && asked < renew_at_ && asked < leader_until_) return {};
    const std::string now = Now();
    const std::string sql = fmt::format(
        "INSERT INTO gale_beat_lease (name, holder, expires_at, acquired_at) VALUES (?1, ?2, {0} + ?3, {0}) "
        "ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, expires_at = excluded.expires_at, acquired_at = "
        "CASE WHEN gale_beat_lease.holder = excluded.holder THEN gale_beat_lease.acquired_at ELSE "
        "excluded.acquired_at END WHERE gale_beat_lease.holder = excluded.holder OR gale_beat_lease.expires_at < {0}",
        now);
    auto r = db_->Execute(sql, {options_.name, options_.holder, static_cast<std::int64_t>(options_.lease.count())});
    if (!r) {
        if (asked >= leader_until_) SetLeader(false);
        return tl::unexpected(r.error());
    }
    const bool held = r->changes == 1;
    if (held) {
        leader_until_ = asked + options_.lease;
        renew_at_ = asked + options_.lease / 3;
    }
    SetLeader(held);
    return {};
}

Result<void> Beat::Release() {
    return db_
        ->Execute("UPDATE gale_beat_lease SET expires_at = 0 WHERE name = ? AND holder = ?",
                  {options_.name, options_.holder})
        .map([](const db::ExecResult&) {});
}

void Beat::Publish(const BeatEntry& entry, const std::string& task_id, bool resend, SystemTime now) {
    SendOptions so;
    so.task_id = task_id;
    so.queue = entry.queue;
    so.priority = entry.priority;
    if (entry.expires) so.expires_in = *entry.expires;
    auto sent = client_.Send(entry.task, entry.args, entry.kwargs, so);
    const char* outcome = sent ? (resend ? "resent" : "sent") : "failed";
    if (options_.metrics != nullptr) {
        if (auto* c = options_.metrics->Sent(entry.name, outcome)) c->Inc();
    }
    if (sent) {
        // Clearing is idempotent and guarded by the id only: it must also happen when the lease was lost meanwhile.
        auto cleared = db_->Execute(
            "UPDATE gale_beat_state SET pending_id = '', pending_holder = '', last_sent_at = ? WHERE "
            "beat = ? AND entry = ? AND pending_id = ?",
            {ToMs(now), options_.name, entry.name, task_id});
        if (!cleared) {
            log::Warning(kLogger, "sent, but cannot clear the pending run: the next leader sends it again (same id)",
                         {{"entry", entry.name}, {"id", task_id}, {"error", cleared.error().ToString()}});
        }
        log::Info(kLogger, resend ? "beat entry sent again" : "beat entry sent",
                  {{"entry", entry.name}, {"task", entry.task}, {"id", task_id}});
    } else {
        log::Warning(kLogger, "cannot send a beat entry (kept pending: sent again at the next turn)",
                     {{"entry", entry.name}, {"task", entry.task}, {"error", sent.error().ToString()}});
    }
    std::lock_guard lock(mu_);
    BeatEntryStats& s = stats_.entries[entry.name];
    if (sent) {
        ++s.sent;
        s.last_sent = now;
    } else {
        ++s.failed;
        stats_.last_error = fmt::format("entry \"{}\": {}", entry.name, sent.error().ToString());
    }
}

Result<void> Beat::SendDue(SystemTime now) {
    const std::int64_t now_ms = ToMs(now);
    for (const BeatEntry& e : entries_) {
        GALE_RETURN_IF_ERROR(db_->Execute(
            "INSERT INTO gale_beat_state (beat, entry, created_at) VALUES (?, ?, ?) ON CONFLICT (beat, entry) DO "
            "NOTHING",
            {options_.name, e.name, now_ms}));
    }
    GALE_ASSIGN_OR_RETURN(auto rows, db_->Query("SELECT entry, created_at, last_run_at, total_run_count, pending_id "
                                                "FROM gale_beat_state WHERE beat = ?",
                                                {options_.name}));
    std::map<std::string, StateRow, std::less<>> state;
    for (const db::Row& r : rows) {
        StateRow s;
        s.created_at = Int(r[1]).value_or(now_ms);
        s.last_run_at = Int(r[2]);
        s.total_run_count = Int(r[3]).value_or(0);
        s.pending_id = Text(r[4]);
        state[Text(r[0])] = std::move(s);
    }
    const std::string lease_is_mine = fmt::format(
        "EXISTS (SELECT 1 FROM gale_beat_lease WHERE name = ?1 AND holder = ?2 AND expires_at > {})", Now());

    std::optional<SystemTime> next_due;
    std::string next_entry;
    for (const BeatEntry& e : entries_) {
        if (!e.enabled) continue;
        StateRow& row = state[e.name];
        if (std::chrono::steady_clock::now() >= leader_until_) break;  // renew first (next turn)
        if (!row.pending_id.empty()) {
            // Claimed and maybe not sent: by a replica that died, or the broker refused it. Send it again, same id.
            GALE_ASSIGN_OR_RETURN(
                auto taken,
                db_->Execute("UPDATE gale_beat_state SET pending_holder = ?2 WHERE beat = ?1 AND entry = ?3 AND "
                             "pending_id = ?4 AND " +
                                 lease_is_mine,
                             {options_.name, options_.holder, e.name, row.pending_id}));
            if (taken.changes == 1) Publish(e, row.pending_id, /*resend=*/true, now);
            continue;  // its next due time is computed at the next turn, from the state it left
        }
        std::optional<SystemTime> due = DueOf(e, row);
        if (due && *due <= now) {
            // Catch-up: when the slot after `due` is past too, runs were missed; send one and restart from now.
            std::optional<SystemTime> after = e.schedule.NextAfter(*due);
            const SystemTime recorded = after && *after > now ? *due : now;
            const std::string id = NewTaskId();
            GALE_ASSIGN_OR_RETURN(
                auto claimed,
                db_->Execute("UPDATE gale_beat_state SET last_run_at = ?4, total_run_count = total_run_count + 1, "
                             "pending_id = ?5, pending_holder = ?2 WHERE beat = ?1 AND entry = ?3 AND "
                             "total_run_count = ?6 AND pending_id = '' AND " +
                                 lease_is_mine,
                             {options_.name, options_.holder, e.name, ToMs(recorded), id, row.total_run_count}));
            if (claimed.changes != 1) {
                // Another replica claimed it, or the lease is gone: decide again at the next turn.
                leader_until_ = std::min(leader_until_, std::chrono::steady_clock::now());
                break;
            }
            Publish(e, id, /*resend=*/false, now);
            row.last_run_at = ToMs(recorded);
            ++row.total_run_count;
            due = e.schedule.NextAfter(recorded);
        }
        {
            std::lock_guard lock(mu_);
            stats_.entries[e.name].next_due = due;
        }
        if (due && (!next_due || *due < *next_due)) {
            next_due = due;
            next_entry = e.name;
        }
    }
    std::lock_guard lock(mu_);
    stats_.next_due = next_due;
    stats_.next_entry = next_entry;
    return {};
}

Result<std::chrono::milliseconds> Beat::Tick(std::optional<SystemTime> at) {
    const SystemTime now = at ? *at : options_.clock();
    auto finish = [&](Result<void> r) -> Result<std::chrono::milliseconds> {
        std::lock_guard lock(mu_);
        stats_.last_tick = now;
        stats_.last_turn = std::chrono::steady_clock::now();
        if (options_.metrics != nullptr) {
            if (options_.metrics->last_tick != nullptr) options_.metrics->last_tick->Set(ToSeconds(now));
            if (options_.metrics->next_due != nullptr) {
                options_.metrics->next_due->Set(leader_ && stats_.next_due ? ToSeconds(*stats_.next_due) : 0.0);
            }
        }
        if (!r) {
            stats_.last_error = r.error().ToString();
            return tl::unexpected(r.error());
        }
        if (!leader_) {
            stats_.next_due.reset();
            stats_.next_entry.clear();
            return options_.standby_poll;
        }
        auto steady = std::chrono::steady_clock::now();
        auto sleep =
            std::min(std::chrono::duration_cast<std::chrono::milliseconds>(renew_at_ - steady), options_.max_tick);
        if (stats_.next_due) {
            sleep = std::min(sleep, std::chrono::duration_cast<std::chrono::milliseconds>(*stats_.next_due - now));
        }
        return std::max(sleep, std::chrono::milliseconds(1));
    };
    if (auto r = Lease(now); !r) return finish(r);
    if (!leader_) return finish({});
    std::uint64_t failures_before = 0;
    {
        std::lock_guard lock(mu_);
        for (const auto& [name, s] : stats_.entries) failures_before += s.failed;
    }
    Result<void> sent = SendDue(now);
    if (sent) {
        std::uint64_t failures_after = 0;
        std::lock_guard lock(mu_);
        for (const auto& [name, s] : stats_.entries) failures_after += s.failed;
        if (failures_after == failures_before) stats_.last_error.clear();  // a clean turn
    }
    return finish(sent);
}

// ---- GALE_BEAT_SCHEDULE -------------------------------------------------------------------------------------------

Result<std::vector<BeatOverride>> ParseBeatSchedule(std::string_view json_text, std::string_view what) {
    nlohmann::json doc = nlohmann::json::parse(json_text, nullptr, /*allow_exceptions=*/false);
    if (doc.is_discarded() || !doc.is_object()) {
        return MakeError(ErrorCode::kInvalidArgument,
                         fmt::format("{}: not a JSON object of entry name → {{\"task\", \"schedule\", …}}", what));
    }
    std::vector<BeatOverride> out;
    for (const auto& [name, spec] : doc.items()) {
        auto bad = [&, n = name](std::string_view field, std::string_view why) {
            return MakeError(ErrorCode::kInvalidArgument, fmt::format("{}: entry \"{}\": {}: {}", what, n, field, why));
        };
        if (name.empty()) return bad("name", "empty");
        if (!spec.is_object()) return bad("entry", "not a JSON object");
        BeatOverride o;
        o.name = name;
        for (const auto& [field, v] : spec.items()) {
            if (field == "task") {
                if (!v.is_string() || v.get<std::string>().empty()) return bad(field, "not a task name");
                o.task = v.get<std::string>();
            } else if (field == "schedule") {
                if (v.is_number() && v.get<double>() > 0) {
                    o.schedule = fmt::format("every {}ms", static_cast<std::int64_t>(v.get<double>() * 1000.0));
                } else if (v.is_string()) {
                    o.schedule = v.get<std::string>();
                } else {
                    return bad(field, "not a schedule (\"every 30s\", \"*/5 * * * *\", \"at <ISO 8601>\", seconds)");
                }
            } else if (field == "timezone") {
                if (!v.is_string()) return bad(field, "not a time zone name");
                o.time_zone = v.get<std::string>();
            } else if (field == "day_rule") {
                if (v == "either") {
                    o.day_rule = DayRule::kEither;
                } else if (v == "both") {
                    o.day_rule = DayRule::kBoth;
                } else {
                    return bad(field, "not \"either\" (cron) or \"both\" (Celery)");
                }
            } else if (field == "enabled") {
                if (!v.is_boolean()) return bad(field, "not true or false");
                o.enabled = v.get<bool>();
            } else if (field == "args") {
                if (!v.is_array()) return bad(field, "not a JSON array");
                o.args = v;
            } else if (field == "kwargs") {
                if (!v.is_object()) return bad(field, "not a JSON object");
                o.kwargs = v;
            } else if (field == "queue") {
                if (!v.is_string()) return bad(field, "not a queue name");
                o.queue = v.get<std::string>();
            } else if (field == "expires") {
                if (!v.is_number() || v.get<double>() <= 0) return bad(field, "not a number of seconds above 0");
                o.expires = std::chrono::milliseconds(static_cast<std::int64_t>(v.get<double>() * 1000.0));
            } else if (field == "priority") {
                if (!v.is_number_integer() || v.get<int>() < 0 || v.get<int>() > 9) return bad(field, "not 0-9");
                o.priority = v.get<int>();
            } else {
                return bad(field,
                           "unknown field (known: task, schedule, timezone, day_rule, enabled, args, kwargs, "
                           "queue, expires, priority)");
            }
        }
        // Check the schedule now (with the zone given, or UTC): the error names the entry at start-up.
        if (o.schedule) {
            auto s = Schedule::Parse(*o.schedule, o.time_zone.value_or("UTC"), o.day_rule.value_or(DayRule::kEither));
            if (!s) return bad("schedule", s.error().message());
        } else if (o.time_zone) {
            auto s = Schedule::Crontab("* * * * *", *o.time_zone);
            if (!s) return bad("timezone", fmt::format("unknown time zone \"{}\"", *o.time_zone));
        }
        out.push_back(std::move(o));
    }
    return out;
}

Result<void> ApplyBeatOverrides(std::vector<BeatEntry>& entries, const std::vector<BeatOverride>& overrides,
                                std::string_view what) {
    for (const BeatOverride& o : overrides) {
        auto bad = [&](std::string_view field, std::string_view why) {
            return MakeError(ErrorCode::kInvalidArgument,
                             fmt::format("{}: entry \"{}\": {}: {}", what, o.name, field, why));
        };
        auto it = std::find_if(entries.begin(), entries.end(), [&](const BeatEntry& e) { return e.name == o.name; });
        const bool added = it == entries.end();
        if (added && !o.task) return bad("task", "required for an entry the code does not declare");
        if (added && !o.schedule) return bad("schedule", "required for an entry the code does not declare");
        std::optional<Schedule> schedule;
        if (o.schedule || o.time_zone || o.day_rule) {
            const Schedule* old = added ? nullptr : &it->schedule;
            const bool was_cron = old != nullptr && old->kind() == Schedule::Kind::kCrontab;
            std::string text = o.schedule ? *o.schedule : old->ToString();
            std::string zone = o.time_zone ? *o.time_zone : (was_cron ? old->time_zone() : std::string("UTC"));
            auto parsed = Schedule::Parse(text, zone, o.day_rule.value_or(DayRule::kEither));
            if (!parsed) return bad("schedule", parsed.error().message());
            if ((o.time_zone || o.day_rule) && parsed->kind() != Schedule::Kind::kCrontab) {
                return bad(o.time_zone ? "timezone" : "day_rule", "applies to a crontab schedule only");
            }
            schedule = *parsed;
        }
        if (added) {
            entries.push_back(BeatEntry{.name = o.name, .task = *o.task, .schedule = *schedule});
            it = std::prev(entries.end());
        }
        BeatEntry& e = *it;
        if (o.task) e.task = *o.task;
        if (schedule) e.schedule = *schedule;
        if (o.enabled) e.enabled = *o.enabled;
        if (o.args) e.args = *o.args;
        if (o.kwargs) e.kwargs = *o.kwargs;
        if (o.queue) e.queue = *o.queue;
        if (o.expires) e.expires = *o.expires;
        if (o.priority) e.priority = *o.priority;
    }
    return {};
}

Result<std::vector<BeatEntry>> BeatEntriesFromSettings(std::vector<BeatEntry> entries,
                                                       const config::Settings& settings) {
    constexpr std::string_view kVar = "GALE_BEAT_SCHEDULE";
    std::optional<std::string> value = settings.Find(kVar);
    if (!value || value->empty()) return entries;
    const std::string what = config::NameWithSource(settings, kVar);
    GALE_ASSIGN_OR_RETURN(std::vector<BeatOverride> overrides, ParseBeatSchedule(*value, what));
    GALE_RETURN_IF_ERROR(ApplyBeatOverrides(entries, overrides, what));
    return entries;
}

}  // namespace gale::tasks
