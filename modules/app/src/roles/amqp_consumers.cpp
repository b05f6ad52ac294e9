// SPDX-License-Identifier: MIT
#include "roles/amqp_consumers.hpp"

#include <fmt/format.h>

#include <gale/amqp/consumer.hpp>
#include <gale/amqp/consumer_metrics.hpp>
#include <gale/amqp/settings.hpp>
#include <gale/log/log.hpp>

namespace gale::app {
namespace {

constexpr const char* kLogger = "gale.consume";

class AmqpConsumersRole final : public Role {
public:
    explicit AmqpConsumersRole(AmqpRoleOptions options) : options_(std::move(options)) {}

    std::string_view name() const noexcept override { return "amqp-consumers"; }

    Result<void> Declare(RoleContext& ctx) override {
        App::State& state = ctx.state;
        GALE_ASSIGN_OR_RETURN(auto configured, amqp::ConnectionOptionsFromSettings(state.settings));
        if (!configured && options_.host) configured = amqp::ConnectionOptions{.source = "--amqp-host"};
        if (!configured) {
            log::Warning(kLogger,
                         "AMQP consumers are off: no broker is configured (set AMQP_URL, AMQP_HOST or RABBITMQ_HOST, "
                         "or pass --amqp-host)",
                         {{"amqp_consumers", state.amqp_consumers.size()}});
            return {};
        }
        amqp::ConnectionOptions connection = std::move(*configured);
        if (options_.host) connection.host = *options_.host;
        if (options_.port) connection.port = *options_.port;
        if (options_.vhost) connection.vhost = *options_.vhost;
        if (connection.connection_name.empty()) connection.connection_name = state.name + " consume";

        std::vector<amqp::Subscription> subscriptions = state.amqp_consumers;
        if (options_.queue || options_.exchange) {
            if (subscriptions.size() != 1) {
                return MakeError(ErrorCode::kInvalidArgument,
                                 fmt::format("--queue and --exchange name the queue and exchange of the one AMQP "
                                             "consumer; this service registers {}",
                                             subscriptions.size()));
            }
            if (options_.queue) subscriptions[0].queue.name = *options_.queue;
            if (options_.exchange) subscriptions[0].queue.exchange.name = *options_.exchange;
        }
        if (ctx.registry != nullptr) metrics_ = std::make_unique<amqp::ConsumerMetrics>(*ctx.registry);
        auto consumer =
            amqp::Consumer::Create(connection, std::move(subscriptions), {.name = "amqp", .metrics = metrics_.get()});
        if (!consumer) return tl::unexpected(consumer.error());
        consumer_ = std::move(*consumer);
        describe_ = connection.Describe();

        amqp::Consumer* c = consumer_.get();
        std::string where = describe_;
        GALE_RETURN_IF_ERROR(
            state.checks.Add("amqp",
                             [c, where] {
                                 if (c->connected()) return health::CheckResult::Ok("consuming from " + where);
                                 std::string error = c->last_error();
                                 return health::CheckResult::Error(
                                     fmt::format("not consuming from {}{}{}", where, error.empty() ? "" : ": ", error));
                             },
                             {.tags = health::kReadiness}));
        auto limit = options_.max_outage;
        GALE_RETURN_IF_ERROR(state.checks.Add(
            "amqp-outage",
            [c, limit] {
                auto outage = std::chrono::duration_cast<std::chrono::milliseconds>(c->outage());
                if (outage <= limit) return health::CheckResult::Ok();
                return health::CheckResult::Error(fmt::format("no broker connection for {} s (limit {} s)",
                                                              outage.count() / 1000, limit.count() / 1000));
            },
            {.tags = health::kLiveness}));
        return {};
    }

    Result<void> Start() override {
        if (!consumer_) return {};
        consumer_->Start();
        log::Info(kLogger, "AMQP consumers started",
                  {{"broker", describe_}, {"queues", consumer_->Stats().queues.size()}});
        return {};
    }

    void StopTaking() override {
        if (consumer_) consumer_->StopConsuming();
    }
    bool WaitIdle(std::chrono::steady_clock::time_point deadline) override {
        return consumer_ ? consumer_->WaitIdle(deadline) : true;
    }
    void Stop() override {
        if (!consumer_) return;
        consumer_->Stop();
        std::uint64_t acked = 0;
        std::uint64_t dead = 0;
        for (const auto& q : consumer_->Stats().queues) {
            acked += q.acked;
            dead += q.dead_lettered;
        }
        log::Info(kLogger, "AMQP consumers stopped", {{"acked", acked}, {"dead_lettered", dead}});
    }

private:
    AmqpRoleOptions options_;
    std::unique_ptr<amqp::ConsumerMetrics> metrics_;  // declared before the consumer, which borrows it
    std::unique_ptr<amqp::Consumer> consumer_;
    std::string describe_;
};

}  // namespace

std::unique_ptr<Role> MakeAmqpConsumersRole(AmqpRoleOptions options) {
    return std::make_unique<AmqpConsumersRole>(std::move(options));
}

}  // namespace gale::app
