// SPDX-License-Identifier: MIT
#include <optional>
#include <string>
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

}  // namespace
}  // namespace gale::pipe
