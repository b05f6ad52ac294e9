// SPDX-License-Identifier: MIT
/// @file gale/amqp/topology.hpp
/// @brief What a consumer or publisher declares on the broker: an exchange, a queue and its bindings.
///
/// Durable by default, queue and exchange alike, unlike django-hurricane (pika's defaults: both transient): a
/// transient queue and everything in it is deleted when the broker restarts, and so is a transient exchange with
/// its bindings, so the messages published while a consumer is down, and even the messages already queued, are
/// lost on a broker restart or failover. With both durable and the Publisher's persistent messages, what was
/// confirmed survives a broker restart. A queue that already exists with other properties (one a hurricane
/// consumer declared transient) makes the broker refuse the declaration (406 PRECONDITION_FAILED "inequivalent arg
/// 'durable'"); gale reports that with the queue's name, and `durable = false` matches such a queue.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include <gale/amqp/message.hpp>
#include <gale/base/error.hpp>

namespace gale::amqp {

enum class ExchangeType { kTopic, kDirect, kFanout, kHeaders };

/// "topic", "direct", "fanout", "headers".
[[nodiscard]] std::string_view ToString(ExchangeType type) noexcept;
/// The inverse of ToString (case-insensitive). kInvalidArgument otherwise, naming `text`.
[[nodiscard]] Result<ExchangeType> ParseExchangeType(std::string_view text);

struct ExchangeSpec {
    std::string name{};                        ///< empty: the default exchange (nothing is declared or bound)
    ExchangeType type = ExchangeType::kTopic;  ///< hurricane's TopicHandler
    bool durable = true;
    bool auto_delete = false;
    FieldTable arguments{};  ///< e.g. {"alternate-exchange", "…"}
};

struct QueueSpec {
    std::string name;
    ExchangeSpec exchange{};
    /// topic and direct: one binding per key; empty: one binding with the queue's name as the key (hurricane).
    /// fanout: ignored (one binding). headers: ignored; the one binding carries binding_arguments.
    std::vector<std::string> routing_keys{};
    /// Arguments of every binding; for a headers exchange the match: {{"x-match", "all"}, {"kind", "order"}}.
    FieldTable binding_arguments{};
    bool durable = true;
    bool exclusive = false;
    bool auto_delete = false;
    /// queue.declare arguments: {"x-queue-type", "quorum"}, {"x-message-ttl", 60000}, {"x-delivery-limit", 20}…
    FieldTable arguments{};
};

/// Checks names and combinations before anything reaches a broker. Errors (kInvalidArgument, naming the queue):
/// an empty queue name; a queue name, exchange name or routing key over 255 bytes (AMQP's shortstr); routing keys
/// given for a fanout or headers exchange (they would be ignored: a sign of a wrong exchange type).
[[nodiscard]] Result<void> Validate(const QueueSpec& queue);

}  // namespace gale::amqp
