// SPDX-License-Identifier: MIT
#include <cmath>
#include <cstdint>
#include <limits>
#include <string>
#include <string_view>

#include <gtest/gtest.h>

#include <gale/pipe/wire.hpp>

namespace gale::pipe {
namespace {

using namespace std::string_literals;

std::string Hex(std::string_view bytes) {
    static constexpr char kHex[] = "0123456789abcdef";
    std::string out;
    for (const char c : bytes) {
        const auto u = static_cast<unsigned char>(c);
        out.push_back(kHex[u >> 4]);
        out.push_back(kHex[u & 0xF]);
    }
    return out;
}

std::string Unhex(std::string_view hex) {
    std::string out;
    for (std::size_t i = 0; i + 1 < hex.size(); i += 2) {
        out.push_back(static_cast<char>(std::stoi(std::string(hex.substr(i, 2)), nullptr, 16)));
    }
    return out;
}

Envelope UsState(std::string producer = {}) {
    Envelope e;
    e.type = "us-state";
    e.version = 1;
    e.message = Value::object();
    e.message["code"] = "NY";
    e.message["name"] = "New York";
    e.producer = std::move(producer);
    return e;
}

constexpr std::string_view kJsonNoProducer =
    R"(json:{"type":"us-state","version":1,"message":{"code":"NY","name":"New York"}})";
constexpr std::string_view kJsonProducer =
    R"(json:{"type":"us-state","version":1,"message":{"code":"NY","name":"New York"},"producer":"svc-a"})";
constexpr std::string_view kMsgpackNoProducerHex =
    "6d73677061636b3a83a474797065a875732d7374617465a776657273696f6e01a76d65737361676582a4636f6465a24e59a46e616d65a8"
    "4e657720596f726b";
// The same with 84 in place of 83, then "producer": "svc-a".
constexpr std::string_view kMsgpackProducerHex =
    "6d73677061636b3a84a474797065a875732d7374617465a776657273696f6e01a76d65737361676582a4636f6465a24e59a46e616d65a8"
    "4e657720596f726ba870726f6475636572a57376632d61";

/// The JSON body rendered for `v` (without the "json:" prefix).
std::string JsonOf(const Value& v) {
    auto r = Render(Format::kJson, v);
    EXPECT_TRUE(r.has_value()) << r.error().ToString();
    return r ? r->substr(5) : std::string();
}

std::string MsgpackHexOf(const Value& v) {
    auto r = Render(Format::kMsgpack, v);
    EXPECT_TRUE(r.has_value()) << r.error().ToString();
    return r ? Hex(r->substr(8)) : std::string();
}

// ---- golden vectors (§1.7) -----------------------------------------------------------------------------------

TEST(WireGolden, JsonWithoutProducer) {
    EXPECT_EQ(RenderEnvelope(Format::kJson, UsState()).value(), kJsonNoProducer);
    auto d = DecodeEnvelope(kJsonNoProducer);
    ASSERT_TRUE(d) << d.error().ToString();
    EXPECT_EQ(d->format, Format::kJson);
    EXPECT_EQ(d->envelope.type, "us-state");
    EXPECT_EQ(d->envelope.version, 1);
    EXPECT_EQ(d->envelope.message, UsState().message);
    EXPECT_EQ(d->envelope.message.begin().key(), "code");
    EXPECT_EQ(d->envelope.producer, "");
    EXPECT_EQ(RenderEnvelope(d->format, d->envelope).value(), kJsonNoProducer);
}

TEST(WireGolden, JsonWithProducer) {
    EXPECT_EQ(RenderEnvelope(Format::kJson, UsState("svc-a")).value(), kJsonProducer);
    auto d = DecodeEnvelope(kJsonProducer);
    ASSERT_TRUE(d) << d.error().ToString();
    EXPECT_EQ(d->envelope.producer, "svc-a");
    EXPECT_EQ(RenderEnvelope(d->format, d->envelope).value(), kJsonProducer);
}

TEST(WireGolden, MsgpackWithoutProducer) {
    EXPECT_EQ(Hex(RenderEnvelope(Format::kMsgpack, UsState()).value()), kMsgpackNoProducerHex);
    auto d = DecodeEnvelope(Unhex(kMsgpackNoProducerHex));
    ASSERT_TRUE(d) << d.error().ToString();
    EXPECT_EQ(d->format, Format::kMsgpack);
    EXPECT_EQ(d->envelope.type, "us-state");
    EXPECT_TRUE(VersionMatches(d->envelope.version, 1));
    EXPECT_EQ(d->envelope.message, UsState().message);
    EXPECT_EQ(Hex(RenderEnvelope(d->format, d->envelope).value()), kMsgpackNoProducerHex);
}

TEST(WireGolden, MsgpackWithProducer) {
    EXPECT_EQ(Hex(RenderEnvelope(Format::kMsgpack, UsState("svc-a")).value()), kMsgpackProducerHex);
    auto d = DecodeEnvelope(Unhex(kMsgpackProducerHex));
    ASSERT_TRUE(d) << d.error().ToString();
    EXPECT_EQ(d->envelope.producer, "svc-a");
    EXPECT_EQ(Hex(RenderEnvelope(d->format, d->envelope).value()), kMsgpackProducerHex);
}

TEST(WireGolden, RenderAndParseFooBar) {
    const Value foo = {{"foo", "bar"}};
    EXPECT_EQ(Render(Format::kJson, foo).value(), R"(json:{"foo":"bar"})");
    EXPECT_EQ(Render(Format::kMsgpack, foo).value(),
              "msgpack:\x81\xa3"
              "foo\xa3"
              "bar");
    auto j = Parse(R"(json:{"foo":"bar"})");
    ASSERT_TRUE(j);
    EXPECT_EQ(j->format, Format::kJson);
    EXPECT_EQ(j->data, foo);
    auto m = Parse(
        "msgpack:\x81\xa3"
        "foo\xa3"
        "bar");
    ASSERT_TRUE(m);
    EXPECT_EQ(m->format, Format::kMsgpack);
    EXPECT_EQ(m->data, foo);
}

TEST(WireGolden, MixedTypeMessageEscaping) {
    const std::string name = "Zo\xc3\xab \xe2\x80\xa8 </script> \"q\" \\ \t\n\x01 \xf0\x9f\x98\x80";
    Value msg = Value::object();
    msg["uuid"] = "0b8e2a3c-1f0e-4c1b-9c55-2f4c8f1f6f00";
    msg["name"] = name;
    msg["when"] = "2024-01-02T03:04:05.678901Z";
    msg["day"] = "2024-01-02";
    msg["price"] = "12.50";
    msg["ratio"] = 0.1;
    msg["active"] = true;
    msg["nothing"] = nullptr;
    msg["tags"] = Value::array({"a", 1, false});
    EXPECT_EQ(JsonOf(msg),
              "{\"uuid\":\"0b8e2a3c-1f0e-4c1b-9c55-2f4c8f1f6f00\","
              "\"name\":\"Zo\xc3\xab \\u2028 </script> \\\"q\\\" \\\\ \\t\\n\\u0001 \xf0\x9f\x98\x80\","
              "\"when\":\"2024-01-02T03:04:05.678901Z\",\"day\":\"2024-01-02\",\"price\":\"12.50\",\"ratio\":0.1,"
              "\"active\":true,\"nothing\":null,\"tags\":[\"a\",1,false]}");
    // msgpack: str8 with the raw bytes (U+2028 as e2 80 a8); 0.1 as float64.
    EXPECT_EQ(MsgpackHexOf(Value(name)), "d921" + Hex(name));
    EXPECT_EQ(MsgpackHexOf(Value(0.1)), "cb3fb999999999999a");
    // Both parse back to the same value.
    EXPECT_EQ(Parse(Render(Format::kJson, msg).value()).value().data, msg);
    EXPECT_EQ(Parse(Render(Format::kMsgpack, msg).value()).value().data, msg);
}

TEST(WireJson, Escapes) {
    EXPECT_EQ(JsonOf("\x1f\x7f/<>&\b\f\r\xe2\x80\xa9"), "\"\\u001f\x7f/<>&\\b\\f\\r\\u2029\"");
    EXPECT_EQ(JsonOf(Value::object()), "{}");
    EXPECT_EQ(JsonOf(Value::array()), "[]");
    Value keyed = Value::object();
    keyed["a\xe2\x80\xa8"] = 1;  // DRF replaces in the whole output, keys included
    EXPECT_EQ(JsonOf(keyed), "{\"a\\u2028\":1}");
    EXPECT_FALSE(Render(Format::kJson, Value("\xff")));
    EXPECT_FALSE(Render(Format::kMsgpack, Value("\xed\xa0\x80")));  // an encoded surrogate
}

TEST(WireJson, Integers) {
    EXPECT_EQ(JsonOf(Value(0)), "0");
    EXPECT_EQ(JsonOf(Value(-7)), "-7");
    EXPECT_EQ(JsonOf(Value(std::numeric_limits<std::int64_t>::min())), "-9223372036854775808");
    EXPECT_EQ(JsonOf(Value(std::numeric_limits<std::uint64_t>::max())), "18446744073709551615");
    // A uint64 beyond int64 read from JSON is kept exactly.
    EXPECT_EQ(JsonOf(Parse("json:18446744073709551615").value().data), "18446744073709551615");
}

// Python repr(float).
TEST(WireJson, FloatRepr) {
    const std::pair<double, std::string_view> table[] = {
        {1.0, "1.0"},
        {0.1, "0.1"},
        {-0.0, "-0.0"},
        {0.0, "0.0"},
        {1e16, "1e+16"},
        {9999999999999998.0, "9999999999999998.0"},
        {1e-07, "1e-07"},
        {1e-05, "1e-05"},
        {0.0001, "0.0001"},
        {1.5e+300, "1.5e+300"},
        {123456789.123, "123456789.123"},
        {1e22, "1e+22"},
        {1.5, "1.5"},
        {-2.5e-10, "-2.5e-10"},
        {100.0, "100.0"},
        {1234567890123456.7, "1234567890123456.8"},
        {0.30000000000000004, "0.30000000000000004"},
        {5e-324, "5e-324"},
        {1.7976931348623157e308, "1.7976931348623157e+308"},
    };
    for (const auto& [value, repr] : table) {
        EXPECT_EQ(JsonOf(Value(value)), repr) << repr;
        EXPECT_EQ(KeyFor(Value({{"k", value}}), "k").value(), repr) << repr;
    }
}

TEST(WireJson, NonFiniteIsAnError) {
    for (const double d :
         {std::nan(""), std::numeric_limits<double>::infinity(), -std::numeric_limits<double>::infinity()}) {
        auto r = Render(Format::kJson, Value({{"x", d}}));
        ASSERT_FALSE(r);
        EXPECT_EQ(r.error().code(), ErrorCode::kInvalidArgument);
        Envelope e = UsState();
        e.message["ratio"] = d;
        EXPECT_FALSE(RenderEnvelope(Format::kJson, e));
        // msgpack-python packs them as float64.
        EXPECT_TRUE(RenderEnvelope(Format::kMsgpack, e));
    }
    EXPECT_EQ(MsgpackHexOf(Value(std::numeric_limits<double>::infinity())), "cb7ff0000000000000");
}

TEST(WireJson, BinaryIsAnErrorInJson) {
    const Value bin = Value::binary({1, 2, 3});
    EXPECT_FALSE(Render(Format::kJson, bin));
    EXPECT_EQ(MsgpackHexOf(bin), "c403010203");
}

// ---- msgpack encodings ---------------------------------------------------------------------------------------

TEST(WireMsgpack, Integers) {
    EXPECT_EQ(MsgpackHexOf(Value(0)), "00");
    EXPECT_EQ(MsgpackHexOf(Value(127)), "7f");
    EXPECT_EQ(MsgpackHexOf(Value(128)), "cc80");
    EXPECT_EQ(MsgpackHexOf(Value(255)), "ccff");
    EXPECT_EQ(MsgpackHexOf(Value(256)), "cd0100");
    EXPECT_EQ(MsgpackHexOf(Value(65536)), "ce00010000");
    EXPECT_EQ(MsgpackHexOf(Value(std::int64_t{1} << 32)), "cf0000000100000000");
    EXPECT_EQ(MsgpackHexOf(Value(std::uint64_t{1} << 32)), "cf0000000100000000");
    EXPECT_EQ(MsgpackHexOf(Value(std::numeric_limits<std::uint64_t>::max())), "cfffffffffffffffff");
    EXPECT_EQ(MsgpackHexOf(Value(-1)), "ff");
    EXPECT_EQ(MsgpackHexOf(Value(-32)), "e0");
    EXPECT_EQ(MsgpackHexOf(Value(-33)), "d0df");
    EXPECT_EQ(MsgpackHexOf(Value(-128)), "d080");
    EXPECT_EQ(MsgpackHexOf(Value(-129)), "d1ff7f");
    EXPECT_EQ(MsgpackHexOf(Value(-32769)), "d2ffff7fff");
    EXPECT_EQ(MsgpackHexOf(Value(std::int64_t{-2147483649})), "d3ffffffff7fffffff");
    for (const std::int64_t i : {0LL, 127LL, 128LL, -33LL, -129LL, -32769LL, 1LL << 40, -(1LL << 40)}) {
        EXPECT_EQ(Parse(Render(Format::kMsgpack, Value(i)).value()).value().data, Value(i)) << i;
    }
}

TEST(WireMsgpack, Containers) {
    EXPECT_EQ(MsgpackHexOf(nullptr), "c0");
    EXPECT_EQ(MsgpackHexOf(false), "c2");
    EXPECT_EQ(MsgpackHexOf(true), "c3");
    EXPECT_EQ(MsgpackHexOf(Value::array()), "90");
    EXPECT_EQ(MsgpackHexOf(Value::object()), "80");
    EXPECT_EQ(MsgpackHexOf(Value(std::string(31, 'a'))).substr(0, 2), "bf");
    EXPECT_EQ(MsgpackHexOf(Value(std::string(32, 'a'))).substr(0, 4), "d920");
    EXPECT_EQ(MsgpackHexOf(Value(std::string(256, 'a'))).substr(0, 6), "da0100");
    EXPECT_EQ(MsgpackHexOf(Value(std::string(65536, 'a'))).substr(0, 10), "db00010000");
    Value arr16 = Value::array();
    for (int i = 0; i < 16; ++i) arr16.push_back(i);
    EXPECT_EQ(MsgpackHexOf(arr16).substr(0, 6), "dc0010");
    Value map16 = Value::object();
    for (int i = 0; i < 16; ++i) map16[std::to_string(i + 10)] = i;
    EXPECT_EQ(MsgpackHexOf(map16).substr(0, 6), "de0010");
    Value map15 = Value::object();
    for (int i = 0; i < 15; ++i) map15[std::to_string(i + 10)] = i;
    EXPECT_EQ(MsgpackHexOf(map15).substr(0, 2), "8f");
    EXPECT_EQ(Parse(Render(Format::kMsgpack, map16).value()).value().data, map16);
    EXPECT_EQ(Parse(Render(Format::kMsgpack, arr16).value()).value().data, arr16);
}

TEST(WireMsgpack, DecodesWhatPythonMayProduce) {
    // float32, bin8, int8..int64, uint16, str16, array32, map32.
    EXPECT_EQ(Parse("msgpack:" + Unhex("ca3fc00000")).value().data, Value(1.5));
    EXPECT_EQ(Parse("msgpack:" + Unhex("c40161")).value().data, Value::binary({'a'}));
    EXPECT_EQ(Parse("msgpack:" + Unhex("d0df")).value().data, Value(-33));
    EXPECT_EQ(Parse("msgpack:" + Unhex("d1ff7f")).value().data, Value(-129));
    EXPECT_EQ(Parse("msgpack:" + Unhex("d3ffffffff7fffffff")).value().data, Value(std::int64_t{-2147483649}));
    EXPECT_EQ(Parse("msgpack:" + Unhex("cd0100")).value().data, Value(256));
    EXPECT_EQ(Parse("msgpack:" + Unhex("da000161")).value().data, Value("a"));
    EXPECT_EQ(Parse("msgpack:" + Unhex("dd0000000101")).value().data, Value::array({1}));
    EXPECT_EQ(Parse("msgpack:" + Unhex("df00000001a16101")).value().data, Value({{"a", 1}}));
    // Duplicate keys: the last value wins, at the first key's position.
    auto dup = Parse("msgpack:" + Unhex("83a16101a16202a16103")).value().data;
    EXPECT_EQ(Render(Format::kJson, dup).value(), R"(json:{"a":3,"b":2})");
}

// ---- parsing JSON (DRF JSONParser) ---------------------------------------------------------------------------

TEST(WireParseJson, Leniencies) {
    EXPECT_EQ(Parse("json: \n{\"a\":1}\t ").value().data, Value({{"a", 1}}));
    auto dup = Parse(R"(json:{"a":1,"b":2,"a":3})").value().data;
    EXPECT_EQ(Render(Format::kJson, dup).value(), R"(json:{"a":3,"b":2})");
    // Deliberately stricter than Python (which reads 1E400 as inf, that JSON then cannot render): refused.
    DecodeProblem problem = DecodeProblem::kNone;
    EXPECT_FALSE(Parse("json:[1E400]", &problem));
    EXPECT_EQ(problem, DecodeProblem::kMalformedBody);
    // Surrogate pairs in escapes are joined; the output is raw UTF-8.
    EXPECT_EQ(Render(Format::kJson, Parse(R"(json:"\ud83d\ude00 \u00e9")").value().data).value(),
              "json:\"\xf0\x9f\x98\x80 \xc3\xa9\"");
    // A lone surrogate (Python would keep it) is refused.
    EXPECT_FALSE(Parse(R"(json:"\ud800")"));
    // Split at the first ':' only.
    EXPECT_EQ(Parse(R"(json:{"a:b":"c:d"})").value().data, Value({{"a:b", "c:d"}}));
}

TEST(WireParseJson, Rejections) {
    for (const std::string& bad : {"json:NaN"s, "json:[Infinity]"s, "json:-Infinity"s, "json:"s, "json:{"s,
                                   "json:{\"a\":1} x"s, "json:\xef\xbb\xbf{}"s, "json:\"\xff\""s, "json:\"\xc0\xaf\""s,
                                   "json:{'a':1}"s, "json:[1,]"s, "json:\"a\x01\""s}) {
        DecodeProblem problem = DecodeProblem::kNone;
        auto r = Parse(bad, &problem);
        EXPECT_FALSE(r) << bad;
        EXPECT_EQ(problem, DecodeProblem::kMalformedBody) << bad;
    }
}

TEST(WireParse, DepthLimit) {
    const std::string deep_ok = "json:" + std::string(kMaxDepth, '[') + std::string(kMaxDepth, ']');
    EXPECT_TRUE(Parse(deep_ok));
    const std::string too_deep = "json:" + std::string(kMaxDepth + 1, '[') + std::string(kMaxDepth + 1, ']');
    EXPECT_FALSE(Parse(too_deep));
    EXPECT_FALSE(Parse("msgpack:" + std::string(kMaxDepth + 1, '\x91') + "\x01"));
    EXPECT_FALSE(Parse("msgpack:" + std::string(100000, '\x91') + "\x01"));
    EXPECT_TRUE(Parse("msgpack:" + std::string(kMaxDepth, '\x91') + "\x01"));
}

// ---- DecodeEnvelope problems ----------------------------------------------------------------------------------

struct ProblemCase {
    std::string name;
    std::string bytes;
    DecodeProblem problem;
    std::string message_part;
};

TEST(WireDecode, EveryProblem) {
    const ProblemCase cases[] = {
        {"no colon", "just some text", DecodeProblem::kUnknownFormat, "no ':'"},
        {"upper case JSON", std::string("JSON:") + std::string(kJsonNoProducer.substr(5)),
         DecodeProblem::kUnknownFormat, "unknown format 'JSON'"},
        {"pickle",
         "pickle:\x80\x03}q\x00X\x03\x00\x00\x00fooq\x01X\x03\x00\x00\x00"
         "barq\x02s."s,
         DecodeProblem::kUnknownFormat, "unknown format 'pickle'"},
        {"xml", "xml:<a/>", DecodeProblem::kUnknownFormat, "unknown format 'xml'"},
        {"BOM before the code", "\xef\xbb\xbfjson:{}", DecodeProblem::kUnknownFormat, "unknown format"},
        {"bad json", "json:{\"type\":", DecodeProblem::kMalformedBody, "malformed json body"},
        {"msgpack trailing bytes",
         "msgpack:\x81\xa3"
         "foo\xa3"
         "bar\x00"s,
         DecodeProblem::kMalformedBody, "trailing bytes"},
        {"msgpack int key", "msgpack:" + Unhex("810102"), DecodeProblem::kMalformedBody, "not a str"},
        {"msgpack truncated", "msgpack:" + Unhex("83a474797065"), DecodeProblem::kMalformedBody, "truncated"},
        {"msgpack invalid utf-8", "msgpack:" + Unhex("a2c328"), DecodeProblem::kMalformedBody, "UTF-8"},
        {"msgpack ext", "msgpack:" + Unhex("d4010a"), DecodeProblem::kMalformedBody, "ext type"},
        {"msgpack c1", "msgpack:" + Unhex("c1"), DecodeProblem::kMalformedBody, "0xc1"},
        {"msgpack empty", "msgpack:", DecodeProblem::kMalformedBody, "truncated"},
        {"huge map count", "msgpack:" + Unhex("dfffffffff"), DecodeProblem::kMalformedBody, "truncated"},
        {"missing type", R"(json:{"version":1,"message":{}})", DecodeProblem::kInvalidEnvelope,
         "missing top-level \"type\" key"},
        {"missing version", R"(json:{"type":"t","message":{}})", DecodeProblem::kInvalidEnvelope,
         "missing top-level \"version\" key"},
        {"missing message", R"(json:{"type":"t","version":1})", DecodeProblem::kInvalidEnvelope,
         "missing top-level \"message\" key"},
        {"type checked first", R"(json:{"message":{}})", DecodeProblem::kInvalidEnvelope, "\"type\""},
        {"top-level array", R"(json:["type","version","message"])", DecodeProblem::kInvalidEnvelope, "not a map"},
        {"top-level string", R"(json:"typeversionmessage")", DecodeProblem::kInvalidEnvelope, "not a map"},
        {"type not a string", R"(json:{"type":1,"version":1,"message":{}})", DecodeProblem::kInvalidEnvelope,
         "not a string"},
    };
    for (const auto& c : cases) {
        DecodeProblem problem = DecodeProblem::kNone;
        auto r = DecodeEnvelope(c.bytes, &problem);
        ASSERT_FALSE(r) << c.name;
        EXPECT_EQ(problem, c.problem) << c.name;
        EXPECT_EQ(r.error().code(), ErrorCode::kInvalidArgument) << c.name;
        EXPECT_NE(r.error().message().find(c.message_part), std::string::npos) << c.name << ": " << r.error().message();
        EXPECT_FALSE(DecodeEnvelope(c.bytes)) << c.name;  // no problem pointer: fine too
    }
}

TEST(WireDecode, SuccessSetsNoneAndKeepsOddValues) {
    DecodeProblem problem = DecodeProblem::kMalformedBody;
    auto d = DecodeEnvelope(R"(json:{"producer":7,"message":"x","version":"1","type":"t","extra":1})", &problem);
    ASSERT_TRUE(d) << d.error().ToString();
    EXPECT_EQ(problem, DecodeProblem::kNone);
    EXPECT_EQ(d->envelope.message, "x");  // a non-map message is the handler's validation failure
    EXPECT_EQ(d->envelope.version, "1");
    EXPECT_EQ(d->envelope.producer, "");  // not a string: ignored
}

// ---- VersionMatches (Python dict equality) ------------------------------------------------------------------

TEST(WireVersion, PythonEquality) {
    EXPECT_TRUE(VersionMatches(Value(1), 1));
    EXPECT_TRUE(VersionMatches(Value(std::uint64_t{1}), 1));
    EXPECT_TRUE(VersionMatches(Value(1.0), 1));
    EXPECT_TRUE(VersionMatches(Value(true), 1));
    EXPECT_TRUE(VersionMatches(Value(false), 0));
    EXPECT_TRUE(VersionMatches(Value(-2), -2));
    EXPECT_TRUE(VersionMatches(Parse("json:1").value().data, 1));
    EXPECT_TRUE(VersionMatches(Parse("json:1.0").value().data, 1));
    EXPECT_TRUE(VersionMatches(Parse("json:true").value().data, 1));
    EXPECT_FALSE(VersionMatches(Value("1"), 1));
    EXPECT_FALSE(VersionMatches(Value(1.5), 1));
    EXPECT_FALSE(VersionMatches(Value(2), 1));
    EXPECT_FALSE(VersionMatches(Value(nullptr), 0));
    EXPECT_FALSE(VersionMatches(Value(true), 2));
    EXPECT_FALSE(VersionMatches(Value::array({1}), 1));
    EXPECT_FALSE(VersionMatches(Value(std::numeric_limits<std::uint64_t>::max()), -1));
    EXPECT_FALSE(VersionMatches(Value(std::nan("")), 0));
    EXPECT_FALSE(VersionMatches(Value(9007199254740992.0), 9007199254740993));  // exact, not via double
    EXPECT_TRUE(VersionMatches(Value(9007199254740992.0), 9007199254740992));
}

// ---- KeyFor (Python str()) ----------------------------------------------------------------------------------

TEST(WireKey, PythonStr) {
    const Value msg = {
        {"code", "NY"},
        {"n", 7},
        {"none", nullptr},
        {"yes", true},
        {"no", false},
        {"f", 0.1},
        {"big", 1e16},
        {"neg", -3},
        {"list", Value::array({1, "a", nullptr, true, 2.0})},
        {"quotes", Value::array({"it's", "say \"hi\"", "both ' \"", "tab\t\x01\xc2\xa0\xc3\xa9"})},
        {"map", {{"a", 1}, {"b", Value::array()}}},
        {"empty", ""},
    };
    EXPECT_EQ(KeyFor(msg, "code").value(), "NY");
    EXPECT_EQ(KeyFor(msg, "n").value(), "7");
    EXPECT_EQ(KeyFor(msg, "none").value(), "None");
    EXPECT_EQ(KeyFor(msg, "yes").value(), "True");
    EXPECT_EQ(KeyFor(msg, "no").value(), "False");
    EXPECT_EQ(KeyFor(msg, "f").value(), "0.1");
    EXPECT_EQ(KeyFor(msg, "big").value(), "1e+16");
    EXPECT_EQ(KeyFor(msg, "neg").value(), "-3");
    EXPECT_EQ(KeyFor(msg, "list").value(), "[1, 'a', None, True, 2.0]");
    EXPECT_EQ(KeyFor(msg, "quotes").value(), "[\"it's\", 'say \"hi\"', 'both \\' \"', 'tab\\t\\x01\\xa0\xc3\xa9']");
    EXPECT_EQ(KeyFor(msg, "map").value(), "{'a': 1, 'b': []}");
    EXPECT_EQ(KeyFor(msg, "empty").value(), "");
    EXPECT_EQ(KeyFor(msg, "").value(), "");  // no KEY_FIELD: empty key
    auto missing = KeyFor(msg, "uuid");
    ASSERT_FALSE(missing);
    EXPECT_EQ(missing.error().code(), ErrorCode::kNotFound);
    EXPECT_NE(missing.error().message().find("'uuid'"), std::string::npos);
    EXPECT_FALSE(KeyFor(Value::array(), "code"));
}

}  // namespace
}  // namespace gale::pipe
