// SPDX-License-Identifier: MIT
/// @file json_reader.hpp
/// @brief A strict RFC 8259 JSON reader that builds a gale::pipe::Value (nlohmann::ordered_json) directly.
///
/// Private to gale::pipe: ParseJson (wire.cpp) uses it for `json:` record bodies. It replaces
/// nlohmann::ordered_json::parse on the consume path, whose char-by-char lexer dominated the decode cost, and accepts
/// exactly what that parse followed by the kMaxDepth check accepted, building the same Values (see json_reader.cpp
/// for the rules and the one deliberate difference: a NUL byte after the value is refused).
#pragma once

#include <string_view>

#include <gale/base/error.hpp>
#include <gale/pipe/wire.hpp>

namespace gale::pipe::detail {

/// Parses `body` as exactly one JSON value, optionally surrounded by JSON whitespace (space, tab, LF, CR).
///
/// Returns the Value: integers without fraction or exponent are number_unsigned when non-negative and within
/// uint64, number_integer when negative and within int64 ("-0" is integer 0), and number_float otherwise, like every
/// number with a fraction or exponent (correctly rounded; underflow gives ±0). Object keys keep their first position;
/// a repeated key's last value wins. Strings hold UTF-8 with escapes decoded.
///
/// Errors (kInvalidArgument; the message names the problem and its byte offset in `body`, e.g. "unexpected
/// character 'x' at byte 12, expected ',' or ']'"): empty or whitespace-only input, anything after the value,
/// anything RFC 8259 does not allow (comments, trailing commas, single quotes, NaN/Infinity, leading zeros, "+1",
/// ".5", "1.", a UTF-8 BOM), invalid UTF-8 or a raw control character in a string, an unknown escape, a lone
/// surrogate escape, a number whose magnitude overflows a double, and arrays/objects nested deeper than kMaxDepth.
///
/// Recursion is bounded by kMaxDepth. Thread-safe (no shared state).
[[nodiscard]] Result<Value> ReadJson(std::string_view body);

}  // namespace gale::pipe::detail
