// SPDX-License-Identifier: MIT
/// @file gale/tasks/worker_metrics.hpp
/// @brief Prometheus metrics of the task worker; a Worker updates them as it goes (WorkerOptions::metrics).
///
/// - `gale_tasks_total{task, outcome}` (counter): received, started, succeeded, failed, retried, rejected
///   (dead-lettered), revoked (expired).
/// - `gale_task_duration_seconds{task}` (histogram): run time of the task function.
/// - `gale_tasks_in_flight` (gauge): tasks running now.
/// - `gale_tasks_prefetched` (gauge): delivered, not yet running (eta, rate limit, waiting for a thread).
/// - `gale_task_queue_length{queue}` (gauge): messages ready in each consumed queue (Broker::QueueLength, every few
///   seconds).
/// - `gale_task_broker_reconnects_total` (counter): consumers opened again after a failure.
/// - `gale_task_broker_connected` (gauge): 1 while consuming.
/// - `gale_task_threads_abandoned` (gauge): threads left running past a hard time limit.
///
/// `task` is a registered task's name; messages naming no registered task are counted as "<unknown>" and those
/// that cannot be decoded as "<undecodable>", so a sender cannot grow the label set.
///
/// Ownership: the registry must outlive this, and this every Worker given it. Thread-safety: every member may be
/// called from any thread; the handles are lock-free to update.
#pragma once

#include <array>
#include <string_view>

#include <gale/metrics/registry.hpp>

namespace gale::tasks {

enum class TaskOutcome { kReceived, kStarted, kSucceeded, kFailed, kRetried, kRejected, kRevoked };
inline constexpr std::size_t kTaskOutcomes = 7;

/// "received", "started", "succeeded", "failed", "retried", "rejected", "revoked".
[[nodiscard]] std::string_view ToString(TaskOutcome outcome) noexcept;

class WorkerMetrics {
public:
    struct TaskHandles {
        std::array<metrics::Counter*, kTaskOutcomes> outcomes{};  ///< indexed by TaskOutcome; null if unregistered
        metrics::Histogram* duration = nullptr;
    };

    /// Registers the families (one already registered under the same name is left out).
    explicit WorkerMetrics(metrics::Registry& registry);

    [[nodiscard]] TaskHandles ForTask(std::string_view task);
    [[nodiscard]] metrics::Gauge* QueueLength(std::string_view queue);
    metrics::Gauge* in_flight = nullptr;
    metrics::Gauge* prefetched = nullptr;
    metrics::Counter* reconnects = nullptr;
    metrics::Gauge* connected = nullptr;
    metrics::Gauge* abandoned = nullptr;

private:
    metrics::Family<metrics::Counter>* tasks_ = nullptr;
    metrics::Family<metrics::Histogram>* duration_ = nullptr;
    metrics::Family<metrics::Gauge>* queue_length_ = nullptr;
};

}  // namespace gale::tasks
