// SPDX-License-Identifier: MIT
/// @file gale/base/strings.hpp
/// @brief Strict parsers for the values of options and settings (integers, sizes, durations, booleans).
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <gale/base/error.hpp>

namespace gale {

/// Parses a whole decimal integer in [min, max]. Errors name `what` and the text: "--port: 'abc' is not an integer".
[[nodiscard]] Result<std::int64_t> ParseInt(std::string_view what, std::string_view text, std::int64_t min,
                                            std::int64_t max);

/// Parses a byte size: digits with an optional suffix K, M, G (powers of 1024, optional "iB"/"B"). "10M" = 10 MiB.
[[nodiscard]] Result<std::uint64_t> ParseSize(std::string_view what, std::string_view text);

/// Parses a duration: a number with unit ms, s, m or h (a bare number means seconds). Fractions allowed: "1.5s".
[[nodiscard]] Result<std::chrono::milliseconds> ParseDuration(std::string_view what, std::string_view text);

/// Parses true/false, 1/0, yes/no, on/off (case-insensitive). Anything else is an error, never "truthy".
[[nodiscard]] Result<bool> ParseBool(std::string_view what, std::string_view text);

/// Splits on any run of ASCII whitespace; no quoting.
std::vector<std::string> SplitWhitespace(std::string_view text);

/// RFC 3986 percent-decoding of %XX escapes ('+' stays '+': this is not a query string). nullopt on a malformed
/// escape ('%' not followed by two hex digits). A decoded NUL is kept; callers that must refuse it check.
[[nodiscard]] std::optional<std::string> PercentDecode(std::string_view text);

/// Percent-encodes every byte but RFC 3986's unreserved characters (A-Z a-z 0-9 - . _ ~), as %XX upper-case: safe in
/// any URL component (userinfo, path segment, query).
[[nodiscard]] std::string PercentEncode(std::string_view text);

/// Splits a list written with commas, whitespace or both ("a,b", "a, b", "a b"); empty items are dropped; no quoting.
std::vector<std::string> SplitList(std::string_view text);

/// ASCII lower-case copy.
std::string ToLower(std::string_view text);

/// Case-insensitive ASCII equality.
bool EqualsIgnoreCase(std::string_view a, std::string_view b) noexcept;

/// Escapes a string for inclusion in a JSON string literal (without the quotes). Bytes that are not well-formed UTF-8
/// become U+FFFD, so the result is valid JSON whatever `text` holds.
void AppendJsonEscaped(std::string& out, std::string_view text);

}  // namespace gale
