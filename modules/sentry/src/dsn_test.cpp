// SPDX-License-Identifier: MIT
#include <gtest/gtest.h>

#include <gale/sentry/dsn.hpp>

namespace gale::sentry {
namespace {

TEST(Dsn, ParsesSaasSelfHostedAndLegacyForms) {
    auto d = ParseDsn("https://abc123@o0.ingest.sentry.io/4505");
    ASSERT_TRUE(d) << d.error().ToString();
    EXPECT_EQ(d->EnvelopeUrl(), "https://o0.ingest.sentry.io/api/4505/envelope/");
    EXPECT_EQ(d->AuthHeader("gale/1.0"), "Sentry sentry_version=7, sentry_client=gale/1.0, sentry_key=abc123");

    d = ParseDsn("http://key@127.0.0.1:9000/sentry/relay/7/");
    ASSERT_TRUE(d) << d.error().ToString();
    EXPECT_EQ(d->port, "9000");
    EXPECT_EQ(d->path_prefix, "/sentry/relay");
    EXPECT_EQ(d->EnvelopeUrl(), "http://127.0.0.1:9000/sentry/relay/api/7/envelope/");

    d = ParseDsn("HTTPS://pub:sec@[::1]:8443/3");
    ASSERT_TRUE(d) << d.error().ToString();
    EXPECT_EQ(d->host, "[::1]");
    EXPECT_EQ(d->EnvelopeUrl(), "https://[::1]:8443/api/3/envelope/");
    EXPECT_EQ(d->AuthHeader("c"), "Sentry sentry_version=7, sentry_client=c, sentry_key=pub, sentry_secret=sec");
}

TEST(Dsn, BadDsnsNameTheVariableAndNeverTheKey) {
    const char* bad[] = {
        "",
        "not a url",
        "ftp://hunter2@host/1",
        "https://host/1",                // no key
        "https://@host/1",               // empty key
        "https://hunter2@/1",            // no host
        "https://hunter2@host",          // no project
        "https://hunter2@host/",         // no project
        "https://hunter2@host/abc",      // project not digits
        "https://hunter2@host:99999/1",  // port out of range
        "https://hunter2@host:x/1",      // port not a number
        "https://hunter2@host:/1",       // empty port
        "https://hunter2@host/1?x=1",    // query
        "https://hunter2@host/1#f",      // fragment
        "https://hunt er2@host/1",       // whitespace
        "https://hunter2@[::1/1",        // IPv6 unclosed
        "https://hun%ter2@host/1",       // key characters
    };
    for (const char* text : bad) {
        auto d = ParseDsn(text);
        ASSERT_FALSE(d) << text;
        EXPECT_EQ(d.error().code(), ErrorCode::kInvalidArgument) << text;
        EXPECT_NE(d.error().message().find("SENTRY_DSN: "), std::string::npos) << d.error().message();
        EXPECT_EQ(d.error().message().find("hunter2"), std::string::npos) << d.error().message();
    }
}

}  // namespace
}  // namespace gale::sentry
