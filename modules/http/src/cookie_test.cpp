// SPDX-License-Identifier: MIT
#include <string>

#include <gtest/gtest.h>

#include <gale/http/cookie.hpp>

namespace gale::http {
namespace {

std::string Pairs(std::string_view header) {
    std::string out;
    for (const CookiePair& p : ParseCookieHeader(header))
        out += "[" + std::string(p.name) + "=" + std::string(p.value) + "]";
    return out;
}

TEST(ParseCookieHeader, SplitsTrimsAndUnquotes) {
    EXPECT_EQ(Pairs("sessionid=abc; csrftoken=XYZ"), "[sessionid=abc][csrftoken=XYZ]");
    EXPECT_EQ(Pairs("  a = 1 ;\tb=2\t"), "[a=1][b=2]");
    EXPECT_EQ(Pairs("a=\"quoted value\"; b=\""), "[a=quoted value][b=\"]");
    EXPECT_EQ(Pairs("a=x=y"), "[a=x=y]");  // only the first '=' splits
    EXPECT_EQ(Pairs("a="), "[a=]");
}

TEST(ParseCookieHeader, SkipsWhatIsNotAPairAndNeverFails) {
    EXPECT_EQ(Pairs(""), "");
    EXPECT_EQ(Pairs(";;;"), "");
    EXPECT_EQ(Pairs("novalue; =orphan; ok=1"), "[ok=1]");
    EXPECT_EQ(Pairs(std::string("a=\0b; c=d", 9)), std::string("[a=\0b][c=d]", 11));  // bytes kept as sent
}

TEST(FindCookie, GivesTheFirstOccurrenceAcrossEveryCookieHeader) {
    Request r;
    r.AddHeader("Host", "example.com");
    r.AddHeader("Cookie", "a=1; b=2");
    r.AddHeader("cookie", "b=3; c=4");
    EXPECT_EQ(FindCookie(r, "b"), "2");
    EXPECT_EQ(FindCookie(r, "c"), "4");
    EXPECT_EQ(FindCookie(r, "B"), std::nullopt);  // names are case-sensitive
    EXPECT_EQ(FindCookie(r, "host"), std::nullopt);
}

TEST(FormatSetCookie, WritesTheAttributesInOrder) {
    SetCookie c{.name = "sessionid", .value = "abc123"};
    c.max_age = std::chrono::seconds(1209600);
    c.secure = true;
    c.http_only = true;
    c.same_site = SameSite::kLax;
    EXPECT_EQ(FormatSetCookie(c).value(), "sessionid=abc123; Max-Age=1209600; Path=/; Secure; HttpOnly; SameSite=Lax");
    c = SetCookie{.name = "x", .value = "", .domain = ".example.com", .path = ""};
    EXPECT_EQ(FormatSetCookie(c).value(), "x=; Domain=.example.com");
}

TEST(FormatSetCookie, ADeletionCarriesMaxAgeZeroAndThe1970Expiry) {
    SetCookie c{.name = "sessionid", .value = ""};
    c.max_age = std::chrono::seconds(0);
    EXPECT_EQ(FormatSetCookie(c).value(), "sessionid=; expires=Thu, 01 Jan 1970 00:00:00 GMT; Max-Age=0; Path=/");
}

TEST(FormatSetCookie, RefusesWhatWouldChangeTheHeadersMeaning) {
    for (const char* name : {"", "a b", "a;b", "a=b", "a\r\nSet-Cookie: x"}) {
        auto r = FormatSetCookie(SetCookie{.name = name, .value = "v"});
        ASSERT_FALSE(r) << name;
        EXPECT_EQ(r.error().code(), ErrorCode::kInvalidArgument);
    }
    for (const char* value :
         {"s3cr3t b", "s3cr3t;b", "s3cr3t,b", "s3cr3t\"b", "s3cr3t\\b", "s3cr3t\xc3\xa9", "s3cr3t\nb"}) {
        auto r = FormatSetCookie(SetCookie{.name = "n", .value = value});
        ASSERT_FALSE(r) << value;
        EXPECT_NE(r.error().message().find("Set-Cookie n:"), std::string::npos);
        EXPECT_EQ(r.error().message().find("s3cr3t"), std::string::npos) << "the value may be a secret";
    }
    EXPECT_FALSE(FormatSetCookie(SetCookie{.name = "n", .value = "v", .domain = "a;b"}));
    EXPECT_FALSE(FormatSetCookie(SetCookie{.name = "n", .value = "v", .path = "/\r\n"}));
    auto none = FormatSetCookie(SetCookie{.name = "n", .value = "v", .same_site = SameSite::kNone});
    ASSERT_FALSE(none);
    EXPECT_NE(none.error().message().find("SameSite=None needs Secure"), std::string::npos);
    EXPECT_TRUE(FormatSetCookie(SetCookie{.name = "n", .value = "v", .secure = true, .same_site = SameSite::kNone}));
}

TEST(AddSetCookie, AddsOneHeaderPerCookie) {
    Response r(200);
    ASSERT_TRUE(AddSetCookie(r, SetCookie{.name = "a", .value = "1"}));
    ASSERT_TRUE(AddSetCookie(r, SetCookie{.name = "b", .value = "2"}));
    int n = 0;
    for (const auto& [name, value] : r.headers()) n += name == "Set-Cookie";
    EXPECT_EQ(n, 2);
    EXPECT_FALSE(AddSetCookie(r, SetCookie{.name = "c", .value = "a b"}));
}

TEST(ParseSameSite, ReadsDjangosValues) {
    EXPECT_EQ(ParseSameSite("X", "Lax").value(), SameSite::kLax);
    EXPECT_EQ(ParseSameSite("X", "strict").value(), SameSite::kStrict);
    EXPECT_EQ(ParseSameSite("X", "NONE").value(), SameSite::kNone);
    EXPECT_EQ(ParseSameSite("X", "False").value(), SameSite::kUnset);
    auto bad = ParseSameSite("SESSION_COOKIE_SAMESITE", "sometimes");
    ASSERT_FALSE(bad);
    EXPECT_EQ(bad.error().message(), "SESSION_COOKIE_SAMESITE: 'sometimes' is not one of Lax, Strict, None, false");
}

}  // namespace
}  // namespace gale::http
