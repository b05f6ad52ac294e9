// SPDX-License-Identifier: MIT
//
// The example service's toolkit resources (issue 12). The cache (§4): `hello serve` with CACHE_REDIS_HOST on a real
// redis-server the test starts, then without it (the in-process cache). GET /visits is computed once and shared through
// the cache, a visit invalidates it, Redis going away fails readiness through the cache resource's PING check (and the
// route that needs the cache answers 503, while visits are still recorded), and Redis coming back brings readiness
// back. The files (§3): PUT and GET /files/{name} on local disk under MEDIA_ROOT, names the storage refuses answered
// 400, a root that cannot be written failing readiness, served with nosniff and a sandbox. (S3 itself is tested in
// modules/storage against moto.) Sessions and CSRF (§5): the login form's token is needed to log in, the login
// rotates the session and the CSRF secret, /me reads the session, a tampered cookie is nobody's, logout ends it; the
// production profile's cookies are Secure. Error reporting (§6): hello with SENTRY_DSN at a recording receiver and no
// APP_SECRET_KEY answers the session routes 503 and reports why.
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <gale/http/cookie.hpp>
#include <gale/http/testing/recording_server.hpp>
#include <gale/redis/connection.hpp>
#include <gale/redis/testing/redis_server.hpp>

#include "harness.hpp"

namespace {

using namespace std::chrono_literals;
using gale::testing::integration::Eventually;
using gale::testing::integration::Get;
using gale::testing::integration::Post;
using gale::testing::integration::Process;
using gale::testing::integration::ReadFile;
using gale::testing::integration::Request;
using gale::testing::integration::SpawnOptions;
using gale::testing::integration::StatusOf;
using gale::testing::integration::TempDirTest;
using Json = nlohmann::json;

#ifndef GALE_HELLO_PATH
#error "GALE_HELLO_PATH must name the hello binary"
#endif
constexpr const char* kHello = GALE_HELLO_PATH;

class HelloToolkitTest : public TempDirTest {
protected:
    HelloToolkitTest() : TempDirTest("hello-toolkit") {}

    void TearDown() override {
        serve_.reset();
        TempDirTest::TearDown();
    }

    std::unique_ptr<Process> Hello(std::vector<std::string> args, const std::string& name,
                                   std::map<std::string, std::string> env) const {
        args.insert(args.begin(), kHello);
        SpawnOptions options;
        options.unset_prefixes = {"GALE_",   "APP_",     "DATABASE_", "CACHE_", "MEDIA_",
                                  "ENABLE_", "SESSION_", "CSRF_",     "SENTRY_"};
        options.working_dir = dir_;
        options.env = std::move(env);
        return std::make_unique<Process>(std::move(args), dir_ + "/" + name + ".log", options);
    }

    void Serve(std::map<std::string, std::string> env) {
        auto migrate = Hello({"migrate"}, "migrate", env);
        auto code = migrate->WaitExit(10s);
        ASSERT_TRUE(code) << "migrate still running after 10 s";
        ASSERT_EQ(*code, 0);
        serve_ = Hello({"serve", "--bind", "127.0.0.1", "--port", "0", "--probe-port", "0", "--drain-delay", "0s"},
                       "serve", env);
        ASSERT_TRUE(serve_->started());
        app_port_ = serve_->WaitForPort("app server listening", 10s);
        probe_port_ = serve_->WaitForPort("probe server listening", 10s);
        ASSERT_NE(app_port_, 0);
        ASSERT_NE(probe_port_, 0);
    }

    /// GET /visits as JSON; a null value when it does not answer 200.
    Json Summary() {
        auto r = Get(app_port_, "/visits");
        if (!r || r->status != 200) return Json();
        return Json::parse(r->body, nullptr, false);
    }

    /// The readiness report's entry for `check`, or null.
    Json ReadyCheck(const std::string& check) {
        auto r = Get(probe_port_, "/ready");
        if (!r) return Json();
        Json j = Json::parse(r->body, nullptr, false);
        if (!j.is_object() || !j.contains("checks")) return Json();
        for (const auto& c : j["checks"]) {
            if (c.value("name", "") == check) return c;
        }
        return Json();
    }

    /// The Set-Cookie header for cookie `name` in `r`, or "".
    static std::string SetCookie(const gale::http::testing::RawResponse& r, const std::string& name) {
        auto [from, to] = r.headers.equal_range("set-cookie");
        for (auto it = from; it != to; ++it) {
            if (it->second.starts_with(name + "=")) return it->second;
        }
        return {};
    }
    /// The value a Set-Cookie header sets ("name=VALUE; Path=/…"): its first pair, as the Cookie parser reads it.
    static std::string CookieValue(const std::string& set_cookie) {
        const auto pairs = gale::http::ParseCookieHeader(set_cookie);
        return pairs.empty() ? std::string() : std::string(pairs.front().value);
    }
    /// GET /login: the form's token and the csrftoken cookie it set.
    std::pair<std::string, std::string> LoginForm() {
        auto form = Get(app_port_, "/login");
        EXPECT_TRUE(form && form->status == 200);
        if (!form) return {};
        EXPECT_EQ(form->header("content-type"), "text/html; charset=utf-8");
        const std::string marker = "name=csrfmiddlewaretoken value=\"";
        const auto at = form->body.find(marker);
        EXPECT_NE(at, std::string::npos) << form->body;
        if (at == std::string::npos) return {};
        return {form->body.substr(at + marker.size(), 64), CookieValue(SetCookie(*form, "csrftoken"))};
    }

    std::unique_ptr<Process> serve_;
    std::uint16_t app_port_ = 0;
    std::uint16_t probe_port_ = 0;
};

TEST_F(HelloToolkitTest, RedisCacheIsSharedInvalidatedAndDrivesReadiness) {
    auto redis = gale::redis::testing::RedisServer::Start();
    ASSERT_TRUE(redis) << redis.error().message();
    ASSERT_NO_FATAL_FAILURE(
        Serve({{"CACHE_REDIS_HOST", "127.0.0.1"}, {"CACHE_REDIS_PORT", std::to_string((*redis)->port())}}));
    ASSERT_TRUE(Eventually([&] { return StatusOf(probe_port_, "/ready") == 200; }, 10s)) << "never ready";
    Json check = ReadyCheck("cache");
    ASSERT_TRUE(check.is_object()) << "no readiness check named cache";
    EXPECT_EQ(check.value("status", ""), "ok");

    ASSERT_EQ(Post(app_port_, "/visits/ada", "")->status, 201);
    EXPECT_EQ(Summary(), Json::parse(R"({"visits":1,"names":1})"));
    // The summary lives in Redis, under the service's prefix, with its time to live.
    auto conn = gale::redis::Connection::Connect((*redis)->connection_options());
    ASSERT_TRUE(conn) << conn.error().message();
    auto stored = (*conn)->Command({"GET", "hello:visits-summary"});
    ASSERT_TRUE(stored) << stored.error().message();
    EXPECT_EQ(stored->str, "{\"visits\":1,\"names\":1}\n");
    auto ttl = (*conn)->Command({"PTTL", "hello:visits-summary"});
    ASSERT_TRUE(ttl);
    EXPECT_GT(ttl->integer, 0);
    EXPECT_LE(ttl->integer, 10000);
    // A value another pod put there is what this one serves: the cache is shared.
    ASSERT_TRUE((*conn)->Command({"SET", "hello:visits-summary", "{\"visits\":42,\"names\":7}\n", "PX", "10000"}));
    EXPECT_EQ(Summary(), Json::parse(R"({"visits":42,"names":7})"));
    // A visit invalidates it.
    ASSERT_EQ(Post(app_port_, "/visits/bob", "")->status, 201);
    EXPECT_EQ(Summary(), Json::parse(R"({"visits":2,"names":2})"));

    // Redis goes away: readiness fails naming the cache, the summary is a 503, a visit is still recorded.
    conn->reset();
    ASSERT_TRUE((*redis)->Kill());
    ASSERT_TRUE(Eventually([&] { return StatusOf(probe_port_, "/ready") == 503; }, 10s))
        << "readiness still passes with Redis down";
    check = ReadyCheck("cache");
    ASSERT_TRUE(check.is_object());
    EXPECT_EQ(check.value("status", ""), "error");
    EXPECT_NE(check.value("message", "").find("127.0.0.1:" + std::to_string((*redis)->port())), std::string::npos)
        << check.dump();
    auto summary = Get(app_port_, "/visits");
    ASSERT_TRUE(summary);
    EXPECT_EQ(summary->status, 503) << summary->body;
    EXPECT_EQ(summary->body.find("127.0.0.1"), std::string::npos) << "the detail reached the client";
    auto t = std::chrono::steady_clock::now();
    ASSERT_EQ(Post(app_port_, "/visits/cy", "")->status, 201);
    EXPECT_LT(std::chrono::steady_clock::now() - t, 5s) << "a visit waited for the dead cache";

    // Redis is back (empty: `save ""`): readiness passes again and the summary is fresh.
    ASSERT_TRUE((*redis)->StartAgain());
    ASSERT_TRUE(Eventually([&] { return StatusOf(probe_port_, "/ready") == 200; }, 15s)) << "never ready again";
    EXPECT_EQ(Summary(), Json::parse(R"({"visits":3,"names":3})"));
}

TEST_F(HelloToolkitTest, WithoutRedisTheCacheIsInProcessAndNotAReadinessCheck) {
    ASSERT_NO_FATAL_FAILURE(Serve({}));
    ASSERT_TRUE(Eventually([&] { return StatusOf(probe_port_, "/ready") == 200; }, 10s)) << "never ready";
    EXPECT_TRUE(ReadyCheck("cache").is_null()) << "the memory cache needs no check";
    ASSERT_EQ(Post(app_port_, "/visits/ada", "")->status, 201);
    EXPECT_EQ(Summary(), Json::parse(R"({"visits":1,"names":1})"));
    EXPECT_EQ(Summary(), Json::parse(R"({"visits":1,"names":1})"));
    auto metrics = Get(probe_port_, "/metrics");
    ASSERT_TRUE(metrics);
    EXPECT_NE(metrics->body.find("gale_cache_hits_total{cache=\"default\"} 1"), std::string::npos) << metrics->body;
}

TEST_F(HelloToolkitTest, FilesAreKeptUnderMediaRootAndBadNamesAreRefused) {
    ASSERT_NO_FATAL_FAILURE(Serve({{"MEDIA_ROOT", dir_ + "/media"}}));
    ASSERT_TRUE(Eventually([&] { return StatusOf(probe_port_, "/ready") == 200; }, 10s)) << "never ready";
    EXPECT_EQ(ReadyCheck("files").value("status", ""), "ok") << ReadyCheck("files").dump();

    auto put = Request(app_port_, "PUT", "/files/notes/today.txt", "Content-Type: text/plain\r\n", "remember the milk");
    ASSERT_TRUE(put);
    ASSERT_EQ(put->status, 201) << put->body;
    EXPECT_EQ(Json::parse(put->body, nullptr, false),
              Json::parse(R"({"name":"notes/today.txt","url":"/media/notes/today.txt"})"));
    EXPECT_EQ(ReadFile(dir_ + "/media/notes/today.txt"), "remember the milk");
    auto got = Get(app_port_, "/files/notes/today.txt");
    ASSERT_TRUE(got);
    EXPECT_EQ(got->status, 200);
    EXPECT_EQ(got->body, "remember the milk");
    EXPECT_EQ(got->header("content-type"), "application/octet-stream");  // the local disk keeps no type
    EXPECT_EQ(got->header("x-content-type-options"), "nosniff");
    EXPECT_EQ(got->header("content-security-policy"), "default-src 'none'; sandbox");

    EXPECT_EQ(StatusOf(app_port_, "/files/notes/missing.txt"), 404);
    auto escape = Request(app_port_, "PUT", "/files/a/%2E%2E/%2E%2E/escape.txt", "", "x");
    ASSERT_TRUE(escape);
    EXPECT_EQ(escape->status, 400) << escape->body;
    EXPECT_FALSE(std::filesystem::exists(dir_ + "/escape.txt"));
}

TEST_F(HelloToolkitTest, AMediaRootThatCannotBeWrittenFailsReadiness) {
    { std::ofstream(dir_ + "/not-a-dir") << "a file where the directory should be"; }
    ASSERT_NO_FATAL_FAILURE(Serve({{"MEDIA_ROOT", dir_ + "/not-a-dir"}}));
    // A probe answers within its budget: 503 with the check "pending" until its first run ends, then its error.
    ASSERT_TRUE(Eventually([&] { return ReadyCheck("files").value("status", "") == "error"; }, 10s))
        << ReadyCheck("files").dump();
    EXPECT_EQ(StatusOf(probe_port_, "/ready"), 503);
    const Json files = ReadyCheck("files");
    EXPECT_NE(files.dump().find("not-a-dir"), std::string::npos) << files.dump();
    EXPECT_EQ(StatusOf(app_port_, "/files/x.txt"), 503);
}

TEST_F(HelloToolkitTest, LoginNeedsTheFormsTokenRotatesTheSessionAndLogoutEndsIt) {
    ASSERT_NO_FATAL_FAILURE(Serve({{"APP_SECRET_KEY", "hello-toolkit-test-key"}}));
    EXPECT_EQ(StatusOf(app_port_, "/me"), 401);
    const std::string form = "Content-Type: application/x-www-form-urlencoded\r\n";
    // No CSRF cookie: refused before the handler runs, with Django's reason.
    auto refused = Post(app_port_, "/login", "name=ada", form);
    ASSERT_TRUE(refused);
    EXPECT_EQ(refused->status, 403);
    EXPECT_NE(refused->body.find("CSRF cookie not set."), std::string::npos) << refused->body;

    auto [token, cookie] = LoginForm();
    ASSERT_EQ(token.size(), 64U);
    ASSERT_EQ(cookie.size(), 64U);
    const std::string with_cookie = form + "Cookie: csrftoken=" + cookie + "\r\n";
    // The cookie without the form's token is refused too; a bad name is the form's 400, not a login.
    EXPECT_EQ(Post(app_port_, "/login", "name=ada", with_cookie)->status, 403);
    EXPECT_EQ(Post(app_port_, "/login", "csrfmiddlewaretoken=" + token + "&name=", with_cookie)->status, 400);

    auto login = Post(app_port_, "/login", "csrfmiddlewaretoken=" + token + "&name=ada", with_cookie);
    ASSERT_TRUE(login);
    ASSERT_EQ(login->status, 200) << login->body;
    EXPECT_EQ(Json::parse(login->body, nullptr, false), Json::parse(R"({"user":"ada"})"));
    const std::string session_cookie = SetCookie(*login, "sessionid");
    ASSERT_FALSE(session_cookie.empty()) << login->head;
    EXPECT_NE(session_cookie.find("HttpOnly"), std::string::npos) << session_cookie;
    EXPECT_NE(session_cookie.find("SameSite=Lax"), std::string::npos) << session_cookie;
    EXPECT_EQ(session_cookie.find("Secure"), std::string::npos) << "develop serves http://localhost";
    const std::string rotated = CookieValue(SetCookie(*login, "csrftoken"));
    ASSERT_EQ(rotated.size(), 64U) << "the login rotates the CSRF secret: " << login->head;
    const std::string session = CookieValue(session_cookie);

    auto me = Get(app_port_, "/me", "Cookie: sessionid=" + session + "\r\n");
    ASSERT_TRUE(me);
    EXPECT_EQ(me->status, 200);
    EXPECT_EQ(Json::parse(me->body, nullptr, false), Json::parse(R"({"user":"ada"})"));
    std::string tampered = session;
    tampered[tampered.size() / 2] = tampered[tampered.size() / 2] == 'a' ? 'b' : 'a';
    EXPECT_EQ(StatusOf(app_port_, "/me"), 401);
    EXPECT_EQ(Get(app_port_, "/me", "Cookie: sessionid=" + tampered + "\r\n")->status, 401);

    // The old CSRF token is worth nothing after the rotation; the new cookie with a header token logs out.
    const std::string both = "Cookie: sessionid=" + session + "; csrftoken=" + rotated + "\r\n";
    EXPECT_EQ(Post(app_port_, "/logout", "", both + "X-CSRFToken: " + token + "\r\n")->status, 403);
    auto logout = Post(app_port_, "/logout", "", both + "X-CSRFToken: " + rotated + "\r\n");
    ASSERT_TRUE(logout);
    EXPECT_EQ(logout->status, 200) << logout->body;
    const std::string deleted = SetCookie(*logout, "sessionid");
    EXPECT_TRUE(deleted.starts_with("sessionid=\"\"") || deleted.starts_with("sessionid=;")) << deleted;
    EXPECT_NE(deleted.find("Max-Age=0"), std::string::npos) << deleted;
}

TEST_F(HelloToolkitTest, TheProductionProfilesCookiesAreSecure) {
    ASSERT_NO_FATAL_FAILURE(Serve({{"GALE_PROFILE", "production"}, {"APP_SECRET_KEY", "hello-toolkit-test-key"}}));
    auto form = Get(app_port_, "/login");
    ASSERT_TRUE(form);
    ASSERT_EQ(form->status, 200) << form->body;
    const std::string csrf_cookie = SetCookie(*form, "csrftoken");
    EXPECT_NE(csrf_cookie.find("; Secure"), std::string::npos) << csrf_cookie;
}

TEST_F(HelloToolkitTest, WithoutASecretKeySessionsAnswer503AndSentryIsToldWhy) {
    gale::http::testing::RecordingServer sentry;
    ASSERT_TRUE(sentry.ok());
    const std::string url = sentry.Url("");
    const std::string dsn = "http://pubkey@127.0.0.1:" + url.substr(url.rfind(':') + 1) + "/3";
    ASSERT_NO_FATAL_FAILURE(Serve({{"SENTRY_DSN", dsn}}));
    ASSERT_TRUE(Eventually([&] { return StatusOf(probe_port_, "/ready") == 200; }, 10s))
        << "a missing key is not a readiness failure";
    auto me = Get(app_port_, "/me");
    ASSERT_TRUE(me);
    EXPECT_EQ(me->status, 503);
    EXPECT_EQ(me->body.find("APP_SECRET_KEY"), std::string::npos) << "the detail is for the log, not the client";
    EXPECT_EQ(StatusOf(app_port_, "/login"), 200) << "the CSRF form needs no key";
    ASSERT_TRUE(sentry.WaitForRequests(1, 10s)) << "no event for the 503";
    const auto requests = sentry.requests();
    ASSERT_EQ(requests.size(), 1U);
    EXPECT_EQ(requests[0].target, "/api/3/envelope/");
    const std::string& body = requests[0].body;
    EXPECT_NE(body.find("\"release\":\"hello@0.1.0\""), std::string::npos) << body;
    // The reason reaches Sentry whole: the scrubber filters a value after `secret-looking-key:`, and neither the
    // resource's prefix nor the message has that shape.
    EXPECT_NE(body.find("\"error\":\"resource 'sessions' failed: APP_SECRET_KEY is not set, and sessions are signed "
                        "with it\""),
              std::string::npos)
        << body;
    EXPECT_NE(body.find(me->header("x-request-id")), std::string::npos) << body;
    EXPECT_NE(ReadFile(dir_ + "/serve.log").find("APP_SECRET_KEY"), std::string::npos);
}

}  // namespace
