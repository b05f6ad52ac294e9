// SPDX-License-Identifier: MIT
#include <cctype>
#include <charconv>
#include <cmath>
#include <limits>

#include <fmt/format.h>

#include <gale/base/strings.hpp>

namespace gale {

Result<std::int64_t> ParseInt(std::string_view what, std::string_view text, std::int64_t min, std::int64_t max) {
    std::int64_t value = 0;
    const char* end = text.data() + text.size();
    auto [ptr, ec] = std::from_chars(text.data(), end, value);
    if (text.empty() || ec == std::errc::invalid_argument || ptr != end) {
        return MakeError(ErrorCode::kInvalidArgument, fmt::format("{}: '{}' is not an integer", what, text));
    }
    if (ec == std::errc::result_out_of_range || value < min || value > max) {
        return MakeError(ErrorCode::kInvalidArgument,
                         fmt::format("{}: {} is out of range [{}, {}]", what, text, min, max));
    }
    return value;
}

Result<std::uint64_t> ParseSize(std::string_view what, std::string_view text) {
    std::uint64_t value = 0;
    const char* begin = text.data();
    const char* end = begin + text.size();
    auto [ptr, ec] = std::from_chars(begin, end, value);
    if (text.empty() || ec == std::errc::invalid_argument) {
        return MakeError(ErrorCode::kInvalidArgument,
                         fmt::format("{}: '{}' is not a size (e.g. 1048576, 10M)", what, text));
    }
    std::string suffix = ToLower(std::string_view(ptr, static_cast<std::size_t>(end - ptr)));
    std::uint64_t mult = 1;
    if (suffix.empty() || suffix == "b") {
        mult = 1;
    } else if (suffix == "k" || suffix == "kb" || suffix == "kib") {
        mult = 1ULL << 10;
    } else if (suffix == "m" || suffix == "mb" || suffix == "mib") {
        mult = 1ULL << 20;
    } else if (suffix == "g" || suffix == "gb" || suffix == "gib") {
        mult = 1ULL << 30;
    } else {
        return MakeError(ErrorCode::kInvalidArgument,
                         fmt::format("{}: '{}' has an unknown size suffix (use K, M or G)", what, text));
    }
    if (ec == std::errc::result_out_of_range || value > std::numeric_limits<std::uint64_t>::max() / mult) {
        return MakeError(ErrorCode::kInvalidArgument, fmt::format("{}: '{}' is too large", what, text));
    }
    return value * mult;
}

Result<std::chrono::milliseconds> ParseDuration(std::string_view what, std::string_view text) {
    std::size_t i = 0;
    while (i < text.size() && (std::isdigit(static_cast<unsigned char>(text[i])) != 0 || text[i] == '.')) ++i;
    std::string_view number = text.substr(0, i);
    std::string_view unit = text.substr(i);
    double value = 0;
    auto [ptr, ec] = std::from_chars(number.data(), number.data() + number.size(), value);
    if (number.empty() || ec != std::errc() || ptr != number.data() + number.size() || !std::isfinite(value)) {
        return MakeError(ErrorCode::kInvalidArgument,
                         fmt::format("{}: '{}' is not a duration (e.g. 500ms, 30s, 2m)", what, text));
    }
    double ms = 0;
    if (unit.empty() || unit == "s") {
        ms = value * 1000;
    } else if (unit == "ms") {
        ms = value;
    } else if (unit == "m") {
        ms = value * 60'000;
    } else if (unit == "h") {
        ms = value * 3'600'000;
    } else {
        return MakeError(ErrorCode::kInvalidArgument,
                         fmt::format("{}: '{}' has an unknown unit (use ms, s, m or h)", what, text));
    }
    if (ms > 1e15) return MakeError(ErrorCode::kInvalidArgument, fmt::format("{}: '{}' is too long", what, text));
    return std::chrono::milliseconds(static_cast<std::int64_t>(std::llround(ms)));
}

Result<bool> ParseBool(std::string_view what, std::string_view text) {
    std::string v = ToLower(text);
    if (v == "1" || v == "true" || v == "yes" || v == "on") return true;
    if (v == "0" || v == "false" || v == "no" || v == "off") return false;
    return MakeError(ErrorCode::kInvalidArgument,
                     fmt::format("{}: '{}' is not a boolean (use true/false, 1/0, yes/no, on/off)", what, text));
}

std::vector<std::string> SplitWhitespace(std::string_view text) {
    std::vector<std::string> out;
    std::size_t i = 0;
    while (i < text.size()) {
        while (i < text.size() && std::isspace(static_cast<unsigned char>(text[i])) != 0) ++i;
        std::size_t start = i;
        while (i < text.size() && std::isspace(static_cast<unsigned char>(text[i])) == 0) ++i;
        if (i > start) out.emplace_back(text.substr(start, i - start));
    }
    return out;
}

namespace {

int HexValue(char c) noexcept {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

}  // namespace

std::optional<std::string> PercentDecode(std::string_view text) {
    std::string out;
    out.reserve(text.size());
    for (std::size_t i = 0; i < text.size(); ++i) {
        if (text[i] != '%') {
            out += text[i];
            continue;
        }
        if (i + 2 >= text.size()) return std::nullopt;
        const int hi = HexValue(text[i + 1]);
        const int lo = HexValue(text[i + 2]);
        if (hi < 0 || lo < 0) return std::nullopt;
        out += static_cast<char>(hi * 16 + lo);
        i += 2;
    }
    return out;
}

std::string PercentEncode(std::string_view text) {
    static constexpr char kHex[] = "0123456789ABCDEF";
    std::string out;
    out.reserve(text.size());
    for (char c : text) {
        if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '.' ||
            c == '_' || c == '~') {
            out += c;
        } else {
            const auto u = static_cast<unsigned char>(c);
            out += '%';
            out += kHex[u >> 4];
            out += kHex[u & 0xF];
        }
    }
    return out;
}

std::vector<std::string> SplitList(std::string_view text) {
    std::vector<std::string> out;
    for (auto& item : SplitWhitespace(text)) {
        std::string_view rest(item);
        while (!rest.empty()) {
            const std::size_t comma = rest.find(',');
            if (comma != 0) out.emplace_back(rest.substr(0, comma));
            rest = comma == std::string_view::npos ? std::string_view() : rest.substr(comma + 1);
        }
    }
    return out;
}

std::string ToLower(std::string_view text) {
    std::string out(text);
    for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return out;
}

bool EqualsIgnoreCase(std::string_view a, std::string_view b) noexcept {
    if (a.size() != b.size()) return false;
    for (std::size_t i = 0; i < a.size(); ++i) {
        if (std::tolower(static_cast<unsigned char>(a[i])) != std::tolower(static_cast<unsigned char>(b[i])))
            return false;
    }
    return true;
}

namespace {

// Length of the well-formed UTF-8 sequence at the start of `s` (RFC 3629: no overlong forms, no surrogates, nothing
// above U+10FFFF), or 0 if there is none there.
std::size_t Utf8SequenceLength(std::string_view s) noexcept {
    auto b = [&](std::size_t i) { return static_cast<unsigned char>(s[i]); };
    auto cont = [&](std::size_t i) { return i < s.size() && (b(i) & 0xC0) == 0x80; };
    unsigned char c = b(0);
    if (c < 0x80) return 1;
    if (c >= 0xC2 && c <= 0xDF) return cont(1) ? 2 : 0;
    if (c >= 0xE0 && c <= 0xEF) {
        if (!cont(1) || !cont(2)) return 0;
        if (c == 0xE0 && b(1) < 0xA0) return 0;  // overlong
        if (c == 0xED && b(1) > 0x9F) return 0;  // UTF-16 surrogates
        return 3;
    }
    if (c >= 0xF0 && c <= 0xF4) {
        if (!cont(1) || !cont(2) || !cont(3)) return 0;
        if (c == 0xF0 && b(1) < 0x90) return 0;  // overlong
        if (c == 0xF4 && b(1) > 0x8F) return 0;  // above U+10FFFF
        return 4;
    }
    return 0;
}

}  // namespace

void AppendJsonEscaped(std::string& out, std::string_view text) {
    for (std::size_t i = 0; i < text.size();) {
        auto c = static_cast<unsigned char>(text[i]);
        if (c >= 0x80) {
            // JSON text is UTF-8 (RFC 8259 §8.1): a byte that does not start a well-formed sequence becomes
            // U+FFFD, as nlohmann's and Python's "replace" do, so the output is valid whatever the input.
            std::size_t n = Utf8SequenceLength(text.substr(i));
            if (n == 0) {
                out += "\xEF\xBF\xBD";
                ++i;
            } else {
                out.append(text.substr(i, n));
                i += n;
            }
            continue;
        }
        switch (c) {
            case '"':
                out += "\\\"";
                break;
            case '\\':
                out += "\\\\";
                break;
            case '\n':
                out += "\\n";
                break;
            case '\r':
                out += "\\r";
                break;
            case '\t':
                out += "\\t";
                break;
            default:
                if (c < 0x20) {
                    out += fmt::format("\\u{:04x}", c);
                } else {
                    out += static_cast<char>(c);
                }
        }
        ++i;
    }
}

}  // namespace gale
