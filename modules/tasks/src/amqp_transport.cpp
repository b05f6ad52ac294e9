// SPDX-License-Identifier: MIT
// The field types are py-amqp's (amqp/serialization.py _write_item): what Celery's own messages carry, so a gale
// message's header table is the same bytes as Celery's for the same values (amqp_transport_test.cpp checks the
// captured add.delay(2, 3) table).
#include "amqp_transport.hpp"

#include <algorithm>
#include <cstdint>
#include <limits>
#include <string>

namespace gale::tasks::amqp::detail {

using gale::amqp::FieldArray;
using gale::amqp::FieldTable;
using gale::amqp::FieldValue;

FieldValue ToFieldValue(const nlohmann::ordered_json& value) {
    switch (value.type()) {
        case nlohmann::json::value_t::null:
        case nlohmann::json::value_t::discarded:
            return {};
        case nlohmann::json::value_t::boolean:
            return FieldValue(value.get<bool>());
        case nlohmann::json::value_t::number_integer:
            return FieldValue(value.get<std::int64_t>());
        case nlohmann::json::value_t::number_unsigned: {
            const auto u = value.get<std::uint64_t>();
            if (u <= static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max())) {
                return FieldValue(static_cast<std::int64_t>(u));
            }
            return FieldValue(static_cast<double>(u));
        }
        case nlohmann::json::value_t::number_float:
            return FieldValue(value.get<double>());
        case nlohmann::json::value_t::string:
            return FieldValue(value.get<std::string>());
        case nlohmann::json::value_t::binary: {
            const auto& b = value.get_binary();
            return FieldValue(gale::amqp::Bytes{std::string(b.begin(), b.end())});
        }
        case nlohmann::json::value_t::array: {
            FieldArray a;
            a.reserve(value.size());
            for (const auto& v : value) a.push_back(ToFieldValue(v));
            return FieldValue(std::move(a));
        }
        case nlohmann::json::value_t::object:
            return FieldValue(ToFieldTable(value));
    }
    return {};
}

FieldTable ToFieldTable(const nlohmann::ordered_json& object) {
    FieldTable t;
    if (!object.is_object()) return t;
    t.reserve(object.size());
    for (const auto& [key, v] : object.items()) t.emplace_back(key, ToFieldValue(v));
    return t;
}

nlohmann::ordered_json FromFieldValue(const FieldValue& value) {
    return std::visit(
        [](const auto& x) -> nlohmann::ordered_json {
            using T = std::decay_t<decltype(x)>;
            if constexpr (std::is_same_v<T, std::monostate>) {
                return nullptr;
            } else if constexpr (std::is_same_v<T, bool> || std::is_same_v<T, std::int64_t> ||
                                 std::is_same_v<T, double> || std::is_same_v<T, std::string>) {
                return x;
            } else if constexpr (std::is_same_v<T, gale::amqp::Bytes>) {
                return x.data;
            } else if constexpr (std::is_same_v<T, gale::amqp::Timestamp>) {
                return x.seconds;
            } else if constexpr (std::is_same_v<T, FieldArray>) {
                nlohmann::ordered_json a = nlohmann::ordered_json::array();
                for (const auto& v : x) a.push_back(FromFieldValue(v));
                return a;
            } else {
                return FromFieldTable(x);
            }
        },
        value.value());
}

nlohmann::ordered_json FromFieldTable(const FieldTable& table) {
    nlohmann::ordered_json o = nlohmann::ordered_json::object();
    for (const auto& [key, v] : table) {
        if (!o.contains(key)) o[key] = FromFieldValue(v);  // the first of duplicate keys, as Find() reads them
    }
    return o;
}

gale::amqp::Properties ToProperties(const TransportMessage& message) {
    gale::amqp::Properties p;
    p.content_type = message.content_type;
    p.content_encoding = message.content_encoding;
    p.headers = ToFieldTable(message.headers);
    p.delivery_mode = static_cast<std::uint8_t>(message.delivery_mode == 1 ? 1 : 2);
    p.priority = static_cast<std::uint8_t>(std::clamp(message.priority, 0, 255));
    p.correlation_id = message.correlation_id;
    p.reply_to = message.reply_to;
    if (message.expiration) p.expiration = std::to_string(std::max<std::int64_t>(0, message.expiration->count()));
    return p;
}

TransportMessage FromAmqp(const gale::amqp::Message& message) {
    const gale::amqp::Properties& p = message.properties;
    TransportMessage m;
    m.body = message.body;
    m.content_type = p.content_type;
    m.content_encoding = p.content_encoding;
    m.headers = FromFieldTable(p.headers);
    m.correlation_id = p.correlation_id;
    m.reply_to = p.reply_to;
    m.priority = p.priority.value_or(0);
    m.delivery_mode = p.delivery_mode.value_or(2);
    if (!p.expiration.empty()) {
        try {
            m.expiration = std::chrono::milliseconds(std::stoll(p.expiration));
        } catch (const std::exception&) {
            // not a number: RabbitMQ itself refuses such a publish, so this cannot come from it; ignored
        }
    }
    return m;
}

}  // namespace gale::tasks::amqp::detail
