// SPDX-License-Identifier: MIT
/// @file gale/tasks/embedded_broker.hpp
/// @brief The embedded task queue and result backend: SQLite files, the default when no broker is configured, that
///        several worker processes on one machine can share.
///
/// The queue is one table (gale_task_queue) of messages with their queue, priority, `visible_at` and owner:
///  - Publish inserts a row visible at the message's `eta` header (now if none): nothing is delivered before its
///    eta. Publishes from several threads at once are committed together (group commit).
///  - A consumer claims rows atomically (one write transaction: the visible rows of a queue, by priority — higher
///    first, 0–255 — then by visible_at and insertion order — are given the consumer as owner and visible_at = now
///    + visibility timeout), so no two consumers, in this process or another, hold one row at a time. It claims
///    several rows per transaction (up to its free prefetch) and hands them out one by one.
///  - Ack deletes the row, Reject(requeue) makes it visible at once, Reject(no requeue) deletes it; both only if the
///    row is still this consumer's (its lease may have expired and another consumer hold it). Settlements are
///    batched: written in the transaction of the consumer's next claim, or at its next Next() call at the latest,
///    or by Close — so a crash between Ack and that write delivers the message again (at least once).
///  - While a consumer lives, its leases are renewed (every third of the visibility timeout, from Next), so a long
///    task is not delivered twice; a killed consumer's rows become visible when their lease runs out, a cleanly
///    closed consumer's at once.
///  - Each claim increments the row's delivery count (Delivery::delivery_count), which is how a message that kills
///    every worker running it is recognised (the worker dead-letters it).
///  - Dead letters are ordinary rows in the queue DeadLetterQueue(queue) ("<queue>.dead-letter"): nothing consumes
///    them unless asked; Peek lists them.
///  - Queues are consumed in turn (round-robin over the consumer's queues), as Celery consumes several queues.
///
/// Files: WAL journal, synchronous=NORMAL (a committed row survives a process crash; the last transactions may be
/// lost on power loss), a busy timeout (5 s) for the processes sharing the file. The consumers' connections do not
/// checkpoint the WAL in their commits: a thread of the broker does, every 200 of their commits (or a second after
/// the last), PASSIVE, so that it never blocks them. Consumers in this process are
/// woken by publishes at once; other processes' publishes are seen within the poll interval (PRAGMA data_version,
/// default 5 ms).
///
/// Fairness: consumers, in this process and others, take turns at the file's write lock (a small file beside it,
/// "<path>-turns", holds the turns' locks): a consumer that has just committed waits for one that was already
/// waiting, so busy consumers alternate and processes sharing a queue each get a share of it. (SQLite's own busy
/// handler sleeps and retries instead of queueing, which let one process take nearly every batch.) A turn that
/// does not come within the busy timeout is kUnavailable, as a busy file is. Publishers and the embedded result
/// backend's stores take the same turns (each group-committed transaction in one).
///
/// Thread-safety: EmbeddedBroker and EmbeddedResultBackend are safe to use from any thread. A consumer is used by
/// one thread at a time (BrokerConsumer's contract). Ownership: consumers hold the broker's state; they may
/// outlive the broker object.
///
/// | Option | Description | Default |
/// |---|---|---|
/// | visibility_timeout | an unsettled delivery of a consumer that stopped renewing it returns after this | 30 s |
/// | poll_interval | how often an idle consumer looks for other processes' commits | 5 ms |
/// | claim_batch | most rows claimed in one transaction | 256 |
/// | busy_timeout | how long a transaction waits for another process's | 5 s |
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include <gale/base/error.hpp>
#include <gale/tasks/broker.hpp>
#include <gale/tasks/result_backend.hpp>

namespace gale::tasks {

struct EmbeddedBrokerOptions {
    std::chrono::milliseconds visibility_timeout{30000};
    std::chrono::milliseconds poll_interval{5};
    std::size_t claim_batch = 256;
    std::chrono::milliseconds busy_timeout{5000};
};

class EmbeddedBroker final : public Broker {
public:
    /// Opens (creating if needed) the queue in the SQLite file at `path`. Errors (kUnavailable, kInternal) name the
    /// path; kInvalidArgument for options out of range (a visibility timeout under 100 ms, a claim batch of 0).
    [[nodiscard]] static Result<std::unique_ptr<EmbeddedBroker>> Open(const std::string& path,
                                                                      EmbeddedBrokerOptions options = {});
    ~EmbeddedBroker() override;

    // gale::tasks::Broker
    [[nodiscard]] std::string_view name() const noexcept override { return "embedded"; }
    [[nodiscard]] std::string Describe() const override;
    /// Nothing to declare: a queue exists when a row names it.
    [[nodiscard]] Result<void> Declare(const std::vector<Route>& routes) override;
    /// Errors: kUnavailable (the file is locked past the busy timeout), kInternal (SQLite).
    [[nodiscard]] Result<void> Publish(const Route& route, const TransportMessage& message) override;
    [[nodiscard]] Result<std::unique_ptr<BrokerConsumer>> Consume(const std::vector<std::string>& queues,
                                                                  std::size_t prefetch) override;
    /// Rows of `queue` no consumer holds (ready, and waiting for their eta).
    [[nodiscard]] Result<std::uint64_t> QueueLength(const std::string& queue) override;

    /// Publishes `messages` to `route` in one transaction (bulk sends, benchmarks).
    [[nodiscard]] Result<void> PublishMany(const Route& route, const std::vector<TransportMessage>& messages);
    /// Up to `limit` messages of `queue`, oldest first, without claiming them (e.g. to read dead letters); the
    /// deliveries' tags cannot be settled.
    [[nodiscard]] Result<std::vector<Delivery>> Peek(const std::string& queue, std::size_t limit = 100);
    [[nodiscard]] const std::string& path() const noexcept;

    struct State;  ///< shared with the consumers (private; defined in src/)

private:
    explicit EmbeddedBroker(std::shared_ptr<State> state) : state_(std::move(state)) {}
    std::shared_ptr<State> state_;
};

struct EmbeddedResultBackendOptions {
    std::chrono::milliseconds expires{std::chrono::hours(24)};  ///< results older than this are deleted
    std::chrono::milliseconds poll_interval{5};                 ///< Wait's look for other processes' results
    std::chrono::milliseconds busy_timeout{5000};
};

/// Results in a table (gale_task_results: task id, state, Celery's meta document as JSON, expiry) of a SQLite file,
/// by default the embedded queue's. Stores from several threads at once are committed together. Expired results
/// are deleted as stores go on and read as PENDING.
class EmbeddedResultBackend final : public ResultBackend {
public:
    [[nodiscard]] static Result<std::unique_ptr<EmbeddedResultBackend>> Open(const std::string& path,
                                                                             EmbeddedResultBackendOptions options = {});
    ~EmbeddedResultBackend() override;

    // gale::tasks::ResultBackend
    [[nodiscard]] std::string_view name() const noexcept override { return "embedded"; }
    [[nodiscard]] Result<void> Store(const TaskRequest& request, const TaskResult& result) override;
    /// One transaction for every result handed in while the previous batch was written (ResultBackend).
    void StoreAsync(const TaskRequest& request, const TaskResult& result, StoreDone done) override;
    [[nodiscard]] Result<TaskResult> Get(const std::string& task_id) override;
    [[nodiscard]] Result<TaskResult> Wait(const std::string& task_id, std::chrono::milliseconds timeout) override;

    struct State;

private:
    explicit EmbeddedResultBackend(std::shared_ptr<State> state) : state_(std::move(state)) {}
    std::shared_ptr<State> state_;
};

}  // namespace gale::tasks
