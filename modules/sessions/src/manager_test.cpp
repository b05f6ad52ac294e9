// SPDX-License-Identifier: MIT
#include <gtest/gtest.h>

#include <gale/sessions/database_store.hpp>
#include <gale/sessions/manager.hpp>

#include "test_support.hpp"

namespace gale::sessions {
namespace {

using testing::CookieValue;
using testing::OwnedRequest;
using testing::SetCookieFor;

const SigningKeys kKeys{.secret = "test-secret"};

std::vector<std::pair<std::string, std::string>> WithCookie(const std::string& value) {
    return {{"Host", "example.com"}, {"Cookie", "other=1; sessionid=" + value}};
}

TEST(SignedCookies, ANewUntouchedSessionSetsNoCookieButVaries) {
    SessionManager m({}, kKeys);
    OwnedRequest req;
    auto s = m.Load(req.request);
    ASSERT_TRUE(s);
    EXPECT_TRUE(s->empty());
    http::Response resp(200);
    ASSERT_TRUE(m.Save(*s, req.request, resp));
    EXPECT_EQ(SetCookieFor(resp, "sessionid"), "");
    EXPECT_EQ(resp.header("Vary"), "Cookie");
}

TEST(SignedCookies, AModifiedSessionIsSignedIntoTheCookieWithDjangosDefaults) {
    SessionManager m({}, kKeys);
    OwnedRequest req;
    auto s = m.Load(req.request);
    s->Set("user_id", 42);
    http::Response resp(200);
    ASSERT_TRUE(m.Save(*s, req.request, resp));
    const std::string header = SetCookieFor(resp, "sessionid");
    EXPECT_TRUE(header.ends_with("; Max-Age=1209600; Path=/; HttpOnly; SameSite=Lax")) << header;
    EXPECT_EQ(header.find("Secure"), std::string::npos);

    OwnedRequest next(http::Method::kGet, WithCookie(CookieValue(header)));
    auto loaded = m.Load(next.request);
    ASSERT_TRUE(loaded);
    EXPECT_EQ(loaded->Get<int>("user_id", 0), 42);
    EXPECT_FALSE(loaded->modified());
    http::Response unchanged(200);
    ASSERT_TRUE(m.Save(*loaded, next.request, unchanged));
    EXPECT_EQ(SetCookieFor(unchanged, "sessionid"), "") << "not modified: not sent again";
}

TEST(SignedCookies, TamperedExpiredAndForeignCookiesStartEmptyAndAreDeleted) {
    SessionManager m({.cookie_age = std::chrono::seconds(60)}, kKeys);
    TimestampSigner signer(kKeys, std::string(kSignedCookiesSalt));
    const std::string good = signer.SignObject({{"a", 1}}, true);
    const std::string old = signer.SignObject({{"a", 1}}, true, SystemClock::now() - std::chrono::seconds(61));
    const std::string foreign =
        TimestampSigner({.secret = "another"}, std::string(kSignedCookiesSalt)).SignObject({{"a", 1}}, true);
    std::string tampered = good;
    tampered[2] = tampered[2] == 'x' ? 'y' : 'x';
    for (const std::string& cookie : {old, foreign, tampered, std::string("garbage"), std::string(5000, ':')}) {
        OwnedRequest req(http::Method::kGet, WithCookie(cookie));
        auto s = m.Load(req.request);
        ASSERT_TRUE(s);
        EXPECT_TRUE(s->empty()) << cookie;
        http::Response resp(200);
        ASSERT_TRUE(m.Save(*s, req.request, resp));
        EXPECT_EQ(SetCookieFor(resp, "sessionid"),
                  "sessionid=; expires=Thu, 01 Jan 1970 00:00:00 GMT; Max-Age=0; Path=/; HttpOnly; SameSite=Lax");
    }
    OwnedRequest req(http::Method::kGet, WithCookie(good));
    EXPECT_EQ(m.Load(req.request)->Get<int>("a", 0), 1);
}

TEST(SignedCookies, ACookieOverBrowsersLimitIsAnErrorNotALoss) {
    SessionManager m({}, kKeys);
    OwnedRequest req;
    auto s = m.Load(req.request);
    // Random keys compress to about 5.2 bits a character: 6400 of them cannot fit in 4096 bytes of base64.
    std::string noise;
    for (int i = 0; i < 200; ++i) noise += NewSessionKey();
    s->Set("blob", noise);
    http::Response resp(200);
    auto saved = m.Save(*s, req.request, resp);
    ASSERT_FALSE(saved);
    EXPECT_EQ(saved.error().code(), ErrorCode::kInternal);
    EXPECT_NE(saved.error().message().find("more than browsers keep (4096)"), std::string::npos);
}

TEST(SignedCookies, OptionsShapeTheCookie) {
    SessionManager m({.cookie_name = "sid",
                      .cookie_domain = ".example.com",
                      .cookie_path = "/app",
                      .cookie_secure = true,
                      .cookie_samesite = http::SameSite::kStrict,
                      .expire_at_browser_close = true},
                     kKeys);
    OwnedRequest req;
    auto s = m.Load(req.request);
    s->Set("k", "v");
    http::Response resp(200);
    ASSERT_TRUE(m.Save(*s, req.request, resp));
    const std::string header = SetCookieFor(resp, "sid");
    EXPECT_TRUE(header.ends_with("; Domain=.example.com; Path=/app; Secure; HttpOnly; SameSite=Strict")) << header;
    EXPECT_EQ(header.find("Max-Age"), std::string::npos);
}

class DatabaseManager : public ::testing::Test {
protected:
    void SetUp() override {
        db::ConnectionOptions o;
        o.sqlite_path = dir_.path() + "/sessions.db";
        auto pool = db::Pool::Open(o, {.size = 2, .name = "sessions-test"});
        ASSERT_TRUE(pool) << pool.error().message();
        auto store = DatabaseStore::Open(*pool, kKeys);
        ASSERT_TRUE(store);
        ASSERT_TRUE((*store)->CreateTable());
        store_ = std::shared_ptr<DatabaseStore>(std::move(*store));
        manager_ = std::make_shared<SessionManager>(SessionOptions{}, store_);
    }

    /// Runs `fn` as a handler with the session of `cookie` ("" for none); returns the new cookie's value, "-" for a
    /// deletion, "" for none.
    std::string Request(const std::string& cookie, const std::function<void(Session&)>& fn) {
        OwnedRequest req(http::Method::kGet,
                         cookie.empty() ? std::vector<std::pair<std::string, std::string>>{} : WithCookie(cookie));
        auto s = manager_->Load(req.request);
        EXPECT_TRUE(s) << s.error().message();
        fn(*s);
        http::Response resp(200);
        auto saved = manager_->Save(*s, req.request, resp);
        EXPECT_TRUE(saved) << saved.error().message();
        const std::string header = SetCookieFor(resp, "sessionid");
        if (header.find("Max-Age=0") != std::string::npos) return "-";
        return CookieValue(header);
    }
    bool Stored(const std::string& key) { return store_->Load(key).value().has_value(); }

    testing::TempDir dir_;
    std::shared_ptr<DatabaseStore> store_;
    std::shared_ptr<SessionManager> manager_;
};

TEST_F(DatabaseManager, LoginRotatesTheKeyKeepsTheDataAndDeletesTheOldKey) {
    const std::string anon = Request("", [](Session& s) { s.Set("cart", {1, 2}); });
    ASSERT_EQ(anon.size(), 32U);
    EXPECT_EQ(anon.find_first_not_of("abcdefghijklmnopqrstuvwxyz0123456789"), std::string::npos);
    EXPECT_TRUE(Stored(anon));

    const std::string logged_in = Request(anon, [](Session& s) {
        s.Rotate();
        s.Set("user_id", 7);
    });
    ASSERT_EQ(logged_in.size(), 32U);
    EXPECT_NE(logged_in, anon);
    EXPECT_FALSE(Stored(anon)) << "the pre-login key must be dead (session fixation)";
    const nlohmann::json data = *store_->Load(logged_in).value();
    EXPECT_EQ(data, (nlohmann::json{{"cart", {1, 2}}, {"user_id", 7}}));

    // The old key no longer loads anything: a new empty session (and its cookie is deleted).
    EXPECT_EQ(Request(anon, [](Session& s) { EXPECT_TRUE(s.empty()); }), "-");
}

TEST_F(DatabaseManager, LogoutFlushesTheStoreAndTheCookie) {
    const std::string key = Request("", [](Session& s) { s.Set("user_id", 7); });
    EXPECT_EQ(Request(key, [](Session& s) { s.Flush(); }), "-");
    EXPECT_FALSE(Stored(key));
    // Data set after the flush gets a fresh key.
    const std::string fresh = Request(key, [](Session& s) {
        s.Flush();
        s.Set("message", "bye");
    });
    EXPECT_EQ(fresh.size(), 32U);
    EXPECT_NE(fresh, key);
}

TEST_F(DatabaseManager, ASessionDeletedByAConcurrentRequestIsNotResurrected) {
    const std::string key = Request("", [](Session& s) { s.Set("n", 1); });
    OwnedRequest req(http::Method::kGet, WithCookie(key));
    auto s = manager_->Load(req.request);
    ASSERT_TRUE(s);
    ASSERT_TRUE(store_->Delete(key));  // a logout in another tab
    s->Set("n", 2);
    http::Response resp(200);
    auto saved = manager_->Save(*s, req.request, resp);
    ASSERT_FALSE(saved);
    EXPECT_EQ(saved.error().code(), ErrorCode::kInvalidArgument);
    EXPECT_FALSE(Stored(key));
}

TEST_F(DatabaseManager, AMalformedKeyNeverReachesTheStore) {
    for (const std::string& cookie :
         std::vector<std::string>{"short", "UPPERCASEKEYUPPERCASEKEY", "' OR 1=1 --abcdefgh", std::string(41, 'a')}) {
        OwnedRequest req(http::Method::kGet, WithCookie(cookie));
        auto s = manager_->Load(req.request);
        ASSERT_TRUE(s);
        EXPECT_TRUE(s->empty());
        EXPECT_TRUE(s->key().empty());
    }
}

TEST_F(DatabaseManager, WithSessionSavesOnlyWhatAHandlerCompleted) {
    auto handler = WithSession(manager_, [](http::Request& req, Session& s) -> Result<http::Response> {
        s.Set("touched", true);
        if (req.path() == "/error") return MakeError(ErrorCode::kUnavailable, "down");
        if (req.path() == "/500") return http::Response::Text(500, "oops");
        return http::Response::Text(200, "ok");
    });
    OwnedRequest ok;
    http::Response r = handler(ok.request);
    EXPECT_EQ(r.status(), 200);
    EXPECT_EQ(SetCookieFor(r, "sessionid").size() > 10, true);
    for (const char* path : {"/error", "/500"}) {
        http::Request req;
        req.SetLine(http::Method::kGet, "GET", path, 1);
        http::Response failed = handler(req);
        EXPECT_NE(failed.status(), 200);
        EXPECT_EQ(SetCookieFor(failed, "sessionid"), "") << path;
    }
}

}  // namespace
}  // namespace gale::sessions
