// SPDX-License-Identifier: MIT
/// @file gale/pipe/serializer.hpp
/// @brief A serializer declares one message type and version: how a C++ value becomes a message, how a received
///        message is validated, looked up and saved.
///
/// Thread-safety: a serializer is used by one consumer thread at a time; Save may touch the service's database.
#pragma once

#include <concepts>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>

#include <nlohmann/json.hpp>

#include <gale/base/error.hpp>
#include <gale/pipe/wire.hpp>

namespace gale::pipe {

/// The consumer side of a serializer (type-erased so one consumer can hold many types and versions).
class MessageHandler {
public:
    virtual ~MessageHandler() = default;
    virtual const std::string& type() const noexcept = 0;
    virtual std::int64_t version() const noexcept = 0;
    /// Checks the received message (field types, constraints). An error is a validation failure: logged at warning,
    /// counted and skipped (committed), as django-logpipe does.
    [[nodiscard]] virtual Result<void> Validate(const Value& message) = 0;
    /// Applies the message (django-logpipe's lookup_instance + save). An error or exception here is retried with
    /// backoff and then dead-lettered; it never loses the message.
    [[nodiscard]] virtual Result<void> Save(const Value& message) = 0;
};

using MessageHandlerPtr = std::unique_ptr<MessageHandler>;

/// Defines `to_json`/`from_json` for a struct, for every nlohmann JSON type (including the ordered `Value`), so that
/// the message's fields are written in declaration order, as DRF and Pydantic write them:
///
///     struct UsState { std::string code; std::string name; };
///     GALE_PIPE_DEFINE_MESSAGE(UsState, code, name)   // at namespace scope, in UsState's namespace
///
/// Why not NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE: in nlohmann 3.11.2 (Debian bookworm) it defines the conversions for
/// `nlohmann::json` only, whose std::map sorts the keys; TypedSerializer accepts such types too, but their fields
/// then go on the wire in alphabetical order. (From nlohmann 3.11.3 on, that macro is generic as this one.)
#define GALE_PIPE_DEFINE_MESSAGE(Type, ...)                                                           \
    template <typename GaleBasicJsonType,                                                             \
              std::enable_if_t<::nlohmann::detail::is_basic_json<GaleBasicJsonType>::value, int> = 0> \
    void to_json(GaleBasicJsonType& nlohmann_json_j, const Type& nlohmann_json_t) {                   \
        NLOHMANN_JSON_EXPAND(NLOHMANN_JSON_PASTE(NLOHMANN_JSON_TO, __VA_ARGS__))                      \
    }                                                                                                 \
    template <typename GaleBasicJsonType,                                                             \
              std::enable_if_t<::nlohmann::detail::is_basic_json<GaleBasicJsonType>::value, int> = 0> \
    void from_json(const GaleBasicJsonType& nlohmann_json_j, Type& nlohmann_json_t) {                 \
        NLOHMANN_JSON_EXPAND(NLOHMANN_JSON_PASTE(NLOHMANN_JSON_FROM, __VA_ARGS__))                    \
    }

namespace detail {

/// "[json.exception.type_error.302] type must be string, but is number" → "type must be string, but is number".
inline std::string StripNlohmannPrefix(std::string_view what) {
    if (!what.empty() && what.front() == '[') {
        const auto end = what.find("] ");
        if (end != std::string_view::npos) what.remove_prefix(end + 2);
    }
    return std::string(what);
}

template <typename T>
concept OrderedJsonConvertible = requires(Value& j, const T& t) {
    ::nlohmann::to_json(j, t);
};

}  // namespace detail

/// Maps a C++ type T to django-logpipe messages: the serializer's MESSAGE_TYPE, VERSION and KEY_FIELD, and the
/// conversions through T's nlohmann `to_json`/`from_json` (GALE_PIPE_DEFINE_MESSAGE, or hand-written ones; with
/// conversions for `nlohmann::json` only, fields are sorted by name on the wire).
///
/// Value type, immutable after construction: thread-safe to share. T must be default-constructible (for
/// from_json and for naming the failing field).
template <typename T>
class TypedSerializer {
public:
    /// `key_field` empty: messages are sent with an empty key (django-logpipe without KEY_FIELD).
    TypedSerializer(std::string type, std::int64_t version, std::string key_field = {})
        : type_(std::move(type)), version_(version), key_field_(std::move(key_field)) {}

    [[nodiscard]] const std::string& type() const noexcept { return type_; }
    [[nodiscard]] std::int64_t version() const noexcept { return version_; }
    [[nodiscard]] const std::string& key_field() const noexcept { return key_field_; }

    /// The message for `value` (DRF's `serializer.data`), fields in to_json's insertion order. Not validated (the
    /// send side of django-logpipe validates nothing either). Exceptions from a user's to_json propagate.
    [[nodiscard]] Value ToMessage(const T& value) const {
        if constexpr (detail::OrderedJsonConvertible<T>) {
            return Value(value);
        } else {
            return Value(nlohmann::json(value));
        }
    }

    /// Converts a received message to T. Errors (kInvalidArgument) name the field when one is at fault:
    /// "field 'code': type must be string, but is number", "field 'name': missing", or "expected a map, got
    /// string". Unknown extra fields are ignored (as DRF does). Note nlohmann's leniency: a number field accepts a
    /// float (truncated) or a bool; add a check in the handler's validate function where that matters.
    [[nodiscard]] Result<T> FromMessage(const Value& message) const {
        if (!message.is_object()) {
            return MakeError(ErrorCode::kInvalidArgument, std::string("expected a map, got ") + message.type_name());
        }
        try {
            return Convert(message);
        } catch (const Value::exception& e) {
            return MakeError(ErrorCode::kInvalidArgument, Diagnose(message, e.what()));
        }
    }

private:
    static T Convert(const Value& message) {
        T out{};
        if constexpr (requires { ::nlohmann::from_json(message, out); }) {
            ::nlohmann::from_json(message, out);
        } else {
            ::nlohmann::from_json(nlohmann::json(message), out);
        }
        return out;
    }

    /// Finds the first field (declaration order) whose value alone makes conversion fail: each field of a default
    /// T's message is in turn replaced by the received one (or removed, if the received message lacks it).
    std::string Diagnose(const Value& message, std::string_view what) const {
        try {
            const Value defaults = ToMessage(T{});
            if (defaults.is_object()) {
                for (const auto& [key, unused] : defaults.items()) {
                    Value candidate = defaults;
                    const auto it = message.find(key);
                    if (it == message.end()) {
                        candidate.erase(key);
                    } else {
                        candidate[key] = *it;
                    }
                    try {
                        (void)Convert(candidate);
                    } catch (const Value::exception& e) {
                        if (it == message.end()) return "field '" + key + "': missing";
                        return "field '" + key + "': " + detail::StripNlohmannPrefix(e.what());
                    }
                }
            }
        } catch (const Value::exception&) {
            // fall through to the undiagnosed message
        }
        return detail::StripNlohmannPrefix(what);
    }

    std::string type_;
    std::int64_t version_;
    std::string key_field_;
};

/// The Instance of a TypedHandler without a lookup.
struct NoLookup {};

/// A MessageHandler for T: Validate = FromMessage succeeds and then `validate(value)` (if given) succeeds; Save =
/// FromMessage, then `lookup(value)` (if the handler has one), then `save`. Errors from Validate and lookup are
/// prefixed with the type and version ("us-state v1: field 'code': …", "us-state v1: lookup: …"). Exceptions thrown
/// by the functions propagate to the consumer, which treats them as transient errors (retry, then dead-letter).
///
/// With an Instance type, the handler is django-logpipe's `lookup_instance` + `save`, typed: `lookup` finds the
/// existing object the message is about (nullopt: there is none, create one) and `save(value, instance)` creates or
/// updates it. Both run inside Save, so in the consumer's transaction when it has one (the object cannot change
/// between the two). A lookup that fails with a permanent code (kNotFound, kInvalidArgument, kAlreadyExists, e.g.
/// two objects match) dead-letters the record at once, as the poison message it is; kUnavailable/kTimeout are
/// retried like any save error.
///
/// Ownership: holds a copy of the serializer and the functions. Thread-safety: as the functions are.
template <typename T, typename Instance = NoLookup>
class TypedHandler final : public MessageHandler {
    static constexpr bool kHasLookup = !std::is_same_v<Instance, NoLookup>;

public:
    using ValidateFn = std::function<Result<void>(const T&)>;
    using LookupFn = std::function<Result<std::optional<Instance>>(const T&)>;
    using SaveFn = std::conditional_t<kHasLookup, std::function<Result<void>(const T&, std::optional<Instance>)>,
                                      std::function<Result<void>(const T&)>>;

    TypedHandler(TypedSerializer<T> serializer, SaveFn save, ValidateFn validate = {}) requires(!kHasLookup)
        : serializer_(std::move(serializer)), save_(std::move(save)), validate_(std::move(validate)) {}
    TypedHandler(TypedSerializer<T> serializer, LookupFn lookup, SaveFn save,
                 ValidateFn validate = {}) requires(kHasLookup)
        : serializer_(std::move(serializer)),
          lookup_(std::move(lookup)),
          save_(std::move(save)),
          validate_(std::move(validate)) {}

    // gale::pipe::MessageHandler
    const std::string& type() const noexcept override { return serializer_.type(); }
    std::int64_t version() const noexcept override { return serializer_.version(); }
    [[nodiscard]] Result<void> Validate(const Value& message) override {
        auto value = serializer_.FromMessage(message);
        if (!value) return Prefixed(value.error());
        if (validate_) {
            auto valid = validate_(*value);
            if (!valid) return Prefixed(valid.error());
        }
        return {};
    }
    [[nodiscard]] Result<void> Save(const Value& message) override {
        auto value = serializer_.FromMessage(message);
        if (!value) return Prefixed(value.error());
        if constexpr (kHasLookup) {
            std::optional<Instance> instance;
            if (lookup_) {
                auto found = lookup_(*value);
                if (!found) return Prefixed(Error(found.error().code(), "lookup: " + found.error().message()));
                instance = std::move(*found);
            }
            if (!save_) return {};
            return save_(*value, std::move(instance));
        } else {
            if (!save_) return {};
            return save_(*value);
        }
    }

private:
    tl::unexpected<Error> Prefixed(const Error& error) const {
        return tl::unexpected<Error>(Error(
            error.code(), serializer_.type() + " v" + std::to_string(serializer_.version()) + ": " + error.message()));
    }

    TypedSerializer<T> serializer_;
    [[no_unique_address]] std::conditional_t<kHasLookup, LookupFn, NoLookup> lookup_{};
    SaveFn save_;
    ValidateFn validate_;
};

/// Shorthand: `consumer.Register(MakeHandler(kStates, SaveState, ValidateState))`.
template <typename T>
MessageHandlerPtr MakeHandler(TypedSerializer<T> serializer, typename TypedHandler<T>::SaveFn save,
                              typename TypedHandler<T>::ValidateFn validate = {}) {
    return std::make_unique<TypedHandler<T>>(std::move(serializer), std::move(save), std::move(validate));
}

/// With a lookup: `consumer.Register(MakeLookupHandler<Store>(kStores, FindStore, SaveStore, ValidateStore))`, where
/// `FindStore(const StoreMsg&) -> Result<std::optional<Store>>` and `SaveStore(const StoreMsg&,
/// std::optional<Store>) -> Result<void>`.
template <typename Instance, typename T>
MessageHandlerPtr MakeLookupHandler(TypedSerializer<T> serializer, typename TypedHandler<T, Instance>::LookupFn lookup,
                                    typename TypedHandler<T, Instance>::SaveFn save,
                                    typename TypedHandler<T, Instance>::ValidateFn validate = {}) {
    return std::make_unique<TypedHandler<T, Instance>>(std::move(serializer), std::move(lookup), std::move(save),
                                                       std::move(validate));
}

}  // namespace gale::pipe
