// SPDX-License-Identifier: MIT
#include "roles/worker.hpp"

#include <algorithm>
#include <thread>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <gale/log/log.hpp>
#include <gale/tasks/settings.hpp>
#include <gale/tasks/worker.hpp>
#include <gale/tasks/worker_metrics.hpp>
#include <gale/tasks/worker_presence.hpp>

namespace gale::app {
namespace {

constexpr const char* kLogger = "gale.worker";

class WorkerRole final : public Role {
public:
    explicit WorkerRole(WorkerRoleOptions options) : options_(std::move(options)) {}

    std::string_view name() const noexcept override { return "worker"; }

    Result<void> Declare(RoleContext& ctx) override {
        App::State& state = ctx.state;
        if (state.tasks.empty()) {
            return MakeError(ErrorCode::kInvalidArgument,
                             "no tasks are registered: declare them with App::Task before running the worker");
        }
        GALE_ASSIGN_OR_RETURN(tasks::TaskClient * client, EnsureTasks(state));
        client_ = client;
        state_ = &state;
        std::vector<std::string> queues = options_.queues;
        if (queues.empty()) queues = WorkerQueues(state, "", client->options().default_queue);
        const std::size_t concurrency =
            options_.concurrency != 0 ? options_.concurrency : std::max(1U, std::thread::hardware_concurrency());
        if (ctx.registry != nullptr) metrics_ = std::make_unique<tasks::WorkerMetrics>(*ctx.registry);
        // One node name for the worker's results and logs and for its companions' events and ping answers.
        if (options_.nodename.empty()) options_.nodename = tasks::DefaultNodeName();
        worker_ =
            std::make_unique<tasks::Worker>(client->broker(), state.tasks, client->backend(), *client,
                                            tasks::WorkerOptions{.queues = queues,
                                                                 .concurrency = concurrency,
                                                                 .prefetch_multiplier = options_.prefetch_multiplier,
                                                                 .hostname = options_.nodename,
                                                                 .max_deliveries = options_.max_deliveries,
                                                                 .metrics = metrics_.get()});
        describe_ = client->broker().Describe();
        queues_ = queues;
        concurrency_ = concurrency;

        tasks::Worker* w = worker_.get();
        const std::string where = describe_;
        GALE_RETURN_IF_ERROR(state.checks.Add("tasks-broker",
                                              [w, where] {
                                                  auto s = w->Stats();
                                                  if (s.fetching)
                                                      return health::CheckResult::Ok("consuming from " + where);
                                                  return health::CheckResult::Error(
                                                      fmt::format("not consuming from {}{}{}", where,
                                                                  s.last_error.empty() ? "" : ": ", s.last_error));
                                              },
                                              {.tags = health::kStartup | health::kReadiness}));
        const auto limit = options_.max_outage;
        GALE_RETURN_IF_ERROR(state.checks.Add("tasks-outage",
                                              [w, limit] {
                                                  auto s = w->Stats();
                                                  if (s.outage <= limit) return health::CheckResult::Ok();
                                                  return health::CheckResult::Error(fmt::format(
                                                      "no broker connection for {} s (limit {} s): {}",
                                                      s.outage.count() / 1000, limit.count() / 1000, s.last_error));
                                              },
                                              {.tags = health::kLiveness}));
        GALE_RETURN_IF_ERROR(state.checks.Add(
            "tasks-stuck",
            [w] {
                auto s = w->Stats();
                if (!s.stuck) return health::CheckResult::Ok();
                return health::CheckResult::Error(
                    fmt::format("{} task thread(s) still running past their hard time limit", s.abandoned_threads));
            },
            {.tags = health::kLiveness}));
        return {};
    }

    Result<void> Start() override {
        GALE_RETURN_IF_ERROR(worker_->Start());
        // Celery's remote control and events where the broker carries them (RabbitMQ, Redis), under the worker's
        // node name; an error here is the broker's settings' and was already reported by the broker itself, so the
        // worker runs on without them.
        tasks::Worker* w = worker_.get();
        auto companions = tasks::MakeWorkerCompanions(
            state_->task_settings, state_->task_transport,
            {.nodename = options_.nodename,
             .active = [w] { return static_cast<std::uint64_t>(w->Stats().in_flight); },
             .processed =
                 [w] {
                     auto s = w->Stats();
                     return s.outcomes[static_cast<std::size_t>(tasks::TaskOutcome::kSucceeded)] +
                            s.outcomes[static_cast<std::size_t>(tasks::TaskOutcome::kFailed)];
                 }});
        if (companions) {
            companions_ = std::move(*companions);
            for (auto& c : companions_) c->Start();
        } else {
            log::Warning(kLogger, "Celery's remote control and events are off",
                         {{"error", companions.error().message()}});
        }
        log::Info(kLogger, "worker started",
                  {{"broker", describe_},
                   {"node", options_.nodename},
                   {"queues", fmt::format("{}", fmt::join(queues_, ","))},
                   {"concurrency", concurrency_},
                   {"prefetch_multiplier", options_.prefetch_multiplier}});
        return {};
    }

    void StopTaking() override {
        if (worker_) worker_->StopFetching();
    }
    bool WaitIdle(std::chrono::steady_clock::time_point deadline) override {
        return worker_ ? worker_->WaitIdle(deadline) : true;
    }
    void Stop() override {
        if (!worker_) return;
        for (auto& c : companions_) c->Stop();  // worker-offline before the consumer closes
        companions_.clear();
        worker_->Stop();
        auto s = worker_->Stats();
        auto n = [&](tasks::TaskOutcome o) { return s.outcomes[static_cast<std::size_t>(o)]; };
        log::Info(kLogger, "worker stopped",
                  {{"succeeded", n(tasks::TaskOutcome::kSucceeded)},
                   {"failed", n(tasks::TaskOutcome::kFailed)},
                   {"retried", n(tasks::TaskOutcome::kRetried)},
                   {"rejected", n(tasks::TaskOutcome::kRejected)},
                   {"revoked", n(tasks::TaskOutcome::kRevoked)},
                   {"abandoned_threads", s.abandoned_threads}});
    }

    std::size_t queue_length() const noexcept override { return 0; }  // readiness follows the broker, not a queue
    std::int64_t stall_ms() const noexcept override {
        if (!worker_) return 0;
        return worker_->Stats().since_round.count();  // 0 without a consumer; a first Next that hangs counts
    }

private:
    WorkerRoleOptions options_;
    tasks::TaskClient* client_ = nullptr;
    std::unique_ptr<tasks::WorkerMetrics> metrics_;  // declared before the worker, which borrows it
    std::unique_ptr<tasks::Worker> worker_;
    std::vector<std::unique_ptr<tasks::WorkerCompanion>> companions_;  // stopped before the worker
    App::State* state_ = nullptr;
    std::string describe_;
    std::vector<std::string> queues_;
    std::size_t concurrency_ = 0;
};

}  // namespace

std::unique_ptr<Role> MakeWorkerRole(WorkerRoleOptions options) {
    return std::make_unique<WorkerRole>(std::move(options));
}

}  // namespace gale::app
