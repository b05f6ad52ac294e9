// SPDX-License-Identifier: MIT
/// @file gale/config/dotenv.hpp
/// @brief Parser for dotenv files (`.env.base`, `.env.local`): the bash-compatible subset python-dotenv reads.
#pragma once

#include <cstddef>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <gale/base/error.hpp>

namespace gale::config {

/// Resolves a variable for `${VAR}` expansion; std::nullopt when it is not set (it then expands to "").
using Lookup = std::function<std::optional<std::string>(std::string_view name)>;

/// The most bytes one value may hold once `${…}` is expanded: 128 KiB, Linux's limit on one environment string
/// (MAX_ARG_STRLEN), so no child process could receive a longer value anyway. Literal values count the same way.
inline constexpr std::size_t kMaxDotenvValueBytes = 128 * 1024;

/// The most bytes all values of one file may hold together once expanded: 2 MiB, what execve(2) accepts for all
/// arguments and environment strings under the default 8 MiB stack limit (a quarter of it).
inline constexpr std::size_t kMaxDotenvTotalBytes = 16 * kMaxDotenvValueBytes;

/// One assignment of a dotenv file, in file order.
using DotenvEntries = std::vector<std::pair<std::string, std::string>>;

/// Parses the text of a dotenv file. Stateless and thread-safe (as long as `lookup` is).
///
/// Syntax (see the module README for the table): `KEY=value`, optional `export ` prefix, spaces around `=`
/// allowed; `#` starts a comment at the start of a line or after whitespace following an unquoted or quoted value;
/// unquoted values are trimmed and expanded; '…' is literal (no escapes, no expansion, may span lines); "…" knows
/// the escapes \n \t \r \" \\ \$ \' (any other backslash is kept) and expansion, and may span lines. Expansion:
/// `$VAR`, `${VAR}`, `${VAR:-default}` (default used when VAR is unset or empty; the default is literal). A name
/// resolves to the latest earlier assignment in the same text, else to `lookup` (which may be empty), else "".
/// Keys match `[A-Za-z_][A-Za-z0-9_]*`.
///
/// @param text the file's contents (LF or CRLF line ends).
/// @param file_name used only in error messages.
/// @return every assignment in file order (a key assigned twice appears twice; the later one wins), or an
///         ErrorCode::kInvalidArgument error "<file_name>:<line>: <what>" for the first syntax error: unterminated
///         single/double quote (line of the opening quote), invalid key, missing '=', text after a closing quote,
///         unterminated or malformed `${…}`, NUL byte; a value longer than kMaxDotenvValueBytes, or values longer
///         than kMaxDotenvTotalBytes together, once expanded ("<file>:<line>: <KEY>: longer than …", the line
///         where the assignment starts). Memory use is bounded by a small multiple of these limits.
[[nodiscard]] Result<DotenvEntries> ParseDotenv(std::string_view text, std::string_view file_name,
                                                const Lookup& lookup);

}  // namespace gale::config
