// SPDX-License-Identifier: MIT
#include <string>

#include <gtest/gtest.h>

#include <gale/sessions/signing.hpp>

#include "crypto.hpp"

namespace gale::sessions {
namespace {

using std::chrono::seconds;

const SystemClock::time_point kT0{seconds(1700000000)};

TEST(Base64Url, RoundTripsWithoutPaddingAndRefusesOtherAlphabets) {
    for (std::string s : {"", "a", "ab", "abc", "abcd", "\xff\xfe\xfd", "\xfb\xff"}) {
        const std::string e = Base64UrlEncode(s);
        EXPECT_EQ(e.find('='), std::string::npos);
        EXPECT_EQ(Base64UrlDecode(e), s);
    }
    EXPECT_EQ(Base64UrlEncode("\xfb\xff"), "-_8");
    EXPECT_EQ(Base64UrlDecode("+/8"), std::nullopt);
    EXPECT_EQ(Base64UrlDecode("YQ=="), std::nullopt);
    EXPECT_EQ(Base64UrlDecode("Y"), std::nullopt);   // 1 mod 4
    EXPECT_EQ(Base64UrlDecode("YR"), std::nullopt);  // non-zero pad bits
    EXPECT_EQ(Base64UrlDecode("Y Q"), std::nullopt);
}

TEST(Base62, MatchesDjangosBaseconv) {
    EXPECT_EQ(Base62Encode(0), "0");
    EXPECT_EQ(Base62Encode(61), "z");
    EXPECT_EQ(Base62Encode(62), "10");
    EXPECT_EQ(Base62Encode(1700000000), "1r31eq");  // baseconv.base62.encode(1700000000)
    EXPECT_EQ(Base62Decode("1r31eq"), 1700000000);
    EXPECT_EQ(Base62Decode(""), std::nullopt);
    EXPECT_EQ(Base62Decode("-1"), std::nullopt);
    EXPECT_EQ(Base62Decode("zzzzzzzzzzzzzzzzzzzz"), std::nullopt);  // overflow
}

TEST(Signer, MatchesDjangoForAKnownKey) {
    // django.core.signing.Signer(key="secret", salt="s").sign("hello") with Django 3.2 (sha256).
    Signer signer({.secret = "secret"}, "s");
    const std::string signed_value = signer.Sign("hello");
    EXPECT_EQ(signed_value, "hello:ELWR6i-VPRmNhIp5I_VPqRfqmtgnrjijlfyCvNznz-A");
    EXPECT_EQ(signer.Unsign(signed_value).value(), "hello");
}

TEST(Signer, RefusesTamperingWrongKeysAndGarbage) {
    Signer signer({.secret = "k1"});
    const std::string s = signer.Sign("value:with:colons");
    EXPECT_EQ(signer.Unsign(s).value(), "value:with:colons");
    for (std::string bad : {std::string("no separator"), s + "x", "x" + s, s.substr(0, s.size() - 1), std::string(":"),
                            std::string(""), std::string("\0:\0", 3)}) {
        auto r = signer.Unsign(bad);
        ASSERT_FALSE(r) << bad;
        EXPECT_EQ(r.error().code(), ErrorCode::kInvalidArgument);
        EXPECT_TRUE(r.error().message().starts_with("bad signature")) << r.error().message();
    }
    EXPECT_FALSE(Signer({.secret = "k2"}).Unsign(s));
    EXPECT_FALSE(Signer({.secret = "k1"}, "another salt").Unsign(s));
}

TEST(Signer, FallbackKeysVerifyAndOnlyTheSecretSigns) {
    const std::string old = Signer({.secret = "old"}).Sign("v");
    Signer rotated({.secret = "new", .fallbacks = {"older", "old"}});
    EXPECT_EQ(rotated.Unsign(old).value(), "v");
    EXPECT_EQ(rotated.Sign("v"), Signer({.secret = "new"}).Sign("v"));
    EXPECT_FALSE(Signer({.secret = "new"}).Unsign(old));
}

TEST(TimestampSigner, ChecksTheAgeWithAnInjectedClock) {
    TimestampSigner signer({.secret = "k"});
    const std::string s = signer.Sign("v", kT0);
    EXPECT_NE(s.find(":1r31eq:"), std::string::npos);
    EXPECT_EQ(signer.Unsign(s, seconds(10), kT0 + seconds(10)).value(), "v");
    auto late = signer.Unsign(s, seconds(10), kT0 + seconds(11));
    ASSERT_FALSE(late);
    EXPECT_EQ(late.error().message(), "signature expired: 11 s old, more than 10 s");
    EXPECT_EQ(signer.Unsign(s, std::nullopt, kT0 + seconds(1000000)).value(), "v");
    EXPECT_EQ(signer.Unsign(s, seconds(10), kT0 - seconds(100)).value(), "v");  // future timestamps pass
}

TEST(TimestampSigner, SignsAndLoadsObjectsCompressedOrNot) {
    TimestampSigner signer({.secret = "k"}, "django.core.signing");
    nlohmann::json small = {{"a", 1}};
    const std::string plain = signer.SignObject(small, true, kT0);
    EXPECT_NE(plain.front(), '.');  // zlib would not make it shorter
    EXPECT_EQ(plain.substr(0, plain.find(':')), Base64UrlEncode("{\"a\":1}"));
    EXPECT_EQ(signer.UnsignObject(plain).value(), small);

    nlohmann::json big = {{"list", std::vector<int>(200, 7)}, {"name", "caf\xc3\xa9"}};
    const std::string compressed = signer.SignObject(big, true, kT0);
    EXPECT_EQ(compressed.front(), '.');
    EXPECT_LT(compressed.size(), big.dump().size());
    EXPECT_EQ(signer.UnsignObject(compressed).value(), big);
    const std::string uncompressed = signer.SignObject(big, false, kT0);
    EXPECT_NE(uncompressed.front(), '.');
    // ASCII-only JSON, as Python's json.dumps writes it.
    EXPECT_NE(Base64UrlDecode(uncompressed.substr(0, uncompressed.find(':')))->find("caf\\u00e9"), std::string::npos);
}

TEST(TimestampSigner, APayloadThatIsSignedButMalformedIsRefusedNotTrusted) {
    TimestampSigner signer({.secret = "k"});
    for (std::string payload :
         {std::string("!!!"), std::string(".") + Base64UrlEncode("not zlib"), Base64UrlEncode("{not json"),
          std::string(".") + Base64UrlEncode(detail::ZlibCompress("{"))}) {
        auto r = signer.UnsignObject(signer.Sign(payload, kT0));
        ASSERT_FALSE(r) << payload;
        EXPECT_TRUE(r.error().message().starts_with("bad signature: malformed payload")) << r.error().message();
    }
}

TEST(TimestampSigner, NeverCrashesOnArbitraryInput) {
    TimestampSigner signer({.secret = "k"});
    std::string s = signer.SignObject({{"x", 1}}, true, kT0);
    for (std::size_t i = 0; i < s.size(); ++i) {
        std::string t = s;
        t[i] = static_cast<char>(t[i] ^ 0x01);
        EXPECT_FALSE(signer.UnsignObject(t)) << i;
        EXPECT_FALSE(signer.UnsignObject(s.substr(0, i)));
    }
}

TEST(Zlib, DecompressionIsBounded) {
    const std::string zeros(1 << 20, '\0');
    const std::string z = detail::ZlibCompress(zeros);
    EXPECT_EQ(detail::ZlibDecompress(z, 1 << 20)->size(), zeros.size());
    EXPECT_EQ(detail::ZlibDecompress(z, (1 << 20) - 1), std::nullopt);
    EXPECT_EQ(detail::ZlibDecompress(z.substr(0, z.size() / 2), 1 << 20), std::nullopt);
    EXPECT_EQ(detail::ZlibDecompress(z + "x", 1 << 20), std::nullopt);
}

TEST(SigningKeysFromEnvironment, ReadsTheSecretAndItsFallbacks) {
    auto keys = SigningKeysFromEnvironment([](std::string_view name) -> std::optional<std::string> {
        if (name == "APP_SECRET_KEY") return "s";
        if (name == "APP_SECRET_KEY_FALLBACKS") return "old1, old2";
        return std::nullopt;
    });
    ASSERT_TRUE(keys);
    EXPECT_EQ(keys->secret, "s");
    EXPECT_EQ(keys->fallbacks, (std::vector<std::string>{"old1", "old2"}));
    auto missing = SigningKeysFromEnvironment([](std::string_view) { return std::optional<std::string>(); });
    ASSERT_FALSE(missing);
    // Not "APP_SECRET_KEY: …": Sentry's scrubber would filter what follows a secret-looking name and a colon.
    EXPECT_EQ(missing.error().message(), "APP_SECRET_KEY is not set, and sessions are signed with it");
}

TEST(RandomString, DrawsFromTheAlphabetOnly) {
    const std::string s = detail::RandomString(1000, "ab");
    EXPECT_EQ(s.size(), 1000U);
    EXPECT_EQ(s.find_first_not_of("ab"), std::string::npos);
    EXPECT_NE(s.find('a'), std::string::npos);
    EXPECT_NE(s.find('b'), std::string::npos);
    EXPECT_NE(detail::RandomString(32, "xyz"), detail::RandomString(32, "xyz"));
}

}  // namespace
}  // namespace gale::sessions
