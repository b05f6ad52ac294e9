// SPDX-License-Identifier: MIT
#include <fmt/format.h>

#include <gale/amqp/topology.hpp>
#include <gale/base/strings.hpp>

namespace gale::amqp {

std::string_view ToString(ExchangeType type) noexcept {
    switch (type) {
        case ExchangeType::kTopic:
            return "topic";
        case ExchangeType::kDirect:
            return "direct";
        case ExchangeType::kFanout:
            return "fanout";
        case ExchangeType::kHeaders:
            return "headers";
    }
    return "topic";
}

Result<ExchangeType> ParseExchangeType(std::string_view text) {
    for (auto t : {ExchangeType::kTopic, ExchangeType::kDirect, ExchangeType::kFanout, ExchangeType::kHeaders}) {
        if (EqualsIgnoreCase(text, ToString(t))) return t;
    }
    return MakeError(ErrorCode::kInvalidArgument,
                     fmt::format("'{}' is not an exchange type (topic, direct, fanout, headers)", text));
}

Result<void> Validate(const QueueSpec& queue) {
    constexpr std::size_t kShortStr = 255;
    if (queue.name.empty()) return MakeError(ErrorCode::kInvalidArgument, "an AMQP queue needs a name");
    const std::string q = fmt::format("queue '{}'", queue.name);
    if (queue.name.size() > kShortStr) {
        return MakeError(ErrorCode::kInvalidArgument, fmt::format("{}: the name is over 255 bytes", q));
    }
    if (queue.exchange.name.size() > kShortStr) {
        return MakeError(ErrorCode::kInvalidArgument, fmt::format("{}: the exchange name is over 255 bytes", q));
    }
    for (const auto& key : queue.routing_keys) {
        if (key.size() > kShortStr) {
            return MakeError(ErrorCode::kInvalidArgument, fmt::format("{}: a routing key is over 255 bytes", q));
        }
    }
    const auto type = queue.exchange.type;
    if (!queue.exchange.name.empty() && !queue.routing_keys.empty() &&
        (type == ExchangeType::kFanout || type == ExchangeType::kHeaders)) {
        return MakeError(ErrorCode::kInvalidArgument,
                         fmt::format("{}: routing keys are ignored by a {} exchange ('{}'); leave them out, or use "
                                     "a topic or direct exchange",
                                     q, ToString(type), queue.exchange.name));
    }
    if (queue.exchange.name.empty() && !queue.routing_keys.empty()) {
        return MakeError(
            ErrorCode::kInvalidArgument,
            fmt::format("{}: routing keys need an exchange (the default exchange routes by queue name)", q));
    }
    return {};
}

}  // namespace gale::amqp
