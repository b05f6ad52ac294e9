// SPDX-License-Identifier: MIT
// ReadJson must accept exactly what nlohmann::ordered_json::parse + the kMaxDepth check accepted and build the same
// Values (number kinds, float bits, key order included). A table pins every rule; a differential test checks
// generated and mutated documents against nlohmann itself.
#include "json_reader.hpp"

#include <chrono>
#include <cstdint>
#include <iostream>
#include <limits>
#include <random>
#include <string>
#include <string_view>
#include <tuple>
#include <utility>
#include <vector>

#include <fmt/format.h>
#include <gtest/gtest.h>

#include "json_reference.hpp"

namespace gale::pipe::detail {
namespace {

using namespace std::literals;

// ---- Expected values with explicit number kinds ---------------------------------------------------------------

Value U(std::uint64_t v) { return Value(v); }
Value I(std::int64_t v) { return Value(v); }
Value F(double v) { return Value(v); }
Value S(std::string v) { return Value(std::move(v)); }

Value A(std::vector<Value> items) {
    Value v = Value::array();
    for (auto& item : items) v.push_back(std::move(item));
    return v;
}

/// An object with exactly these members in this order (no merging of repeated keys).
Value O(std::vector<std::pair<std::string, Value>> members) {
    Value v = Value::object();
    auto& object = v.get_ref<Value::object_t&>();
    for (auto& [key, value] : members) object.emplace_back(std::move(key), std::move(value));
    return v;
}

/// `bytes` with everything but printable ASCII escaped, for failure messages.
std::string Printable(std::string_view bytes) {
    std::string out;
    for (const char c : bytes.substr(0, 300)) {
        const auto u = static_cast<unsigned char>(c);
        out += (u >= 0x20 && u < 0x7F && c != '\\') ? std::string(1, c) : fmt::format("\\x{:02x}", u);
    }
    if (bytes.size() > 300) out += fmt::format("... ({} bytes)", bytes.size());
    return out;
}

// ---- Accepted ----------------------------------------------------------------------------------------------------

struct AcceptCase {
    std::string body;
    Value expected;
};

TEST(JsonReader, Accepts) {
    const double max = std::numeric_limits<double>::max();
    const double min_subnormal = std::numeric_limits<double>::denorm_min();
    const AcceptCase cases[] = {
        // Literals and whitespace (space, tab, LF, CR only).
        {"true", Value(true)},
        {"false", Value(false)},
        {"null", Value(nullptr)},
        {" \t\n\r null \r\n\t ", Value(nullptr)},
        // Integers: unsigned when >= 0 and within uint64, integer when < 0 and within int64, float beyond.
        {"0", U(0)},
        {"-0", I(0)},
        {"1", U(1)},
        {"-1", I(-1)},
        {"9223372036854775807", U(9223372036854775807u)},
        {"9223372036854775808", U(9223372036854775808u)},
        {"12345678901234567890", U(12345678901234567890u)},
        {"18446744073709551615", U(18446744073709551615u)},
        {"18446744073709551616", F(18446744073709551616.0)},
        {"99999999999999999999", F(1e20)},
        {"123456789012345678901234567890", F(1.2345678901234568e29)},
        {"-9223372036854775807", I(-9223372036854775807)},
        {"-9223372036854775808", I(std::numeric_limits<std::int64_t>::min())},
        {"-9223372036854775809", F(-9223372036854775808.0)},
        {"-18446744073709551616", F(-18446744073709551616.0)},
        {"1" + std::string(300, '0'), F(1e300)},
        // Floats: any fraction or exponent; correctly rounded; underflow gives a signed zero.
        {"1.0", F(1.0)},
        {"-0.0", F(-0.0)},
        {"0.1", F(0.1)},
        {"1e2", F(100.0)},
        {"1E+2", F(100.0)},
        {"1e-2", F(0.01)},
        {"1e05", F(1e5)},
        {"-1.5e300", F(-1.5e300)},
        {"1e0000000000000000000000000001", F(10.0)},
        {"3.14159265358979323846264338327950288419716939937510", F(3.141592653589793)},
        {"1.7976931348623157e308", F(max)},
        {"2.2250738585072014e-308", F(2.2250738585072014e-308)},
        {"4.9406564584124654e-324", F(min_subnormal)},
        {"3e-324", F(min_subnormal)},
        {"2.4703282292062328e-324", F(min_subnormal)},
        {"2.4703282292062327e-324", F(0.0)},
        {"1e-400", F(0.0)},
        {"-1e-400", F(-0.0)},
        {"1e-99999999999999999999999", F(0.0)},
        {"0e99999999999999999999", F(0.0)},
        {"-0.000e-99999", F(-0.0)},
        {"1" + std::string(400, '0') + "e-400", F(1.0)},
        {"0." + std::string(400, '0') + "1e401", F(1.0)},
        // Strings: escapes decoded, surrogate pairs joined, raw UTF-8 kept.
        {R"("")", S("")},
        {R"("abc")", S("abc")},
        {R"("\" \\ \/ \b \f \n \r \t")", S("\" \\ / \b \f \n \r \t")},
        {R"("\u0041\u00e9\u00E9\u20AC\uFFFF")", S("A\xC3\xA9\xC3\xA9\xE2\x82\xAC\xEF\xBF\xBF")},
        {R"("\u0000")", S("\0"s)},
        {R"("\ud83d\ude00\uD83D\uDE00\udbff\udfff")", S("\xF0\x9F\x98\x80\xF0\x9F\x98\x80\xF4\x8F\xBF\xBF")},
        {"\"\xC3\xA9\xE2\x82\xAC\xF0\x9F\x98\x80\x7F\"", S("\xC3\xA9\xE2\x82\xAC\xF0\x9F\x98\x80\x7F")},
        {"\"\xED\x9F\xBF\xEE\x80\x80\xF4\x8F\xBF\xBF\xC2\x80\"", S("\xED\x9F\xBF\xEE\x80\x80\xF4\x8F\xBF\xBF\xC2\x80")},
        {R"("a\nb" )", S("a\nb")},
        // Containers, empty and nested.
        {"[]", A({})},
        {"{}", O({})},
        {"[ ]", A({})},
        {"{ \n }", O({})},
        {"[1,[2,[3.0,[]]],\"x\",null]", A({U(1), A({U(2), A({F(3.0), A({})})}), S("x"), Value(nullptr)})},
        {R"( { "b" : { "c" : [ ] } , "a" : -1 } )", O({{"b", O({{"c", A({})}})}, {"a", I(-1)}})},
        // Repeated keys: the last value at the first key's position, whatever its type; escapes compare decoded.
        {R"({"a":1,"b":2,"a":3})", O({{"a", U(3)}, {"b", U(2)}})},
        {R"({"a":[1],"b":2,"a":"x"})", O({{"a", S("x")}, {"b", U(2)}})},
        {R"({"a":1,"\u0061":2.5})", O({{"a", F(2.5)}})},
        {R"({"":1,"":{}})", O({{"", O({})}})},
        // The benchmark's envelope.
        {R"({"type":"us-state","version":1,"message":{"code":"NY","name":"New York"}})",
         O({{"type", S("us-state")}, {"version", U(1)}, {"message", O({{"code", S("NY")}, {"name", S("New York")}})}})},
    };
    for (const auto& c : cases) {
        auto got = ReadJson(c.body);
        ASSERT_TRUE(got) << Printable(c.body) << ": " << got.error().message();
        EXPECT_EQ(JsonDifferenceForTest(*got, c.expected), "") << Printable(c.body);
        // The table itself follows nlohmann (the contract), not only our reading of it.
        auto reference = NlohmannReadJsonForTest(c.body);
        ASSERT_TRUE(reference) << Printable(c.body);
        EXPECT_EQ(JsonDifferenceForTest(*reference, c.expected), "") << Printable(c.body);
    }
}

TEST(JsonReader, ManyKeysWithRepeats) {
    // Past the linear-search size, repeated keys go through the hash index: same rule.
    std::string body = "{";
    Value expected = Value::object();
    for (int i = 0; i < 100; ++i) {
        const int key = (i * 7) % 40;  // every key repeats; the last of each wins at its first position
        body += fmt::format("{}\"k{}\":{}", i == 0 ? "" : ",", key, i);
        expected.get_ref<Value::object_t&>()[fmt::format("k{}", key)] = U(static_cast<std::uint64_t>(i));
    }
    body += "}";
    auto got = ReadJson(body);
    ASSERT_TRUE(got) << got.error().message();
    EXPECT_EQ(got->size(), 40u);
    EXPECT_EQ(JsonDifferenceForTest(*got, expected), "");
    EXPECT_EQ(JsonDifferenceForTest(*got, *NlohmannReadJsonForTest(body)), "");
}

// ---- Refused -----------------------------------------------------------------------------------------------------

struct RejectCase {
    std::string body;
    std::string message;             ///< a part of the error message
    bool nlohmann_accepted = false;  ///< only because it took a NUL for the end of the input
};

TEST(JsonReader, Rejects) {
    const RejectCase cases[] = {
        // Empty, trailing data, non-JSON whitespace.
        {"", "unexpected end of input at byte 0, expected a value"},
        {" \t\r\n", "unexpected end of input at byte 4"},
        {"1 x", "unexpected character 'x' at byte 2, expected end of input"},
        {"{} {}", "unexpected character '{' at byte 3, expected end of input"},
        {"[]]", "at byte 2, expected end of input"},
        {"\f1", "unexpected byte 0x0c at byte 0"},
        {"\v1", "unexpected byte 0x0b"},
        {"1\f", "unexpected byte 0x0c at byte 1"},
        {"\xC2\xA0"s + "1", "unexpected byte 0xc2"},
        {"\xEF\xBB\xBF{}", "unexpected byte 0xef at byte 0"},
        // NUL is not the end of the input (nlohmann took it for one: the deliberate difference).
        {"\0"s, "unexpected byte 0x00 at byte 0"},
        {"[1]\0junk"s, "unexpected byte 0x00 at byte 3, expected end of input", true},
        {"1\0"s, "unexpected byte 0x00 at byte 1", true},
        // Literals, comments, JavaScript-isms.
        {"nul", "invalid literal at byte 0, expected 'null'"},
        {"True", "unexpected character 'T'"},
        {"NULL", "unexpected character 'N'"},
        {"truex", "unexpected character 'x' at byte 4"},
        {"NaN", "unexpected character 'N'"},
        {"nan", "invalid literal"},
        {"Infinity", "unexpected character 'I'"},
        {"[-Infinity]", "unexpected character 'I' at byte 2, expected a digit"},
        {"/* c */ 1", "unexpected character '/'"},
        {"1 // c", "unexpected character '/'"},
        {"{'a':1}", "unexpected character ''' at byte 1, expected a string (an object key)"},
        {"['a']", "unexpected character '''"},
        {"{a:1}", "unexpected character 'a'"},
        {"[1,]", "unexpected character ']' at byte 3, expected a value"},
        {"[,1]", "unexpected character ','"},
        {"{\"a\":1,}", "unexpected character '}' at byte 7, expected a string (an object key)"},
        {"{,}", "unexpected character ','"},
        {"[1 2]", "unexpected character '2' at byte 3, expected ',' or ']'"},
        {"{\"a\" 1}", "unexpected character '1' at byte 5, expected ':'"},
        {"{\"a\":1 \"b\":2}", "expected ',' or '}'"},
        {"[1", "unexpected end of input at byte 2, expected ',' or ']'"},
        {"[", "unexpected end of input at byte 1, expected a value"},
        {"{", "unexpected end of input at byte 1"},
        {"{\"a\"", "unexpected end of input at byte 4, expected ':'"},
        {"{\"a\":", "unexpected end of input at byte 5, expected a value"},
        {"]", "unexpected character ']'"},
        // Numbers.
        {"01", "unexpected character '1' at byte 1, expected end of input"},
        {"-01", "unexpected character '1' at byte 2"},
        {"00", "unexpected character '0' at byte 1"},
        {"+1", "unexpected character '+'"},
        {".5", "unexpected character '.'"},
        {"1.", "unexpected end of input at byte 2, expected a digit after '.'"},
        {"1.e5", "unexpected character 'e' at byte 2, expected a digit after '.'"},
        {"1e", "unexpected end of input at byte 2, expected a digit in the exponent"},
        {"1e+", "expected a digit in the exponent"},
        {"1e+-1", "expected a digit in the exponent"},
        {"-", "unexpected end of input at byte 1, expected a digit"},
        {"--1", "unexpected character '-' at byte 1, expected a digit"},
        {"-.5", "expected a digit"},
        {"0x10", "unexpected character 'x'"},
        {"1_000", "unexpected character '_'"},
        {"1E400", "number overflow at byte 0: 1E400 does not fit a double"},
        {"[0, -1e400]", "number overflow at byte 4"},
        {"1.7976931348623159e308", "number overflow"},
        {"1" + std::string(400, '0'), "number overflow at byte 0: 100000000000000000000000... (401 characters)"},
        {"-1" + std::string(400, '0'), "number overflow"},
        {"0." + std::string(400, '0') + "1e800", "number overflow"},
        {"1e99999999999999999999999", "number overflow"},
        // Strings: terminators, control characters, escapes, surrogates.
        {"\"abc", "unterminated string at byte 0"},
        {"[\"a\", \"bc", "unterminated string at byte 6"},
        {"\"\\", "unterminated escape at byte 1"},
        {"\"\x01\"", "control character 0x01 in string at byte 1"},
        {"\"a\tb\"", "control character 0x09 in string at byte 2"},
        {"\"\x1f\"", "control character 0x1f"},
        {"\"\0\""s, "control character 0x00 in string at byte 1"},
        {R"("\x41")", "invalid escape at byte 1: backslash followed by character 'x'"},
        {R"("\U0041")", "backslash followed by character 'U'"},
        {R"("\')", "backslash followed by character '''"},
        {"\"\\\x01\"", "backslash followed by byte 0x01"},
        {R"("\u12")", "invalid \\u escape at byte 1: expected 4 hex digits"},
        {R"("\u12G4")", "invalid \\u escape at byte 1"},
        {R"("\u)", "invalid \\u escape"},
        {R"("\ud800")", "lone surrogate \\ud800 at byte 1"},
        {R"("\udc00")", "lone surrogate \\udc00 at byte 1"},
        {R"("\uDFFF")", "lone surrogate \\udfff"},
        {R"("x\ud800\u0041")", "lone surrogate \\ud800 at byte 2"},
        {R"("\ud800x")", "lone surrogate \\ud800"},
        {R"("\udbff\udbff")", "lone surrogate \\udbff"},
        {R"("\ud800\u12")", "invalid \\u escape at byte 7"},
        {R"("\ud800\n")", "lone surrogate"},
        // Strings: UTF-8 (no overlongs, no encoded surrogates, nothing past U+10FFFF, nothing cut off).
        {"\"\xC0\xAF\"", "invalid UTF-8 in string at byte 1"},
        {"\"\xC1\xBF\"", "invalid UTF-8"},
        {"\"\xE0\x80\xAF\"", "invalid UTF-8"},
        {"\"\xE0\x9F\xBF\"", "invalid UTF-8"},
        {"\"\xF0\x80\x80\xAF\"", "invalid UTF-8"},
        {"\"\xF0\x8F\xBF\xBF\"", "invalid UTF-8"},
        {"\"ab\xED\xA0\x80\"", "invalid UTF-8 in string at byte 3"},
        {"\"\xED\xBF\xBF\"", "invalid UTF-8"},
        {"\"\xF4\x90\x80\x80\"", "invalid UTF-8"},
        {"\"\xF5\x80\x80\x80\"", "invalid UTF-8"},
        {"\"\xF8\x88\x80\x80\x80\"", "invalid UTF-8"},
        {"\"\xFF\"", "invalid UTF-8"},
        {"\"\x80\"", "invalid UTF-8"},
        {"\"\xC2\"", "invalid UTF-8"},
        {"\"\xE2\x82\"", "invalid UTF-8"},
        {"\"\xF0\x9F\x98\"", "invalid UTF-8"},
        {"\"\xC3\x28\"", "invalid UTF-8"},
        {"\"\xC2", "invalid UTF-8 in string at byte 1"},
        {"\"\xF0\x9F\x98", "invalid UTF-8"},
        {"{\"\xFF\":1}", "invalid UTF-8 in string at byte 2"},
    };
    for (const auto& c : cases) {
        auto got = ReadJson(c.body);
        ASSERT_FALSE(got) << Printable(c.body) << " was accepted as " << got->dump();
        EXPECT_EQ(got.error().code(), ErrorCode::kInvalidArgument);
        EXPECT_NE(got.error().message().find(c.message), std::string::npos)
            << Printable(c.body) << ": \"" << got.error().message() << "\" does not contain \"" << c.message << "\"";
        // The reference refuses them too; nlohmann itself refused them unless it stopped at a NUL.
        NlohmannRefusal refusal = NlohmannRefusal::kNone;
        EXPECT_FALSE(NlohmannReadJsonForTest(c.body, &refusal)) << Printable(c.body);
        EXPECT_EQ(refusal == NlohmannRefusal::kNulAfterValue, c.nlohmann_accepted) << Printable(c.body);
    }
}

// ---- Depth -------------------------------------------------------------------------------------------------------

TEST(JsonReader, DepthLimit) {
    const auto nested = [](int depth, std::string_view open, std::string_view inner, std::string_view close) {
        std::string s;
        for (int i = 0; i < depth; ++i) s += open;
        s += inner;
        for (int i = 0; i < depth; ++i) s += close;
        return s;
    };
    for (const auto& [open, inner, close] : {std::tuple{"[", "", "]"}, {"[", "1", "]"}, {"{\"a\":", "{}", "}"}}) {
        const std::string ok = nested(kMaxDepth - (open[0] == '{' ? 1 : 0), open, inner, close);
        auto got = ReadJson(ok);
        EXPECT_TRUE(got) << open << ": " << got.error().message();
        const std::string too_deep = nested(kMaxDepth + (open[0] == '{' ? 0 : 1), open, inner, close);
        got = ReadJson(too_deep);
        ASSERT_FALSE(got) << open;
        EXPECT_NE(got.error().message().find("nesting deeper than 512 at byte"), std::string::npos)
            << got.error().message();
        EXPECT_FALSE(NlohmannReadJsonForTest(too_deep)) << open;
        EXPECT_TRUE(NlohmannReadJsonForTest(ok)) << open;
    }
    // The recursion stops at the limit: no stack overflow however deep the input.
    for (const std::string& deep : {std::string(100000, '['), nested(100000, "{\"a\":[", "", "]}")}) {
        auto got = ReadJson(deep);
        ASSERT_FALSE(got);
        EXPECT_NE(got.error().message().find("nesting deeper than 512"), std::string::npos);
    }
}

TEST(JsonReader, ErrorsNameTheirPlace) {
    EXPECT_EQ(ReadJson("[1, x]").error().message(), "unexpected character 'x' at byte 4, expected a value");
    EXPECT_EQ(ReadJson("{\"ab\":\"cd").error().message(), "unterminated string at byte 6");
    EXPECT_EQ(ReadJson(std::string(513, '[')).error().message(), "nesting deeper than 512 at byte 512");
}

// ---- Differential: generated and mutated documents against nlohmann ----------------------------------------------

/// Random JSON documents, mostly valid, with the shapes the rules care about: every number form near the type and
/// range boundaries, every escape, raw UTF-8 of every length, repeated keys, nesting to and past the limit; and a
/// few invalid pieces (bad whitespace, lone surrogates, raw control bytes, ill-formed UTF-8, bad numbers) so that
/// the documents are refused for every reason too. std::mt19937_64's sequence is fixed by the standard; the
/// distributions are not, so values are drawn with plain modulo.
class DocumentGenerator {
public:
    explicit DocumentGenerator(std::uint64_t seed) : random_(seed) {}

    std::string Document() {
        std::string out;
        deep_ = Below(100) == 0;
        max_depth_ = deep_ ? kMaxDepth - 3 + static_cast<int>(Below(6)) : static_cast<int>(Below(6));
        // Flaws are planted in some documents only: at a few percent per element, nearly every large or deep
        // document would be refused for them, and the rules for those would go untested.
        flawless_ = deep_ || Chance(70);
        Whitespace(out);
        Element(out, 0);
        Whitespace(out);
        return out;
    }

    /// `document` with one to three random edits: bytes replaced (by random or JSON-significant ones), inserted,
    /// deleted, duplicated or cut off.
    std::string Mutate(std::string document) {
        static constexpr std::string_view kInteresting = "\"\\[]{},:0-.eE+u1 \t\n\0\x01\x7f\x80\xbf\xc3\xed\xf4\xff"sv;
        const std::size_t edits = 1 + Below(3);
        for (std::size_t e = 0; e < edits; ++e) {
            const std::size_t at = document.empty() ? 0 : Below(document.size() + 1);
            const char byte = Chance(50) ? kInteresting[Below(kInteresting.size())] : static_cast<char>(Below(256));
            switch (Below(6)) {
                case 0:
                case 1:
                    if (at < document.size()) document[at] = byte;
                    break;
                case 2:
                    document.insert(at, 1, byte);
                    break;
                case 3:
                    if (at < document.size()) document.erase(at, 1 + Below(3));
                    break;
                case 4:
                    if (at < document.size()) document.insert(at, document.substr(at, 1 + Below(8)));
                    break;
                default:
                    document.resize(at);
                    break;
            }
        }
        return document;
    }

private:
    std::uint64_t Below(std::uint64_t n) { return random_() % n; }
    bool Chance(unsigned percent) { return Below(100) < percent; }
    char Digit() { return static_cast<char>('0' + Below(10)); }

    void Whitespace(std::string& out) {
        if (deep_ || Chance(60)) return;  // deep documents are slow enough without
        for (std::uint64_t n = 1 + Below(3); n > 0; --n) out += " \t\n\r"[Below(4)];
        if (!flawless_ && Chance(3)) out += "\f\v\xA0/"[Below(4)];  // not JSON whitespace
    }

    /// Deep documents (max_depth_ near kMaxDepth) are a chain of one-member containers down to max_depth_.
    void Element(std::string& out, int depth) {
        static constexpr const char* kLiterals[] = {"true", "false", "null", "nul", "True", "NaN"};
        if (deep_ && depth >= max_depth_) {
            out += '0';
            return;
        }
        const bool chain = max_depth_ > 10 && depth < max_depth_;
        const std::uint64_t kind = chain ? 3 + Below(2) : Below(depth >= max_depth_ ? 3 : 5);
        switch (kind) {
            case 0:
                out += kLiterals[flawless_ || Chance(90) ? Below(3) : 3 + Below(3)];
                return;
            case 1:
                Number(out);
                return;
            case 2:
                String(out, Chance(90) ? 8 : 30);
                return;
            case 3:
                Array(out, depth);
                return;
            default:
                Object(out, depth);
                return;
        }
    }

    void Array(std::string& out, int depth) {
        out += '[';
        const std::uint64_t count = depth + 1 >= max_depth_ || max_depth_ > 10 ? 1 : Below(5);
        for (std::uint64_t i = 0; i < count; ++i) {
            if (i > 0) out += ',';
            Whitespace(out);
            Element(out, depth + 1);
            Whitespace(out);
        }
        if (count > 0 && !flawless_ && Chance(3)) out += ',';  // trailing comma
        out += ']';
    }

    void Object(std::string& out, int depth) {
        out += '{';
        // Now and then past the size where repeated keys are found through a hash index instead of a search.
        const std::uint64_t count =
            depth + 1 >= max_depth_ || max_depth_ > 10 ? 1 : (Chance(3) ? 17 + Below(24) : Below(6));
        for (std::uint64_t i = 0; i < count; ++i) {
            if (i > 0) out += ',';
            Whitespace(out);
            Key(out);
            Whitespace(out);
            out += ':';
            Whitespace(out);
            Element(out, depth + 1);
            Whitespace(out);
        }
        out += '}';
    }

    /// Mostly from a small pool, so that keys repeat (also spelled differently: "\u0061" is "a").
    void Key(std::string& out) {
        static constexpr const char* kPool[] = {R"("a")",       R"("b")", R"("type")",  R"("\u0061")",
                                                "\"\xC3\xA9\"", R"("")",  R"("\u00e9")"};
        if (Chance(70)) {
            out += kPool[Below(std::size(kPool))];
        } else {
            String(out, 6);
        }
    }

    void String(std::string& out, std::uint64_t max_pieces) {
        out += '"';
        for (std::uint64_t n = Below(max_pieces + 1); n > 0; --n) StringPiece(out);
        out += '"';
    }

    void StringPiece(std::string& out) {
        const std::uint64_t roll = Below(100);
        if (roll < 45) {
            out += static_cast<char>(0x20 + Below(0x5F));
            if (out.back() == '"' || out.back() == '\\') out.back() = 'q';
        } else if (roll < 60) {
            out += '\\';
            out += "\"\\/bfnrt"[Below(8)];
        } else if (roll < 68) {
            UnicodeEscape(out, static_cast<char32_t>(Below(0xD800)));
        } else if (roll < 72) {
            const auto cp = static_cast<char32_t>(0x10000 + Below(0x100000));
            UnicodeEscape(out, 0xD800 + ((cp - 0x10000) >> 10));
            UnicodeEscape(out, 0xDC00 + ((cp - 0x10000) & 0x3FF));
        } else if (roll < 94 || flawless_) {
            RawUtf8(out);
        } else {
            InvalidStringPiece(out);
        }
    }

    void UnicodeEscape(std::string& out, char32_t unit) {
        std::string hex = fmt::format("{:04x}", static_cast<unsigned>(unit));
        for (char& c : hex) {
            if (Chance(30) && c >= 'a') c = static_cast<char>(c - 'a' + 'A');
        }
        out += "\\u" + hex;
    }

    void RawUtf8(std::string& out) {
        static constexpr std::uint32_t kRanges[][2] = {{0x80, 0x7FF},       {0x800, 0xD7FF},  {0xE000, 0xFFFF},
                                                       {0x10000, 0x10FFFF}, {0xD7F0, 0xD7FF}, {0x10FFF0, 0x10FFFF}};
        const auto& range = kRanges[Below(std::size(kRanges))];
        const auto cp = static_cast<std::uint32_t>(range[0] + Below(range[1] - range[0] + 1));
        const auto put = [&out](std::uint32_t bits) { out += static_cast<char>(bits); };
        if (cp < 0x800) {
            put(0xC0 | (cp >> 6));
        } else if (cp < 0x10000) {
            put(0xE0 | (cp >> 12));
            put(0x80 | ((cp >> 6) & 0x3F));
        } else {
            put(0xF0 | (cp >> 18));
            put(0x80 | ((cp >> 12) & 0x3F));
            put(0x80 | ((cp >> 6) & 0x3F));
        }
        put(0x80 | (cp & 0x3F));
    }

    void InvalidStringPiece(std::string& out) {
        static constexpr std::string_view kPieces[] = {
            // Escapes: lone or mismatched surrogates, unknown letters, too few hex digits.
            "\\ud800", "\\udfff", "\\ud800\\u0041", "\\udbff\\ud800", "\\x", "\\u12", "\\U0041",
            // Raw control characters, a single quote (harmless inside a string).
            "\x01", "\t", "\x1f", "'",
            // Ill-formed UTF-8: overlongs, a surrogate, past U+10FFFF, stray or missing continuation bytes.
            "\xC0\xAF", "\xE0\x80\xAF", "\xED\xA0\x80", "\xF4\x90\x80\x80", "\xF5\x80\x80\x80", "\xFF", "\x80", "\xC2",
            "\xE2\x82", "\xF0\x9F\x98"};
        out += kPieces[Below(std::size(kPieces))];
    }

    void Number(std::string& out) {
        static constexpr std::string_view kBoundaries[] = {
            // Where the integer kinds end.
            "18446744073709551615", "18446744073709551616", "-9223372036854775808", "-9223372036854775809",
            "9223372036854775807", "9223372036854775808", "-0", "-0.0", "0e0",
            // Where the double's range ends (some overflow) and where it underflows to 0.
            "1.7976931348623157e308", "1.7976931348623159e308", "-1.7976931348623158e308", "1E400",
            "2.4703282292062327e-324", "2.4703282292062328e-324", "4.9406564584124654e-324", "2.2250738585072011e-308",
            "1e-400", "-1e-400", "0.0e-999999999999", "1e0000000000000000000000000001"};
        static constexpr std::string_view kMalformed[] = {"01", "1.", ".5", "+1", "1e", "-", "1.e3", "0x1", "Infinity"};
        if (!flawless_ && Chance(3)) {
            out += kMalformed[Below(std::size(kMalformed))];
            return;
        }
        if (Chance(12)) {
            out += kBoundaries[Below(std::size(kBoundaries))];
            return;
        }
        if (Chance(20)) out += '-';
        if (Chance(25)) {
            out += '0';
        } else {
            out += static_cast<char>('1' + Below(9));
            const std::uint64_t length = Chance(5) ? 300 + Below(20) : Below(Chance(50) ? 4 : 25);
            for (std::uint64_t i = 0; i < length; ++i) out += Digit();
        }
        if (Chance(30)) {
            out += '.';
            const std::uint64_t length = 1 + (Chance(5) ? 300 + Below(40) : Below(20));
            for (std::uint64_t i = 0; i < length; ++i) out += Chance(5) ? '0' : Digit();
        }
        if (Chance(25)) {
            out += "eE"[Below(2)];
            if (Chance(60)) out += "+-"[Below(2)];
            const std::uint64_t roll = Below(100);
            if (roll < 70) {
                out += std::to_string(Below(30));
            } else if (roll < 90) {
                out += std::to_string(280 + Below(60));  // the double's range ends near here
            } else {
                for (int i = 0; i < 22; ++i) out += Digit();  // past any integer type
            }
        }
    }

    std::mt19937_64 random_;
    int max_depth_ = 0;
    bool deep_ = false;      // a chain of containers around the depth limit, without whitespace, with 0 at the end
    bool flawless_ = false;  // no invalid whitespace, literals, numbers or string pieces, no trailing commas
};

TEST(JsonReader, AgreesWithNlohmann) {
    constexpr int kDocuments = 10000;
    constexpr int kMutantsPerDocument = 3;
    DocumentGenerator generator(20241126);
    int checked = 0;
    int accepted = 0;
    int too_deep = 0;
    int nul_quirks = 0;
    int failures = 0;
    const auto started = std::chrono::steady_clock::now();
    const auto check = [&](const std::string& body) {
        ++checked;
        auto got = ReadJson(body);
        NlohmannRefusal refusal = NlohmannRefusal::kNone;
        auto expected = NlohmannReadJsonForTest(body, &refusal);
        too_deep += refusal == NlohmannRefusal::kTooDeep ? 1 : 0;
        nul_quirks += refusal == NlohmannRefusal::kNulAfterValue ? 1 : 0;
        if (got.has_value() != expected.has_value()) {
            ++failures;
            ADD_FAILURE() << Printable(body) << ": ReadJson "
                          << (got ? "accepted it as " + got->dump() : "refused it: " + got.error().message())
                          << ", the reference " << (expected ? "accepted it" : "refused it");
            return;
        }
        if (!got) return;
        ++accepted;
        const std::string difference = JsonDifferenceForTest(*got, *expected);
        if (!difference.empty()) {
            ++failures;
            ADD_FAILURE() << Printable(body) << ": " << difference;
        }
    };
    for (int i = 0; i < kDocuments && failures < 10; ++i) {
        const std::string document = generator.Document();
        check(document);
        for (int m = 0; m < kMutantsPerDocument; ++m) check(generator.Mutate(document));
    }
    const auto elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
    // The mix must exercise both outcomes, or the test proves little.
    EXPECT_GT(accepted, checked / 5);
    EXPECT_GT(checked - accepted, checked / 5);
    EXPECT_GT(too_deep, 0);
    EXPECT_GT(nul_quirks, 0);
    RecordProperty("inputs", checked);
    std::cout << "[ differential ] " << checked << " inputs (" << accepted << " accepted, " << too_deep
              << " refused for depth alone, " << nul_quirks << " refused only for a NUL after the value) in " << elapsed
              << " s\n";
}

}  // namespace
}  // namespace gale::pipe::detail
