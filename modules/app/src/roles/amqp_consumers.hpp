// SPDX-License-Identifier: MIT
/// @file roles/amqp_consumers.hpp (private)
/// @brief The AMQP consumers of `consume`: every consumer registered with App::AmqpConsumer, on one connection to
///        the broker the settings name (gale::amqp::Consumer).
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "runtime/role.hpp"

namespace gale::app {

/// django-hurricane's `consume` options, which win over the settings.
struct AmqpRoleOptions {
    std::optional<std::string> host;      ///< --amqp-host
    std::optional<int> port;              ///< --amqp-port
    std::optional<std::string> vhost;     ///< --amqp-vhost
    std::optional<std::string> queue;     ///< --queue: the queue of the (one) registered consumer
    std::optional<std::string> exchange;  ///< --exchange: its exchange
    /// Liveness fails when the consumer has not been consuming for this long (--amqp-max-outage); readiness fails
    /// at once.
    std::chrono::milliseconds max_outage{std::chrono::minutes(5)};
};

/// Readiness: the consumer is connected and consuming every queue (check "amqp"). Liveness: it has not been
/// disconnected for longer than max_outage (check "amqp-outage"). Without a broker configured the role logs once
/// that the AMQP consumers are off and does nothing (no checks, no retries). On the drain: basic.cancel at once,
/// in-flight handlers finish and are acknowledged within the graceful timeout, the channel closes so the rest goes
/// back to the queue.
std::unique_ptr<Role> MakeAmqpConsumersRole(AmqpRoleOptions options);

}  // namespace gale::app
