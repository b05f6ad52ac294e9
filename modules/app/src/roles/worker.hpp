// SPDX-License-Identifier: MIT
/// @file roles/worker.hpp (private)
/// @brief The WORKER role: the registered tasks (App::Task), run by a gale::tasks::Worker from the broker the
///        settings name, under the runner's probes, metrics, webhooks and drain.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "runtime/role.hpp"

namespace gale::app {

/// Celery's worker options, from `worker`'s command line and the environment.
struct WorkerRoleOptions {
    std::vector<std::string> queues{};  ///< -Q; empty: the default queue and every queue a registered task names
    std::size_t concurrency = 0;        ///< -c / APP_WORKER_COUNT; 0: the number of cores
    std::size_t prefetch_multiplier = 4;
    std::uint32_t max_deliveries = 5;
    /// -n/--hostname, already made a node name (tasks::WorkerNodeName); empty: Celery's default,
    /// tasks::DefaultNodeName() ("celery@<hostname>"). The one name of the worker's results, logs, events and ping
    /// answers.
    std::string nodename{};
    /// Liveness fails after this long without a broker connection (readiness at once).
    std::chrono::milliseconds max_outage{std::chrono::minutes(5)};
};

/// Startup: passes once the worker is consuming (check "tasks-broker", which is also readiness: connected and
/// consuming). Liveness: the fetch loop turned within --watchdog-timeout while connected (stall_ms: Celery issues
/// 8030/8082, a connection that delivers nothing and never returns), not disconnected for longer than max_outage
/// (check "tasks-outage"), fewer abandoned threads than the bound (check "tasks-stuck"). Drain: stop fetching
/// (unstarted messages go back at once), running tasks finish within --graceful-timeout, then the consumer closes
/// and whatever is still unsettled returns to the queue.
std::unique_ptr<Role> MakeWorkerRole(WorkerRoleOptions options);

}  // namespace gale::app
