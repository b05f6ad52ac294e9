// SPDX-License-Identifier: MIT
#include <gtest/gtest.h>

#include <gale/sentry/scrub.hpp>

namespace gale::sentry {
namespace {

TEST(Scrub, EveryDenylistedKeyIsSensitiveWhateverItsCaseOrSeparator) {
    for (const char* key :
         {"password",     "PASSWORD",   "db_password", "passwd",         "secret",          "client-secret",
          "api_key",      "X-Api-Key",  "apikey",      "auth",           "Authorization",   "Proxy-Authorization",
          "credentials",  "mysql_pwd",  "privatekey",  "private_key",    "token",           "access_token",
          "X-Auth-Token", "session",    "sessionid",   "csrftoken",      "X-CSRFToken",     "csrf",
          "_xsrf",        "XSRF-TOKEN", "cookie",      "Set-Cookie",     "X-Forwarded-For", "PHPSESSID",
          "connect.sid",  "symfony",    "signature",   "X-Amz-Signature"}) {
        EXPECT_TRUE(IsSensitiveKey(key)) << key;
    }
    for (const char* key : {"user", "path", "status", "request_id", "Accept", "Content-Type", "User-Agent", ""}) {
        EXPECT_FALSE(IsSensitiveKey(key)) << key;
    }
}

TEST(Scrub, HeadersLoseCookiesAndSensitiveValues) {
    StringPairs in = {{"Host", "example.com"},
                      {"Cookie", "sessionid=abc"},
                      {"Set-Cookie", "a=b"},
                      {"Authorization", "Bearer abc"},
                      {"Proxy-Authorization", "Basic x"},
                      {"X-Api-Key", "k"},
                      {"X-CSRFToken", "t"},
                      {"User-Agent", "curl/8"},
                      {"Referer", "https://u:pw@h/?token=x"}};
    StringPairs out = ScrubHeaders(in);
    StringPairs want = {{"Host", "example.com"},
                        {"Authorization", "[Filtered]"},
                        {"Proxy-Authorization", "[Filtered]"},
                        {"X-Api-Key", "[Filtered]"},
                        {"X-CSRFToken", "[Filtered]"},
                        {"User-Agent", "curl/8"},
                        {"Referer", "https://u:[Filtered]@h/?token=[Filtered]"}};
    EXPECT_EQ(out, want);
}

TEST(Scrub, QueryStringsFilterSensitiveParametersOnly) {
    EXPECT_EQ(ScrubQueryString("a=1&token=x&b=2"), "a=1&token=[Filtered]&b=2");
    EXPECT_EQ(ScrubQueryString("api%5Fkey=x&Password=y&session_id=z"),
              "api%5Fkey=[Filtered]&Password=[Filtered]&session_id=[Filtered]");
    EXPECT_EQ(ScrubQueryString("q=password&x"), "q=password&x");  // a value is not a key
    EXPECT_EQ(ScrubQueryString(""), "");
    EXPECT_EQ(ScrubQueryString("&&secret&=1"), "&&secret&=1");  // nothing to filter without '='
    EXPECT_EQ(ScrubQueryString("%zz=1&auth=%zz"), "%zz=1&auth=[Filtered]");
}

TEST(Scrub, TextLosesKeyValueSecretsAndUrlPasswords) {
    EXPECT_EQ(ScrubText("the secret detail: password=hunter2"), "the secret detail: password=[Filtered]");
    EXPECT_EQ(ScrubText("connect postgresql://app:hunter2@db:5432/app failed"),
              "connect postgresql://app:[Filtered]@db:5432/app failed");
    EXPECT_EQ(ScrubText(R"({"password": "hunter2", "user": "bob"})"), R"({"password": "[Filtered]", "user": "bob"})");
    EXPECT_EQ(ScrubText("token: abc, api_key=def; ok"), "token: [Filtered], api_key=[Filtered]; ok");
    EXPECT_EQ(ScrubText("no secrets here: status=500"), "no secrets here: status=500");
    EXPECT_EQ(ScrubText("https://example.com/path?x=1"), "https://example.com/path?x=1");
}

}  // namespace
}  // namespace gale::sentry
