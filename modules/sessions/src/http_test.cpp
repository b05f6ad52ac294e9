// SPDX-License-Identifier: MIT
// Sessions and CSRF over real HTTP on loopback: a gale http::Server with a login that rotates the session, a page
// that needs it, a logout, a form that renders a CSRF token and a POST that needs it; driven by libcurl (http::Client)
// with the cookies carried by hand, as a browser would.
#include <gtest/gtest.h>

#include <gale/base/strings.hpp>
#include <gale/http/client.hpp>
#include <gale/http/server.hpp>
#include <gale/log/log.hpp>
#include <gale/sessions/csrf.hpp>
#include <gale/sessions/database_store.hpp>
#include <gale/sessions/settings.hpp>

#include "test_support.hpp"

namespace gale::sessions {
namespace {

using testing::CookieValue;
using testing::MapLookup;

class SessionsOverHttp : public ::testing::Test {
protected:
    void Start(const std::map<std::string, std::string, std::less<>>& env) {
        log::SetLevel(log::Level::kError);
        auto options = SessionOptionsFromEnvironment(MapLookup(env));
        ASSERT_TRUE(options);
        db::ConnectionOptions c;
        c.sqlite_path = dir_.path() + "/s.db";
        auto pool = db::Pool::Open(c, {.size = 2, .name = "http-test"});
        ASSERT_TRUE(pool);
        auto store = DatabaseStore::Open(*pool, {.secret = "k"});
        ASSERT_TRUE(store && (*store)->CreateTable());
        store_ = std::shared_ptr<DatabaseStore>(std::move(*store));
        auto manager = std::make_shared<SessionManager>(*options, store_);
        auto csrf_options = csrf::OptionsFromEnvironment(MapLookup(env));
        ASSERT_TRUE(csrf_options);
        auto csrf = std::make_shared<const csrf::Options>(*csrf_options);

        ASSERT_TRUE(router_.Add(http::Method::kPost, "/login",
                                WithSession(manager, [](http::Request& req, Session& s) -> Result<http::Response> {
                                    auto user = http::FormValue(req.body(), "user");
                                    if (!user) return http::Response::Text(400, "user?\n");
                                    s.Rotate();
                                    s.Set("user", *user);
                                    return http::Response::Text(200, "welcome\n");
                                })));
        ASSERT_TRUE(router_.Add(http::Method::kGet, "/me",
                                WithSession(manager, [](http::Request&, Session& s) -> Result<http::Response> {
                                    return http::Response::Text(200, s.Get<std::string>("user", "anonymous"));
                                })));
        ASSERT_TRUE(router_.Add(http::Method::kPost, "/logout",
                                WithSession(manager, [](http::Request&, Session& s) -> Result<http::Response> {
                                    s.Flush();
                                    return http::Response::Text(200, "bye\n");
                                })));
        ASSERT_TRUE(router_.Add(http::Method::kGet, "/form",
                                csrf::Protect(csrf, [](http::Request&, csrf::Csrf& token) -> Result<http::Response> {
                                    return http::Response::Text(200, token.Token());
                                })));
        ASSERT_TRUE(router_.Add(http::Method::kPost, "/form",
                                csrf::Protect(csrf, [](http::Request& req, csrf::Csrf&) -> Result<http::Response> {
                                    return http::Response::Text(200, "posted " + *http::FormValue(req.body(), "x"));
                                })));
        http::ServerOptions o;
        o.bind = "127.0.0.1";
        o.port = 0;
        o.loops = 1;
        o.workers = 2;
        o.access_log = false;
        server_ = std::make_unique<http::Server>(o, router_);
        ASSERT_TRUE(server_->Listen());
        server_->Start();
    }
    void TearDown() override {
        if (server_) server_->Stop();
    }

    struct Answer {
        int status = 0;
        std::string body;
        std::vector<std::string> set_cookies;
        std::string SetCookie(std::string_view name) const {
            for (const auto& c : set_cookies) {
                if (c.starts_with(std::string(name) + "=")) return c;
            }
            return "";
        }
    };
    Answer Send(std::string method, std::string path, std::string body = "",
                std::vector<std::pair<std::string, std::string>> headers = {}) {
        http::ClientRequest req;
        req.method = std::move(method);
        req.url = "http://127.0.0.1:" + std::to_string(server_->port()) + path;
        req.body = std::move(body);
        req.headers = std::move(headers);
        if (!req.body.empty()) req.headers.emplace_back("Content-Type", "application/x-www-form-urlencoded");
        auto r = client_.Send(req);
        EXPECT_TRUE(r) << r.error().message();
        Answer a;
        if (!r) return a;
        a.status = r->status;
        a.body = r->body;
        for (const auto& [n, v] : r->headers) {
            if (EqualsIgnoreCase(n, "set-cookie")) a.set_cookies.push_back(v);
        }
        return a;
    }

    testing::TempDir dir_;
    std::shared_ptr<DatabaseStore> store_;
    http::Router router_;
    std::unique_ptr<http::Server> server_;
    http::Client client_;
};

TEST_F(SessionsOverHttp, LoginRotatesTheSessionAndLogoutEndsIt) {
    Start({});
    // An anonymous visitor who already has a session (e.g. one planted by an attacker: session fixation).
    auto planted = store_->Create("plantedsessionkey0123456789abcde", {{"cart", 3}}, std::chrono::seconds(60));
    ASSERT_TRUE(planted && *planted);
    const std::string planted_cookie = "sessionid=plantedsessionkey0123456789abcde";

    Answer login = Send("POST", "/login", "user=ann", {{"Cookie", planted_cookie}});
    ASSERT_EQ(login.status, 200) << login.body;
    const std::string set = login.SetCookie("sessionid");
    const std::string key = CookieValue(set);
    ASSERT_EQ(key.size(), 32U) << set;
    EXPECT_NE(key, "plantedsessionkey0123456789abcde");
    EXPECT_EQ(store_->Load("plantedsessionkey0123456789abcde").value(), std::nullopt) << "the old key is dead";
    EXPECT_EQ((*store_->Load(key).value())["cart"], 3) << "the data is kept";

    EXPECT_EQ(Send("GET", "/me", "", {{"Cookie", "sessionid=" + key}}).body, "ann");
    EXPECT_EQ(Send("GET", "/me", "", {{"Cookie", planted_cookie}}).body, "anonymous");
    Answer me = Send("GET", "/me", "", {{"Cookie", "sessionid=" + key}});
    EXPECT_TRUE(me.set_cookies.empty()) << "an unmodified session sends no cookie";

    Answer logout = Send("POST", "/logout", "x=1", {{"Cookie", "sessionid=" + key}});
    EXPECT_EQ(logout.status, 200);
    EXPECT_NE(logout.SetCookie("sessionid").find("Max-Age=0"), std::string::npos) << logout.SetCookie("sessionid");
    EXPECT_EQ(Send("GET", "/me", "", {{"Cookie", "sessionid=" + key}}).body, "anonymous");
}

TEST_F(SessionsOverHttp, AFormPostNeedsTheTokenTheFormRendered) {
    Start({});
    Answer form = Send("GET", "/form");
    ASSERT_EQ(form.status, 200);
    const std::string token = form.body;
    ASSERT_EQ(token.size(), 64U);
    const std::string cookie = CookieValue(form.SetCookie("csrftoken"));
    ASSERT_EQ(cookie.size(), 64U) << form.SetCookie("csrftoken");

    Answer ok = Send("POST", "/form", "x=1&csrfmiddlewaretoken=" + token, {{"Cookie", "csrftoken=" + cookie}});
    EXPECT_EQ(ok.status, 200);
    EXPECT_EQ(ok.body, "posted 1");
    Answer by_header = Send("POST", "/form", "x=2", {{"Cookie", "csrftoken=" + cookie}, {"X-CSRFToken", token}});
    EXPECT_EQ(by_header.status, 200);

    Answer no_token = Send("POST", "/form", "x=3", {{"Cookie", "csrftoken=" + cookie}});
    EXPECT_EQ(no_token.status, 403);
    EXPECT_NE(no_token.body.find("CSRF token missing or incorrect."), std::string::npos) << no_token.body;
    Answer no_cookie = Send("POST", "/form", "x=4&csrfmiddlewaretoken=" + token);
    EXPECT_EQ(no_cookie.status, 403);
    EXPECT_NE(no_cookie.body.find("CSRF cookie not set."), std::string::npos) << no_cookie.body;
    Answer other = Send("POST", "/form", "x=5&csrfmiddlewaretoken=" + csrf::MaskSecret(csrf::NewSecret()),
                        {{"Cookie", "csrftoken=" + cookie}});
    EXPECT_EQ(other.status, 403);
}

TEST_F(SessionsOverHttp, SecureRequestsBehindAProxyNeedTheirOwnReferer) {
    Start({{"SECURE_PROXY_SSL_HEADER", "X-Forwarded-Proto: https"}});
    Answer form = Send("GET", "/form");
    const std::string token = form.body;
    const std::string cookie = "csrftoken=" + CookieValue(form.SetCookie("csrftoken"));
    const std::string host = "127.0.0.1:" + std::to_string(server_->port());
    auto post = [&](std::vector<std::pair<std::string, std::string>> extra) {
        extra.emplace_back("Cookie", cookie);
        extra.emplace_back("X-Forwarded-Proto", "https");
        extra.emplace_back("X-CSRFToken", token);
        return Send("POST", "/form", "x=1", extra);
    };
    EXPECT_EQ(post({}).status, 403);
    EXPECT_EQ(post({{"Referer", "https://evil.example/"}}).status, 403);
    EXPECT_EQ(post({{"Referer", "http://" + host + "/form"}}).status, 403);
    EXPECT_EQ(post({{"Referer", "https://" + host + "/form"}}).status, 200);
    EXPECT_EQ(post({{"Referer", "https://" + host + "/form"}, {"Origin", "https://evil.example"}}).status, 403);
}

TEST_F(SessionsOverHttp, CookieAttributesInDevelopment) {
    // Development: what the develop profile leaves (no Secure, so http://localhost works).
    Start({});
    Answer login = Send("POST", "/login", "user=ann");
    EXPECT_EQ(login.SetCookie("sessionid").substr(42), "; Max-Age=1209600; Path=/; HttpOnly; SameSite=Lax");
    const std::string csrf_cookie = Send("GET", "/form").SetCookie("csrftoken");
    EXPECT_EQ(csrf_cookie.substr(74), "; Max-Age=31449600; Path=/; SameSite=Lax") << csrf_cookie;
}

TEST_F(SessionsOverHttp, CookieAttributesInProduction) {
    // What the production (and staging) profile sets (app's profile layer): both cookies Secure.
    Start({{"SESSION_COOKIE_SECURE", "true"}, {"CSRF_COOKIE_SECURE", "true"}});
    Answer login = Send("POST", "/login", "user=ann");
    EXPECT_EQ(login.SetCookie("sessionid").substr(42), "; Max-Age=1209600; Path=/; Secure; HttpOnly; SameSite=Lax");
    const std::string csrf_cookie = Send("GET", "/form").SetCookie("csrftoken");
    EXPECT_EQ(csrf_cookie.substr(74), "; Max-Age=31449600; Path=/; Secure; SameSite=Lax") << csrf_cookie;
}

}  // namespace
}  // namespace gale::sessions
