// SPDX-License-Identifier: MIT
// kombu's JSON envelope on Redis (private to gale::tasks_redis): what a message is in a Redis list and in the
// unacked hash. See gale/tasks/redis.hpp for the layout.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include <gale/base/error.hpp>
#include <gale/tasks/message.hpp>

namespace gale::tasks::redis::detail {

/// kombu's separator in priority list names and binding members.
inline constexpr std::string_view kSep = "\x06\x16";

/// Standard base64 with padding (Python's base64.b64encode).
std::string Base64Encode(std::string_view data);
/// Standard base64; nullopt when it is not (length not a multiple of 4, bad characters, bad padding).
std::optional<std::string> Base64Decode(std::string_view text);

/// The envelope for `message` as kombu's Channel.prepare_message + _inplace_augment_message build it.
nlohmann::ordered_json MakeEnvelope(const TransportMessage& message, std::string_view exchange,
                                    std::string_view routing_key, std::string_view delivery_tag);

/// A message read from a list. `raw` is the parsed envelope (what kombu keeps as message._raw and stores in the
/// unacked hash), `valid` false when the bytes are not a kombu envelope (then `message.body` holds the bytes and
/// `message.content_type` is kInvalidEnvelopeType).
struct Envelope {
    bool valid = false;
    TransportMessage message{};
    std::string exchange{};
    std::string routing_key{};
    std::string delivery_tag{};
    bool redelivered = false;
    nlohmann::ordered_json raw{};
    std::string problem{};  ///< why it is not valid
};

inline constexpr std::string_view kInvalidEnvelopeType = "application/x-gale-invalid-envelope";

/// Reads an envelope. Never fails: an envelope that is not kombu's comes back with valid = false.
Envelope ReadEnvelope(std::string_view bytes);

/// kombu's _do_restore_message: headers.redelivered = true and properties.delivery_info.redelivered = true, where
/// those objects exist.
void MarkRedelivered(nlohmann::ordered_json& envelope);

}  // namespace gale::tasks::redis::detail
