// SPDX-License-Identifier: MIT
/// @file gale/amqp/message.hpp
/// @brief AMQP 0-9-1 field tables (headers, arguments), basic properties and a received message, as gale values.
///
/// Field values map to the wire as RabbitMQ and pika use it: every integer kind (b B s u I i l L) reads as
/// std::int64_t and is written as the smallest of I (32-bit) and l (64-bit) that holds it (pika's choice); f and d
/// read as double and double is written as d; S (long string) and x (byte array) read as std::string with
/// FieldValue::Kind kString and kBytes kept apart, so a value read from pika's `bytes` is written back as x; t is
/// bool; T (timestamp) is Timestamp; D (decimal) reads as double; V is std::monostate; A arrays and F tables nest.
/// An unsigned 64-bit value above INT64_MAX (kind L, which RabbitMQ never sends) reads as a double.
///
/// Value types; thread-compatible.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

namespace gale::amqp {

class FieldValue;
/// An AMQP array (kind A).
using FieldArray = std::vector<FieldValue>;
/// An AMQP table (kind F), in wire order. Keys are at most 128 bytes on the wire (AMQP's shortstr).
using FieldTable = std::vector<std::pair<std::string, FieldValue>>;

/// An AMQP timestamp (kind T): seconds since the Unix epoch.
struct Timestamp {
    std::uint64_t seconds = 0;
    friend bool operator==(const Timestamp&, const Timestamp&) = default;
};

/// Raw bytes (kind x), kept apart from a string (kind S) so that both round-trip.
struct Bytes {
    std::string data;
    friend bool operator==(const Bytes&, const Bytes&) = default;
};

/// One value of a field table or array.
class FieldValue {
public:
    using Variant =
        std::variant<std::monostate, bool, std::int64_t, double, std::string, Bytes, Timestamp, FieldArray, FieldTable>;

    FieldValue() = default;
    FieldValue(bool v) : value_(v) {}  // NOLINT(google-explicit-constructor): values read as literals
    template <typename I>
    requires(std::is_integral_v<I> && !std::is_same_v<I, bool>) FieldValue(I v)  // NOLINT(google-explicit-constructor)
        : value_(static_cast<std::int64_t>(v)) {}
    FieldValue(double v) : value_(v) {}                         // NOLINT(google-explicit-constructor)
    FieldValue(std::string v) : value_(std::move(v)) {}         // NOLINT(google-explicit-constructor)
    FieldValue(std::string_view v) : value_(std::string(v)) {}  // NOLINT(google-explicit-constructor)
    FieldValue(const char* v) : value_(std::string(v)) {}       // NOLINT(google-explicit-constructor)
    FieldValue(Bytes v) : value_(std::move(v)) {}               // NOLINT(google-explicit-constructor)
    FieldValue(Timestamp v) : value_(v) {}                      // NOLINT(google-explicit-constructor)
    FieldValue(FieldArray v) : value_(std::move(v)) {}          // NOLINT(google-explicit-constructor)
    FieldValue(FieldTable v) : value_(std::move(v)) {}          // NOLINT(google-explicit-constructor)

    [[nodiscard]] const Variant& value() const noexcept { return value_; }
    [[nodiscard]] Variant& value() noexcept { return value_; }

    /// The value if it holds a T, else nullptr: `if (auto* s = v.get_if<std::string>()) …`.
    template <typename T>
    [[nodiscard]] const T* get_if() const noexcept {
        return std::get_if<T>(&value_);
    }

    friend bool operator==(const FieldValue& a, const FieldValue& b) { return a.value_ == b.value_; }

private:
    Variant value_;
};

/// The first value under `key`, or nullptr.
[[nodiscard]] const FieldValue* Find(const FieldTable& table, std::string_view key) noexcept;

/// The first value under `key` if it is a string (S or x), else std::nullopt.
[[nodiscard]] std::optional<std::string> FindString(const FieldTable& table, std::string_view key);

/// basic.properties. Unset optional strings are empty (AMQP does not tell an empty string from an absent one on
/// the properties we expose, as pika and rabbitmq-c read them: an empty string is not sent).
struct Properties {
    std::string content_type{};
    std::string content_encoding{};
    std::string correlation_id{};
    std::string reply_to{};
    std::string expiration{};  ///< per-message TTL in milliseconds, as a decimal string
    std::string message_id{};
    std::string type{};
    std::string user_id{};
    std::string app_id{};
    std::optional<std::uint8_t> delivery_mode{};  ///< 2 = persistent; the Publisher sends 2 when unset
    std::optional<std::uint8_t> priority{};
    std::optional<std::uint64_t> timestamp{};  ///< seconds since the epoch
    FieldTable headers{};
};

/// A message as a consumer's handler sees it. Owned by the consumer for the duration of the call.
struct Message {
    std::string body;
    std::string exchange;     ///< the exchange it was published to ("" for the default exchange)
    std::string routing_key;  ///< the key it was published with
    std::string queue;        ///< the queue it was consumed from
    Properties properties;
    bool redelivered = false;  ///< the broker delivered it before (to a consumer that did not acknowledge it)
    int attempt = 1;           ///< 1 for the first call of this delivery, 2 for its first retry, …

    [[nodiscard]] const FieldTable& headers() const noexcept { return properties.headers; }
};

}  // namespace gale::amqp
