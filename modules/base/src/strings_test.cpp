// SPDX-License-Identifier: MIT
#include <gtest/gtest.h>

#include <gale/base/strings.hpp>

namespace gale {
namespace {

TEST(ParseInt, AcceptsWholeNumbersInRange) {
    EXPECT_EQ(ParseInt("--port", "8000", 0, 65535).value(), 8000);
    EXPECT_EQ(ParseInt("--port", "0", 0, 65535).value(), 0);
}

TEST(ParseInt, RejectsGarbageAndNamesTheOption) {
    auto r = ParseInt("--port", "abc", 0, 65535);
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().message(), "--port: 'abc' is not an integer");
    EXPECT_FALSE(ParseInt("--port", "80x", 0, 65535));
    EXPECT_FALSE(ParseInt("--port", "", 0, 65535));
    auto range = ParseInt("--port", "70000", 0, 65535);
    ASSERT_FALSE(range);
    EXPECT_NE(range.error().message().find("out of range"), std::string::npos);
    EXPECT_FALSE(ParseInt("--workers", "-1", 1, 1024));
}

TEST(ParseSize, UnderstandsSuffixes) {
    EXPECT_EQ(ParseSize("s", "1024").value(), 1024U);
    EXPECT_EQ(ParseSize("s", "8K").value(), 8192U);
    EXPECT_EQ(ParseSize("s", "10M").value(), 10U << 20);
    EXPECT_EQ(ParseSize("s", "1GiB").value(), 1ULL << 30);
    EXPECT_FALSE(ParseSize("s", "-5"));
    EXPECT_FALSE(ParseSize("s", "10X"));
    EXPECT_FALSE(ParseSize("s", "99999999999999999999"));
}

TEST(ParseDuration, UnderstandsUnits) {
    using std::chrono::milliseconds;
    EXPECT_EQ(ParseDuration("d", "5").value(), milliseconds(5000));
    EXPECT_EQ(ParseDuration("d", "250ms").value(), milliseconds(250));
    EXPECT_EQ(ParseDuration("d", "1.5s").value(), milliseconds(1500));
    EXPECT_EQ(ParseDuration("d", "2m").value(), milliseconds(120000));
    EXPECT_FALSE(ParseDuration("d", "-1s"));
    EXPECT_FALSE(ParseDuration("d", "soon"));
    EXPECT_FALSE(ParseDuration("d", "5 days"));
}

TEST(ParseBool, IsStrictNotTruthy) {
    EXPECT_TRUE(ParseBool("b", "true").value());
    EXPECT_TRUE(ParseBool("b", "YES").value());
    EXPECT_FALSE(ParseBool("b", "false").value());
    EXPECT_FALSE(ParseBool("b", "0").value());
    EXPECT_FALSE(ParseBool("b", "maybe"));
}

TEST(Strings, SplitAndEscape) {
    EXPECT_EQ(SplitWhitespace("  migrate  --noinput\t"), (std::vector<std::string>{"migrate", "--noinput"}));
    EXPECT_EQ(SplitList("WEB,TASK, CONSUME  worker,,"), (std::vector<std::string>{"WEB", "TASK", "CONSUME", "worker"}));
    EXPECT_EQ(SplitList(" , "), std::vector<std::string>{});
    EXPECT_EQ(PercentDecode("a%2Fb+c%7e"), std::optional<std::string>("a/b+c~"));
    EXPECT_EQ(PercentDecode("%00"), std::optional<std::string>(std::string(1, '\0')));
    EXPECT_FALSE(PercentDecode("%4"));
    EXPECT_FALSE(PercentDecode("%zz"));
    EXPECT_EQ(PercentEncode("a b/c~\xff"), "a%20b%2Fc~%FF");
    std::string out;
    AppendJsonEscaped(out, "a\"b\\c\n\x01");
    EXPECT_EQ(out, "a\\\"b\\\\c\\n\\u0001");
}

// Issue 8: GET /visits/%ff%fe put invalid UTF-8 into an application/json body.
TEST(Strings, JsonEscapingReplacesInvalidUtf8) {
    auto escaped = [](std::string_view in) {
        std::string out;
        AppendJsonEscaped(out, in);
        return out;
    };
    const std::string kReplacement = "\xEF\xBF\xBD";
    EXPECT_EQ(escaped("\xff\xfe"), kReplacement + kReplacement);
    EXPECT_EQ(escaped("caf\xC3\xA9 \xE2\x82\xAC \xF0\x9F\x98\x80"),
              "caf\xC3\xA9 \xE2\x82\xAC \xF0\x9F\x98\x80");                          // kept
    EXPECT_EQ(escaped("\xC0\xAF"), kReplacement + kReplacement);                     // overlong '/'
    EXPECT_EQ(escaped("\xED\xA0\x80"), kReplacement + kReplacement + kReplacement);  // a surrogate
    EXPECT_EQ(escaped("\xF4\x90\x80\x80"), kReplacement + kReplacement + kReplacement + kReplacement);
    EXPECT_EQ(escaped("a\xC3"), "a" + kReplacement);  // truncated at the end
    EXPECT_EQ(escaped("\xE2\x82x"), kReplacement + kReplacement + "x");
}

}  // namespace
}  // namespace gale
