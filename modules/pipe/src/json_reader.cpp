// SPDX-License-Identifier: MIT
// A strict recursive-descent JSON reader for `json:` record bodies.
//
// Design:
// - Contract: accept exactly what nlohmann::ordered_json::parse followed by the kMaxDepth check accepted (that was
//   ParseJson before) and build the same Values, down to the type of every number and the order of every object's
//   keys. json_reader_test.cpp checks this differentially against nlohmann on generated and mutated documents.
//   One deliberate difference: nlohmann's lexer takes a NUL byte for the end of the input (it was written for C
//   strings), so "[1]\0anything" parsed as [1]; we refuse it, as Python's json.loads (the peer's reader) does.
// - Speed comes from seeing the whole buffer at once: a string without escapes is copied from the input in one go;
//   a number is scanned once and converted by a short loop (integers) or std::from_chars (floats: correctly
//   rounded, as glibc's strtod that nlohmann calls); containers collect their items on scratch stacks, so each one's
//   storage is allocated once, at its exact size.
// - Numbers are typed as nlohmann's lexer types them: a token without fraction or exponent is number_unsigned when
//   non-negative and within uint64, number_integer when negative and within int64 ("-0" is integer 0), and
//   otherwise a float (123456789012345678901234567890 reads as 1.2345678901234568e29). A float whose magnitude
//   overflows a double is an error (nlohmann: "number overflow"); one that underflows reads as ±0.
// - Objects: nlohmann's DOM parser assigns `object[key] = value`, so a repeated key keeps its first position and
//   takes the last value. Small objects find repeats by linear search, large ones through a hash index, so that a
//   body with many keys is not quadratic (nlohmann's was).
// - Depth: opening an array or object at nesting level kMaxDepth + 1 is an error, which also bounds the recursion
//   (two frames per level).
#include "json_reader.hpp"

#include <array>
#include <charconv>
#include <cstdint>
#include <cstring>
#include <iterator>
#include <limits>
#include <string>
#include <string_view>
#include <system_error>
#include <unordered_map>
#include <utility>
#include <vector>

#include <fmt/format.h>

namespace gale::pipe::detail {
namespace {

using Array = Value::array_t;
using Object = Value::object_t;

/// Objects up to this many members find repeated keys by linear search; larger ones build a hash index.
constexpr std::size_t kLinearKeySearchMax = 16;

/// Decimal digits that always fit a uint64 (10^19 - 1 < 2^64), so that short integers need no overflow check.
constexpr std::size_t kSafeUint64Digits = 19;

constexpr bool IsDigit(char c) { return c >= '0' && c <= '9'; }

constexpr bool IsWhitespace(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

/// Bytes a string holds as they are, without a closer look: printable ASCII except '"' and '\\'. One table load
/// per byte in the hot loop.
constexpr std::array<bool, 256> kPlainStringByte = [] {
    std::array<bool, 256> table{};
    for (std::size_t c = 0x20; c < 0x80; ++c) table[c] = c != '"' && c != '\\';
    return table;
}();

/// The value of a hex digit (any case), -1 for other characters.
constexpr int HexDigit(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

/// Length of the well-formed UTF-8 sequence at `p` (RFC 3629: no overlongs, no surrogates, nothing above U+10FFFF;
/// the same table nlohmann's lexer checks), 0 if it is ill-formed or cut off by `end`. `*p` is a byte >= 0x80.
std::size_t Utf8SequenceLength(const char* p, const char* end) {
    const auto avail = static_cast<std::size_t>(end - p);
    const auto byte = [p](std::size_t i) { return static_cast<unsigned char>(p[i]); };
    const auto in = [](unsigned char b, unsigned char lo, unsigned char hi) { return b >= lo && b <= hi; };
    const unsigned char lead = byte(0);
    if (in(lead, 0xC2, 0xDF)) return avail >= 2 && in(byte(1), 0x80, 0xBF) ? 2 : 0;
    if (in(lead, 0xE0, 0xEF)) {
        // E0 would be overlong below A0; ED would encode a surrogate from A0.
        const unsigned char lo = lead == 0xE0 ? 0xA0 : 0x80;
        const unsigned char hi = lead == 0xED ? 0x9F : 0xBF;
        return avail >= 3 && in(byte(1), lo, hi) && in(byte(2), 0x80, 0xBF) ? 3 : 0;
    }
    if (in(lead, 0xF0, 0xF4)) {
        // F0 would be overlong below 90; F4 would pass U+10FFFF from 90.
        const unsigned char lo = lead == 0xF0 ? 0x90 : 0x80;
        const unsigned char hi = lead == 0xF4 ? 0x8F : 0xBF;
        return avail >= 4 && in(byte(1), lo, hi) && in(byte(2), 0x80, 0xBF) && in(byte(3), 0x80, 0xBF) ? 4 : 0;
    }
    return 0;
}

void AppendUtf8(std::string& out, char32_t cp) {
    const auto put = [&out](char32_t bits) { out.push_back(static_cast<char>(bits)); };
    if (cp < 0x80) {
        put(cp);
    } else if (cp < 0x800) {
        put(0xC0 | (cp >> 6));
        put(0x80 | (cp & 0x3F));
    } else if (cp < 0x10000) {
        put(0xE0 | (cp >> 12));
        put(0x80 | ((cp >> 6) & 0x3F));
        put(0x80 | (cp & 0x3F));
    } else {
        put(0xF0 | (cp >> 18));
        put(0x80 | ((cp >> 12) & 0x3F));
        put(0x80 | ((cp >> 6) & 0x3F));
        put(0x80 | (cp & 0x3F));
    }
}

/// "character 'x'" for printable ASCII, "byte 0x01" otherwise: error messages stay printable whatever the input.
std::string DescribeByte(char c) {
    const auto u = static_cast<unsigned char>(c);
    if (u > 0x20 && u < 0x7F) return fmt::format("character '{}'", c);
    return fmt::format("byte 0x{:02x}", u);
}

/// For a number token (already checked against the JSON grammar) that std::from_chars found out of range: true if
/// its magnitude is too large for a double, false if it is too small (it then reads as ±0, as with strtod). The
/// decimal exponent of the leading significant digit decides: from_chars only gives up beyond about ±308, so this
/// estimate (off by at most one) cannot get the sign wrong.
bool Overflows(std::string_view token) {
    std::size_t i = token.front() == '-' ? 1 : 0;
    const std::size_t integer_begin = i;
    while (i < token.size() && IsDigit(token[i])) ++i;
    std::int64_t magnitude = 0;  // the value is 0.d... times 10^(magnitude + exponent)
    if (token[integer_begin] != '0') {
        magnitude = static_cast<std::int64_t>(i - integer_begin);
    } else {
        if (i < token.size() && token[i] == '.') ++i;
        const std::size_t zeros_begin = i;
        while (i < token.size() && token[i] == '0') ++i;
        if (i == token.size() || !IsDigit(token[i])) return false;  // all zeros: never out of range, but not large
        magnitude = -static_cast<std::int64_t>(i - zeros_begin);
    }
    const std::size_t e = token.find_first_of("eE", i);
    if (e == std::string_view::npos) return magnitude > 0;
    std::size_t k = e + 1;
    const bool negative_exponent = token[k] == '-';
    if (token[k] == '+' || token[k] == '-') ++k;
    constexpr std::int64_t kExponentCap = std::int64_t{1} << 40;  // saturate: only the sign of the sum matters
    std::int64_t exponent = 0;
    for (; k < token.size() && exponent < kExponentCap; ++k) exponent = exponent * 10 + (token[k] - '0');
    return magnitude + (negative_exponent ? -exponent : exponent) > 0;
}

/// Working storage of a parse, kept per thread between parses: then a parse allocates only what its Value keeps
/// (the scratch stacks' growth was half of the allocations for a small envelope).
struct Scratch {
    /// Retained capacity above which Release frees the storage, so that one huge body does not pin its memory.
    static constexpr std::size_t kMaxRetainedItems = 4096;
    static constexpr std::size_t kMaxRetainedText = std::size_t{64} * 1024;

    std::vector<Value> values;      // items of the open containers, innermost last
    std::vector<std::string> keys;  // keys of the open objects' members, innermost last
    std::string text;               // the decoded text of a string with escapes

    /// Drops what a failed parse left behind, and the memory an unusually large body made it hold.
    void Release() {
        values.clear();
        keys.clear();
        if (values.capacity() > kMaxRetainedItems) std::vector<Value>().swap(values);
        if (keys.capacity() > kMaxRetainedItems) std::vector<std::string>().swap(keys);
        if (text.capacity() > kMaxRetainedText) std::string().swap(text);
    }
};

/// One parse of one body. Values and keys of the containers being read wait on the scratch stacks `values_` and
/// `keys_` until their container closes and takes them at its exact size. Failing functions record the message in
/// `error_` and return false; the first failure ends the parse.
class Reader {
public:
    Reader(std::string_view body, Scratch& scratch)
        : begin_(body.data()),
          pos_(body.data()),
          end_(body.data() + body.size()),
          values_(scratch.values),
          keys_(scratch.keys),
          string_(scratch.text) {}

    /// The whole body as one value surrounded by optional whitespace.
    [[nodiscard]] bool ReadDocument(Value& out) {
        SkipWhitespace();
        if (!ReadValue(out, 0)) return false;
        SkipWhitespace();
        if (pos_ != end_) return Unexpected("end of input");
        return true;
    }

    std::string TakeError() { return std::move(error_); }

private:
    /// A value at nesting level `level` (the number of containers around it).
    [[nodiscard]] bool ReadValue(Value& out, int level) {
        if (pos_ == end_) return Unexpected("a value");
        switch (*pos_) {
            case '{':
                return ReadObject(out, level + 1);
            case '[':
                return ReadArray(out, level + 1);
            case '"':
                return ReadStringValue(out);
            case 't':
                return ReadLiteral("true", Value(true), out);
            case 'f':
                return ReadLiteral("false", Value(false), out);
            case 'n':
                return ReadLiteral("null", Value(nullptr), out);
            case '-':
            case '0':
            case '1':
            case '2':
            case '3':
            case '4':
            case '5':
            case '6':
            case '7':
            case '8':
            case '9':
                return ReadNumber(out);
            default:
                return Unexpected("a value");
        }
    }

    /// An array whose '[' is at pos_ and which is the `level`-th container from the top.
    [[nodiscard]] bool ReadArray(Value& out, int level) {
        if (level > kMaxDepth) return Fail(fmt::format("nesting deeper than {} at byte {}", kMaxDepth, Offset()));
        ++pos_;
        SkipWhitespace();
        out = Value(Value::value_t::array);
        if (Consume(']')) return true;
        const std::size_t first = values_.size();
        for (;;) {
            Value item;
            if (!ReadValue(item, level)) return false;
            values_.push_back(std::move(item));
            SkipWhitespace();
            if (Consume(']')) break;
            if (!Consume(',')) return Unexpected("',' or ']'");
            SkipWhitespace();
        }
        const auto items = values_.begin() + static_cast<std::ptrdiff_t>(first);
        out.get_ref<Array&>().assign(std::make_move_iterator(items), std::make_move_iterator(values_.end()));
        values_.erase(items, values_.end());
        return true;
    }

    /// An object whose '{' is at pos_ and which is the `level`-th container from the top.
    [[nodiscard]] bool ReadObject(Value& out, int level) {
        if (level > kMaxDepth) return Fail(fmt::format("nesting deeper than {} at byte {}", kMaxDepth, Offset()));
        ++pos_;
        SkipWhitespace();
        out = Value(Value::value_t::object);
        if (Consume('}')) return true;
        const std::size_t first_key = keys_.size();
        const std::size_t first_value = values_.size();
        for (;;) {
            if (pos_ == end_ || *pos_ != '"') return Unexpected("a string (an object key)");
            std::string_view key;
            if (!ReadString(key)) return false;
            keys_.emplace_back(key);
            SkipWhitespace();
            if (!Consume(':')) return Unexpected("':'");
            SkipWhitespace();
            Value item;
            if (!ReadValue(item, level)) return false;
            values_.push_back(std::move(item));
            SkipWhitespace();
            if (Consume('}')) break;
            if (!Consume(',')) return Unexpected("',' or '}'");
            SkipWhitespace();
        }
        MoveMembers(out.get_ref<Object&>(), first_key, first_value);
        keys_.erase(keys_.begin() + static_cast<std::ptrdiff_t>(first_key), keys_.end());
        values_.erase(values_.begin() + static_cast<std::ptrdiff_t>(first_value), values_.end());
        return true;
    }

    /// Moves the scratch members from `first_key`/`first_value` on into `members` in order; a repeated key keeps its
    /// first position and takes the last value, as nlohmann's `object[key] = value` does.
    void MoveMembers(Object& members, std::size_t first_key, std::size_t first_value) {
        const std::size_t count = keys_.size() - first_key;
        // Upper bound (repeats take no slot): no reallocation, so views of the keys in `members` stay valid below.
        members.reserve(count);
        if (count <= kLinearKeySearchMax) {
            for (std::size_t i = 0; i < count; ++i) {
                std::string& key = keys_[first_key + i];
                Value& value = values_[first_value + i];
                auto same = members.begin();
                while (same != members.end() && same->first != key) ++same;
                if (same != members.end()) {
                    same->second = std::move(value);
                } else {
                    members.emplace_back(std::move(key), std::move(value));
                }
            }
            return;
        }
        std::unordered_map<std::string_view, std::size_t> position;  // views of the keys in `members`
        position.reserve(count);
        for (std::size_t i = 0; i < count; ++i) {
            std::string& key = keys_[first_key + i];
            Value& value = values_[first_value + i];
            if (const auto found = position.find(key); found != position.end()) {
                // ordered_map's operator[] takes a key: reach the slot through the vector's iterators.
                (members.begin() + static_cast<std::ptrdiff_t>(found->second))->second = std::move(value);
            } else {
                members.emplace_back(std::move(key), std::move(value));
                position.emplace(members.back().first, members.size() - 1);
            }
        }
    }

    [[nodiscard]] bool ReadStringValue(Value& out) {
        std::string_view text;
        if (!ReadString(text)) return false;
        out = text;  // copied once, straight into the Value's own string
        return true;
    }

    /// A string whose '"' is at pos_. `out` views the input when the string has no escapes, otherwise `string_`; it
    /// is valid until the next call.
    [[nodiscard]] bool ReadString(std::string_view& out) {
        const char* const quote = pos_;
        const char* run = ++pos_;  // start of the bytes not yet copied to string_
        bool escaped = false;      // string_ holds the string's beginning
        for (;;) {
            while (pos_ != end_ && kPlainStringByte[static_cast<unsigned char>(*pos_)]) ++pos_;
            if (pos_ == end_) return Fail(fmt::format("unterminated string at byte {}", quote - begin_));
            const auto c = static_cast<unsigned char>(*pos_);
            if (c == '"') {
                if (escaped) {
                    string_.append(run, pos_);
                    out = string_;
                } else {
                    out = std::string_view(run, static_cast<std::size_t>(pos_ - run));
                }
                ++pos_;
                return true;
            }
            if (c == '\\') {
                if (!escaped) string_.clear();
                escaped = true;
                string_.append(run, pos_);
                if (!ReadEscape()) return false;
                run = pos_;
            } else if (c < 0x20) {
                return Fail(fmt::format("control character 0x{:02x} in string at byte {}", c, Offset()));
            } else {
                const std::size_t length = Utf8SequenceLength(pos_, end_);
                if (length == 0) return Fail(fmt::format("invalid UTF-8 in string at byte {}", Offset()));
                pos_ += length;
            }
        }
    }

    /// An escape whose '\\' is at pos_, decoded onto string_.
    [[nodiscard]] bool ReadEscape() {
        const std::size_t at = Offset();
        if (++pos_ == end_) return Fail(fmt::format("unterminated escape at byte {}", at));
        const char c = *pos_++;
        switch (c) {
            case '"':
            case '\\':
            case '/':
                string_.push_back(c);
                return true;
            case 'b':
                string_.push_back('\b');
                return true;
            case 'f':
                string_.push_back('\f');
                return true;
            case 'n':
                string_.push_back('\n');
                return true;
            case 'r':
                string_.push_back('\r');
                return true;
            case 't':
                string_.push_back('\t');
                return true;
            case 'u':
                return ReadUnicodeEscape(at);
            default:
                return Fail(fmt::format("invalid escape at byte {}: backslash followed by {}", at, DescribeByte(c)));
        }
    }

    /// The rest of a \uXXXX escape that started at byte `at`; a high surrogate must be followed by an escaped low
    /// one, and the pair becomes one code point (nlohmann refuses lone surrogates; they have no UTF-8 form).
    [[nodiscard]] bool ReadUnicodeEscape(std::size_t at) {
        char32_t unit = 0;
        if (!ReadHex4(unit)) return Fail(fmt::format("invalid \\u escape at byte {}: expected 4 hex digits", at));
        if (unit >= 0xDC00 && unit <= 0xDFFF) {
            return Fail(fmt::format("lone surrogate \\u{:04x} at byte {}", static_cast<unsigned>(unit), at));
        }
        if (unit >= 0xD800 && unit <= 0xDBFF) {
            const std::size_t low_at = Offset();
            char32_t low = 0;
            if (end_ - pos_ < 2 || pos_[0] != '\\' || pos_[1] != 'u') {
                return Fail(fmt::format("lone surrogate \\u{:04x} at byte {}", static_cast<unsigned>(unit), at));
            }
            pos_ += 2;
            if (!ReadHex4(low)) {
                return Fail(fmt::format("invalid \\u escape at byte {}: expected 4 hex digits", low_at));
            }
            if (low < 0xDC00 || low > 0xDFFF) {
                return Fail(fmt::format("lone surrogate \\u{:04x} at byte {}", static_cast<unsigned>(unit), at));
            }
            unit = 0x10000 + ((unit - 0xD800) << 10) + (low - 0xDC00);
        }
        AppendUtf8(string_, unit);
        return true;
    }

    [[nodiscard]] bool ReadHex4(char32_t& out) {
        if (end_ - pos_ < 4) return false;
        char32_t value = 0;
        for (int i = 0; i < 4; ++i) {
            const int digit = HexDigit(*pos_++);
            if (digit < 0) return false;
            value = (value << 4) | static_cast<char32_t>(digit);
        }
        out = value;
        return true;
    }

    /// A number token (RFC 8259's grammar, which is stricter than from_chars': no leading zeros, digits required
    /// around '.' and after 'e'), typed as nlohmann types it (see the file comment).
    [[nodiscard]] bool ReadNumber(Value& out) {
        const char* const start = pos_;
        const bool negative = *pos_ == '-';
        if (negative) ++pos_;
        const char* const digits = pos_;
        if (!AtDigit()) return Unexpected("a digit");
        if (*pos_ == '0') {
            ++pos_;  // a leading zero stands alone: "01" leaves '1' to be refused by the caller
        } else {
            SkipDigits();
        }
        const auto integer = std::string_view(digits, static_cast<std::size_t>(pos_ - digits));
        bool integral = true;
        if (Consume('.')) {
            if (!AtDigit()) return Unexpected("a digit after '.'");
            SkipDigits();
            integral = false;
        }
        if (pos_ != end_ && (*pos_ == 'e' || *pos_ == 'E')) {
            ++pos_;
            if (pos_ != end_ && (*pos_ == '+' || *pos_ == '-')) ++pos_;
            if (!AtDigit()) return Unexpected("a digit in the exponent");
            SkipDigits();
            integral = false;
        }
        if (integral && ToInteger(negative, integer, out)) return true;
        return ToFloat(std::string_view(start, static_cast<std::size_t>(pos_ - start)), out);
    }

    /// An integral token as number_unsigned (>= 0) or number_integer (< 0); false if it does not fit (uint64 or
    /// int64, resp.), in which case nlohmann reads it as a float.
    static bool ToInteger(bool negative, std::string_view digits, Value& out) {
        std::uint64_t magnitude = 0;
        if (digits.size() <= kSafeUint64Digits) {
            for (const char c : digits) magnitude = magnitude * 10 + static_cast<std::uint64_t>(c - '0');
        } else if (std::from_chars(digits.data(), digits.data() + digits.size(), magnitude).ec != std::errc()) {
            return false;
        }
        if (!negative) {
            out = magnitude;
            return true;
        }
        constexpr auto kMinMagnitude = static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max()) + 1;
        if (magnitude > kMinMagnitude) return false;
        out = static_cast<std::int64_t>(std::uint64_t{0} - magnitude);  // modular: 2^63 gives INT64_MIN
        return true;
    }

    [[nodiscard]] bool ToFloat(std::string_view token, Value& out) {
        double value = 0;
        const auto [end, ec] = std::from_chars(token.data(), token.data() + token.size(), value);
        if (ec == std::errc::result_out_of_range) {
            if (Overflows(token)) {
                return Fail(fmt::format("number overflow at byte {}: {} does not fit a double", token.data() - begin_,
                                        Abbreviated(token)));
            }
            value = token.front() == '-' ? -0.0 : 0.0;
        } else if (ec != std::errc() || end != token.data() + token.size()) {
            // Cannot happen: the token follows JSON's grammar, a subset of from_chars' general format.
            return Fail(fmt::format("invalid number at byte {}", token.data() - begin_));
        }
        out = value;
        return true;
    }

    /// `token`, cut to a readable length for an error message.
    static std::string Abbreviated(std::string_view token) {
        constexpr std::size_t kShown = 24;
        if (token.size() <= kShown) return std::string(token);
        return fmt::format("{}... ({} characters)", token.substr(0, kShown), token.size());
    }

    [[nodiscard]] bool ReadLiteral(std::string_view word, Value literal, Value& out) {
        if (static_cast<std::size_t>(end_ - pos_) < word.size() || std::memcmp(pos_, word.data(), word.size()) != 0) {
            return Fail(fmt::format("invalid literal at byte {}, expected '{}'", Offset(), word));
        }
        pos_ += word.size();
        out = std::move(literal);
        return true;
    }

    void SkipWhitespace() {
        while (pos_ != end_ && IsWhitespace(*pos_)) ++pos_;
    }

    void SkipDigits() {
        while (AtDigit()) ++pos_;
    }

    bool AtDigit() const { return pos_ != end_ && IsDigit(*pos_); }

    bool Consume(char c) {
        if (pos_ == end_ || *pos_ != c) return false;
        ++pos_;
        return true;
    }

    std::size_t Offset() const { return static_cast<std::size_t>(pos_ - begin_); }

    /// Records an error naming what was found at pos_ and what was `expected` there.
    bool Unexpected(std::string_view expected) {
        if (pos_ == end_) {
            return Fail(fmt::format("unexpected end of input at byte {}, expected {}", Offset(), expected));
        }
        return Fail(fmt::format("unexpected {} at byte {}, expected {}", DescribeByte(*pos_), Offset(), expected));
    }

    bool Fail(std::string message) {
        error_ = std::move(message);
        return false;
    }

    const char* begin_;
    const char* pos_;
    const char* end_;
    std::vector<Value>& values_;
    std::vector<std::string>& keys_;
    std::string& string_;
    std::string error_;
};

}  // namespace

Result<Value> ReadJson(std::string_view body) {
    // One per thread is enough: a parse calls nothing that could start another on the same thread.
    thread_local Scratch scratch;
    Reader reader(body, scratch);
    Value value;
    const bool read = reader.ReadDocument(value);
    scratch.Release();
    if (!read) return MakeError(ErrorCode::kInvalidArgument, reader.TakeError());
    return value;
}

}  // namespace gale::pipe::detail
