// SPDX-License-Identifier: MIT
#include <string>

#include <gtest/gtest.h>

#include <gale/log/testing/captured_log.hpp>
#include <gale/sessions/csrf.hpp>
#include <gale/sessions/manager.hpp>

#include "test_support.hpp"

namespace gale::sessions::csrf {
namespace {

const std::string kSecret = std::string(16, 'A') + std::string(16, 'b');
const std::string kMask = "0123456789abcdefghijABCDEFGHIJxy";

TEST(Mask, IsDjangosAlgorithm) {
    // django.middleware.csrf's mask + cipher for this secret and mask (computed with Django 3.2).
    EXPECT_EQ(MaskSecretWith(kSecret, kMask), "0123456789abcdefghijABCDEFGHIJxyqrstuvwxyzABCDEFhijkBCDEFGHIJKyz");
    EXPECT_EQ(UnmaskToken(MaskSecretWith(kSecret, kMask)), kSecret);
}

TEST(Mask, FreshMasksGiveDifferentTokensForOneSecret) {
    const std::string secret = NewSecret();
    ASSERT_EQ(secret.size(), 32U);
    const std::string a = MaskSecret(secret);
    const std::string b = MaskSecret(secret);
    EXPECT_EQ(a.size(), 64U);
    EXPECT_NE(a, b);
    EXPECT_EQ(UnmaskToken(a), secret);
    EXPECT_EQ(UnmaskToken(b), secret);
    EXPECT_TRUE(TokensMatch(a, b));
    EXPECT_TRUE(TokensMatch(secret, a));  // a pre-1.10 unmasked cookie
    EXPECT_FALSE(TokensMatch(MaskSecret(NewSecret()), a));
}

TEST(Mask, RefusesWhatIsNotAToken) {
    const std::string good = MaskSecret(NewSecret());
    EXPECT_EQ(UnmaskToken(good.substr(1)), std::nullopt);
    EXPECT_EQ(UnmaskToken(good.substr(0, 63) + "-"), std::nullopt);
    EXPECT_EQ(SanitizeToken(""), std::nullopt);
    EXPECT_EQ(SanitizeToken(std::string(33, 'a')), std::nullopt);
    EXPECT_EQ(SanitizeToken(std::string(64, '\0')), std::nullopt);
    EXPECT_FALSE(TokensMatch("", good));
    EXPECT_FALSE(TokensMatch(good, ""));
    EXPECT_FALSE(TokensMatch(good + "a", good));
}

TEST(IsSameDomain, FollowsDjango) {
    EXPECT_TRUE(IsSameDomain("example.com", "example.com"));
    EXPECT_TRUE(IsSameDomain("Example.COM", "example.com"));
    EXPECT_TRUE(IsSameDomain("example.com", ".example.com"));
    EXPECT_TRUE(IsSameDomain("a.b.example.com", ".example.com"));
    EXPECT_FALSE(IsSameDomain("badexample.com", ".example.com"));
    EXPECT_FALSE(IsSameDomain("example.com:8443", "example.com"));
    EXPECT_TRUE(IsSameDomain("example.com:8443", "example.com:8443"));
    EXPECT_FALSE(IsSameDomain("example.com", ""));
    EXPECT_FALSE(IsSameDomain("", "example.com"));
}

http::Request Post(std::vector<std::pair<std::string, std::string>>& storage) {
    http::Request r;
    r.SetLine(http::Method::kPost, "POST", "/form", 1);
    r.SetRequestId("rid-1");
    for (const auto& [n, v] : storage) r.AddHeader(n, v);
    return r;
}

TEST(Check, SafeMethodsPassAndUnsafeOnesNeedACookieAndAToken) {
    Options o;
    const std::string cookie = MaskSecret(NewSecret());
    std::vector<std::pair<std::string, std::string>> h = {{"Host", "example.com"}};
    http::Request get;
    get.SetLine(http::Method::kGet, "GET", "/", 1);
    EXPECT_EQ(Check(get, o, std::nullopt), std::nullopt);

    http::Request post = Post(h);
    EXPECT_EQ(Check(post, o, std::nullopt), kReasonNoCookie);
    EXPECT_EQ(Check(post, o, cookie), kReasonBadToken);

    h.emplace_back("X-CSRFToken", MaskSecret(*UnmaskToken(cookie)));
    http::Request with_header = Post(h);
    EXPECT_EQ(Check(with_header, o, cookie), std::nullopt);

    for (http::Method m : {http::Method::kPut, http::Method::kDelete, http::Method::kPatch}) {
        http::Request r = Post(h);
        r.SetLine(m, "X", "/", 1);
        EXPECT_EQ(Check(r, o, cookie), std::nullopt);
        r.SetLine(m, "X", "/", 1);
        EXPECT_EQ(Check(r, o, MaskSecret(NewSecret())), kReasonBadToken);
    }
}

TEST(Check, ReadsTheFormFieldOfAUrlencodedBody) {
    Options o;
    const std::string cookie = MaskSecret(NewSecret());
    std::vector<std::pair<std::string, std::string>> h = {
        {"Content-Type", "application/x-www-form-urlencoded; charset=UTF-8"}};
    http::Request r = Post(h);
    r.mutable_body() = "name=x&csrfmiddlewaretoken=" + MaskSecret(*UnmaskToken(cookie)) + "&y=1";
    EXPECT_EQ(Check(r, o, cookie), std::nullopt);
    r.mutable_body() = "csrfmiddlewaretoken=" + MaskSecret(NewSecret());
    EXPECT_EQ(Check(r, o, cookie), kReasonBadToken);
    // Not a form: the field is not looked for.
    std::vector<std::pair<std::string, std::string>> json = {{"Content-Type", "application/json"}};
    http::Request j = Post(json);
    j.mutable_body() = "csrfmiddlewaretoken=" + MaskSecret(*UnmaskToken(cookie));
    EXPECT_EQ(Check(j, o, cookie), kReasonBadToken);
}

TEST(Check, ReadsTheFormFieldOfAMultipartBody) {
    Options o;
    const std::string cookie = MaskSecret(NewSecret());
    std::vector<std::pair<std::string, std::string>> h = {{"Content-Type", "multipart/form-data; boundary=XyZ"}};
    auto body = [](const std::string& token) {
        return "--XyZ\r\nContent-Disposition: form-data; name=\"photo\"; filename=\"csrfmiddlewaretoken\"\r\n"
               "Content-Type: application/octet-stream\r\n\r\nnot the token\r\n"
               "--XyZ\r\nContent-Disposition: form-data; name=\"csrfmiddlewaretoken\"\r\n\r\n" +
               token + "\r\n--XyZ--\r\n";
    };
    http::Request r = Post(h);
    r.mutable_body() = body(MaskSecret(*UnmaskToken(cookie)));
    EXPECT_EQ(Check(r, o, cookie), std::nullopt);
    r.mutable_body() = body(MaskSecret(NewSecret()));
    EXPECT_EQ(Check(r, o, cookie), kReasonBadToken);
    // A body that is not a well-formed form (no closing boundary) has no field: the header is looked for instead.
    r.mutable_body() = body(MaskSecret(*UnmaskToken(cookie))).substr(0, 150);
    EXPECT_EQ(Check(r, o, cookie), kReasonBadToken);
    h.emplace_back("X-CSRFToken", MaskSecret(*UnmaskToken(cookie)));
    http::Request with_header = Post(h);
    with_header.mutable_body() = "--XyZ--\r\n";
    EXPECT_EQ(Check(with_header, o, cookie), std::nullopt);
}

TEST(Check, SecureRequestsNeedAGoodRefererAndOrigin) {
    Options o;
    o.secure_proxy_header.emplace("X-Forwarded-Proto", "https");
    o.trusted_origins = {".trusted.example", "https://other.example"};
    const std::string cookie = MaskSecret(NewSecret());
    const std::string token = MaskSecret(*UnmaskToken(cookie));
    auto check = [&](std::vector<std::pair<std::string, std::string>> extra) {
        std::vector<std::pair<std::string, std::string>> h = {
            {"Host", "app.example:8443"}, {"X-Forwarded-Proto", "https"}, {"X-CSRFToken", token}};
        for (auto& e : extra) h.push_back(e);
        http::Request r = Post(h);
        auto reason = Check(r, o, cookie);
        return reason ? std::string(*reason) : std::string("ok");
    };
    EXPECT_EQ(check({}), kReasonNoReferer);
    EXPECT_EQ(check({{"Referer", "https://app.example:8443/form"}}), "ok");
    EXPECT_EQ(check({{"Referer", "https://app.example/form"}}),
              "Referer checking failed - Referer does not match any trusted origins.");
    EXPECT_EQ(check({{"Referer", "http://app.example:8443/form"}}), kReasonInsecureReferer);
    EXPECT_EQ(check({{"Referer", "not a url"}}), kReasonMalformedReferer);
    EXPECT_EQ(check({{"Referer", "https:///path"}}), kReasonMalformedReferer);
    EXPECT_EQ(check({{"Referer", "https://www.trusted.example/x"}}), "ok");
    EXPECT_EQ(check({{"Referer", "https://trusted.example/x"}}), "ok");
    EXPECT_EQ(check({{"Referer", "https://other.example/x"}}), "ok");
    EXPECT_EQ(check({{"Referer", "https://eviltrusted.example/x"}}),
              "Referer checking failed - Referer does not match any trusted origins.");
    EXPECT_EQ(check({{"Origin", "https://evil.example"}, {"Referer", "https://app.example:8443/"}}), kReasonBadOrigin);
    EXPECT_EQ(check({{"Origin", "null"}, {"Referer", "https://app.example:8443/"}}), kReasonBadOrigin);
    EXPECT_EQ(check({{"Origin", "https://app.example:8443"}, {"Referer", "https://app.example:8443/"}}), "ok");
    // Not secure (no proxy header): Django 3.2 checks neither.
    std::vector<std::pair<std::string, std::string>> h = {
        {"Host", "app.example"}, {"X-CSRFToken", token}, {"Referer", "http://evil.example/"}};
    http::Request plain = Post(h);
    EXPECT_EQ(Check(plain, o, cookie), std::nullopt);
}

TEST(Forbidden, Answers403WithTheReasonAndLogsItWithTheRequestId) {
    log::testing::CapturedLog captured;
    std::vector<std::pair<std::string, std::string>> h;
    http::Request r = Post(h);
    http::Response resp = Forbidden(r, kReasonBadToken);
    EXPECT_EQ(resp.status(), 403);
    EXPECT_EQ(resp.body(),
              "{\"error\":\"forbidden\",\"reason\":\"CSRF token missing or incorrect.\",\"request_id\":\"rid-1\"}\n");
    const std::string text = captured.Text();
    EXPECT_NE(text.find("rid-1"), std::string::npos) << text;
    EXPECT_NE(text.find("CSRF token missing or incorrect."), std::string::npos) << text;
}

/// What App::AddResource's handle looks like to Protect: a get() that may fail.
struct OptionsResource {
    Result<std::shared_ptr<Options>> get() const {
        if (!options)
            return MakeError(ErrorCode::kUnavailable, "resource 'csrf' failed: CSRF_COOKIE_AGE: not a number");
        return options;
    }
    std::shared_ptr<Options> options;
};

TEST(Protect, FindsItsOptionsForEachRequestAndAnswers503WithoutThem) {
    log::testing::CapturedLog captured;
    int ran = 0;
    OptionsResource resource;
    http::Handler protect = Protect(resource, [&](http::Request&, Csrf& c) -> Result<http::Response> {
        ++ran;
        return http::Response::Text(200, c.Token());
    });
    http::Request get;
    get.SetLine(http::Method::kGet, "GET", "/form", 1);
    get.SetRequestId("rid-2");
    http::Response refused = protect(get);
    EXPECT_EQ(refused.status(), 503);
    EXPECT_EQ(ran, 0);
    EXPECT_NE(captured.Text().find("CSRF_COOKIE_AGE: not a number"), std::string::npos) << captured.Text();

    // Options found: the handler runs, with the resource's cookie name.
    auto options = std::make_shared<Options>();
    options->cookie_name = "xsrf";
    http::Handler working = Protect(OptionsResource{options}, [&](http::Request&, Csrf& c) -> Result<http::Response> {
        ++ran;
        return http::Response::Text(200, c.Token());
    });
    http::Response ok = working(get);
    EXPECT_EQ(ok.status(), 200);
    EXPECT_EQ(ran, 1);
    auto set_cookie = ok.header("Set-Cookie");
    ASSERT_TRUE(set_cookie);
    EXPECT_EQ(set_cookie->rfind("xsrf=", 0), 0u) << *set_cookie;
}

TEST(ProtectWithSession, ChecksTheTokenBeforeLoadingTheSessionThenSetsBothCookies) {
    log::testing::CapturedLog captured;
    auto manager = std::make_shared<SessionManager>(SessionOptions{}, SigningKeys{.secret = "test-secret"});
    int loads = 0;
    int ran = 0;
    http::Handler handler = ProtectWithSession(
        OptionsSource([]() -> Result<std::shared_ptr<const Options>> { return std::make_shared<Options>(); }),
        ManagerSource([&]() -> Result<std::shared_ptr<SessionManager>> {
            ++loads;
            return manager;
        }),
        [&](http::Request&, Session& session, Csrf& token) -> Result<http::Response> {
            ++ran;
            session.Set("user", "ann");
            token.Rotate();  // as Django's login()
            return http::Response::Text(200, "logged in\n");
        });

    sessions::testing::OwnedRequest forged(http::Method::kPost, {{"Host", "example.com"}});
    EXPECT_EQ(handler(forged.request).status(), 403);
    EXPECT_EQ(loads, 0) << "a request the CSRF check refuses loaded the session";
    EXPECT_EQ(ran, 0);

    const std::string cookie = MaskSecret(NewSecret());
    sessions::testing::OwnedRequest good(http::Method::kPost, {{"Host", "example.com"},
                                                               {"Cookie", "csrftoken=" + cookie},
                                                               {"X-CSRFToken", MaskSecret(*UnmaskToken(cookie))}});
    http::Response ok = handler(good.request);
    EXPECT_EQ(ok.status(), 200) << ok.body();
    EXPECT_EQ(loads, 1);
    EXPECT_EQ(ran, 1);
    EXPECT_NE(sessions::testing::SetCookieFor(ok, "sessionid"), "") << "the session was not saved onto the response";
    const std::string rotated = sessions::testing::CookieValue(sessions::testing::SetCookieFor(ok, "csrftoken"));
    ASSERT_NE(rotated, "") << "the CSRF cookie was not set";
    EXPECT_NE(UnmaskToken(rotated), UnmaskToken(cookie)) << "Rotate kept the secret";
}

TEST(OptionsFromEnvironment, ReadsDjangosNames) {
    std::map<std::string, std::string, std::less<>> env = {{"CSRF_COOKIE_NAME", "xsrf"},
                                                           {"CSRF_COOKIE_AGE", "60"},
                                                           {"CSRF_COOKIE_SECURE", "true"},
                                                           {"CSRF_COOKIE_SAMESITE", "Strict"},
                                                           {"CSRF_HEADER_NAME", "HTTP_X_XSRF_TOKEN"},
                                                           {"CSRF_TRUSTED_ORIGINS", "a.example, .b.example"},
                                                           {"SECURE_PROXY_SSL_HEADER", "X-Forwarded-Proto: https"}};
    EnvLookup lookup = [&](std::string_view n) -> std::optional<std::string> {
        auto it = env.find(n);
        return it == env.end() ? std::nullopt : std::optional<std::string>(it->second);
    };
    auto o = OptionsFromEnvironment(lookup);
    ASSERT_TRUE(o) << o.error().message();
    EXPECT_EQ(o->cookie_name, "xsrf");
    EXPECT_EQ(o->cookie_age.count(), 60);
    EXPECT_TRUE(o->cookie_secure);
    EXPECT_EQ(o->cookie_samesite, http::SameSite::kStrict);
    EXPECT_EQ(o->header_name, "X-XSRF-TOKEN");
    EXPECT_EQ(o->trusted_origins, (std::vector<std::string>{"a.example", ".b.example"}));
    ASSERT_TRUE(o->secure_proxy_header);
    EXPECT_EQ(o->secure_proxy_header->first, "X-Forwarded-Proto");
    EXPECT_EQ(o->secure_proxy_header->second, "https");
    env["SECURE_PROXY_SSL_HEADER"] = "https";
    auto bad = OptionsFromEnvironment(lookup);
    ASSERT_FALSE(bad);
    EXPECT_TRUE(bad.error().message().starts_with("SECURE_PROXY_SSL_HEADER: 'https' is not")) << bad.error().message();
    env["SECURE_PROXY_SSL_HEADER"] = "X-Forwarded-Proto: https";
    env["CSRF_COOKIE_AGE"] = "soon";
    EXPECT_FALSE(OptionsFromEnvironment(lookup));
    // Defaults: Django's.
    auto d = OptionsFromEnvironment([](std::string_view) { return std::optional<std::string>(); });
    ASSERT_TRUE(d);
    EXPECT_EQ(d->cookie_name, "csrftoken");
    EXPECT_EQ(d->cookie_age.count(), 31449600);
    EXPECT_FALSE(d->cookie_secure);
    EXPECT_FALSE(d->cookie_httponly);
    EXPECT_EQ(d->header_name, "X-CSRFToken");
    EXPECT_FALSE(d->secure_proxy_header);
}

}  // namespace
}  // namespace gale::sessions::csrf
