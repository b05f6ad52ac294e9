// SPDX-License-Identifier: MIT
/// @file amqp_transport.hpp (private)
/// @brief Celery's message ↔ AMQP: JSON headers as an AMQP field table with py-amqp's field types, and the basic
///        properties Celery's producer sends (gale/tasks/amqp.hpp has the table).
#pragma once

#include <nlohmann/json.hpp>

#include <gale/amqp/message.hpp>
#include <gale/tasks/broker.hpp>
#include <gale/tasks/message.hpp>

namespace gale::tasks::amqp::detail {

/// JSON → field value as py-amqp writes Python values: null V, bool t, integers I (l beyond 32 bits), floats d,
/// strings S, lists A, objects F (keys in order). An unsigned integer beyond INT64_MAX is written as d.
[[nodiscard]] gale::amqp::FieldValue ToFieldValue(const nlohmann::ordered_json& value);
/// A JSON object as a field table; anything else gives an empty table.
[[nodiscard]] gale::amqp::FieldTable ToFieldTable(const nlohmann::ordered_json& object);
/// The inverse: V null, t bool, integers, d/f/D numbers, S and x strings (x bytes as they are), T timestamps as
/// integer seconds, A lists, F objects.
[[nodiscard]] nlohmann::ordered_json FromFieldValue(const gale::amqp::FieldValue& value);
[[nodiscard]] nlohmann::ordered_json FromFieldTable(const gale::amqp::FieldTable& table);

/// The properties for `message` (see gale/tasks/amqp.hpp): content type and encoding, headers, delivery mode,
/// priority (always), correlation_id, reply_to, expiration.
[[nodiscard]] gale::amqp::Properties ToProperties(const TransportMessage& message);
/// A received message as the task queue sees it. Missing properties read as Celery's: content type and encoding
/// empty (DecodeTask refuses them), delivery mode 2, priority 0.
[[nodiscard]] TransportMessage FromAmqp(const gale::amqp::Message& message);

}  // namespace gale::tasks::amqp::detail
