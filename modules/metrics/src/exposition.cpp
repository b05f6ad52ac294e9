// SPDX-License-Identifier: MIT
#include <algorithm>
#include <charconv>

#include <gale/base/strings.hpp>
#include <gale/metrics/exposition.hpp>

namespace gale::metrics {
namespace {

std::string_view Trim(std::string_view s) noexcept {
    while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
    while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
    return s;
}

// Splits off the text before `sep` (all of `s` if absent) and advances `s` past the separator.
std::string_view NextToken(std::string_view& s, char sep) noexcept {
    const std::size_t pos = s.find(sep);
    std::string_view token = s.substr(0, pos);
    s = pos == std::string_view::npos ? std::string_view() : s.substr(pos + 1);
    return token;
}

// The q-value of a media range's parameters: 1 when absent, -1 when malformed (RFC 9110 §12.4.2: 0 to 1 with at
// most three decimals; we accept any decimal in range).
double QValue(std::string_view params) noexcept {
    double q = 1.0;
    while (!params.empty()) {
        std::string_view param = Trim(NextToken(params, ';'));
        std::string_view key = Trim(NextToken(param, '='));
        if (!EqualsIgnoreCase(key, "q")) continue;
        std::string_view text = Trim(param);
        auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), q);
        if (text.empty() || ec != std::errc() || end != text.data() + text.size() || !(q >= 0.0 && q <= 1.0)) {
            return -1.0;
        }
    }
    return q;
}

}  // namespace

Format NegotiateFormat(std::string_view accept_header) noexcept {
    double openmetrics_q = 0.0;
    double text_q = 0.0;
    while (!accept_header.empty()) {
        std::string_view range = NextToken(accept_header, ',');
        std::string_view type = Trim(NextToken(range, ';'));
        const double q = QValue(range);
        if (EqualsIgnoreCase(type, "application/openmetrics-text")) {
            openmetrics_q = std::max(openmetrics_q, q);
        } else if (EqualsIgnoreCase(type, "text/plain")) {
            text_q = std::max(text_q, q);
        }
    }
    return openmetrics_q > 0.0 && openmetrics_q >= text_q ? Format::kOpenMetrics : Format::kPrometheus;
}

std::string_view ContentType(Format format) noexcept {
    switch (format) {
        case Format::kOpenMetrics:
            return "application/openmetrics-text; version=1.0.0; charset=utf-8";
        case Format::kPrometheus:
            break;
    }
    return "text/plain; version=0.0.4; charset=utf-8";
}

}  // namespace gale::metrics
