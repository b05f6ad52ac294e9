// SPDX-License-Identifier: MIT
#include "redis_fanout.hpp"

#include <fmt/format.h>

#include <gale/tasks/message.hpp>

#include "kombu_envelope.hpp"
#include "py_json.hpp"

namespace gale::tasks::redis::detail {

std::string FanoutChannel(int db, std::string_view exchange, std::string_view routing_key,
                          const FanoutOptions& options) {
    std::string channel = options.prefix ? fmt::format("/{}.", db) : std::string();
    channel += exchange;
    if (options.patterns && !routing_key.empty()) {
        channel += '/';
        channel += routing_key;
    }
    return channel;
}

std::string PresenceEnvelope(std::string_view body, const nlohmann::ordered_json& headers, std::string_view exchange,
                             std::string_view routing_key, int delivery_mode) {
    nlohmann::ordered_json properties = nlohmann::ordered_json::object();
    properties["delivery_mode"] = delivery_mode;
    properties["delivery_info"] = {{"exchange", exchange}, {"routing_key", routing_key}};
    properties["priority"] = 0;
    properties["body_encoding"] = "base64";
    properties["delivery_tag"] = NewTaskId();  // kombu's _next_delivery_tag: a uuid4
    nlohmann::ordered_json envelope = nlohmann::ordered_json::object();
    envelope["body"] = Base64Encode(body);
    envelope["content-encoding"] = "utf-8";
    envelope["content-type"] = "application/json";
    envelope["headers"] = headers.is_object() ? headers : nlohmann::ordered_json::object();
    envelope["properties"] = std::move(properties);
    return tasks::detail::PythonJson(envelope);
}

}  // namespace gale::tasks::redis::detail
