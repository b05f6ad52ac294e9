// SPDX-License-Identifier: MIT
// django-logpipe's wire format.
//
// Design:
// - The JSON writer is our own, not nlohmann's dump(): the bytes must be those of DRF's JSONRenderer (Python's
//   json.dumps with ensure_ascii=False and compact separators, then U+2028/U+2029 replaced by escapes), and dump()
//   differs in string escaping (uppercase hex) and float format (%.17g-style, no ".0", no "e+XX").
// - Floats use Python's repr: the shortest digits that round-trip (std::to_chars gives them), laid out as Python's
//   float_repr_style "short" does: positional when -4 <= exponent < 16 (with ".0" for integral values), otherwise
//   d[.ddd]e±XX with at least two exponent digits.
// - The msgpack writer mirrors msgpack-python's packb(use_bin_type=True): smallest encodings, float64 only.
// - The msgpack reader is our own and strict, like msgpack.unpackb(raw=False, strict_map_key=True): invalid UTF-8
//   in a str, a non-str map key, an ext type and trailing bytes are errors. Ext types are refused (Python would
//   return ExtType objects no serializer can use).
// - JSON is parsed by our own strict reader (json_reader.cpp; it accepts what nlohmann::ordered_json::parse did,
//   at about a third of its cost), which matches Python's json.loads on everything that matters here (whitespace,
//   last duplicate key wins at the first key's position, NaN/Infinity refused, strict UTF-8, nothing after the
//   value). A leading UTF-8 BOM is refused by name, as DRF refuses it. Two deliberate differences, both stricter: a
//   number that overflows a double (1E400; Python reads +inf, which JSON could not render again) and a lone
//   surrogate escape ("\ud800"; Python keeps it, and could not encode it as UTF-8 again) are malformed bodies.
// - Recursion (writers, readers, repr) is bounded by kMaxDepth.
#include <charconv>
#include <cmath>
#include <cstring>
#include <limits>
#include <string>
#include <string_view>
#include <system_error>

#include <fmt/format.h>

#include <gale/pipe/wire.hpp>

#include "json_reader.hpp"

namespace gale::pipe {
namespace {

// ---- UTF-8 ---------------------------------------------------------------------------------------------------

/// Decodes one code point at s[i] (strict: no overlongs, no surrogates, <= U+10FFFF). Returns the length, 0 if
/// the sequence is invalid.
std::size_t DecodeUtf8(std::string_view s, std::size_t i, char32_t* cp) {
    const auto byte = [&](std::size_t k) { return static_cast<unsigned char>(s[k]); };
    const unsigned char b0 = byte(i);
    if (b0 < 0x80) {
        *cp = b0;
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
        return 0;
    }
    if (s.size() - i < len) return 0;
    for (std::size_t k = 1; k < len; ++k) {
        const unsigned char b = byte(i + k);
        if ((b & 0xC0) != 0x80) return 0;
        value = (value << 6) | (b & 0x3F);
    }
    if (value < min || value > 0x10FFFF || (value >= 0xD800 && value <= 0xDFFF)) return 0;
    *cp = value;
    return len;
}

bool ValidUtf8(std::string_view s) {
    for (std::size_t i = 0; i < s.size();) {
        char32_t cp = 0;
        const std::size_t n = DecodeUtf8(s, i, &cp);
        if (n == 0) return false;
        i += n;
    }
    return true;
}

tl::unexpected<Error> Invalid(std::string message) {
    return MakeError(ErrorCode::kInvalidArgument, std::move(message));
}

// ---- Python float repr -----------------------------------------------------------------------------------------

/// Python's repr(float) for a finite value.
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
    exp_text.remove_prefix(1);  // the sign, always present in to_chars' scientific form
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

// ---- JSON writer (DRF JSONRenderer) ------------------------------------------------------------------------------

void AppendJsonString(std::string& out, std::string_view s) {
    static constexpr char kHex[] = "0123456789abcdef";
    out.push_back('"');
    for (std::size_t i = 0; i < s.size(); ++i) {
        const auto c = static_cast<unsigned char>(s[i]);
        switch (c) {
            case '"':
                out += "\\\"";
                break;
            case '\\':
                out += "\\\\";
                break;
            case '\b':
                out += "\\b";
                break;
            case '\f':
                out += "\\f";
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
                    out += "\\u00";
                    out.push_back(kHex[c >> 4]);
                    out.push_back(kHex[c & 0xF]);
                } else if (c == 0xE2 && i + 2 < s.size() && static_cast<unsigned char>(s[i + 1]) == 0x80 &&
                           (static_cast<unsigned char>(s[i + 2]) == 0xA8 ||
                            static_cast<unsigned char>(s[i + 2]) == 0xA9)) {
                    // DRF replaces U+2028/U+2029 after encoding (they end lines in JavaScript).
                    out += static_cast<unsigned char>(s[i + 2]) == 0xA8 ? "\\u2028" : "\\u2029";
                    i += 2;
                } else {
                    out.push_back(static_cast<char>(c));
                }
        }
    }
    out.push_back('"');
}

Result<void> CheckedString(std::string_view s) {
    if (!ValidUtf8(s)) return Invalid("string is not valid UTF-8");
    return {};
}

Result<void> WriteJson(const Value& v, std::string& out, int depth) {
    if (depth > kMaxDepth) return Invalid(fmt::format("nesting deeper than {}", kMaxDepth));
    switch (v.type()) {
        case Value::value_t::null:
            out += "null";
            return {};
        case Value::value_t::boolean:
            out += v.get<bool>() ? "true" : "false";
            return {};
        case Value::value_t::number_integer:
            out += std::to_string(v.get<std::int64_t>());
            return {};
        case Value::value_t::number_unsigned:
            out += std::to_string(v.get<std::uint64_t>());
            return {};
        case Value::value_t::number_float: {
            const double d = v.get<double>();
            if (!std::isfinite(d))
                return Invalid("out of range float values are not JSON compliant: " + std::to_string(d));
            out += PythonFloatRepr(d);
            return {};
        }
        case Value::value_t::string: {
            const auto& s = v.get_ref<const std::string&>();
            GALE_RETURN_IF_ERROR(CheckedString(s));
            AppendJsonString(out, s);
            return {};
        }
        case Value::value_t::array: {
            out.push_back('[');
            bool first = true;
            for (const auto& item : v) {
                if (!first) out.push_back(',');
                first = false;
                GALE_RETURN_IF_ERROR(WriteJson(item, out, depth + 1));
            }
            out.push_back(']');
            return {};
        }
        case Value::value_t::object: {
            out.push_back('{');
            bool first = true;
            for (const auto& [key, item] : v.items()) {
                if (!first) out.push_back(',');
                first = false;
                GALE_RETURN_IF_ERROR(CheckedString(key));
                AppendJsonString(out, key);
                out.push_back(':');
                GALE_RETURN_IF_ERROR(WriteJson(item, out, depth + 1));
            }
            out.push_back('}');
            return {};
        }
        case Value::value_t::binary:
            return Invalid("binary values cannot be rendered as JSON");
        case Value::value_t::discarded:
            break;
    }
    return Invalid("discarded value cannot be rendered");
}

// ---- msgpack writer (msgpack-python packb, use_bin_type=True) ----------------------------------------------------

void PutBigEndian(std::string& out, std::uint64_t v, int bytes) {
    for (int i = bytes - 1; i >= 0; --i) out.push_back(static_cast<char>((v >> (8 * i)) & 0xFF));
}

void PutHeader(std::string& out, std::size_t n, unsigned fix_base, std::size_t fix_limit, int first_marker, bool has8) {
    // fix_base|n below fix_limit; then (8-bit if has8), 16-bit, 32-bit forms at first_marker, +1, +2.
    if (n < fix_limit) {
        out.push_back(static_cast<char>(fix_base | n));
    } else if (has8 && n <= 0xFF) {
        out.push_back(static_cast<char>(first_marker));
        PutBigEndian(out, n, 1);
    } else if (n <= 0xFFFF) {
        out.push_back(static_cast<char>(first_marker + (has8 ? 1 : 0)));
        PutBigEndian(out, n, 2);
    } else {
        out.push_back(static_cast<char>(first_marker + (has8 ? 2 : 1)));
        PutBigEndian(out, n, 4);
    }
}

Result<void> PutMsgpackString(std::string& out, std::string_view s) {
    GALE_RETURN_IF_ERROR(CheckedString(s));
    if (s.size() > 0xFFFFFFFFu) return Invalid("string too long for msgpack");
    PutHeader(out, s.size(), 0xA0, 32, 0xD9, true);
    out.append(s);
    return {};
}

void PutUnsigned(std::string& out, std::uint64_t u) {
    if (u < 0x80) {
        out.push_back(static_cast<char>(u));
    } else if (u <= 0xFF) {
        out.push_back(static_cast<char>(0xCC));
        PutBigEndian(out, u, 1);
    } else if (u <= 0xFFFF) {
        out.push_back(static_cast<char>(0xCD));
        PutBigEndian(out, u, 2);
    } else if (u <= 0xFFFFFFFFu) {
        out.push_back(static_cast<char>(0xCE));
        PutBigEndian(out, u, 4);
    } else {
        out.push_back(static_cast<char>(0xCF));
        PutBigEndian(out, u, 8);
    }
}

void PutSigned(std::string& out, std::int64_t i) {
    if (i >= 0) {
        PutUnsigned(out, static_cast<std::uint64_t>(i));
        return;
    }
    const auto bits = static_cast<std::uint64_t>(i);
    if (i >= -32) {
        out.push_back(static_cast<char>(bits & 0xFF));
    } else if (i >= -0x80) {
        out.push_back(static_cast<char>(0xD0));
        PutBigEndian(out, bits, 1);
    } else if (i >= -0x8000) {
        out.push_back(static_cast<char>(0xD1));
        PutBigEndian(out, bits, 2);
    } else if (i >= -0x80000000LL) {
        out.push_back(static_cast<char>(0xD2));
        PutBigEndian(out, bits, 4);
    } else {
        out.push_back(static_cast<char>(0xD3));
        PutBigEndian(out, bits, 8);
    }
}

Result<void> WriteMsgpack(const Value& v, std::string& out, int depth) {
    if (depth > kMaxDepth) return Invalid(fmt::format("nesting deeper than {}", kMaxDepth));
    switch (v.type()) {
        case Value::value_t::null:
            out.push_back(static_cast<char>(0xC0));
            return {};
        case Value::value_t::boolean:
            out.push_back(static_cast<char>(v.get<bool>() ? 0xC3 : 0xC2));
            return {};
        case Value::value_t::number_integer:
            PutSigned(out, v.get<std::int64_t>());
            return {};
        case Value::value_t::number_unsigned:
            PutUnsigned(out, v.get<std::uint64_t>());
            return {};
        case Value::value_t::number_float: {
            const double d = v.get<double>();
            std::uint64_t bits = 0;
            std::memcpy(&bits, &d, sizeof bits);
            out.push_back(static_cast<char>(0xCB));
            PutBigEndian(out, bits, 8);
            return {};
        }
        case Value::value_t::string:
            return PutMsgpackString(out, v.get_ref<const std::string&>());
        case Value::value_t::binary: {
            const auto& bin = v.get_binary();
            if (bin.size() > 0xFFFFFFFFu) return Invalid("binary too long for msgpack");
            // bin8/16/32: no fix form, so the "fix limit" is 0.
            PutHeader(out, bin.size(), 0, 0, 0xC4, true);
            out.append(reinterpret_cast<const char*>(bin.data()), bin.size());
            return {};
        }
        case Value::value_t::array:
            if (v.size() > 0xFFFFFFFFu) return Invalid("array too long for msgpack");
            PutHeader(out, v.size(), 0x90, 16, 0xDC, false);
            for (const auto& item : v) GALE_RETURN_IF_ERROR(WriteMsgpack(item, out, depth + 1));
            return {};
        case Value::value_t::object:
            if (v.size() > 0xFFFFFFFFu) return Invalid("map too long for msgpack");
            PutHeader(out, v.size(), 0x80, 16, 0xDE, false);
            for (const auto& [key, item] : v.items()) {
                GALE_RETURN_IF_ERROR(PutMsgpackString(out, key));
                GALE_RETURN_IF_ERROR(WriteMsgpack(item, out, depth + 1));
            }
            return {};
        case Value::value_t::discarded:
            break;
    }
    return Invalid("discarded value cannot be rendered");
}

// ---- msgpack reader (msgpack.unpackb, raw=False, strict_map_key=True) ---------------------------------------------

class MsgpackReader {
public:
    explicit MsgpackReader(std::string_view in) : in_(in) {}

    Result<Value> ReadDocument() {
        GALE_ASSIGN_OR_RETURN(Value v, Read(0));
        if (pos_ != in_.size()) return Fail(fmt::format("{} trailing bytes after the object", in_.size() - pos_));
        return v;
    }

private:
    tl::unexpected<Error> Fail(std::string what) const {
        return Invalid(fmt::format("malformed msgpack body at byte {}: {}", pos_, what));
    }

    std::size_t Remaining() const { return in_.size() - pos_; }

    Result<std::uint64_t> ReadBig(int bytes) {
        if (Remaining() < static_cast<std::size_t>(bytes)) return Fail("truncated");
        std::uint64_t v = 0;
        for (int i = 0; i < bytes; ++i) v = (v << 8) | static_cast<unsigned char>(in_[pos_++]);
        return v;
    }

    Result<std::string_view> ReadBytes(std::uint64_t n) {
        if (Remaining() < n) return Fail("truncated");
        std::string_view s = in_.substr(pos_, static_cast<std::size_t>(n));
        pos_ += static_cast<std::size_t>(n);
        return s;
    }

    Result<Value> ReadStr(std::uint64_t n) {
        GALE_ASSIGN_OR_RETURN(std::string_view s, ReadBytes(n));
        if (!ValidUtf8(s)) return Fail("str is not valid UTF-8");
        return Value(std::string(s));
    }

    Result<Value> ReadBin(std::uint64_t n) {
        GALE_ASSIGN_OR_RETURN(std::string_view s, ReadBytes(n));
        return Value::binary(Value::binary_t::container_type(s.begin(), s.end()));
    }

    Result<Value> ReadArray(std::uint64_t n, int depth) {
        if (n > Remaining()) return Fail("truncated");  // every element takes at least one byte
        Value arr = Value::array();
        arr.get_ref<Value::array_t&>().reserve(static_cast<std::size_t>(n));
        for (std::uint64_t i = 0; i < n; ++i) {
            GALE_ASSIGN_OR_RETURN(Value item, Read(depth + 1));
            arr.push_back(std::move(item));
        }
        return arr;
    }

    Result<Value> ReadMap(std::uint64_t n, int depth) {
        if (n > Remaining() / 2) return Fail("truncated");  // a key and a value take at least two bytes
        Value map = Value::object();
        for (std::uint64_t i = 0; i < n; ++i) {
            const std::size_t key_at = pos_;
            GALE_ASSIGN_OR_RETURN(Value key, Read(depth + 1));
            if (!key.is_string()) {
                pos_ = key_at;
                return Fail(fmt::format("map key is a {}, not a str", key.type_name()));
            }
            GALE_ASSIGN_OR_RETURN(Value item, Read(depth + 1));
            // Python dict semantics: the last duplicate wins, at the first one's position.
            map[key.get_ref<const std::string&>()] = std::move(item);
        }
        return map;
    }

    Result<Value> Read(int depth) {
        if (depth > kMaxDepth) return Fail(fmt::format("nesting deeper than {}", kMaxDepth));
        if (Remaining() == 0) return Fail("truncated");
        const auto marker = static_cast<unsigned char>(in_[pos_++]);
        if (marker <= 0x7F) return Value(static_cast<std::uint64_t>(marker));
        if (marker <= 0x8F) return ReadMap(marker & 0x0F, depth);
        if (marker <= 0x9F) return ReadArray(marker & 0x0F, depth);
        if (marker <= 0xBF) return ReadStr(marker & 0x1F);
        if (marker >= 0xE0) return Value(static_cast<std::int64_t>(static_cast<signed char>(marker)));
        switch (marker) {
            case 0xC0:
                return Value(nullptr);
            case 0xC2:
                return Value(false);
            case 0xC3:
                return Value(true);
            case 0xC4:
            case 0xC5:
            case 0xC6: {
                GALE_ASSIGN_OR_RETURN(std::uint64_t n, ReadBig(1 << (marker - 0xC4)));
                return ReadBin(n);
            }
            case 0xCA: {
                GALE_ASSIGN_OR_RETURN(std::uint64_t bits, ReadBig(4));
                const auto bits32 = static_cast<std::uint32_t>(bits);
                float f = 0;
                std::memcpy(&f, &bits32, sizeof f);
                return Value(static_cast<double>(f));
            }
            case 0xCB: {
                GALE_ASSIGN_OR_RETURN(std::uint64_t bits, ReadBig(8));
                double d = 0;
                std::memcpy(&d, &bits, sizeof d);
                return Value(d);
            }
            case 0xCC:
            case 0xCD:
            case 0xCE:
            case 0xCF: {
                GALE_ASSIGN_OR_RETURN(std::uint64_t u, ReadBig(1 << (marker - 0xCC)));
                return Value(u);
            }
            case 0xD0:
            case 0xD1:
            case 0xD2:
            case 0xD3: {
                const int bytes = 1 << (marker - 0xD0);
                GALE_ASSIGN_OR_RETURN(std::uint64_t u, ReadBig(bytes));
                // Sign-extend from `bytes` bytes.
                const int shift = 64 - 8 * bytes;
                const auto i = static_cast<std::int64_t>(u << shift) >> shift;
                return Value(i);
            }
            case 0xD9:
            case 0xDA:
            case 0xDB: {
                GALE_ASSIGN_OR_RETURN(std::uint64_t n, ReadBig(1 << (marker - 0xD9)));
                return ReadStr(n);
            }
            case 0xDC:
            case 0xDD: {
                GALE_ASSIGN_OR_RETURN(std::uint64_t n, ReadBig(marker == 0xDC ? 2 : 4));
                return ReadArray(n, depth);
            }
            case 0xDE:
            case 0xDF: {
                GALE_ASSIGN_OR_RETURN(std::uint64_t n, ReadBig(marker == 0xDE ? 2 : 4));
                return ReadMap(n, depth);
            }
            case 0xC1:
                --pos_;
                return Fail("reserved marker 0xc1");
            default:
                --pos_;
                return Fail(fmt::format("ext type marker 0x{:02x} is not supported", marker));
        }
    }

    std::string_view in_;
    std::size_t pos_ = 0;
};

Result<Value> ParseJson(std::string_view body) {
    if (body.substr(0, 3) == "\xEF\xBB\xBF") return Invalid("malformed json body: unexpected UTF-8 BOM");
    auto v = detail::ReadJson(body);
    if (!v) return Invalid(fmt::format("malformed json body: {}", v.error().message()));
    return v;
}

// ---- Python str()/repr() for KeyFor --------------------------------------------------------------------------

/// Code points Python's str.isprintable() rejects, beyond ASCII controls: C1 controls, the common Unicode
/// separators and format characters, private use. An approximation of the full Unicode database (documented).
bool NonPrintable(char32_t cp) {
    return cp < 0x20 || (cp >= 0x7F && cp <= 0xA0) || cp == 0xAD || cp == 0x061C || cp == 0x180E ||
           (cp >= 0x2000 && cp <= 0x200F) || (cp >= 0x2028 && cp <= 0x202F) || (cp >= 0x205F && cp <= 0x206F) ||
           cp == 0x3000 || (cp >= 0xE000 && cp <= 0xF8FF) || cp == 0xFEFF || (cp >= 0xFFF9 && cp <= 0xFFFB) ||
           cp >= 0xF0000;
}

void AppendPyStrRepr(std::string& out, std::string_view s) {
    const bool has_single = s.find('\'') != std::string_view::npos;
    const bool has_double = s.find('"') != std::string_view::npos;
    const char quote = has_single && !has_double ? '"' : '\'';
    out.push_back(quote);
    for (std::size_t i = 0; i < s.size();) {
        char32_t cp = 0;
        std::size_t n = DecodeUtf8(s, i, &cp);
        if (n == 0) {  // cannot happen for a parsed Value; keep going byte-wise
            cp = static_cast<unsigned char>(s[i]);
            n = 1;
        }
        if (cp == static_cast<char32_t>(quote) || cp == '\\') {
            out.push_back('\\');
            out.push_back(static_cast<char>(cp));
        } else if (cp == '\t') {
            out += "\\t";
        } else if (cp == '\n') {
            out += "\\n";
        } else if (cp == '\r') {
            out += "\\r";
        } else if (NonPrintable(cp)) {
            if (cp <= 0xFF) {
                out += fmt::format("\\x{:02x}", static_cast<unsigned>(cp));
            } else if (cp <= 0xFFFF) {
                out += fmt::format("\\u{:04x}", static_cast<unsigned>(cp));
            } else {
                out += fmt::format("\\U{:08x}", static_cast<unsigned>(cp));
            }
        } else {
            out.append(s.substr(i, n));
        }
        i += n;
    }
    out.push_back(quote);
}

void AppendPyRepr(std::string& out, const Value& v, int depth) {
    if (depth > kMaxDepth) {
        out += "...";
        return;
    }
    switch (v.type()) {
        case Value::value_t::null:
            out += "None";
            return;
        case Value::value_t::boolean:
            out += v.get<bool>() ? "True" : "False";
            return;
        case Value::value_t::number_integer:
            out += std::to_string(v.get<std::int64_t>());
            return;
        case Value::value_t::number_unsigned:
            out += std::to_string(v.get<std::uint64_t>());
            return;
        case Value::value_t::number_float: {
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
        case Value::value_t::string:
            AppendPyStrRepr(out, v.get_ref<const std::string&>());
            return;
        case Value::value_t::binary: {
            out += "b'";
            for (const auto b : v.get_binary()) {
                if (b == '\'' || b == '\\') {
                    out.push_back('\\');
                    out.push_back(static_cast<char>(b));
                } else if (b == '\t') {
                    out += "\\t";
                } else if (b == '\n') {
                    out += "\\n";
                } else if (b == '\r') {
                    out += "\\r";
                } else if (b < 0x20 || b >= 0x7F) {
                    out += fmt::format("\\x{:02x}", b);
                } else {
                    out.push_back(static_cast<char>(b));
                }
            }
            out.push_back('\'');
            return;
        }
        case Value::value_t::array: {
            out.push_back('[');
            bool first = true;
            for (const auto& item : v) {
                if (!first) out += ", ";
                first = false;
                AppendPyRepr(out, item, depth + 1);
            }
            out.push_back(']');
            return;
        }
        case Value::value_t::object: {
            out.push_back('{');
            bool first = true;
            for (const auto& [key, item] : v.items()) {
                if (!first) out += ", ";
                first = false;
                AppendPyStrRepr(out, key);
                out += ": ";
                AppendPyRepr(out, item, depth + 1);
            }
            out.push_back('}');
            return;
        }
        case Value::value_t::discarded:
            return;
    }
}

tl::unexpected<Error> DecodeFailure(DecodeProblem* problem, DecodeProblem kind, std::string message) {
    if (problem != nullptr) *problem = kind;
    return Invalid(std::move(message));
}

}  // namespace

std::string_view ToString(Format format) noexcept {
    switch (format) {
        case Format::kJson:
            return "json";
        case Format::kMsgpack:
            return "msgpack";
    }
    return "unknown";
}

Result<std::string> Render(Format format, const Value& data) {
    std::string out(ToString(format));
    out.push_back(':');
    if (format == Format::kJson) {
        GALE_RETURN_IF_ERROR(WriteJson(data, out, 0));
    } else {
        GALE_RETURN_IF_ERROR(WriteMsgpack(data, out, 0));
    }
    return out;
}

Result<std::string> RenderEnvelope(Format format, const Envelope& envelope) {
    Value body = Value::object();
    body["type"] = envelope.type;
    body["version"] = envelope.version;
    body["message"] = envelope.message;
    if (!envelope.producer.empty()) body["producer"] = envelope.producer;
    return Render(format, body);
}

Result<Parsed> Parse(std::string_view bytes, DecodeProblem* problem) {
    if (problem != nullptr) *problem = DecodeProblem::kNone;
    const std::size_t colon = bytes.find(':');
    if (colon == std::string_view::npos) {
        return DecodeFailure(problem, DecodeProblem::kUnknownFormat, "no format prefix (no ':' in the record value)");
    }
    const std::string_view code = bytes.substr(0, colon);
    const std::string_view body = bytes.substr(colon + 1);
    Parsed parsed;
    if (code == "json") {
        parsed.format = Format::kJson;
        auto v = ParseJson(body);
        if (!v) return DecodeFailure(problem, DecodeProblem::kMalformedBody, v.error().message());
        parsed.data = std::move(*v);
    } else if (code == "msgpack") {
        parsed.format = Format::kMsgpack;
        auto v = MsgpackReader(body).ReadDocument();
        if (!v) return DecodeFailure(problem, DecodeProblem::kMalformedBody, v.error().message());
        parsed.data = std::move(*v);
    } else {
        // Quote the code as Python's repr would not: it may hold any bytes, so keep it short and printable.
        std::string shown;
        for (const char c : code.substr(0, 32)) {
            const auto u = static_cast<unsigned char>(c);
            shown += (u >= 0x20 && u < 0x7F) ? std::string(1, c) : fmt::format("\\x{:02x}", u);
        }
        return DecodeFailure(problem, DecodeProblem::kUnknownFormat, fmt::format("unknown format '{}'", shown));
    }
    return parsed;
}

Result<Decoded> DecodeEnvelope(std::string_view bytes, DecodeProblem* problem) {
    GALE_ASSIGN_OR_RETURN(Parsed parsed, Parse(bytes, problem));
    Value& data = parsed.data;
    if (!data.is_object()) {
        return DecodeFailure(problem, DecodeProblem::kInvalidEnvelope,
                             fmt::format("envelope is a {}, not a map", data.type_name()));
    }
    // One pass over the (insertion-ordered, duplicate-free) keys instead of a linear find per key.
    Value* type = nullptr;
    Value* version = nullptr;
    Value* message = nullptr;
    Value* producer = nullptr;
    for (auto& [key, value] : data.items()) {
        if (key == "type") {
            type = &value;
        } else if (key == "version") {
            version = &value;
        } else if (key == "message") {
            message = &value;
        } else if (key == "producer") {
            producer = &value;
        }
    }
    for (const auto& [key, found] : {std::pair{"type", type}, {"version", version}, {"message", message}}) {
        if (found == nullptr) {
            return DecodeFailure(problem, DecodeProblem::kInvalidEnvelope,
                                 fmt::format("missing top-level \"{}\" key", key));
        }
    }
    if (!type->is_string()) {
        return DecodeFailure(problem, DecodeProblem::kInvalidEnvelope,
                             fmt::format("top-level \"type\" is a {}, not a string", type->type_name()));
    }
    Decoded decoded;
    decoded.format = parsed.format;
    decoded.envelope.type = std::move(type->get_ref<std::string&>());
    decoded.envelope.version = std::move(*version);
    decoded.envelope.message = std::move(*message);
    if (producer != nullptr && producer->is_string()) {
        decoded.envelope.producer = std::move(producer->get_ref<std::string&>());
    }
    return decoded;
}

bool VersionMatches(const Value& received, std::int64_t registered) noexcept {
    switch (received.type()) {
        case Value::value_t::number_integer:
            return received.get<std::int64_t>() == registered;
        case Value::value_t::number_unsigned:
            return registered >= 0 && received.get<std::uint64_t>() == static_cast<std::uint64_t>(registered);
        case Value::value_t::boolean:
            return (received.get<bool>() ? 1 : 0) == registered;
        case Value::value_t::number_float: {
            // Python compares int and float exactly: only an integral float in range can match.
            const double d = received.get<double>();
            if (!std::isfinite(d) || std::trunc(d) != d) return false;
            if (d < -9223372036854775808.0 || d >= 9223372036854775808.0) return false;
            return static_cast<std::int64_t>(d) == registered;
        }
        default:
            return false;
    }
}

Result<std::string> KeyFor(const Value& message, std::string_view key_field) {
    if (key_field.empty()) return std::string();
    if (!message.is_object()) {
        return Invalid(
            fmt::format("cannot read key field '{}': the message is a {}, not a map", key_field, message.type_name()));
    }
    const auto it = message.find(std::string(key_field));
    if (it == message.end()) {
        return MakeError(ErrorCode::kNotFound, fmt::format("key field '{}' is missing from the message", key_field));
    }
    if (it->is_string()) return it->get<std::string>();
    std::string out;
    AppendPyRepr(out, *it, 0);
    return out;
}

}  // namespace gale::pipe
