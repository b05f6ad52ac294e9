// SPDX-License-Identifier: MIT
#include <gale/tasks/worker_metrics.hpp>

namespace gale::tasks {
namespace {

constexpr std::array<std::string_view, kTaskOutcomes> kNames = {"received", "started",  "succeeded", "failed",
                                                                "retried",  "rejected", "revoked"};

template <typename T>
T* Child(metrics::Registry& registry, Result<metrics::Family<T>*> family) {
    (void)registry;
    if (!family) return nullptr;
    return &(*family)->WithLabels({});
}

}  // namespace

std::string_view ToString(TaskOutcome outcome) noexcept { return kNames[static_cast<std::size_t>(outcome)]; }

WorkerMetrics::WorkerMetrics(metrics::Registry& registry) {
    if (auto f = registry.AddCounter("gale_tasks", "Task messages by task and outcome.", {"task", "outcome"})) {
        tasks_ = *f;
    }
    if (auto f = registry.AddHistogram("gale_task_duration_seconds", "Run time of task functions.", {"task"},
                                       metrics::DefaultBuckets())) {
        duration_ = *f;
    }
    if (auto f = registry.AddGauge("gale_task_queue_length", "Messages ready in each consumed queue.", {"queue"})) {
        queue_length_ = *f;
    }
    in_flight = Child(registry, registry.AddGauge("gale_tasks_in_flight", "Tasks running now."));
    prefetched = Child(registry, registry.AddGauge("gale_tasks_prefetched",
                                                   "Tasks delivered and not running yet (eta, rate limit, queued)."));
    reconnects = Child(
        registry, registry.AddCounter("gale_task_broker_reconnects", "Broker consumers opened again after a failure."));
    connected = Child(registry, registry.AddGauge("gale_task_broker_connected", "1 while the worker is consuming."));
    abandoned = Child(registry, registry.AddGauge("gale_task_threads_abandoned",
                                                  "Task threads left running past a hard time limit."));
}

WorkerMetrics::TaskHandles WorkerMetrics::ForTask(std::string_view task) {
    TaskHandles h;
    if (tasks_ != nullptr) {
        for (std::size_t i = 0; i < kTaskOutcomes; ++i) h.outcomes[i] = &tasks_->WithLabels({task, kNames[i]});
    }
    if (duration_ != nullptr) h.duration = &duration_->WithLabels({task});
    return h;
}

metrics::Gauge* WorkerMetrics::QueueLength(std::string_view queue) {
    return queue_length_ != nullptr ? &queue_length_->WithLabels({queue}) : nullptr;
}

}  // namespace gale::tasks
