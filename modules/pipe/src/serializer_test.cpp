// SPDX-License-Identifier: MIT
#include <cmath>
#include <cstdint>
#include <limits>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <gale/pipe/serializer.hpp>

namespace gale::pipe {
namespace {

// The reference's `us-state` serializer: code (exactly 2 chars, the key), name.
struct UsState {
    std::string code;
    std::string name;
};
GALE_PIPE_DEFINE_MESSAGE(UsState, code, name)

// Declaration order differs from alphabetical order: the wire keeps declaration order.
struct Person {
    std::string uuid;
    std::string last_name;
    std::string first_name;
    int age = 0;
    std::optional<std::string> nickname;
};
GALE_PIPE_DEFINE_MESSAGE(Person, uuid, last_name, first_name, age)

// nlohmann's own macro (3.11.2: nlohmann::json only): accepted, keys sorted.
struct Legacy {
    std::string zulu;
    std::string alpha;
};
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(Legacy, zulu, alpha)

const TypedSerializer<UsState> kStates("us-state", 1, "code");

Result<void> ValidateState(const UsState& s) {
    if (s.code.size() != 2) {
        return MakeError(ErrorCode::kInvalidArgument, "field 'code': ensure this field has exactly 2 characters");
    }
    return {};
}

TEST(TypedSerializer, Declarations) {
    EXPECT_EQ(kStates.type(), "us-state");
    EXPECT_EQ(kStates.version(), 1);
    EXPECT_EQ(kStates.key_field(), "code");
    EXPECT_EQ(TypedSerializer<UsState>("t", 2).key_field(), "");
}

TEST(TypedSerializer, ToMessageKeepsDeclarationOrder) {
    EXPECT_EQ(Render(Format::kJson, kStates.ToMessage({"NY", "New York"})).value(),
              R"(json:{"code":"NY","name":"New York"})");
    const TypedSerializer<Person> people("person", 1, "uuid");
    EXPECT_EQ(Render(Format::kJson, people.ToMessage({"u-1", "Schmoe", "Joe", 42, std::nullopt})).value(),
              R"(json:{"uuid":"u-1","last_name":"Schmoe","first_name":"Joe","age":42})");
}

TEST(TypedSerializer, NlohmannMacroTypesWorkWithSortedKeys) {
    const TypedSerializer<Legacy> legacy("legacy", 1);
    EXPECT_EQ(Render(Format::kJson, legacy.ToMessage({"z", "a"})).value(), R"(json:{"alpha":"a","zulu":"z"})");
    auto back = legacy.FromMessage(Value({{"zulu", "z"}, {"alpha", "a"}}));
    ASSERT_TRUE(back);
    EXPECT_EQ(back->zulu, "z");
    auto bad = legacy.FromMessage(Value({{"zulu", 1}, {"alpha", "a"}}));
    ASSERT_FALSE(bad);
    EXPECT_THAT(bad.error().message(), testing::HasSubstr("field 'zulu'"));
}

TEST(TypedSerializer, FromMessage) {
    auto ok = kStates.FromMessage(Value({{"name", "New York"}, {"code", "NY"}, {"extra", 1}}));
    ASSERT_TRUE(ok) << ok.error().ToString();
    EXPECT_EQ(ok->code, "NY");
    EXPECT_EQ(ok->name, "New York");

    auto wrong_type = kStates.FromMessage(Value({{"code", "NY"}, {"name", 5}}));
    ASSERT_FALSE(wrong_type);
    EXPECT_EQ(wrong_type.error().code(), ErrorCode::kInvalidArgument);
    EXPECT_EQ(wrong_type.error().message(), "field 'name': type must be string, but is number");

    auto missing = kStates.FromMessage(Value({{"name", "New York"}}));
    ASSERT_FALSE(missing);
    EXPECT_EQ(missing.error().message(), "field 'code': missing");

    auto not_a_map = kStates.FromMessage(Value("NY"));
    ASSERT_FALSE(not_a_map);
    EXPECT_EQ(not_a_map.error().message(), "expected a map, got string");

    const TypedSerializer<Person> people("person", 1, "uuid");
    auto bad_age = people.FromMessage(Value({{"uuid", "u"}, {"last_name", "S"}, {"first_name", "J"}, {"age", "x"}}));
    ASSERT_FALSE(bad_age);
    EXPECT_EQ(bad_age.error().message(), "field 'age': type must be number, but is string");
}

TEST(TypedHandler, ValidateAndSave) {
    std::vector<std::string> saved;
    auto handler = MakeHandler(
        kStates,
        [&](const UsState& s) -> Result<void> {
            saved.push_back(s.code + "=" + s.name);
            return {};
        },
        ValidateState);
    EXPECT_EQ(handler->type(), "us-state");
    EXPECT_EQ(handler->version(), 1);

    const Value good = {{"code", "NY"}, {"name", "New York"}};
    EXPECT_TRUE(handler->Validate(good));
    EXPECT_TRUE(handler->Save(good));
    EXPECT_THAT(saved, testing::ElementsAre("NY=New York"));

    // The reference's invalid message: code "NYC".
    auto invalid = handler->Validate(Value({{"code", "NYC"}, {"name", "New York"}}));
    ASSERT_FALSE(invalid);
    EXPECT_EQ(invalid.error().code(), ErrorCode::kInvalidArgument);
    EXPECT_EQ(invalid.error().message(), "us-state v1: field 'code': ensure this field has exactly 2 characters");

    auto type_error = handler->Validate(Value({{"code", 1}, {"name", "x"}}));
    ASSERT_FALSE(type_error);
    EXPECT_EQ(type_error.error().message(), "us-state v1: field 'code': type must be string, but is number");
}

TEST(TypedHandler, SaveErrorsPropagate) {
    auto handler = MakeHandler(
        kStates, [](const UsState&) -> Result<void> { return MakeError(ErrorCode::kUnavailable, "database is down"); });
    const Value good = {{"code", "NY"}, {"name", "New York"}};
    EXPECT_TRUE(handler->Validate(good));  // no validate function: from_json only
    auto r = handler->Save(good);
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().code(), ErrorCode::kUnavailable);
}

// ---- numbers: every integer type of a message, checked against the value received ----------------------------------
//
// A received number that does not fit the field's C++ type is a validation failure naming the field, never a wrapped,
// truncated or saturated value: 2^64-1 must not become -1 in an int64, 2^70 (a float to the JSON reader) must not
// become INT64_MIN, 1.5 must not become 1, true must not become 1.
struct Numbers {
    std::int64_t i64 = 0;
    std::uint64_t u64 = 0;
    std::int32_t i32 = 0;
    std::uint32_t u32 = 0;
    std::int16_t i16 = 0;
    std::uint8_t u8 = 0;
    bool flag = false;
    double f64 = 0;
    float f32 = 0;
    std::vector<std::int32_t> list;
    std::map<std::string, std::uint16_t> table;
};
GALE_PIPE_DEFINE_MESSAGE(Numbers, i64, u64, i32, u32, i16, u8, flag, f64, f32, list, table)

const TypedSerializer<Numbers> kNumbers("numbers", 1);

// The defaults of every field as JSON text, with `field` set to the raw JSON text `value`: the number goes through
// the JSON reader exactly as a peer wrote it (2^70 stays 1180591620717411303424 on the wire).
std::string NumbersJson(std::string_view field, std::string_view value) {
    const std::vector<std::pair<std::string_view, std::string_view>> defaults = {
        {"i64", "0"},      {"u64", "0"},   {"i32", "0"},   {"u32", "0"},   {"i16", "0"},   {"u8", "0"},
        {"flag", "false"}, {"f64", "0.0"}, {"f32", "0.0"}, {"list", "[]"}, {"table", "{}"}};
    std::string body = R"(json:{"type":"numbers","version":1,"message":{)";
    for (const auto& [name, text] : defaults) {
        if (body.back() != '{') body += ',';
        body += '"' + std::string(name) + "\":" + std::string(name == field ? value : text);
    }
    return body + "}}";
}

// The same message as msgpack, with `field` set to `value` (a Value: its type picks the msgpack form, e.g. uint64
// 0xcf, int64 0xd3, float64 0xcb).
std::string NumbersMsgpack(const std::string& field, const Value& value) {
    Value message = kNumbers.ToMessage(Numbers{});
    message[field] = value;
    return Render(Format::kMsgpack, Value({{"type", "numbers"}, {"version", 1}, {"message", message}})).value();
}

Result<Numbers> DecodeNumbers(const std::string& record) {
    auto decoded = DecodeEnvelope(record);
    EXPECT_TRUE(decoded) << decoded.error().ToString();
    if (!decoded) return tl::unexpected(decoded.error());
    return kNumbers.FromMessage(decoded->envelope.message);
}

// Expects `record` to be refused with a message that names `field` and contains `why`.
void ExpectRefused(const std::string& record, std::string_view field, std::string_view why) {
    auto got = DecodeNumbers(record);
    ASSERT_FALSE(got) << record << " was accepted";
    EXPECT_EQ(got.error().code(), ErrorCode::kInvalidArgument);
    EXPECT_THAT(got.error().message(), testing::StartsWith("field '" + std::string(field) + "': ")) << record;
    EXPECT_THAT(got.error().message(), testing::HasSubstr(std::string(why))) << record;
}

TEST(TypedSerializerNumbers, Int64OutOfRangeIsRefusedNotWrapped) {
    EXPECT_EQ(DecodeNumbers(NumbersJson("i64", "9223372036854775807")).value().i64, INT64_MAX);
    EXPECT_EQ(DecodeNumbers(NumbersJson("i64", "-9223372036854775808")).value().i64, INT64_MIN);
    EXPECT_EQ(DecodeNumbers(NumbersJson("i64", "-0")).value().i64, 0);
    ExpectRefused(NumbersJson("i64", "9223372036854775808"), "i64", "9223372036854775808 is out of range for int64");
    ExpectRefused(NumbersJson("i64", "18446744073709551615"), "i64", "18446744073709551615 is out of range for int64");
    // Below -2^63 the JSON reader holds the integer as a double, and the nearest one is -2^63 itself: refused.
    ExpectRefused(NumbersJson("i64", "-9223372036854775809"), "i64", "not exact enough for an integer field");
    ExpectRefused(NumbersJson("i64", "1180591620717411303424"), "i64", "out of range for int64");  // 2^70
    ExpectRefused(NumbersJson("i64", "-1180591620717411303424"), "i64", "out of range for int64");
    ExpectRefused(NumbersJson("i64", "9223372036854775807.0"), "i64", "out of range for int64");  // 2^63 as a double
    ExpectRefused(NumbersJson("i64", "1e300"), "i64", "out of range for int64");

    // msgpack: what msgpack-python packs for these values.
    EXPECT_EQ(DecodeNumbers(NumbersMsgpack("i64", Value(INT64_MAX))).value().i64, INT64_MAX);  // packed as uint64
    EXPECT_EQ(DecodeNumbers(NumbersMsgpack("i64", Value(INT64_MIN))).value().i64, INT64_MIN);
    ExpectRefused(NumbersMsgpack("i64", Value(UINT64_MAX)), "i64", "18446744073709551615 is out of range for int64");
    ExpectRefused(NumbersMsgpack("i64", Value(std::uint64_t{1} << 63)), "i64", "out of range for int64");
    ExpectRefused(NumbersMsgpack("i64", Value(1e300)), "i64", "out of range for int64");
    ExpectRefused(NumbersMsgpack("i64", Value(std::ldexp(1.0, 70))), "i64", "out of range for int64");
}

TEST(TypedSerializerNumbers, FloatsIntoIntegersMustBeWholeAndInRange) {
    // A whole float is accepted, as DRF's IntegerField and Pydantic's int accept 2.0; a fraction is not.
    EXPECT_EQ(DecodeNumbers(NumbersJson("i64", "2.0")).value().i64, 2);
    EXPECT_EQ(DecodeNumbers(NumbersJson("i64", "1e2")).value().i64, 100);
    EXPECT_EQ(DecodeNumbers(NumbersJson("i32", "-2147483648.0")).value().i32, INT32_MIN);
    EXPECT_EQ(DecodeNumbers(NumbersJson("i64", "9007199254740991.0")).value().i64, 9007199254740991);  // 2^53-1
    EXPECT_EQ(DecodeNumbers(NumbersJson("i64", "-9007199254740991.0")).value().i64, -9007199254740991);
    // From 2^53 on, a double stands for several integers (9007199254740993.0 reads as 2^53): refused.
    ExpectRefused(NumbersJson("i64", "9007199254740993.0"), "i64", "not exact enough for an integer field");
    ExpectRefused(NumbersJson("u64", "1e17"), "u64", "number 1e+17 is a float beyond 2^53");
    ExpectRefused(NumbersJson("i64", "1.5"), "i64", "1.5 is not an integer");
    ExpectRefused(NumbersJson("i64", "-0.5"), "i64", "is not an integer");
    ExpectRefused(NumbersJson("u8", "0.1"), "u8", "is not an integer");
    ExpectRefused(NumbersJson("i32", "2147483648.0"), "i32", "out of range for int32");
    ExpectRefused(NumbersMsgpack("i64", Value(1.5)), "i64", "1.5 is not an integer");
    ExpectRefused(NumbersMsgpack("u64", Value(std::ldexp(1.0, 64))), "u64", "out of range for uint64");
    ExpectRefused(NumbersMsgpack("u64", Value(std::ldexp(1.0, 63))), "u64", "not exact enough for an integer field");
    EXPECT_EQ(DecodeNumbers(NumbersMsgpack("u64", Value(std::ldexp(1.0, 52)))).value().u64, std::uint64_t{1} << 52);
    // msgpack carries NaN and infinities (JSON cannot): no integer field takes them.
    ExpectRefused(NumbersMsgpack("i64", Value(std::numeric_limits<double>::quiet_NaN())), "i64", "is not an integer");
    ExpectRefused(NumbersMsgpack("i64", Value(std::numeric_limits<double>::infinity())), "i64", "out of range");
}

TEST(TypedSerializerNumbers, EveryIntegerWidthIsChecked) {
    EXPECT_EQ(DecodeNumbers(NumbersJson("u64", "18446744073709551615")).value().u64, UINT64_MAX);
    ExpectRefused(NumbersJson("u64", "18446744073709551616"), "u64", "out of range for uint64");  // 2^64
    ExpectRefused(NumbersJson("u64", "-1"), "u64", "-1 is out of range for uint64");
    ExpectRefused(NumbersMsgpack("u64", Value(std::int64_t{-1})), "u64", "-1 is out of range for uint64");

    EXPECT_EQ(DecodeNumbers(NumbersJson("i32", "2147483647")).value().i32, INT32_MAX);
    EXPECT_EQ(DecodeNumbers(NumbersJson("i32", "-2147483648")).value().i32, INT32_MIN);
    ExpectRefused(NumbersJson("i32", "2147483648"), "i32", "2147483648 is out of range for int32");
    ExpectRefused(NumbersJson("i32", "-2147483649"), "i32", "-2147483649 is out of range for int32");
    ExpectRefused(NumbersMsgpack("i32", Value(std::int64_t{-2147483649})), "i32", "out of range for int32");

    EXPECT_EQ(DecodeNumbers(NumbersJson("u32", "4294967295")).value().u32, UINT32_MAX);
    ExpectRefused(NumbersJson("u32", "4294967296"), "u32", "4294967296 is out of range for uint32");
    ExpectRefused(NumbersJson("u32", "-1"), "u32", "out of range for uint32");

    EXPECT_EQ(DecodeNumbers(NumbersJson("i16", "-32768")).value().i16, INT16_MIN);
    ExpectRefused(NumbersJson("i16", "32768"), "i16", "32768 is out of range for int16");
    ExpectRefused(NumbersJson("i16", "-32769"), "i16", "out of range for int16");

    EXPECT_EQ(DecodeNumbers(NumbersJson("u8", "255")).value().u8, 255);
    ExpectRefused(NumbersJson("u8", "256"), "u8", "256 is out of range for uint8");
    ExpectRefused(NumbersJson("u8", "-1"), "u8", "out of range for uint8");
    ExpectRefused(NumbersMsgpack("u8", Value(256)), "u8", "256 is out of range for uint8");
}

TEST(TypedSerializerNumbers, BoolsAndNumbersDoNotMix) {
    // DRF's IntegerField refuses True, its BooleanField is not ours to copy (it takes "yes"): a bool field takes
    // true/false only, a number field no bool.
    EXPECT_TRUE(DecodeNumbers(NumbersJson("flag", "true")).value().flag);
    ExpectRefused(NumbersJson("flag", "1"), "flag", "type must be boolean, but is number");
    ExpectRefused(NumbersJson("flag", "0"), "flag", "type must be boolean, but is number");
    ExpectRefused(NumbersJson("i64", "true"), "i64", "type must be number, but is boolean");
    ExpectRefused(NumbersJson("u8", "false"), "u8", "type must be number, but is boolean");
    ExpectRefused(NumbersJson("f64", "true"), "f64", "type must be number, but is boolean");
    ExpectRefused(NumbersMsgpack("flag", Value(1)), "flag", "type must be boolean, but is number");
    ExpectRefused(NumbersMsgpack("i32", Value(true)), "i32", "type must be number, but is boolean");
}

TEST(TypedSerializerNumbers, FloatFields) {
    // Integers into a double round as Python's float(int) does; a float32 refuses what it cannot hold.
    EXPECT_EQ(DecodeNumbers(NumbersJson("f64", "7")).value().f64, 7.0);
    EXPECT_EQ(DecodeNumbers(NumbersJson("f64", "18446744073709551615")).value().f64, 18446744073709551615.0);
    EXPECT_EQ(DecodeNumbers(NumbersJson("f64", "1180591620717411303424")).value().f64, std::ldexp(1.0, 70));
    EXPECT_EQ(DecodeNumbers(NumbersJson("f64", "1.5")).value().f64, 1.5);
    EXPECT_EQ(DecodeNumbers(NumbersJson("f32", "0.1")).value().f32, 0.1F);
    EXPECT_EQ(DecodeNumbers(NumbersJson("f32", "-3.4e38")).value().f32, -3.4e38F);
    ExpectRefused(NumbersJson("f32", "1e300"), "f32", "out of range for float");
    ExpectRefused(NumbersJson("f32", "-3.5e38"), "f32", "out of range for float");
    EXPECT_TRUE(std::isnan(DecodeNumbers(NumbersMsgpack("f64", Value(std::nan("")))).value().f64));
    EXPECT_TRUE(std::isinf(DecodeNumbers(NumbersMsgpack("f32", Value(HUGE_VAL))).value().f32));
}

TEST(TypedSerializerNumbers, ContainersAreCheckedElementByElement) {
    auto ok = DecodeNumbers(NumbersJson("list", "[1,-2,2147483647]"));
    ASSERT_TRUE(ok) << ok.error().ToString();
    EXPECT_EQ(ok->list, (std::vector<std::int32_t>{1, -2, INT32_MAX}));
    ExpectRefused(NumbersJson("list", "[1,2147483648]"), "list[1]", "2147483648 is out of range for int32");
    ExpectRefused(NumbersJson("list", "[1,2.5]"), "list[1]", "2.5 is not an integer");
    ExpectRefused(NumbersJson("list", "7"), "list", "type must be array, but is number");
    auto table = DecodeNumbers(NumbersJson("table", R"({"a":1,"b":65535})"));
    ASSERT_TRUE(table) << table.error().ToString();
    EXPECT_EQ(table->table, (std::map<std::string, std::uint16_t>{{"a", 1}, {"b", 65535}}));
    ExpectRefused(NumbersJson("table", R"({"a":1,"b":65536})"), "table.b", "65536 is out of range for uint16");
    ExpectRefused(NumbersMsgpack("table", Value({{"x", -1}})), "table.x", "-1 is out of range for uint16");
}

// A message nested in a message: the path names both fields.
struct Outer {
    std::string name;
    Numbers numbers;
};
GALE_PIPE_DEFINE_MESSAGE(Outer, name, numbers)

TEST(TypedSerializerNumbers, NestedMessagesNameThePath) {
    const TypedSerializer<Outer> outer("outer", 1);
    Value message = outer.ToMessage(Outer{});
    message["numbers"]["u32"] = std::int64_t{-5};
    auto got = outer.FromMessage(message);
    ASSERT_FALSE(got);
    EXPECT_EQ(got.error().message(), "field 'numbers.u32': number -5 is out of range for uint32 [0, 4294967295]");
    message = outer.ToMessage(Outer{});
    message["numbers"].erase("i16");
    EXPECT_EQ(outer.FromMessage(message).error().message(), "field 'numbers.i16': missing");
}

TEST(TypedHandler, OutOfRangeIsAValidationFailure) {
    int saves = 0;
    auto handler = MakeHandler(kNumbers, [&](const Numbers&) -> Result<void> {
        ++saves;
        return {};
    });
    auto decoded = DecodeEnvelope(NumbersJson("i64", "18446744073709551615"));
    ASSERT_TRUE(decoded);
    auto valid = handler->Validate(decoded->envelope.message);
    ASSERT_FALSE(valid);
    EXPECT_EQ(valid.error().code(), ErrorCode::kInvalidArgument);
    EXPECT_EQ(valid.error().message(),
              "numbers v1: field 'i64': number 18446744073709551615 is out of range for int64 "
              "[-9223372036854775808, 9223372036854775807]");
    EXPECT_EQ(handler->Save(decoded->envelope.message).error().code(), ErrorCode::kInvalidArgument);
    EXPECT_EQ(saves, 0);
}

}  // namespace
}  // namespace gale::pipe
