// SPDX-License-Identifier: MIT
/// @file gale/pipe/serializer.hpp
/// @brief A serializer declares one message type and version: how a C++ value becomes a message, how a received
///        message is validated, looked up and saved.
///
/// Thread-safety: a serializer is used by one consumer thread at a time; Save may touch the service's database.
#pragma once

#include <array>
#include <cmath>
#include <concepts>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <limits>
#include <memory>
#include <optional>
#include <stdexcept>
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

/// A received value that does not fit its field, thrown by ReadField (and the checked conversions under it) and
/// turned into a kInvalidArgument error by TypedSerializer::FromMessage. what() is "field '<path>': <problem>".
class FieldError : public std::runtime_error {
public:
    FieldError(std::string path, std::string problem)
        : std::runtime_error(path.empty() ? problem : "field '" + path + "': " + problem),
          path_(std::move(path)),
          problem_(std::move(problem)) {}

    /// The field's path from the top of the message: "count", "address.zip", "ids[2]"; empty for the value itself.
    [[nodiscard]] const std::string& path() const noexcept { return path_; }
    /// What is wrong with it: "missing", "number 256 is out of range for uint8 [0, 255]".
    [[nodiscard]] const std::string& problem() const noexcept { return problem_; }

    /// The same error seen from the enclosing value: `outer` ("address", "[2]") prepended to the path.
    [[nodiscard]] FieldError Within(std::string_view outer) const {
        std::string path(outer);
        if (!path_.empty() && path_.front() != '[') path += '.';
        return FieldError(path + path_, problem_);
    }

private:
    std::string path_;
    std::string problem_;
};

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

template <typename T>
struct IsStdArray : std::false_type {};
template <typename T, std::size_t N>
struct IsStdArray<std::array<T, N>> : std::true_type {};

/// std::string and its kin: nlohmann reads them (they look like sequences of char).
template <typename T>
concept StringLike = requires {
    typename T::traits_type;
};

template <typename T>
concept JsonType = ::nlohmann::detail::is_basic_json<T>::value;

/// std::map / std::unordered_map with string keys, read from a JSON object.
template <typename T>
concept StringKeyedMap = !StringLike<T> && !JsonType<T> && requires(T & t, typename T::mapped_type m) {
    typename T::key_type;
    t.emplace(std::string(), std::move(m));
}
&&std::constructible_from<typename T::key_type, std::string>;

/// vector, deque, list, set, multiset, unordered_set…: read from a JSON array, element by element.
template <typename T>
concept Sequence = !StringLike<T> && !JsonType<T> && !IsStdArray<T>::value && !requires {
    typename T::mapped_type;
}
&&requires(T& t, typename T::value_type v) { t.insert(t.end(), std::move(v)); };

/// "int64", "uint8" (by width and signedness, as messages describe them; `long` and `long long` are both int64).
template <typename Int>
std::string IntegerTypeName() {
    return std::string(std::is_signed_v<Int> ? "int" : "uint") +
           std::to_string(sizeof(Int) * static_cast<std::size_t>(std::numeric_limits<unsigned char>::digits));
}

/// A double as an error message shows it (nlohmann's shortest form; it would print NaN and infinities as null).
template <typename Json>
std::string ShowFloat(double d) {
    if (std::isnan(d)) return "nan";
    if (std::isinf(d)) return d < 0 ? "-inf" : "inf";
    return Json(d).dump();
}

/// 2^53: every integer of smaller magnitude is exactly one double, and no other integer rounds to it.
inline constexpr double kMaxExactFloatInteger = 9007199254740992.0;

/// The integer field value of `j`, exactly, or FieldError: a JSON/msgpack integer must lie within Int's range, a
/// float must be whole (2.0, 1e2), within it too and below 2^53 in magnitude (where a double still stands for one
/// integer); a bool or anything else is a type error.
template <typename Int, typename Json>
Int CheckedInteger(const Json& j) {
    using Limits = std::numeric_limits<Int>;
    const auto out_of_range = [](const std::string& shown) {
        return FieldError({}, "number " + shown + " is out of range for " + IntegerTypeName<Int>() + " [" +
                                  std::to_string(Limits::min()) + ", " + std::to_string(Limits::max()) + "]");
    };
    switch (j.type()) {
        case ::nlohmann::detail::value_t::number_unsigned: {
            const std::uint64_t u = *j.template get_ptr<const typename Json::number_unsigned_t*>();
            if (u <= static_cast<std::uint64_t>(Limits::max())) return static_cast<Int>(u);
            throw out_of_range(std::to_string(u));
        }
        case ::nlohmann::detail::value_t::number_integer: {
            const std::int64_t i = *j.template get_ptr<const typename Json::number_integer_t*>();
            bool fits = false;
            if constexpr (std::is_signed_v<Int>) {
                fits = i >= static_cast<std::int64_t>(Limits::min()) && i <= static_cast<std::int64_t>(Limits::max());
            } else {
                fits = i >= 0 && static_cast<std::uint64_t>(i) <= static_cast<std::uint64_t>(Limits::max());
            }
            if (fits) return static_cast<Int>(i);
            throw out_of_range(std::to_string(i));
        }
        case ::nlohmann::detail::value_t::number_float: {
            const double d = *j.template get_ptr<const typename Json::number_float_t*>();
            if (std::trunc(d) != d) throw FieldError({}, "number " + ShowFloat<Json>(d) + " is not an integer");  // NaN
            // [min, 2^digits): both bounds are exact doubles, so the comparison is exact too.
            if (d < static_cast<double>(Limits::min()) || d >= std::ldexp(1.0, Limits::digits)) {
                throw out_of_range(ShowFloat<Json>(d));
            }
            // From 2^53 on a double no longer tells neighbouring integers apart: -9223372036854775809, an integer
            // token the JSON reader can only hold as a float, reads as -2^63. Refuse rather than guess.
            if (std::fabs(d) >= kMaxExactFloatInteger) {
                throw FieldError({}, "number " + ShowFloat<Json>(d) +
                                         " is a float beyond 2^53, not exact enough for an integer field");
            }
            return static_cast<Int>(d);
        }
        default:
            throw FieldError({}, std::string("type must be number, but is ") + j.type_name());
    }
}

/// The floating-point field value of `j`: any number (an integer rounds, as Python's float(int)); a finite value
/// beyond Float's range (1e300 into a float) is a FieldError; NaN and infinities (msgpack only) pass; a bool is not
/// a number.
template <typename Float, typename Json>
Float CheckedFloat(const Json& j) {
    switch (j.type()) {
        case ::nlohmann::detail::value_t::number_unsigned:
            return static_cast<Float>(*j.template get_ptr<const typename Json::number_unsigned_t*>());
        case ::nlohmann::detail::value_t::number_integer:
            return static_cast<Float>(*j.template get_ptr<const typename Json::number_integer_t*>());
        case ::nlohmann::detail::value_t::number_float: {
            const double d = *j.template get_ptr<const typename Json::number_float_t*>();
            using Limits = std::numeric_limits<Float>;
            const auto wide = static_cast<long double>(d);
            if (std::isfinite(d) &&
                (wide > static_cast<long double>(Limits::max()) || wide < static_cast<long double>(Limits::lowest()))) {
                const char* name = std::is_same_v<Float, float> ? "float" : "double";
                throw FieldError({}, "number " + ShowFloat<Json>(d) + " is out of range for " + name);
            }
            return static_cast<Float>(d);
        }
        default:
            throw FieldError({}, std::string("type must be number, but is ") + j.type_name());
    }
}

template <typename Json, typename T>
void ReadValue(const Json& j, T& out);

/// ReadValue with the errors located at `where` (a field name or "[index]").
template <typename Json, typename T>
void ReadAt(const Json& j, std::string_view where, T& out) {
    try {
        ReadValue(j, out);
    } catch (const FieldError& e) {
        throw e.Within(where);
    } catch (const typename Json::exception& e) {
        throw FieldError(std::string(where), StripNlohmannPrefix(e.what()));
    }
}

/// Reads `j` into `out` with every number checked against its C++ type (CheckedInteger, CheckedFloat), also inside
/// std::array, sequences (vector, deque, list, sets) and string-keyed maps; a bool field takes only true/false.
/// Anything else goes through nlohmann's from_json (`j.get_to(out)`), so a struct defined with
/// GALE_PIPE_DEFINE_MESSAGE is checked in turn. Throws FieldError or the JSON type's exceptions.
template <typename Json, typename T>
void ReadValue(const Json& j, T& out) {
    if constexpr (std::is_same_v<T, bool>) {
        if (!j.is_boolean()) throw FieldError({}, std::string("type must be boolean, but is ") + j.type_name());
        out = *j.template get_ptr<const typename Json::boolean_t*>();
    } else if constexpr (std::is_integral_v<T>) {
        out = CheckedInteger<T>(j);
    } else if constexpr (std::is_floating_point_v<T>) {
        out = CheckedFloat<T>(j);
    } else if constexpr (IsStdArray<T>::value) {
        if (!j.is_array()) throw FieldError({}, std::string("type must be array, but is ") + j.type_name());
        if (j.size() != out.size()) {
            throw FieldError(
                {}, "expected an array of " + std::to_string(out.size()) + " items, got " + std::to_string(j.size()));
        }
        for (std::size_t i = 0; i < out.size(); ++i) ReadAt(j[i], "[" + std::to_string(i) + "]", out[i]);
    } else if constexpr (Sequence<T>) {
        if (!j.is_array()) throw FieldError({}, std::string("type must be array, but is ") + j.type_name());
        T items{};
        std::size_t i = 0;
        for (const auto& item : j) {
            typename T::value_type value{};
            ReadAt(item, "[" + std::to_string(i++) + "]", value);
            items.insert(items.end(), std::move(value));
        }
        out = std::move(items);
    } else if constexpr (StringKeyedMap<T>) {
        if (!j.is_object()) throw FieldError({}, std::string("type must be object, but is ") + j.type_name());
        T members{};
        for (const auto& [key, item] : j.items()) {
            typename T::mapped_type value{};
            ReadAt(item, key, value);
            members.emplace(key, std::move(value));
        }
        out = std::move(members);
    } else {
        j.get_to(out);
    }
}

}  // namespace detail

/// Reads member `name` of the object `j` into `out`, checked: an integer that does not fit `out`'s type (2^64-1
/// into an int64, 256 into a uint8, 1.5 or true into any integer) is refused instead of wrapped or truncated, and
/// so is a finite double beyond a float's range. Throws FieldError naming the field ("field 'count': number
/// 18446744073709551615 is out of range for int64 [-9223372036854775808, 9223372036854775807]", "field 'code':
/// missing", "field 'ids[2]': number 2.5 is not an integer"). GALE_PIPE_DEFINE_MESSAGE reads every field with it;
/// call it from a hand-written `from_json` to get the same checks.
template <typename Json, typename T>
void ReadField(const Json& j, std::string_view name, T& out) {
    if (!j.is_object()) throw FieldError({}, std::string("type must be object, but is ") + j.type_name());
    const auto it = j.find(name);
    if (it == j.end()) throw FieldError(std::string(name), "missing");
    detail::ReadAt(*it, name, out);
}

/// Defines `to_json`/`from_json` for a struct, for every nlohmann JSON type (including the ordered `Value`), so that
/// the message's fields are written in declaration order, as DRF and Pydantic write them, and read with ReadField
/// (every number checked against its field's type):
///
///     struct UsState { std::string code; std::string name; };
///     GALE_PIPE_DEFINE_MESSAGE(UsState, code, name)   // at namespace scope, in UsState's namespace
///
/// Why not NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE: in nlohmann 3.11.2 (Debian bookworm) it defines the conversions for
/// `nlohmann::json` only, whose std::map sorts the keys; TypedSerializer accepts such types too, but their fields
/// then go on the wire in alphabetical order. And nlohmann's own conversion of numbers is a static_cast: 2^64-1
/// reads as -1 in an int64, 1.5 as 1.
#define GALE_PIPE_DEFINE_MESSAGE(Type, ...)                                                           \
    template <typename GaleBasicJsonType,                                                             \
              std::enable_if_t<::nlohmann::detail::is_basic_json<GaleBasicJsonType>::value, int> = 0> \
    void to_json(GaleBasicJsonType& nlohmann_json_j, const Type& nlohmann_json_t) {                   \
        NLOHMANN_JSON_EXPAND(NLOHMANN_JSON_PASTE(NLOHMANN_JSON_TO, __VA_ARGS__))                      \
    }                                                                                                 \
    template <typename GaleBasicJsonType,                                                             \
              std::enable_if_t<::nlohmann::detail::is_basic_json<GaleBasicJsonType>::value, int> = 0> \
    void from_json(const GaleBasicJsonType& nlohmann_json_j, Type& nlohmann_json_t) {                 \
        NLOHMANN_JSON_EXPAND(NLOHMANN_JSON_PASTE(GALE_PIPE_DETAIL_READ_FIELD, __VA_ARGS__))           \
    }

/// One field of GALE_PIPE_DEFINE_MESSAGE's from_json (not for direct use).
#define GALE_PIPE_DETAIL_READ_FIELD(field) ::gale::pipe::ReadField(nlohmann_json_j, #field, nlohmann_json_t.field);

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
    /// "field 'code': type must be string, but is number", "field 'name': missing", "field 'count': number
    /// 18446744073709551615 is out of range for int64 [-9223372036854775808, 9223372036854775807]", "field 'n':
    /// number 1.5 is not an integer", or "expected a map, got string". Unknown extra fields are ignored (as DRF
    /// does). With GALE_PIPE_DEFINE_MESSAGE (or ReadField in a hand-written from_json) every number is checked
    /// against its field's type (see ReadField); a from_json that uses nlohmann's get/get_to directly (as
    /// NLOHMANN_DEFINE_TYPE_* does) keeps nlohmann's static_cast, which wraps and truncates.
    [[nodiscard]] Result<T> FromMessage(const Value& message) const {
        if (!message.is_object()) {
            return MakeError(ErrorCode::kInvalidArgument, std::string("expected a map, got ") + message.type_name());
        }
        try {
            return Convert(message);
        } catch (const FieldError& e) {
            return MakeError(ErrorCode::kInvalidArgument, e.what());
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
                    } catch (const FieldError& e) {
                        return e.Within(key).what();
                    } catch (const Value::exception& e) {
                        if (it == message.end()) return "field '" + key + "': missing";
                        return "field '" + key + "': " + detail::StripNlohmannPrefix(e.what());
                    }
                }
            }
        } catch (const Value::exception&) {
            // fall through to the undiagnosed message
        } catch (const FieldError&) {
            // idem
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
