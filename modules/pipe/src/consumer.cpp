// SPDX-License-Identifier: MIT
//
// Design. A record is first *classified* (decode, ignore set, registry, Validate): this has no side effect, so it
// can be repeated. Then exactly one of three things happens, each ending with the backend commit:
//   skip        -> Commit (outside any transaction, as django-logpipe)
//   dead-letter -> sink.Put + Commit, in one transaction when one is configured
//   save        -> Save + Commit, in one transaction when one is configured; retried with backoff, then dead-letter
// Invariant: a record leaves pending_ only once its commit (or deferred commit) succeeded, so an error anywhere
// (backend, transaction, missing sink) leaves it to be tried again by the next RunOnce, never lost and, when the
// transaction holds both the effects and the offsets, never applied twice.
#include <algorithm>
#include <exception>
#include <thread>
#include <utility>

#include <gale/log/log.hpp>
#include <gale/pipe/consumer.hpp>
#include <gale/pipe/wire.hpp>

namespace gale::pipe {

namespace {

constexpr std::string_view kLogger = "gale.pipe.consumer";
constexpr std::size_t kMaxCounterKeys = 256;
constexpr std::size_t kMaxLabelLength = 64;

std::string Label(std::string_view s) { return std::string(s.substr(0, kMaxLabelLength)); }

std::string_view ProblemName(DecodeProblem problem) noexcept {
    switch (problem) {
        case DecodeProblem::kUnknownFormat:
            return "unknown_format";
        case DecodeProblem::kMalformedBody:
            return "malformed_body";
        case DecodeProblem::kInvalidEnvelope:
            return "invalid_envelope";
        case DecodeProblem::kNone:
            break;
    }
    return "undecodable";
}

std::int64_t NowNs() noexcept {
    return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now().time_since_epoch())
        .count();
}

}  // namespace

bool IsPermanentSaveError(ErrorCode code) noexcept {
    return code == ErrorCode::kInvalidArgument || code == ErrorCode::kNotFound || code == ErrorCode::kAlreadyExists;
}

std::string_view ToString(Outcome outcome) noexcept {
    switch (outcome) {
        case Outcome::kProcessed:
            return "processed";
        case Outcome::kSkippedIgnored:
            return "skipped_ignored";
        case Outcome::kSkippedUnknownType:
            return "skipped_unknown_type";
        case Outcome::kSkippedUnknownVersion:
            return "skipped_unknown_version";
        case Outcome::kSkippedInvalid:
            return "skipped_invalid";
        case Outcome::kDeadLettered:
            return "dead_lettered";
        case Outcome::kFailedAttempts:
            return "failed_attempts";
    }
    return "unknown";
}

std::uint64_t ConsumerStats::Total(Outcome outcome) const noexcept {
    std::uint64_t n = 0;
    for (const auto& c : counters) {
        if (c.outcome == outcome) n += c.count;
    }
    return n;
}

struct Consumer::Plan {
    enum class Kind { kSave, kSkip, kDeadLetter };
    Record* record = nullptr;  ///< in pending_; moved into deferred_commits_ only after Finish
    Kind kind = Kind::kSkip;
    Outcome skip_outcome = Outcome::kSkippedIgnored;
    std::string type{};     ///< label
    std::string version{};  ///< label
    MessageHandler* handler = nullptr;
    Value message{};
    std::string reason{};  ///< why skipped or dead-lettered
};

Consumer::Consumer(std::string topic, ConsumerBackend& backend, ConsumerOptions options)
    : topic_(std::move(topic)), backend_(backend), options_(std::move(options)) {
    options_.max_attempts = std::max(options_.max_attempts, 1);
    options_.batch_size = std::max<std::size_t>(options_.batch_size, 1);
    Touch();
}

Consumer::~Consumer() = default;

void Consumer::Register(MessageHandlerPtr handler) {
    auto& list = handlers_[handler->type()];
    for (auto& h : list) {
        if (h->version() == handler->version()) {
            h = std::move(handler);
            return;
        }
    }
    list.push_back(std::move(handler));
}

void Consumer::IgnoreType(std::string type) { ignored_.insert(std::move(type)); }

void Consumer::Touch() noexcept { last_progress_ns_.store(NowNs(), std::memory_order_relaxed); }

std::chrono::steady_clock::time_point Consumer::last_progress() const noexcept {
    return std::chrono::steady_clock::time_point(
        std::chrono::nanoseconds(last_progress_ns_.load(std::memory_order_relaxed)));
}

bool Consumer::CounterLess::operator()(const CounterKeyView& a, const CounterKeyView& b) const noexcept {
    return std::tie(a.type, a.version, a.outcome) < std::tie(b.type, b.version, b.outcome);
}

void Consumer::Count(std::string_view type, std::string_view version, Outcome outcome, std::uint64_t n) {
    std::lock_guard lock(stats_mu_);
    CounterKeyView key{type, version, outcome};
    auto it = counters_.find(key);  // no allocation when the key exists (the common case)
    if (it == counters_.end() && counters_.size() >= kMaxCounterKeys) {
        key = CounterKeyView{"<other>", {}, outcome};
        it = counters_.find(key);
    }
    if (it == counters_.end()) {
        counters_.emplace(CounterKey{std::string(key.type), std::string(key.version), outcome}, n);
    } else {
        it->second += n;
    }
}

ConsumerStats Consumer::Stats() const {
    ConsumerStats stats;
    stats.topic = topic_;
    std::lock_guard lock(stats_mu_);
    for (const auto& [key, n] : counters_) stats.counters.push_back({key.type, key.version, key.outcome, n});
    stats.backend_errors = backend_errors_;
    return stats;
}

Consumer::Plan Consumer::Classify(Record& record) {
    Plan plan;
    plan.record = &record;
    DecodeProblem problem = DecodeProblem::kNone;
    auto decoded = DecodeEnvelope(record.value, &problem);
    if (!decoded) {
        plan.kind = Plan::Kind::kDeadLetter;
        plan.reason = std::string(ProblemName(problem)) + ": " + decoded.error().message();
        return plan;
    }
    Envelope& env = decoded->envelope;
    plan.type = Label(env.type);
    // The received version as a label only where no handler matched (dump() allocates; this is the hot path).
    auto received_version = [&env] { return Label(env.version.dump()); };
    if (ignored_.contains(env.type)) {
        plan.version = received_version();
        plan.skip_outcome = Outcome::kSkippedIgnored;
        plan.reason = "Received message with ignored type \"" + env.type + "\" in topic " + topic_;
        return plan;
    }
    auto it = handlers_.find(env.type);
    if (it == handlers_.end()) {
        plan.version = received_version();
        plan.skip_outcome = Outcome::kSkippedUnknownType;
        plan.reason = "Received message with unknown type \"" + env.type + "\" in topic " + topic_;
        return plan;
    }
    for (auto& h : it->second) {
        if (VersionMatches(env.version, h->version())) {
            plan.handler = h.get();
            break;
        }
    }
    if (plan.handler == nullptr) {
        plan.version = received_version();
        plan.skip_outcome = Outcome::kSkippedUnknownVersion;
        plan.reason = "Received message of type \"" + env.type + "\" with unknown version \"" + env.version.dump() +
                      "\" in topic " + topic_;
        return plan;
    }
    plan.version = std::to_string(plan.handler->version());
    Result<void> valid;
    try {
        valid = plan.handler->Validate(env.message);
    } catch (const std::exception& e) {
        valid = MakeError(ErrorCode::kInvalidArgument, std::string("Validate threw: ") + e.what());
    } catch (...) {
        valid = MakeError(ErrorCode::kInvalidArgument, "Validate threw a non-standard exception");
    }
    if (!valid) {
        plan.skip_outcome = Outcome::kSkippedInvalid;
        plan.reason = valid.error().ToString();
        return plan;
    }
    plan.kind = Plan::Kind::kSave;
    plan.message = std::move(env.message);
    return plan;
}

// Logs and counts the final outcome of a record (after its commit succeeded).
void Consumer::Finish(const Plan& plan) {
    const Record& r = *plan.record;
    switch (plan.kind) {
        case Plan::Kind::kSave:
            log::Debug(kLogger, "Processed message",
                       {{"topic", r.topic}, {"partition", r.partition}, {"offset", r.offset}, {"type", plan.type}});
            Count(plan.type, plan.version, Outcome::kProcessed);
            return;
        case Plan::Kind::kDeadLetter:
            log::Error(kLogger, "Dead-lettered message",
                       {{"topic", r.topic},
                        {"partition", r.partition},
                        {"offset", r.offset},
                        {"key", r.key},
                        {"reason", plan.reason}});
            Count(plan.type, plan.version, Outcome::kDeadLettered);
            return;
        case Plan::Kind::kSkip:
            break;
    }
    std::initializer_list<log::Field> fields = {
        {"topic", r.topic}, {"partition", r.partition}, {"offset", r.offset}, {"details", plan.reason}};
    switch (plan.skip_outcome) {
        case Outcome::kSkippedIgnored:
            log::Debug(kLogger, "Skipping ignored message type", fields);
            break;
        case Outcome::kSkippedUnknownType:
            log::Error(kLogger, "Skipping unknown message type", fields);
            break;
        case Outcome::kSkippedUnknownVersion:
            log::Error(kLogger, "Skipping unknown message version", fields);
            break;
        default:
            log::Warning(kLogger, "Skipping invalid message", fields);
            break;
    }
    Count(plan.type, plan.version, plan.skip_outcome);
}

namespace {

Result<void> CallSave(MessageHandler& handler, const Value& message) {
    try {
        return handler.Save(message);
    } catch (const std::exception& e) {
        return MakeError(ErrorCode::kInternal, std::string("Save threw: ") + e.what());
    } catch (...) {
        return MakeError(ErrorCode::kInternal, "Save threw a non-standard exception");
    }
}

}  // namespace

Result<void> Consumer::SaveOnce(const Plan& plan, bool defer_commit, std::string* why, bool* save_failed) {
    *save_failed = false;
    auto body = [&]() -> Result<void> {
        auto saved = CallSave(*plan.handler, plan.message);
        if (!saved) {
            *save_failed = true;
            *why = saved.error().ToString();
            return saved;
        }
        if (!defer_commit) GALE_RETURN_IF_ERROR(backend_.Commit(*plan.record));
        return {};
    };
    return Transact(body);
}

Result<void> Consumer::DeadLetter(const Record& record, const std::string& reason, bool defer_commit) {
    if (options_.dead_letters == nullptr) {
        return MakeError(ErrorCode::kUnavailable, "record " + record.topic + "/" + record.partition + "/" +
                                                      record.offset +
                                                      " needs a dead-letter sink and none is "
                                                      "configured (" +
                                                      reason + ")");
    }
    auto body = [&]() -> Result<void> {
        GALE_RETURN_IF_ERROR(options_.dead_letters->Put(record, reason));
        if (!defer_commit) GALE_RETURN_IF_ERROR(backend_.Commit(record));
        return {};
    };
    return Transact(body);
}

bool Consumer::StopRequested() const noexcept {
    return stop_.load() || (external_stop_ != nullptr && (*external_stop_)());
}

void Consumer::RequestStop() noexcept {
    {
        std::lock_guard lock(sleep_mu_);
        stop_.store(true);
    }
    sleep_cv_.notify_all();
}

bool Consumer::Backoff(int failed_attempts) {
    auto delay = options_.initial_backoff;
    for (int i = 1; i < failed_attempts && delay < options_.max_backoff; ++i) delay *= 2;
    delay = std::min(delay, options_.max_backoff);
    if (options_.sleep) {
        options_.sleep(delay);
        return !StopRequested();
    }
    // Interruptible by RequestStop at once, by an external stop flag within 50 ms.
    auto until = std::chrono::steady_clock::now() + delay;
    std::unique_lock lock(sleep_mu_);
    while (!StopRequested() && std::chrono::steady_clock::now() < until) {
        sleep_cv_.wait_until(lock, std::min(until, std::chrono::steady_clock::now() + std::chrono::milliseconds(50)));
    }
    return !StopRequested();
}

void Consumer::DeferCommit(Record& record) {
    auto it = deferred_commits_.find(record.partition);
    if (it == deferred_commits_.end()) {
        deferred_commits_.emplace(record.partition, std::move(record));
    } else {
        it->second = std::move(record);
    }
}

Result<bool> Consumer::HandleOne(Plan& plan, bool defer_commit) {
    const Record& record = *plan.record;
    switch (plan.kind) {
        case Plan::Kind::kSkip:
            if (!defer_commit) GALE_RETURN_IF_ERROR(backend_.Commit(record));
            Finish(plan);
            if (defer_commit) DeferCommit(*plan.record);
            return false;
        case Plan::Kind::kDeadLetter:
            GALE_RETURN_IF_ERROR(DeadLetter(record, plan.reason, defer_commit));
            Finish(plan);
            if (defer_commit) DeferCommit(*plan.record);
            return true;
        case Plan::Kind::kSave:
            break;
    }
    std::string why;
    bool rejected = false;  // a permanent error: retrying cannot help
    for (int attempt = 1;; ++attempt) {
        bool save_failed = false;
        auto r = SaveOnce(plan, defer_commit, &why, &save_failed);
        if (r) {
            Finish(plan);
            if (defer_commit) DeferCommit(*plan.record);
            return true;
        }
        if (!save_failed) return tl::unexpected(r.error());  // the transaction or the commit failed
        Count(plan.type, plan.version, Outcome::kFailedAttempts);
        if (IsPermanentSaveError(r.error().code())) {
            log::Warning(kLogger, "Message rejected by its handler; dead-lettering without retries",
                         {{"topic", record.topic},
                          {"partition", record.partition},
                          {"offset", record.offset},
                          {"key", record.key},
                          {"error", why}});
            rejected = true;
            break;
        }
        log::Warning(kLogger, "Failed to process message",
                     {{"topic", record.topic},
                      {"partition", record.partition},
                      {"offset", record.offset},
                      {"key", record.key},
                      {"attempt", attempt},
                      {"max_attempts", options_.max_attempts},
                      {"error", why}});
        if (attempt >= options_.max_attempts) break;
        if (!Backoff(attempt)) return MakeError(ErrorCode::kCancelled, "consumer stopped during a retry backoff");
    }
    Plan dead = plan;
    dead.kind = Plan::Kind::kDeadLetter;
    dead.reason = rejected ? "rejected: " + why
                           : "save_failed after " + std::to_string(options_.max_attempts) + " attempts: " + why;
    GALE_RETURN_IF_ERROR(DeadLetter(record, dead.reason, defer_commit));
    Finish(dead);
    if (defer_commit) DeferCommit(*plan.record);
    return true;
}

// All plans in one transaction. Returns false (after rolling back) when a Save failed: the caller replays the
// records one by one. Errors: the transaction itself failed.
Result<bool> Consumer::TryBatch(std::vector<Plan>& plans) {
    const Plan* failed = nullptr;
    std::string why;
    auto body = [&]() -> Result<void> {
        std::map<std::string_view, const Record*> last;  // commit only the last record of each partition
        for (const Plan& p : plans) {
            if (p.kind == Plan::Kind::kSave) {
                auto saved = CallSave(*p.handler, p.message);
                if (!saved) {
                    failed = &p;
                    why = saved.error().ToString();
                    return saved;
                }
            } else if (p.kind == Plan::Kind::kDeadLetter) {
                if (options_.dead_letters == nullptr) {
                    failed = &p;  // let the one-by-one path report it
                    return MakeError(ErrorCode::kUnavailable, "no dead-letter sink");
                }
                GALE_RETURN_IF_ERROR(options_.dead_letters->Put(*p.record, p.reason));
            }
            last[p.record->partition] = p.record;
        }
        std::vector<const Record*> commits;
        commits.reserve(last.size());
        for (const auto& [partition, record] : last) commits.push_back(record);
        return backend_.CommitAll(commits);
    };
    auto r = options_.transaction(body);
    if (r) {
        for (const Plan& p : plans) Finish(p);
        return true;
    }
    if (failed == nullptr) return tl::unexpected(r.error());
    if (failed->kind == Plan::Kind::kSave) {
        Count(failed->type, failed->version, Outcome::kFailedAttempts);
        log::Warning(kLogger, "Failed to process message in a batch; replaying the batch one record at a time",
                     {{"topic", failed->record->topic},
                      {"partition", failed->record->partition},
                      {"offset", failed->record->offset},
                      {"error", why}});
    }
    return false;
}

Result<void> Consumer::FlushDeferredCommits() {
    if (deferred_commits_.empty()) return {};
    std::vector<const Record*> commits;
    commits.reserve(deferred_commits_.size());
    for (const auto& [partition, record] : deferred_commits_) commits.push_back(&record);
    GALE_RETURN_IF_ERROR(backend_.CommitAll(commits));  // on error all stay deferred: committing again is harmless
    deferred_commits_.clear();
    return {};
}

Result<std::size_t> Consumer::RunOnce(std::chrono::milliseconds timeout) {
    auto r = RunOnceImpl(timeout);
    if (!r && r.error().code() != ErrorCode::kCancelled) {
        std::lock_guard lock(stats_mu_);
        ++backend_errors_;
    }
    return r;
}

Result<std::size_t> Consumer::RunOnceImpl(std::chrono::milliseconds timeout) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    const std::size_t target = options_.batch_size;
    const bool batched_tx = target > 1 && static_cast<bool>(options_.transaction);
    const bool defer = target > 1 && !options_.transaction;
    std::size_t handled = 0;
    GALE_RETURN_IF_ERROR(FlushDeferredCommits());
    for (;;) {
        // Only the first record may be waited for; the rest of a batch is what already arrived.
        while (pending_.size() < target) {
            auto left = std::chrono::milliseconds(0);
            if (pending_.empty()) {
                left = std::max(left, std::chrono::duration_cast<std::chrono::milliseconds>(
                                          deadline - std::chrono::steady_clock::now()));
            }
            GALE_ASSIGN_OR_RETURN(auto polled, backend_.Poll(left));
            if (!polled) break;
            pending_.push_back(std::move(*polled));
        }
        Touch();
        if (pending_.empty()) return handled;
        const std::size_t n = std::min(target, pending_.size());
        bool ended = false;  // a record was saved or dead-lettered
        bool done = false;
        if (batched_tx && n > 1) {
            std::vector<Plan> plans;
            plans.reserve(n);
            for (std::size_t i = 0; i < n; ++i) plans.push_back(Classify(pending_[i]));
            GALE_ASSIGN_OR_RETURN(done, TryBatch(plans));
            if (done) {
                for (const Plan& p : plans) ended = ended || p.kind != Plan::Kind::kSkip;
                pending_.erase(pending_.begin(), pending_.begin() + static_cast<std::ptrdiff_t>(n));
                handled += n;
                Touch();
            }
        }
        if (!done) {
            for (std::size_t i = 0; i < n; ++i) {
                Plan plan = Classify(pending_.front());
                GALE_ASSIGN_OR_RETURN(bool saved, HandleOne(plan, defer));
                pending_.pop_front();
                ++handled;
                Touch();
                ended = ended || saved;
                if (saved && target == 1) break;
            }
        }
        if (ended) {
            GALE_RETURN_IF_ERROR(FlushDeferredCommits());
            return handled;
        }
    }
}

void Consumer::RunLoop(const std::function<bool()>& stop, std::chrono::milliseconds idle_timeout) {
    external_stop_ = &stop;
    int errors = 0;
    while (!StopRequested()) {
        auto r = RunOnce(idle_timeout);
        if (r) {
            errors = 0;
            continue;
        }
        if (r.error().code() == ErrorCode::kCancelled && StopRequested()) break;
        ++errors;
        log::Error(kLogger, "Consumer iteration failed; retrying",
                   {{"topic", topic_}, {"error", r.error().ToString()}, {"consecutive_errors", errors}});
        if (!Backoff(errors)) break;
    }
    external_stop_ = nullptr;
}

void Consumer::Run(std::stop_token stop, std::chrono::milliseconds idle_timeout) {
    std::stop_callback cb(stop, [this] { RequestStop(); });
    RunLoop([&stop] { return stop.stop_requested(); }, idle_timeout);
}

void Consumer::Run(const std::atomic<bool>& stop, std::chrono::milliseconds idle_timeout) {
    RunLoop([&stop] { return stop.load(); }, idle_timeout);
}

// --- MultiConsumer ---

MultiConsumer::MultiConsumer(std::vector<Consumer*> consumers) : consumers_(std::move(consumers)) {}

Result<std::size_t> MultiConsumer::RunRound(std::chrono::milliseconds per_consumer_timeout) {
    std::size_t handled = 0;
    std::optional<Error> first;
    for (Consumer* c : consumers_) {
        auto r = c->RunOnce(per_consumer_timeout);
        if (r) {
            handled += *r;
        } else if (!first) {
            first = r.error();
        }
    }
    if (first) return tl::unexpected(*first);
    return handled;
}

void MultiConsumer::RunLoop(const std::function<bool()>& stop, std::chrono::milliseconds idle_timeout) {
    if (consumers_.empty()) return;
    auto idle_each =
        std::max(std::chrono::milliseconds(1), idle_timeout / static_cast<std::int64_t>(consumers_.size()));
    bool busy = true;
    int errors = 0;
    while (!stop()) {
        auto r = RunRound(busy ? std::chrono::milliseconds(0) : idle_each);
        if (r) {
            busy = *r > 0;
            errors = 0;
            continue;
        }
        ++errors;
        busy = false;
        log::Error(kLogger, "MultiConsumer round failed; retrying",
                   {{"error", r.error().ToString()}, {"consecutive_errors", errors}});
        auto delay =
            std::min(std::chrono::milliseconds(100) * (1 << std::min(errors, 6)), std::chrono::milliseconds(5000));
        for (auto until = std::chrono::steady_clock::now() + delay;
             !stop() && std::chrono::steady_clock::now() < until;) {
            std::this_thread::sleep_for(std::chrono::milliseconds(20));
        }
    }
}

void MultiConsumer::Run(std::stop_token stop, std::chrono::milliseconds idle_timeout) {
    RunLoop([&stop] { return stop.stop_requested(); }, idle_timeout);
}

void MultiConsumer::Run(const std::atomic<bool>& stop, std::chrono::milliseconds idle_timeout) {
    RunLoop([&stop] { return stop.load(); }, idle_timeout);
}

}  // namespace gale::pipe
