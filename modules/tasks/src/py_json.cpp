// SPDX-License-Identifier: MIT
// Python's json.dumps and repr(), for Celery's bytes.
//
// Why not nlohmann's dump(): Celery's messages are written by kombu's json.dumps with Python's defaults, whose
// separators (", ", ": "), ASCII-only escaping (lower-case \uXXXX) and float format (repr: "1.0", "1e+16") all differ
// from dump()'s. A gale producer that writes the same bytes as Python is one an interop test can compare exactly.
#include "py_json.hpp"

#include <charconv>
#include <cmath>
#include <cstdint>

#include <fmt/format.h>

namespace gale::tasks::detail {
namespace {

constexpr char kHex[] = "0123456789abcdef";
constexpr char32_t kReplacement = 0xFFFD;

/// Decodes one code point at s[i]; malformed input yields U+FFFD for one byte. Returns the length consumed.
std::size_t DecodeUtf8(std::string_view s, std::size_t i, char32_t& cp) {
    const auto byte = [&](std::size_t k) { return static_cast<unsigned char>(s[k]); };
    const unsigned char b0 = byte(i);
    if (b0 < 0x80) {
        cp = b0;
        return 1;
    }
    std::size_t len = 0;
    char32_t value = 0;
    char32_t min = 0;
    if ((b0 & 0xE0) == 0xC0) {
        len = 2;
        value = b0 & 0x1F;
        min = 0x80;
    } else if ((b0 & 0xF0) == 0xE0) {
        len = 3;
        value = b0 & 0x0F;
        min = 0x800;
    } else if ((b0 & 0xF8) == 0xF0) {
        len = 4;
        value = b0 & 0x07;
        min = 0x10000;
    } else {
        cp = kReplacement;
        return 1;
    }
    if (s.size() - i < len) {
        cp = kReplacement;
        return 1;
    }
    for (std::size_t k = 1; k < len; ++k) {
        const unsigned char b = byte(i + k);
        if ((b & 0xC0) != 0x80) {
            cp = kReplacement;
            return 1;
        }
        value = (value << 6) | (b & 0x3F);
    }
    if (value < min || value > 0x10FFFF || (value >= 0xD800 && value <= 0xDFFF)) {
        cp = kReplacement;
        return 1;
    }
    cp = value;
    return len;
}

void AppendUtf8(std::string& out, char32_t cp) {
    if (cp < 0x80) {
        out.push_back(static_cast<char>(cp));
    } else if (cp < 0x800) {
        out.push_back(static_cast<char>(0xC0 | (cp >> 6)));
        out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
    } else if (cp < 0x10000) {
        out.push_back(static_cast<char>(0xE0 | (cp >> 12)));
        out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
        out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
    } else {
        out.push_back(static_cast<char>(0xF0 | (cp >> 18)));
        out.push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
        out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
        out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
    }
}

void AppendU16Escape(std::string& out, unsigned v) {
    out += "\\u";
    out.push_back(kHex[(v >> 12) & 0xF]);
    out.push_back(kHex[(v >> 8) & 0xF]);
    out.push_back(kHex[(v >> 4) & 0xF]);
    out.push_back(kHex[v & 0xF]);
}

void AppendJsonString(std::string& out, std::string_view s) {
    out.push_back('"');
    for (std::size_t i = 0; i < s.size();) {
        const auto c = static_cast<unsigned char>(s[i]);
        if (c >= 0x20 && c < 0x7F && c != '"' && c != '\\') {
            out.push_back(static_cast<char>(c));
            ++i;
            continue;
        }
        switch (c) {
            case '"':
                out += "\\\"";
                ++i;
                continue;
            case '\\':
                out += "\\\\";
                ++i;
                continue;
            case '\n':
                out += "\\n";
                ++i;
                continue;
            case '\r':
                out += "\\r";
                ++i;
                continue;
            case '\t':
                out += "\\t";
                ++i;
                continue;
            case '\b':
                out += "\\b";
                ++i;
                continue;
            case '\f':
                out += "\\f";
                ++i;
                continue;
            default:
                break;
        }
        char32_t cp = 0;
        i += DecodeUtf8(s, i, cp);
        if (cp >= 0x10000) {
            const char32_t v = cp - 0x10000;
            AppendU16Escape(out, static_cast<unsigned>(0xD800 + (v >> 10)));
            AppendU16Escape(out, static_cast<unsigned>(0xDC00 + (v & 0x3FF)));
        } else {
            AppendU16Escape(out, static_cast<unsigned>(cp));
        }
    }
    out.push_back('"');
}

void AppendFloat(std::string& out, double d) {
    if (std::isnan(d)) {
        out += "NaN";
    } else if (std::isinf(d)) {
        out += d < 0 ? "-Infinity" : "Infinity";
    } else {
        out += PythonFloatRepr(d);
    }
}

void AppendReprString(std::string& out, std::string_view s) {
    const bool has_single = s.find('\'') != std::string_view::npos;
    const bool has_double = s.find('"') != std::string_view::npos;
    const char quote = has_single && !has_double ? '"' : '\'';
    out.push_back(quote);
    for (std::size_t i = 0; i < s.size();) {
        char32_t cp = 0;
        const std::size_t n = DecodeUtf8(s, i, cp);
        i += n;
        if (cp == static_cast<char32_t>(quote) || cp == '\\') {
            out.push_back('\\');
            out.push_back(static_cast<char>(cp));
        } else if (cp == '\n') {
            out += "\\n";
        } else if (cp == '\r') {
            out += "\\r";
        } else if (cp == '\t') {
            out += "\\t";
        } else if (cp < 0x20 || (cp >= 0x7F && cp < 0xA0)) {
            out += "\\x";
            out.push_back(kHex[(cp >> 4) & 0xF]);
            out.push_back(kHex[cp & 0xF]);
        } else {
            AppendUtf8(out, cp);
        }
    }
    out.push_back(quote);
}

void AppendRepr(std::string& out, const nlohmann::ordered_json& v, bool as_tuple, std::size_t limit) {
    if (out.size() > limit) return;  // the caller truncates; stop growing
    switch (v.type()) {
        case nlohmann::ordered_json::value_t::null:
            out += "None";
            return;
        case nlohmann::ordered_json::value_t::boolean:
            out += v.get<bool>() ? "True" : "False";
            return;
        case nlohmann::ordered_json::value_t::number_integer:
            out += std::to_string(v.get<std::int64_t>());
            return;
        case nlohmann::ordered_json::value_t::number_unsigned:
            out += std::to_string(v.get<std::uint64_t>());
            return;
        case nlohmann::ordered_json::value_t::number_float: {
            const double d = v.get<double>();
            if (std::isnan(d)) {
                out += "nan";
            } else if (std::isinf(d)) {
                out += d < 0 ? "-inf" : "inf";
            } else {
                out += PythonFloatRepr(d);
            }
            return;
        }
        case nlohmann::ordered_json::value_t::string:
            AppendReprString(out, v.get_ref<const std::string&>());
            return;
        case nlohmann::ordered_json::value_t::array: {
            out.push_back(as_tuple ? '(' : '[');
            bool first = true;
            for (const auto& item : v) {
                if (!first) out += ", ";
                first = false;
                AppendRepr(out, item, false, limit);
            }
            if (as_tuple && v.size() == 1) out.push_back(',');
            out.push_back(as_tuple ? ')' : ']');
            return;
        }
        case nlohmann::ordered_json::value_t::object: {
            out.push_back('{');
            bool first = true;
            for (const auto& [key, item] : v.items()) {
                if (!first) out += ", ";
                first = false;
                AppendReprString(out, key);
                out += ": ";
                AppendRepr(out, item, false, limit);
            }
            out.push_back('}');
            return;
        }
        case nlohmann::ordered_json::value_t::binary:
            out += "b''";
            return;
        case nlohmann::ordered_json::value_t::discarded:
            return;
    }
}

}  // namespace

std::string PythonFloatRepr(double value) {
    char buf[64];
    const auto res = std::to_chars(buf, buf + sizeof buf, value, std::chars_format::scientific);
    std::string_view sci(buf, static_cast<std::size_t>(res.ptr - buf));  // "-1.2345e+16", "0e+00"
    std::string out;
    if (!sci.empty() && sci.front() == '-') {
        out.push_back('-');
        sci.remove_prefix(1);
    }
    const std::size_t e_pos = sci.find('e');
    std::string digits(1, sci[0]);
    if (sci.size() > 1 && sci[1] == '.') digits.append(sci.substr(2, e_pos - 2));
    std::string_view exp_text = sci.substr(e_pos + 1);
    const bool exp_negative = exp_text.front() == '-';
    exp_text.remove_prefix(1);
    int exponent = 0;
    std::from_chars(exp_text.data(), exp_text.data() + exp_text.size(), exponent);
    if (exp_negative) exponent = -exponent;
    if (exponent < -4 || exponent >= 16) {
        out.push_back(digits[0]);
        if (digits.size() > 1) {
            out.push_back('.');
            out.append(digits, 1);
        }
        out += fmt::format("e{}{:02d}", exponent < 0 ? '-' : '+', exponent < 0 ? -exponent : exponent);
    } else if (exponent < 0) {
        out += "0.";
        out.append(static_cast<std::size_t>(-exponent - 1), '0');
        out += digits;
    } else {
        const auto int_digits = static_cast<std::size_t>(exponent) + 1;
        if (digits.size() <= int_digits) {
            out += digits;
            out.append(int_digits - digits.size(), '0');
            out += ".0";
        } else {
            out.append(digits, 0, int_digits);
            out.push_back('.');
            out.append(digits, int_digits);
        }
    }
    return out;
}

void AppendPythonJson(std::string& out, const nlohmann::ordered_json& v) {
    switch (v.type()) {
        case nlohmann::ordered_json::value_t::null:
            out += "null";
            return;
        case nlohmann::ordered_json::value_t::boolean:
            out += v.get<bool>() ? "true" : "false";
            return;
        case nlohmann::ordered_json::value_t::number_integer:
            out += std::to_string(v.get<std::int64_t>());
            return;
        case nlohmann::ordered_json::value_t::number_unsigned:
            out += std::to_string(v.get<std::uint64_t>());
            return;
        case nlohmann::ordered_json::value_t::number_float:
            AppendFloat(out, v.get<double>());
            return;
        case nlohmann::ordered_json::value_t::string:
            AppendJsonString(out, v.get_ref<const std::string&>());
            return;
        case nlohmann::ordered_json::value_t::array: {
            out.push_back('[');
            bool first = true;
            for (const auto& item : v) {
                if (!first) out += ", ";
                first = false;
                AppendPythonJson(out, item);
            }
            out.push_back(']');
            return;
        }
        case nlohmann::ordered_json::value_t::object: {
            out.push_back('{');
            bool first = true;
            for (const auto& [key, item] : v.items()) {
                if (!first) out += ", ";
                first = false;
                AppendJsonString(out, key);
                out += ": ";
                AppendPythonJson(out, item);
            }
            out.push_back('}');
            return;
        }
        case nlohmann::ordered_json::value_t::binary:
        case nlohmann::ordered_json::value_t::discarded:
            out += "null";  // not produced by JSON parsing; never part of a task message
            return;
    }
}

std::string PythonJson(const nlohmann::ordered_json& value) {
    std::string out;
    AppendPythonJson(out, value);
    return out;
}

std::string PythonRepr(const nlohmann::ordered_json& value, bool as_tuple, std::size_t max_size) {
    std::string out;
    AppendRepr(out, value, as_tuple, max_size);
    if (out.size() > max_size) {
        std::size_t keep = max_size >= 3 ? max_size - 3 : 0;
        while (keep > 0 && (static_cast<unsigned char>(out[keep]) & 0xC0) == 0x80) --keep;  // a code point boundary
        out.resize(keep);
        out += "...";
    }
    return out;
}

}  // namespace gale::tasks::detail
