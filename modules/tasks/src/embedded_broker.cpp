// SPDX-License-Identifier: MIT
// The embedded task queue (design and guarantees in gale/tasks/embedded_broker.hpp).
//
// Invariants:
//  - messages are rows of gale_task_queue, written once (INSERT) and deleted once (Ack or Reject without requeue);
//    whoever holds one is a row of the small table gale_task_claims (id, owner, lease_until, deliveries): a claim
//    is active while lease_until > now, and only its owner settles the message — every settlement statement checks
//    the owner, so a consumer whose lease ran out cannot delete or release a message another consumer claimed
//    since. Keeping claims apart, a claim writes a few bytes instead of rewriting the message row and its index,
//    and the delivery count survives a release;
//  - message ids never repeat (AUTOINCREMENT), so (id, owner) names one claim. Settlements find claims by id
//    (the primary key); only renewal and Close look for a consumer's claims by owner, a scan of the small claims
//    table every third of the visibility timeout, cheaper than keeping an owner index on every claim and ack;
//  - the fetch thread's cost is the worker's ceiling: a delivery's headers are handed out as text (parsed on the
//    task thread, Delivery::deferred_headers), BEGIN/COMMIT are prepared once, and the consumers' checkpoints run
//    on the broker's checkpointer thread (sqlite_support.hpp) instead of inside their commits;
//  - claims read the index (queue, priority, visible_at, id) one priority at a time, highest first: a range seek
//    each, skipping only the messages held right now (at most the consumers' prefetch); messages waiting for their
//    eta have visible_at in the future and are never scanned. Priorities are clamped to 0–9 for this (Celery's and
//    RabbitMQ's usual x-max-priority of 10);
//  - a consumer's unsettled deliveries = handed out + claimed and buffered; it never claims beyond its prefetch;
//  - settlements wait in memory for the next transaction of the consumer (its next claim, or Next's flush), so
//    one transaction settles and claims a whole batch;
//  - every write transaction of a consumer is taken in its turn (write_turns.hpp), so consumers never wait for one
//    another in SQLite's busy handler, where the one that has just committed would win again and again.
#include <algorithm>
#include <charconv>
#include <deque>
#include <unordered_set>

#include <fmt/format.h>

#include <gale/db/database.hpp>
#include <gale/tasks/embedded_broker.hpp>

#include "sqlite_support.hpp"
#include "write_turns.hpp"

namespace gale::tasks {
namespace {

using detail::AsInt;
using detail::AsString;
using detail::UnixMillis;
using detail::WriteTurns;

constexpr int kMaxPriority = 9;
constexpr std::size_t kFlushThreshold = 128;
constexpr std::chrono::milliseconds kFlushAge{20};
constexpr std::chrono::milliseconds kSafetyProbe{1000};  // look anyway this often, whatever changed

constexpr std::string_view kSchema = R"sql(
CREATE TABLE IF NOT EXISTS gale_task_queue (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    queue TEXT NOT NULL,
    priority INTEGER NOT NULL,
    visible_at INTEGER NOT NULL,
    published_at INTEGER NOT NULL,
    exchange TEXT NOT NULL,
    routing_key TEXT NOT NULL,
    content_type TEXT NOT NULL,
    content_encoding TEXT NOT NULL,
    correlation_id TEXT NOT NULL,
    reply_to TEXT NOT NULL,
    delivery_mode INTEGER NOT NULL,
    expiration_ms INTEGER,
    headers TEXT NOT NULL,
    body BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS gale_task_queue_next ON gale_task_queue (queue, priority, visible_at, id);
CREATE TABLE IF NOT EXISTS gale_task_claims (
    id INTEGER PRIMARY KEY,
    owner TEXT,
    lease_until INTEGER NOT NULL,
    deliveries INTEGER NOT NULL
);
DROP INDEX IF EXISTS gale_task_claims_owner;
)sql";

constexpr std::string_view kInsert =
    "INSERT INTO gale_task_queue (queue, priority, visible_at, published_at, exchange, routing_key, content_type, "
    "content_encoding, correlation_id, reply_to, delivery_mode, expiration_ms, headers, body) "
    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)";
constexpr std::string_view kColumns =
    "q.id, COALESCE((SELECT c.deliveries FROM gale_task_claims c WHERE c.id = q.id), 0), q.exchange, q.routing_key, "
    "q.content_type, q.content_encoding, q.correlation_id, q.reply_to, q.delivery_mode, q.expiration_ms, q.headers, "
    "q.body, q.queue";
/// A message nobody holds now (with ?1 = now).
constexpr std::string_view kNotHeld =
    "NOT EXISTS (SELECT 1 FROM gale_task_claims c WHERE c.id = q.id AND c.lease_until > ?1)";

tl::unexpected<Error> Invalid(std::string message) {
    return MakeError(ErrorCode::kInvalidArgument, std::move(message));
}

int ClampPriority(int p) { return std::clamp(p, 0, kMaxPriority); }

/// When the message may first be delivered: its eta header, or now.
std::int64_t VisibleAt(const TransportMessage& m, std::int64_t now) {
    if (m.headers.is_object()) {
        auto it = m.headers.find("eta");
        if (it != m.headers.end() && it->is_string()) {
            if (auto t = ParseIsoTime(it->get_ref<const std::string&>())) return std::max(now, UnixMillis(*t));
        }
    }
    return now;
}

Result<void> InsertOne(db::Database& db, const Route& route, const TransportMessage& m, std::int64_t now) {
    std::string exchange = route.exchange;
    std::string routing_key = route.routing_key.empty() ? route.queue : route.routing_key;
    db::Value expiration = m.expiration ? db::Value(static_cast<std::int64_t>(m.expiration->count())) : nullptr;
    GALE_RETURN_IF_ERROR(
        db.Execute(kInsert, {route.queue, std::int64_t{ClampPriority(m.priority)}, VisibleAt(m, now), now, exchange,
                             routing_key, m.content_type, m.content_encoding, m.correlation_id, m.reply_to,
                             std::int64_t{m.delivery_mode}, expiration, m.headers.dump(), m.body}));
    return {};
}

/// A row (kColumns order) as a delivery.
Result<Delivery> ToDelivery(const db::Row& row) {
    Delivery d;
    d.tag = AsString(row[0]);
    d.delivery_count = static_cast<std::uint32_t>(std::max<std::int64_t>(0, AsInt(row[1])));
    d.redelivered = d.delivery_count > 1;
    d.exchange = AsString(row[2]);
    d.routing_key = AsString(row[3]);
    d.message.content_type = AsString(row[4]);
    d.message.content_encoding = AsString(row[5]);
    d.message.correlation_id = AsString(row[6]);
    d.message.reply_to = AsString(row[7]);
    d.message.delivery_mode = static_cast<int>(AsInt(row[8]));
    if (std::holds_alternative<std::int64_t>(row[9])) d.message.expiration = std::chrono::milliseconds(AsInt(row[9]));
    d.deferred_headers = AsString(row[10]);  // parsed on the task thread (ParseDeferredHeaders), not the fetch thread
    d.message.body = AsString(row[11]);
    d.queue = AsString(row[12]);
    return d;
}

std::string JsonIds(const std::vector<std::int64_t>& ids) {
    std::string out = "[";
    for (std::size_t i = 0; i < ids.size(); ++i) {
        if (i != 0) out += ',';
        out += std::to_string(ids[i]);
    }
    out += ']';
    return out;
}

}  // namespace

struct EmbeddedBroker::State {
    std::string path;
    EmbeddedBrokerOptions options;
    std::shared_ptr<detail::FileNotifier> notifier;
    std::unique_ptr<detail::GroupCommit> publisher;      // its own connection
    std::optional<db::Database> reader;                  // QueueLength, Peek
    std::unique_ptr<detail::Checkpointer> checkpointer;  // the consumers' checkpoints, off their fetch threads
};

namespace {

class EmbeddedConsumer final : public BrokerConsumer {
public:
    EmbeddedConsumer(std::shared_ptr<EmbeddedBroker::State> state, db::Database db, WriteTurns turns,
                     std::vector<std::string> queues, std::size_t prefetch)
        : state_(std::move(state)),
          db_(std::move(db)),
          turns_(std::move(turns)),
          queues_(std::move(queues)),
          prefetch_(prefetch == 0 ? 1 : prefetch),
          owner_(NewTaskId()),
          last_renew_(std::chrono::steady_clock::now()) {
        std::lock_guard lock(state_->notifier->mu);
        seen_generation_ = state_->notifier->generation;
    }
    ~EmbeddedConsumer() override { Close(); }

    // gale::tasks::BrokerConsumer
    Result<std::optional<Delivery>> Next(std::chrono::milliseconds timeout) override {
        if (closed_) return MakeError(ErrorCode::kCancelled, "embedded queue: the consumer is closed");
        const auto deadline = std::chrono::steady_clock::now() + timeout;
        for (;;) {
            if (!buffer_.empty()) {
                Delivery d = std::move(buffer_.front());
                buffer_.pop_front();
                outstanding_.insert(std::stoll(d.tag));
                handed_out_ = outstanding_.size();
                if (SettlementsDue()) GALE_RETURN_IF_ERROR(Transaction(/*claim=*/false));
                return std::optional<Delivery>(std::move(d));
            }
            if (std::chrono::steady_clock::now() - last_version_check_ >= state_->options.poll_interval) {
                GALE_RETURN_IF_ERROR(CheckDataVersion());
            }
            // Claim when at least half the prefetch is free (or nothing is out), so that each transaction claims a
            // batch rather than one row per settled delivery.
            const std::size_t room = prefetch_ - std::min(prefetch_, handed_out_);
            const bool claim = !cancelled_ && room > 0 && (handed_out_ == 0 || room * 2 >= prefetch_) && ShouldLook();
            if (claim || SettlementsPending() || RenewDue()) GALE_RETURN_IF_ERROR(Transaction(claim));
            if (!buffer_.empty()) continue;
            const auto now = std::chrono::steady_clock::now();
            if (now >= deadline) return std::optional<Delivery>();
            Wait(std::min(deadline, now + state_->options.poll_interval));
        }
    }

    Result<void> Ack(const Delivery& d) override { return Settle(d, acks_); }
    Result<void> Reject(const Delivery& d, bool requeue) override { return Settle(d, requeue ? requeues_ : acks_); }

    void Cancel() override {
        if (cancelled_ || closed_) return;
        cancelled_ = true;
        for (const Delivery& d : buffer_) requeues_.push_back(std::stoll(d.tag));
        buffer_.clear();
        (void)Transaction(/*claim=*/false);
    }

    void Close() override {
        if (closed_) return;
        buffer_.clear();
        (void)Transaction(/*claim=*/false);
        // Whatever is still ours goes back at once (handed out and unsettled, or settled but not written).
        // Without a turn (past the busy timeout) it tries anyway, in SQLite's busy handler; if that fails too, the
        // leases run out.
        const bool turn = turns_.Enter(state_->options.busy_timeout).has_value();
        (void)db_.Execute("UPDATE gale_task_claims SET owner = NULL, lease_until = 0 WHERE owner = ?", {owner_});
        if (turn) turns_.Leave();
        closed_ = true;
        state_->notifier->Notify();
    }

private:
    Result<void> Settle(const Delivery& d, std::vector<std::int64_t>& into) {
        if (closed_) return MakeError(ErrorCode::kCancelled, "embedded queue: the consumer is closed");
        std::int64_t id = 0;
        auto [ptr, ec] = std::from_chars(d.tag.data(), d.tag.data() + d.tag.size(), id);
        if (ec != std::errc() || ptr != d.tag.data() + d.tag.size() || outstanding_.erase(id) == 0) {
            return Invalid(fmt::format("embedded queue: delivery '{}' is not unsettled on this consumer", d.tag));
        }
        handed_out_ = outstanding_.size();
        if (!SettlementsPending()) first_pending_ = std::chrono::steady_clock::now();
        into.push_back(id);
        if (cancelled_ || SettlementsDue()) return Transaction(/*claim=*/false);
        return {};
    }

    bool SettlementsPending() const noexcept { return !acks_.empty() || !requeues_.empty(); }
    bool SettlementsDue() const noexcept {
        const std::size_t n = acks_.size() + requeues_.size();
        return n >= kFlushThreshold || (n > 0 && std::chrono::steady_clock::now() - first_pending_ >= kFlushAge);
    }
    bool RenewDue() const noexcept {
        return handed_out_ > 0 &&
               std::chrono::steady_clock::now() - last_renew_ >= state_->options.visibility_timeout / 3;
    }

    /// Whether a claim may find something: first call, a publish in this process, another process's commit, a row
    /// becoming visible (eta, an expired lease), or the safety interval.
    bool ShouldLook() {
        const auto now = std::chrono::steady_clock::now();
        bool look = first_ || changed_ || now - last_look_ >= kSafetyProbe ||
                    (next_visible_ms_ && UnixMillis() >= *next_visible_ms_);
        {
            std::lock_guard lock(state_->notifier->mu);
            if (state_->notifier->generation != seen_generation_) {
                seen_generation_ = state_->notifier->generation;
                look = true;
            }
        }
        return look;
    }

    void Wait(std::chrono::steady_clock::time_point until) {
        if (next_visible_ms_) {
            const auto in = std::chrono::milliseconds(*next_visible_ms_ - UnixMillis());
            until = std::min(until, std::chrono::steady_clock::now() + std::max(in, std::chrono::milliseconds(0)));
        }
        detail::FileNotifier& n = *state_->notifier;
        std::unique_lock lock(n.mu);
        n.cv.wait_until(lock, until, [&] { return n.generation != seen_generation_; });
    }

    Result<void> CheckDataVersion() {
        last_version_check_ = std::chrono::steady_clock::now();
        GALE_ASSIGN_OR_RETURN(auto rows, db_.Query("PRAGMA data_version"));
        const std::int64_t v = rows.empty() ? 0 : AsInt(rows[0][0]);
        if (v != data_version_) {
            data_version_ = v;
            changed_ = true;
        }
        return {};
    }

    /// One write transaction: pending settlements, lease renewal if due, and a claim if asked.
    Result<void> Transaction(bool claim) {
        const bool renew = RenewDue();
        if (!SettlementsPending() && !renew && !claim) return {};
        // A claim that could find nothing would take the write lock for no reason: look first (read-only).
        std::vector<std::pair<std::string, int>> sources;  // (queue, priority) with visible rows, in claim order
        if (claim) {
            GALE_ASSIGN_OR_RETURN(sources, VisibleSources());
            last_look_ = std::chrono::steady_clock::now();
            first_ = false;
            changed_ = false;
            if (sources.empty()) {
                GALE_RETURN_IF_ERROR(ComputeNextVisible());
                if (!SettlementsPending() && !renew) return {};
            }
        }
        std::vector<Delivery> claimed;
        const std::int64_t now = UnixMillis();
        auto body = [&]() -> Result<void> {
            if (!acks_.empty()) {
                const std::string ids = JsonIds(acks_);
                GALE_RETURN_IF_ERROR(
                    db_.Execute("DELETE FROM gale_task_queue WHERE id IN (SELECT c.id FROM "
                                "gale_task_claims c WHERE c.owner = ? AND c.id IN (SELECT value FROM "
                                "json_each(?)))",
                                {owner_, ids}));
                GALE_RETURN_IF_ERROR(db_.Execute(
                    "DELETE FROM gale_task_claims WHERE owner = ? AND id IN (SELECT value FROM json_each(?))",
                    {owner_, ids}));
            }
            if (!requeues_.empty()) {
                GALE_RETURN_IF_ERROR(
                    db_.Execute("UPDATE gale_task_claims SET owner = NULL, lease_until = 0 WHERE "
                                "owner = ? AND id IN (SELECT value FROM json_each(?))",
                                {owner_, JsonIds(requeues_)}));
            }
            const std::int64_t lease = now + state_->options.visibility_timeout.count();
            if (renew) {
                GALE_RETURN_IF_ERROR(
                    db_.Execute("UPDATE gale_task_claims SET lease_until = ? WHERE owner = ?", {lease, owner_}));
            }
            std::size_t room = std::min(prefetch_ - std::min(prefetch_, handed_out_), state_->options.claim_batch);
            for (const auto& [queue, priority] : sources) {
                if (room == 0) break;
                GALE_ASSIGN_OR_RETURN(
                    auto rows,
                    db_.Query(fmt::format("SELECT {} FROM gale_task_queue q WHERE q.queue = ?2 AND q.priority = ?3 AND "
                                          "q.visible_at <= ?1 AND {} ORDER BY q.visible_at, q.id LIMIT ?4",
                                          kColumns, kNotHeld),
                              {now, queue, std::int64_t{priority}, static_cast<std::int64_t>(room)}));
                if (rows.empty()) continue;
                std::vector<std::int64_t> ids;
                ids.reserve(rows.size());
                for (const auto& row : rows) {
                    GALE_ASSIGN_OR_RETURN(Delivery d, ToDelivery(row));
                    d.delivery_count += 1;  // this claim
                    d.redelivered = d.delivery_count > 1;
                    ids.push_back(AsInt(row[0]));
                    claimed.push_back(std::move(d));
                }
                GALE_RETURN_IF_ERROR(db_.Execute(
                    "INSERT INTO gale_task_claims (id, owner, lease_until, deliveries) SELECT value, ?, ?, 1 FROM "
                    "json_each(?) WHERE true ON CONFLICT (id) DO UPDATE SET owner = excluded.owner, lease_until = "
                    "excluded.lease_until, deliveries = deliveries + 1",
                    {owner_, lease, JsonIds(ids)}));
                room -= rows.size();
            }
            return {};
        };
        GALE_RETURN_IF_ERROR(turns_.Enter(state_->options.busy_timeout));
        auto done = db::InTransaction(
            db_, [&](db::Database&) { return body(); }, detail::kRunOnce);
        turns_.Leave();
        if (!done) return done;
        state_->checkpointer->Committed();
        const bool released = !requeues_.empty();
        acks_.clear();
        requeues_.clear();
        if (renew) last_renew_ = std::chrono::steady_clock::now();
        if (claim) {
            next_queue_ = queues_.empty() ? 0 : (next_queue_ + 1) % queues_.size();
            if (claimed.empty()) {
                GALE_RETURN_IF_ERROR(ComputeNextVisible());
            } else {
                next_visible_ms_.reset();  // recomputed after the next claim that finds nothing
                changed_ = true;           // more may be visible: look again when there is room
            }
        }
        for (auto& d : claimed) buffer_.push_back(std::move(d));
        if (released) state_->notifier->Notify();
        return {};
    }

    /// (queue, priority) pairs that have a visible row now: queues in turn from next_queue_, priorities high first.
    /// One statement per queue (an index seek per priority inside it): this runs before every claim.
    Result<std::vector<std::pair<std::string, int>>> VisibleSources() {
        std::vector<std::pair<std::string, int>> out;
        const std::int64_t now = UnixMillis();
        static const std::string kPriorities = [] {
            std::vector<std::int64_t> p;
            for (int i = kMaxPriority; i >= 0; --i) p.push_back(i);
            return JsonIds(p);
        }();
        static const std::string probe = fmt::format(
            "SELECT p.value FROM json_each(?3) p WHERE EXISTS (SELECT 1 FROM gale_task_queue q WHERE q.queue = ?2 AND "
            "q.priority = p.value AND q.visible_at <= ?1 AND {} LIMIT 1)",
            kNotHeld);
        for (std::size_t k = 0; k < queues_.size(); ++k) {
            const std::string& q = queues_[(next_queue_ + k) % queues_.size()];
            GALE_ASSIGN_OR_RETURN(auto rows, db_.Query(probe, {now, q, kPriorities}));
            const std::size_t first = out.size();
            for (const auto& row : rows) out.emplace_back(q, static_cast<int>(AsInt(row[0])));
            std::sort(out.begin() + static_cast<std::ptrdiff_t>(first), out.end(),
                      [](const auto& a, const auto& b) { return a.second > b.second; });
        }
        return out;
    }

    /// The earliest future visible_at in the consumer's queues (an eta, a lease), to wake up for it.
    Result<void> ComputeNextVisible() {
        std::optional<std::int64_t> best;
        const std::int64_t now = UnixMillis();
        for (const std::string& q : queues_) {
            for (int p = kMaxPriority; p >= 0; --p) {
                GALE_ASSIGN_OR_RETURN(auto rows,
                                      db_.Query("SELECT visible_at FROM gale_task_queue WHERE queue = ? AND "
                                                "priority = ? AND visible_at > ? ORDER BY visible_at LIMIT 1",
                                                {q, std::int64_t{p}, now}));
                if (!rows.empty()) {
                    const std::int64_t v = AsInt(rows[0][0]);
                    best = best ? std::min(*best, v) : v;
                }
            }
        }
        // Leases that run out (a consumer that died) make their messages visible too.
        GALE_ASSIGN_OR_RETURN(auto leases,
                              db_.Query("SELECT MIN(lease_until) FROM gale_task_claims WHERE lease_until > ?", {now}));
        if (!leases.empty() && std::holds_alternative<std::int64_t>(leases[0][0])) {
            const std::int64_t v = AsInt(leases[0][0]);
            best = best ? std::min(*best, v) : v;
        }
        next_visible_ms_ = best;
        return {};
    }

    std::shared_ptr<EmbeddedBroker::State> state_;
    db::Database db_;
    WriteTurns turns_;  // every write transaction of db_ is taken in a turn
    std::vector<std::string> queues_;
    std::size_t prefetch_;
    std::string owner_;
    std::deque<Delivery> buffer_;
    std::unordered_set<std::int64_t> outstanding_;  // handed out, not yet settled
    std::size_t handed_out_ = 0;                    // outstanding_.size()
    std::vector<std::int64_t> acks_;                // and rejects without requeue: deleted
    std::vector<std::int64_t> requeues_;            // made visible again
    std::chrono::steady_clock::time_point first_pending_{};
    std::chrono::steady_clock::time_point last_renew_;
    std::chrono::steady_clock::time_point last_look_{};
    std::chrono::steady_clock::time_point last_version_check_{};
    std::optional<std::int64_t> next_visible_ms_;
    std::uint64_t seen_generation_ = 0;
    std::int64_t data_version_ = -1;
    std::size_t next_queue_ = 0;
    bool first_ = true;
    bool changed_ = false;
    bool cancelled_ = false;
    bool closed_ = false;
};

}  // namespace

Result<std::unique_ptr<EmbeddedBroker>> EmbeddedBroker::Open(const std::string& path, EmbeddedBrokerOptions options) {
    if (options.visibility_timeout < std::chrono::milliseconds(100)) {
        return Invalid(fmt::format("embedded queue '{}': the visibility timeout must be at least 100 ms", path));
    }
    if (options.claim_batch == 0) return Invalid(fmt::format("embedded queue '{}': claim_batch must be >= 1", path));
    if (options.poll_interval <= std::chrono::milliseconds(0)) options.poll_interval = std::chrono::milliseconds(1);
    auto state = std::make_shared<State>();
    state->path = path;
    state->options = options;
    state->notifier = detail::NotifierFor(path);
    GALE_ASSIGN_OR_RETURN(auto writer, db::Database::Open(path, options.busy_timeout));
    auto schema = writer.ExecScript(kSchema);
    if (!schema)
        return MakeError(schema.error().code(), fmt::format("embedded queue '{}': {}", path, schema.error().message()));
    GALE_ASSIGN_OR_RETURN(auto turns, detail::WriteTurns::Open(path));
    state->publisher = std::make_unique<detail::GroupCommit>(std::move(writer), std::move(turns), options.busy_timeout);
    GALE_ASSIGN_OR_RETURN(auto reader, db::Database::Open(path, options.busy_timeout));
    state->reader = std::move(reader);
    GALE_ASSIGN_OR_RETURN(state->checkpointer, detail::Checkpointer::Start(path, options.busy_timeout));
    return std::unique_ptr<EmbeddedBroker>(new EmbeddedBroker(std::move(state)));
}

EmbeddedBroker::~EmbeddedBroker() = default;

std::string EmbeddedBroker::Describe() const { return "sqlite:///" + state_->path; }

const std::string& EmbeddedBroker::path() const noexcept { return state_->path; }

Result<void> EmbeddedBroker::Declare(const std::vector<Route>& routes) {
    for (const auto& r : routes) {
        if (r.queue.empty()) return Invalid("embedded queue: a route needs a queue name");
    }
    return {};
}

Result<void> EmbeddedBroker::Publish(const Route& route, const TransportMessage& message) {
    if (route.queue.empty()) return Invalid("embedded queue: publish needs a queue name");
    const std::int64_t now = UnixMillis();
    auto inserted = state_->publisher->Run([&](db::Database& db) { return InsertOne(db, route, message, now); });
    if (!inserted) return inserted;
    state_->notifier->Notify();
    return {};
}

Result<void> EmbeddedBroker::PublishMany(const Route& route, const std::vector<TransportMessage>& messages) {
    if (route.queue.empty()) return Invalid("embedded queue: publish needs a queue name");
    const std::int64_t now = UnixMillis();
    auto inserted = state_->publisher->Run([&](db::Database& db) -> Result<void> {
        for (const auto& m : messages) GALE_RETURN_IF_ERROR(InsertOne(db, route, m, now));
        return {};
    });
    if (!inserted) return inserted;
    state_->notifier->Notify();
    return {};
}

Result<std::unique_ptr<BrokerConsumer>> EmbeddedBroker::Consume(const std::vector<std::string>& queues,
                                                                std::size_t prefetch) {
    if (queues.empty()) return Invalid("embedded queue: consume needs at least one queue");
    for (const auto& q : queues) {
        if (q.empty()) return Invalid("embedded queue: an empty queue name");
    }
    GALE_ASSIGN_OR_RETURN(auto db, db::Database::Open(state_->path, state_->options.busy_timeout));
    GALE_RETURN_IF_ERROR(detail::Checkpointer::DisableAutoCheckpoint(db));
    GALE_ASSIGN_OR_RETURN(auto turns, WriteTurns::Open(state_->path));
    return std::unique_ptr<BrokerConsumer>(
        new EmbeddedConsumer(state_, std::move(db), std::move(turns), queues, prefetch));
}

Result<std::uint64_t> EmbeddedBroker::QueueLength(const std::string& queue) {
    GALE_ASSIGN_OR_RETURN(auto rows, state_->reader->Query(fmt::format("SELECT COUNT(*) FROM gale_task_queue q WHERE "
                                                                       "q.queue = ?2 AND {}",
                                                                       kNotHeld),
                                                           {UnixMillis(), queue}));
    return static_cast<std::uint64_t>(std::max<std::int64_t>(0, rows.empty() ? 0 : AsInt(rows[0][0])));
}

Result<std::vector<Delivery>> EmbeddedBroker::Peek(const std::string& queue, std::size_t limit) {
    GALE_ASSIGN_OR_RETURN(
        auto rows, state_->reader->Query(fmt::format("SELECT {} FROM gale_task_queue q WHERE q.queue = ? ORDER BY "
                                                     "q.id LIMIT ?",
                                                     kColumns),
                                         {queue, static_cast<std::int64_t>(limit)}));
    std::vector<Delivery> out;
    for (const auto& row : rows) {
        GALE_ASSIGN_OR_RETURN(Delivery d, ToDelivery(row));
        ParseDeferredHeaders(d);
        d.tag.clear();
        out.push_back(std::move(d));
    }
    return out;
}

}  // namespace gale::tasks
