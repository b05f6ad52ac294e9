// SPDX-License-Identifier: MIT
/// @file gale/tasks/worker.hpp
/// @brief The task worker: consumes queues from a Broker, runs registered tasks on a pool of threads, stores their
///        results, sends their callbacks and retries, and settles every message exactly once.
///
/// Threads: one fetch thread owns the BrokerConsumer (Next, Ack, Reject, SetPrefetch, Cancel and Close are called
/// from it only) and N task threads run the task functions; a task thread hands its message back through a queue
/// and the fetch thread settles it. Results, callbacks, chains and retries are published by the task thread
/// (Broker::Publish and ResultBackend::Store are thread-safe), before the message is settled.
///
/// Per message, in order (each decision dead-letters, revokes or runs; nothing crashes, nothing loops):
///  1. delivered more than max_deliveries times without being settled (it killed the workers that ran it) →
///     dead letter;
///  2. not a Celery task message (DecodeTask fails) → dead letter, counted as task "<undecodable>";
///  3. a task name nobody registered → dead letter ("<unknown>"); a chord member → dead letter (not supported);
///  4. `expires` passed → REVOKED stored, acked, not run;
///  5. `eta` in the future (AMQP and Redis deliver at once) → held unsettled until due; the consumer's prefetch is
///     raised by one per held task where the broker supports it (BrokerConsumer::SetPrefetch), as Celery does;
///  6. rate limit (per task, per worker) → held until its turn;
///  7. run on a free thread; acks_late=false acknowledges when the thread starts it;
///  8. SUCCESS (result stored; link callbacks and the chain's next step sent) / RETRY (the request published again
///     with retries+1 and an eta, then the original acked) / FAILURE (Celery's failure meta and a traceback text;
///     link_error errbacks sent) — then acked (acks_late: after all of that).
/// Dead letters: published to DeadLetterQueue(queue) with the reason in `x-gale-dead-letter-reason` (and
/// `x-gale-queue`, `x-gale-delivery-count`), then the original is acked; if that publish fails, the original is
/// requeued (a broker failure, not the message's).
///
/// Time limits (a C++ thread cannot be killed): at the soft limit the task's context says cancelled() (the task
/// should return; kCancelled is stored as SoftTimeLimitExceeded); at the hard limit the run fails with
/// TimeLimitExceeded — stored, errbacks sent, message acked — a new thread takes the abandoned one's place, and
/// the abandoned thread's eventual return is ignored. While max_abandoned_threads or more abandoned threads are
/// still running, the worker reports itself stuck (Stats().stuck: the WORKER role fails liveness, so Kubernetes
/// restarts the pod).
///
/// Broker failures: a Next that fails closes the consumer (its unsettled messages return to the queue) and a new
/// one is opened with jittered exponential backoff (reconnect_initial → reconnect_max). Tasks still running on the
/// old consumer finish, but their settlement is dropped (the broker already returned their messages: they run
/// again — at least once). A consumer counts as connected once its first Next has returned, not when Consume
/// succeeds (the Redis broker connects lazily), so Stats().outage runs from the last working consumer's loss
/// through every failed attempt since. The fetch loop turning is the worker's heartbeat: Stats().since_round is the
/// time since the last Next that returned (a delivery or an empty wait), or since the consumer opened — a
/// connection that looks alive but delivers nothing and never returns (Celery issues 8030/8082), even on its first
/// Next, shows up there.
///
/// Shutdown: StopFetching (basic.cancel; everything delivered but not started — held for eta or rate, waiting for
/// a thread — is rejected with requeue at once), WaitIdle (running tasks finish and are settled), Stop (the
/// consumer closes, so whatever is still unsettled returns to the queue; threads still running are abandoned).
///
/// | Option | Description | Default |
/// |---|---|---|
/// | queues | queues to consume | {"celery"} |
/// | concurrency | task threads | 1 |
/// | prefetch_multiplier | prefetch = multiplier × concurrency (Celery's worker_prefetch_multiplier) | 4 |
/// | max_deliveries | dead-letter a message delivered more often than this (0: never) | 5 |
/// | poll | the longest wait of one fetch-loop turn | 100 ms |
/// | reconnect_initial, reconnect_max | backoff between consumers after a failure | 500 ms, 30 s |
/// | max_abandoned_threads | stuck when this many abandoned threads are still running (0: = concurrency) | 0 |
/// | queue_length_interval | how often queue lengths are read for the metric | 5 s |
///
/// Ownership: the broker, registry, backend and client must outlive the Worker (an abandoned thread holds only the
/// worker's own state and its task's definition). Thread-safety: Start, StopFetching, WaitIdle and Stop from one
/// thread; Stats from any.
#pragma once

#include <array>
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include <gale/base/error.hpp>
#include <gale/tasks/broker.hpp>
#include <gale/tasks/client.hpp>
#include <gale/tasks/result_backend.hpp>
#include <gale/tasks/task.hpp>
#include <gale/tasks/worker_metrics.hpp>

namespace gale::tasks {

struct WorkerOptions {
    std::vector<std::string> queues = {"celery"};
    std::size_t concurrency = 1;
    std::size_t prefetch_multiplier = 4;
    std::string hostname{};  ///< the node name in results and logs; empty: NodeName()
    std::uint32_t max_deliveries = 5;
    std::chrono::milliseconds poll{100};
    std::chrono::milliseconds reconnect_initial{500};
    std::chrono::milliseconds reconnect_max{30000};
    std::size_t max_abandoned_threads = 0;
    std::chrono::milliseconds queue_length_interval{5000};
    WorkerMetrics* metrics = nullptr;  ///< borrowed; null: no metrics
};

struct WorkerStats {
    bool started = false;
    bool connected = false;                    ///< a consumer is open and its first Next returned
    bool ever_connected = false;               ///< connected at least once
    bool fetching = false;                     ///< connected and not stopped
    bool stuck = false;                        ///< abandoned_threads >= max_abandoned_threads
    std::chrono::milliseconds since_round{0};  ///< since the last Next returned or the consumer opened (0: none)
    std::chrono::milliseconds outage{0};       ///< since the last connected consumer was lost, or Start (0 connected)
    std::size_t in_flight = 0;
    std::size_t prefetched = 0;  ///< delivered, not running yet
    std::size_t abandoned_threads = 0;
    std::size_t prefetch = 0;                             ///< the consumer's prefetch
    std::array<std::uint64_t, kTaskOutcomes> outcomes{};  ///< indexed by TaskOutcome
    std::uint64_t reconnects = 0;
    std::string last_error{};
};

class Worker {
public:
    Worker(Broker& broker, const TaskRegistry& registry, ResultBackend* backend, TaskClient& client,
           WorkerOptions options = {});
    ~Worker();
    Worker(const Worker&) = delete;
    Worker& operator=(const Worker&) = delete;

    /// Starts the fetch thread and the task threads and returns; the consumer is opened in the background (see
    /// Stats().connected). Errors (kInvalidArgument): no queue or an empty queue name, concurrency or
    /// prefetch_multiplier 0, no tasks registered; called twice.
    [[nodiscard]] Result<void> Start();
    /// Stops taking work (see the file comment). Idempotent.
    void StopFetching();
    /// Waits until no task runs and every finished one is settled, or `deadline`. True when idle.
    bool WaitIdle(std::chrono::steady_clock::time_point deadline);
    /// Stops everything (see the file comment). Idempotent; the destructor calls it.
    void Stop();
    [[nodiscard]] WorkerStats Stats() const;

    struct Core;  ///< shared with the threads (private; defined in src/)

private:
    std::shared_ptr<Core> core_;
};

/// Celery's failure document and traceback text for an error a task returned.
struct FailureInfo {
    std::string exc_type;
    std::string exc_module;
    std::string message;
};
/// The Python exception an ErrorCode is stored as (see task.hpp).
[[nodiscard]] FailureInfo FailureOf(const Error& error);

}  // namespace gale::tasks
