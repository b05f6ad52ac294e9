// SPDX-License-Identifier: MIT
#include "text_writer.hpp"

#include <charconv>
#include <cmath>

#include <gale/base/check.hpp>

namespace gale::metrics::detail {
namespace {

// Enough for any shortest round-trip double in fixed or scientific form ("-2.2250738585072014e-308" is 24 chars;
// fixed is used below only for exponents in [-4, 6)).
constexpr std::size_t kNumberBufferSize = 64;

bool AppendNonFinite(std::string& out, double value) {
    if (std::isnan(value)) {
        out += "NaN";
    } else if (std::isinf(value)) {
        out += value > 0 ? "+Inf" : "-Inf";
    } else {
        return false;
    }
    return true;
}

}  // namespace

void AppendValue(std::string& out, double value) {
    if (AppendNonFinite(out, value)) return;
    char buf[kNumberBufferSize];
    auto [end, ec] = std::to_chars(buf, buf + sizeof(buf), value);
    GALE_ASSERT(ec == std::errc());
    out.append(buf, end);
}

void AppendInteger(std::string& out, std::uint64_t value) {
    char buf[24];
    auto [end, ec] = std::to_chars(buf, buf + sizeof(buf), value);
    GALE_ASSERT(ec == std::errc());
    out.append(buf, end);
}

void AppendCanonical(std::string& out, double value) {
    if (AppendNonFinite(out, value)) return;
    // Go's strconv.FormatFloat(v, 'g', -1, 64): the shortest round-trip digits, in %e form when the decimal
    // exponent is < -4 or >= 6 (Go uses precision 6 for this decision when printing shortest), else in %f form.
    // Its %e writes at least two exponent digits, as std::to_chars does.
    char buf[kNumberBufferSize];
    auto [sci_end, sci_ec] = std::to_chars(buf, buf + sizeof(buf), value, std::chars_format::scientific);
    GALE_ASSERT(sci_ec == std::errc());
    std::string_view sci(buf, static_cast<std::size_t>(sci_end - buf));
    const std::size_t e = sci.find('e');
    GALE_ASSERT(e != std::string_view::npos && e + 2 < sci.size());
    int exponent = 0;
    std::from_chars(sci.data() + e + 2, sci.data() + sci.size(), exponent);
    if (sci[e + 1] == '-') exponent = -exponent;
    if (exponent < -4 || exponent >= 6) {
        out += sci;
        return;
    }
    auto [fixed_end, fixed_ec] = std::to_chars(buf, buf + sizeof(buf), value, std::chars_format::fixed);
    GALE_ASSERT(fixed_ec == std::errc());
    std::string_view fixed(buf, static_cast<std::size_t>(fixed_end - buf));
    out += fixed;
    if (fixed.find('.') == std::string_view::npos) out += ".0";
}

void AppendEscaped(std::string& out, std::string_view text, bool escape_quote) {
    for (char c : text) {
        switch (c) {
            case '\\':
                out += "\\\\";
                break;
            case '\n':
                out += "\\n";
                break;
            case '"':
                if (escape_quote) {
                    out += "\\\"";
                } else {
                    out += c;
                }
                break;
            default:
                out += c;
        }
    }
}

void AppendLabelPairs(std::string& out, const std::vector<std::string>& names, const std::vector<std::string>& values) {
    GALE_ASSERT(names.size() == values.size());
    for (std::size_t i = 0; i < names.size(); ++i) {
        if (i > 0) out += ',';
        out += names[i];
        out += "=\"";
        AppendEscaped(out, values[i], true);
        out += '"';
    }
}

}  // namespace gale::metrics::detail
