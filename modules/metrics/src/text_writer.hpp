// SPDX-License-Identifier: MIT
/// @file text_writer.hpp
/// @brief Private helpers that write numbers, escaped strings and label sets in the text exposition formats.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace gale::metrics::detail {

/// A sample value: the shortest decimal text that parses back to exactly `value` ("1", "0.25", "1e+21"), or
/// "+Inf", "-Inf", "NaN". Both formats' parsers (Go's ParseFloat) accept every output.
void AppendValue(std::string& out, double value);

/// An integer sample value (bucket counts, _count): digits without a decimal point, as OpenMetrics requires.
void AppendInteger(std::string& out, std::uint64_t value);

/// A bucket bound for the `le` label in OpenMetrics' canonical form, which is Go's shortest "%g" with ".0"
/// appended when there is neither a point nor an exponent: 0.005, 1.0, 100000.0, 1e+06, 1e-05, +Inf. Used in
/// both formats so that a series keeps its identity whichever format a scrape negotiates.
void AppendCanonical(std::string& out, double value);

/// Appends `text` with backslash and line feed escaped (`\\`, `\n`), and the double quote (`\"`) when
/// `escape_quote`. Label values need all three in both formats; HELP text needs the quote escaped only in
/// OpenMetrics, since the Prometheus 0.0.4 parser rejects `\"` there.
void AppendEscaped(std::string& out, std::string_view text, bool escape_quote);

/// `n1="v1",n2="v2"` (no braces; empty for no labels), values escaped. `names` and `values` have equal sizes.
void AppendLabelPairs(std::string& out, const std::vector<std::string>& names, const std::vector<std::string>& values);

}  // namespace gale::metrics::detail
