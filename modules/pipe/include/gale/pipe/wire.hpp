// SPDX-License-Identifier: MIT
/// @file gale/pipe/wire.hpp
/// @brief django-logpipe's wire format: `<format>:<body>` where body is the envelope
///        {"type","version","message"[,"producer"]} in JSON (DRF's exact bytes) or msgpack.
///
/// All functions are pure and thread-safe. Values are nlohmann::ordered_json so that key order is kept: it is part
/// of the bytes.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include <gale/base/error.hpp>

namespace gale::pipe {

using Value = nlohmann::ordered_json;

enum class Format { kJson, kMsgpack };

/// "json" / "msgpack".
std::string_view ToString(Format format) noexcept;

/// The logical message.
struct Envelope {
    std::string type{};
    Value version{};  ///< as received (an integer when we send); see VersionMatches
    Value message{};
    std::string producer{};  ///< empty: not sent
};

/// Renders `<format>:<body>` byte-compatible with django-logpipe (DRF JSONRenderer / msgpack packb(use_bin_type)).
/// Errors (kInvalidArgument): in JSON, NaN or infinite numbers (DRF's STRICT_JSON) and binary values (Python's json
/// cannot encode bytes); in both formats, strings or keys that are not valid UTF-8, and nesting deeper than
/// kMaxDepth. msgpack encodes NaN/Inf as float64, as msgpack-python does. (Integers beyond uint64 cannot occur: a
/// Value holds them as floats.)
[[nodiscard]] Result<std::string> RenderEnvelope(Format format, const Envelope& envelope);

/// Deepest nesting of arrays/maps that Render accepts and Parse/DecodeEnvelope return (Python's json and
/// msgpack stop near 1000; a bound keeps the recursive coders' stack use small).
inline constexpr int kMaxDepth = 512;

/// django-logpipe's `render(format, data)`: `<format>:<body>` for any value (not only an envelope). Same errors as
/// RenderEnvelope.
[[nodiscard]] Result<std::string> Render(Format format, const Value& data);

/// Why a record could not be decoded; the consumer maps each to its handling (skip, dead-letter).
enum class DecodeProblem {
    kNone,
    kUnknownFormat,   ///< no ':' or a prefix other than json/msgpack (pickle is refused)
    kMalformedBody,   ///< the body does not parse (bad JSON, bad msgpack, trailing bytes, invalid UTF-8)
    kInvalidEnvelope  ///< parsed, but not a map with "type", "version" and "message"
};

struct Decoded {
    Envelope envelope{};
    Format format = Format::kJson;
};

/// A parsed record value before the envelope checks.
struct Parsed {
    Format format = Format::kJson;
    Value data{};
};

/// django-logpipe's `parse(bytes)`: the format prefix and the body as a value of any type. Failures are
/// kUnknownFormat or kMalformedBody (set in `problem` if given); the error code is kInvalidArgument.
[[nodiscard]] Result<Parsed> Parse(std::string_view bytes, DecodeProblem* problem = nullptr);

/// Parses a record value and checks the envelope: a map holding "type" (a string), "version" and "message" (any
/// value; kept as received, see VersionMatches; a non-map message is the handler's validation failure), checked in
/// that order; a non-string "producer" is ignored, other keys too. On failure the Error's message says what was wrong
/// ("unknown format 'xml'", "malformed json body: …", "missing top-level \"type\" key") and `problem` (if given) says
/// which class of failure it was.
[[nodiscard]] Result<Decoded> DecodeEnvelope(std::string_view bytes, DecodeProblem* problem = nullptr);

/// django-logpipe's version matching (Python equality): 1, 1.0 and true match 1; "1" does not.
bool VersionMatches(const Value& received, std::int64_t registered) noexcept;

/// The partition key of a message: Python str() of message[key_field] as django-logpipe computes it
/// ("NY", "7", "None", "True", "0.1", a list as its repr "[1, 'a']"); empty when key_field is empty. Errors:
/// kNotFound if the field is missing, kInvalidArgument if the message is not a map. (Python's isprintable(), which
/// decides what repr escapes inside lists, is approximated: C0/C1 controls, common separators and format
/// characters, private use.)
[[nodiscard]] Result<std::string> KeyFor(const Value& message, std::string_view key_field);

}  // namespace gale::pipe
