// SPDX-License-Identifier: MIT
/// @file gale/pipe/consumer.hpp
/// @brief Consumer: reads a topic through a ConsumerBackend, dispatches each message to the handler registered for
///        its type and version, saves it with retries, dead-letters what cannot be processed; MultiConsumer.
///
/// What happens to each record (django-logpipe's error matrix, §3.4 of the reference, with its poison pill fixed):
///
/// | record                                   | log     | outcome counted          | Save | offset                |
/// |------------------------------------------|---------|--------------------------|------|-----------------------|
/// | unknown format prefix (`xml:`, `pickle:`)| error   | dead_lettered            | no   | committed after DLQ   |
/// | body does not parse (bad JSON/msgpack)   | error   | dead_lettered            | no   | committed after DLQ   |
/// | parsed, no type/version/message          | error   | dead_lettered            | no   | committed after DLQ   |
/// | type in the ignore set                   | debug   | skipped_ignored          | no   | committed             |
/// | type not registered                      | error   | skipped_unknown_type     | no   | committed             |
/// | version not registered for the type      | error   | skipped_unknown_version  | no   | committed             |
/// | Validate() fails (or throws)             | warning | skipped_invalid          | no   | committed             |
/// | Save() succeeds                          | debug   | processed                | yes  | committed with Save   |
/// | Save() fails or throws, then succeeds    | warning | failed_attempts, processed | yes | committed with Save  |
/// | Save() fails max_attempts times          | error   | failed_attempts, dead_lettered | yes | committed after DLQ |
/// | Save() fails with a permanent error      | warning | failed_attempts, dead_lettered | yes | committed after DLQ |
///
/// A permanent error (IsPermanentSaveError: kInvalidArgument, kNotFound, kAlreadyExists — e.g. a failing lookup, a
/// constraint the message violates) is dead-lettered at once ("rejected: …"): retrying cannot help. Every other code
/// (kUnavailable, kTimeout, kIo, kInternal, exceptions) is treated as transient and retried with backoff.
///
/// django-logpipe crashes on the first three (forever: the offset is never committed). gale dead-letters them: the
/// offset moves on exactly as for a skipped message, and the bytes are kept for an operator. The invalid envelope is
/// dead-lettered rather than only skipped for the same reason (it is a producer bug worth inspecting); a Python
/// consumer in a mixed fleet skips it, so the two agree on offsets and differ only in the DLQ copy.
///
/// Without a DeadLetterSink a record that would be dead-lettered is never committed: RunOnce returns an error and
/// the consumer stays at that record (like django-logpipe), and last_progress() stops moving.
///
/// Ownership: the Consumer owns its handlers; the backend and the dead-letter sink are borrowed and must outlive it.
/// Thread-safety: RunOnce/Run/Register/IgnoreType from one thread; Stats(), last_progress() and RequestStop() from
/// any thread.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <stop_token>
#include <string>
#include <string_view>
#include <tuple>
#include <utility>
#include <vector>

#include <gale/base/error.hpp>
#include <gale/pipe/backend.hpp>
#include <gale/pipe/serializer.hpp>

namespace gale::pipe {

/// Where records that cannot be processed go. Put must be durable when it returns success; the consumer commits
/// the record's offset only after that.
class DeadLetterSink {
public:
    virtual ~DeadLetterSink() = default;
    [[nodiscard]] virtual Result<void> Put(const Record& record, std::string_view reason) = 0;
};

enum class Outcome {
    kProcessed,
    kSkippedIgnored,
    kSkippedUnknownType,
    kSkippedUnknownVersion,
    kSkippedInvalid,
    kDeadLettered,
    kFailedAttempts,  ///< one per failed Save attempt (a record retried 5 times counts 5)
};

/// True for the Save error codes that mean "this message can never be saved" (see the table above).
bool IsPermanentSaveError(ErrorCode code) noexcept;

/// "processed", "skipped_ignored", … (metric label values).
std::string_view ToString(Outcome outcome) noexcept;

/// Runs `body` in one transaction of the service's database: commits if body succeeds, rolls back and returns
/// body's error otherwise.
using TransactionFn = std::function<Result<void>(const std::function<Result<void>()>& body)>;

/// | Name | Description | Default |
/// |---|---|---|
/// | max_attempts | Save attempts before a record is dead-lettered | 5 |
/// | initial_backoff | wait after the first failed attempt; doubles each time | 100 ms |
/// | max_backoff | cap of the wait | 5 s |
/// | batch_size | records saved per transaction (see below) | 1 |
/// | transaction | wraps Save + Commit (and DLQ Put + Commit) in one database transaction | none |
/// | dead_letters | where poison and unsaveable records go (borrowed) | none: stop at such a record |
/// | sleep | how backoff waits (tests inject a fake) | interruptible sleep |
///
/// batch_size > 1 with a transaction: up to batch_size records are polled (without waiting after the first), saved
/// and committed in ONE transaction (the offset of the last record per partition). If any Save fails the whole
/// transaction rolls back and the batch is replayed one record per transaction with the usual retries, so effects
/// in that database stay exactly-once. Without a transaction, batch_size only defers the backend commit to the end
/// of the batch (at-least-once: a crash repeats up to batch_size records).
struct ConsumerOptions {
    int max_attempts = 5;
    std::chrono::milliseconds initial_backoff{100};
    std::chrono::milliseconds max_backoff{5000};
    std::size_t batch_size = 1;
    TransactionFn transaction{};
    DeadLetterSink* dead_letters = nullptr;
    std::function<void(std::chrono::milliseconds)> sleep{};
};

/// A snapshot of the counters. `version` is the registered version ("1") when a handler matched, else the received
/// JSON value ("\"1\"", "2"); undecodable records have empty type and version. At most 256 distinct (type,
/// version) keys are kept; further ones are counted under type "<other>" so labels stay bounded.
struct ConsumerStats {
    struct Counter {
        std::string type{};
        std::string version{};
        Outcome outcome = Outcome::kProcessed;
        std::uint64_t count = 0;
    };
    std::string topic{};
    std::vector<Counter> counters{};
    std::uint64_t backend_errors = 0;  ///< RunOnce calls that failed (backend, transaction, missing sink)

    /// Sum of one outcome over every type and version (test and log convenience).
    std::uint64_t Total(Outcome outcome) const noexcept;
};

class Consumer {
public:
    Consumer(std::string topic, ConsumerBackend& backend, ConsumerOptions options = {});
    ~Consumer();
    Consumer(const Consumer&) = delete;
    Consumer& operator=(const Consumer&) = delete;

    /// Adds a handler for its (type, version); a second one for the same pair replaces the first.
    void Register(MessageHandlerPtr handler);
    /// Messages of this type are skipped silently (debug log), even if a handler is registered (checked first).
    void IgnoreType(std::string type);

    /// Processes records until one was saved or dead-lettered (at most `batch_size` with batches), or until no record
    /// arrived for `timeout` in total; skipped records do not end the call (django-logpipe's run(iter_limit=1)).
    /// Returns the number of records handled (saved + skipped + dead-lettered), 0 when idle. Errors: backend
    /// failures, a failed transaction or commit, a record that needs a dead-letter sink and has none, kCancelled when
    /// RequestStop interrupted a backoff. After an error the unfinished records are kept and tried again first by
    /// the next call: nothing is lost and nothing committed twice.
    [[nodiscard]] Result<std::size_t> RunOnce(std::chrono::milliseconds timeout);

    /// Calls RunOnce(idle_timeout) until `stop` is requested (the stop latency is at most idle_timeout plus one
    /// record). Errors are logged, counted in backend_errors and retried after a backoff (initial_backoff doubling
    /// up to max_backoff); last_progress() does not move meanwhile, which is what a liveness check watches.
    void Run(std::stop_token stop, std::chrono::milliseconds idle_timeout = std::chrono::milliseconds(500));
    void Run(const std::atomic<bool>& stop, std::chrono::milliseconds idle_timeout = std::chrono::milliseconds(500));
    /// Interrupts a backoff wait and ends Run; thread-safe.
    void RequestStop() noexcept;

    /// The last time the loop turned: a poll returned (with a record or idle) or a record was finished. A consumer
    /// stuck in Save, in a failing backend or in an endless retry shows an old value.
    std::chrono::steady_clock::time_point last_progress() const noexcept;
    ConsumerStats Stats() const;
    const std::string& topic() const noexcept { return topic_; }

private:
    struct Plan;  // what to do with one record, decided before any side effect
    Plan Classify(Record& record);
    [[nodiscard]] Result<std::size_t> RunOnceImpl(std::chrono::milliseconds timeout);
    [[nodiscard]] Result<bool> HandleOne(Plan& plan, bool defer_commit);
    [[nodiscard]] Result<bool> TryBatch(std::vector<Plan>& plans);
    [[nodiscard]] Result<void> SaveOnce(const Plan& plan, bool defer_commit, std::string* why, bool* save_failed);
    [[nodiscard]] Result<void> DeadLetter(const Record& record, const std::string& reason, bool defer_commit);
    void DeferCommit(Record& record);  // moves the finished record into deferred_commits_
    void Finish(const Plan& plan);
    /// body() inside options_.transaction, or directly without one (no std::function on that path: it would
    /// allocate per record).
    template <typename Body>
    [[nodiscard]] Result<void> Transact(Body&& body) {
        if (options_.transaction) return options_.transaction(std::function<Result<void>()>(std::forward<Body>(body)));
        return body();
    }
    [[nodiscard]] Result<void> FlushDeferredCommits();
    void Count(std::string_view type, std::string_view version, Outcome outcome, std::uint64_t n = 1);
    void Touch() noexcept;
    bool Backoff(int failed_attempts);
    bool StopRequested() const noexcept;
    void RunLoop(const std::function<bool()>& stop, std::chrono::milliseconds idle_timeout);

    std::string topic_;
    ConsumerBackend& backend_;
    ConsumerOptions options_;
    std::map<std::string, std::vector<MessageHandlerPtr>, std::less<>> handlers_;
    std::set<std::string, std::less<>> ignored_;
    std::deque<Record> pending_;                      ///< polled, not yet finished
    std::map<std::string, Record> deferred_commits_;  ///< per partition, batch without transaction

    mutable std::mutex stats_mu_;
    // Counter keys, looked up by string_view (no allocation per record).
    struct CounterKeyView {
        std::string_view type;
        std::string_view version;
        Outcome outcome;
    };
    struct CounterKey {
        std::string type;
        std::string version;
        Outcome outcome;
        operator CounterKeyView() const noexcept { return {type, version, outcome}; }
    };
    struct CounterLess {
        using is_transparent = void;
        bool operator()(const CounterKeyView& a, const CounterKeyView& b) const noexcept;
    };
    std::map<CounterKey, std::uint64_t, CounterLess> counters_;
    std::uint64_t backend_errors_ = 0;
    std::atomic<std::int64_t> last_progress_ns_{0};
    std::atomic<bool> stop_{false};
    const std::function<bool()>* external_stop_ = nullptr;  ///< set while Run runs
    std::mutex sleep_mu_;
    std::condition_variable sleep_cv_;
};

/// Round-robins RunOnce over several consumers in one thread (django-logpipe's MultiConsumer), without the N ×
/// timeout idle rounds: after a round where nothing arrived, each consumer waits idle_timeout / N.
/// The consumers are borrowed. Thread-safety: one thread.
class MultiConsumer {
public:
    explicit MultiConsumer(std::vector<Consumer*> consumers);
    /// One round: RunOnce on each consumer. Returns records handled in the round. Errors: the first consumer error
    /// (the other consumers of the round still ran).
    [[nodiscard]] Result<std::size_t> RunRound(std::chrono::milliseconds per_consumer_timeout);
    /// Rounds until stop; errors are logged and retried as in Consumer::Run.
    void Run(std::stop_token stop, std::chrono::milliseconds idle_timeout = std::chrono::milliseconds(500));
    void Run(const std::atomic<bool>& stop, std::chrono::milliseconds idle_timeout = std::chrono::milliseconds(500));

private:
    void RunLoop(const std::function<bool()>& stop, std::chrono::milliseconds idle_timeout);
    std::vector<Consumer*> consumers_;
};

}  // namespace gale::pipe
