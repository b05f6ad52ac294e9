// SPDX-License-Identifier: MIT
// Interop with Django 3.2 (Debian's python3-django, ctest label `django`): each direction of signed-cookie sessions,
// of database sessions in one django_session table (SQLite), and of CSRF tokens, by running Django's own code
// (src/django_interop.py) with the same SECRET_KEY. A machine without /usr/bin/python3 or Django fails, naming it.
#include <fcntl.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <string>
#include <vector>

#include <gtest/gtest.h>

#include <gale/sessions/csrf.hpp>
#include <gale/sessions/database_store.hpp>
#include <gale/sessions/manager.hpp>

#include "test_support.hpp"

extern char** environ;

namespace gale::sessions {
namespace {

constexpr const char* kSecret = "django-insecure-shared-secret-for-the-interop-test";

class DjangoInterop : public ::testing::Test {
protected:
    /// Runs the script with `args`; returns its stdout without the trailing newline, failing the test on a non-zero
    /// exit.
    std::string Django(std::vector<std::string> args) {
        std::vector<std::string> argv = {"/usr/bin/python3", GALE_SESSIONS_DJANGO_SCRIPT, kSecret, db_path()};
        for (auto& a : args) argv.push_back(std::move(a));
        int out[2];
        if (::pipe(out) != 0) {
            ADD_FAILURE() << "pipe";
            return "";
        }
        posix_spawn_file_actions_t fa;
        posix_spawn_file_actions_init(&fa);
        posix_spawn_file_actions_adddup2(&fa, out[1], 1);
        posix_spawn_file_actions_addclose(&fa, out[0]);
        std::vector<char*> a;
        for (auto& s : argv) a.push_back(s.data());
        a.push_back(nullptr);
        pid_t pid = 0;
        const int rc = ::posix_spawn(&pid, argv[0].c_str(), &fa, nullptr, a.data(), environ);
        posix_spawn_file_actions_destroy(&fa);
        ::close(out[1]);
        std::string text;
        char buf[4096];
        for (ssize_t n; (n = ::read(out[0], buf, sizeof buf)) > 0;) text.append(buf, static_cast<std::size_t>(n));
        ::close(out[0]);
        if (rc != 0) {
            ADD_FAILURE() << "cannot run /usr/bin/python3 (tools/install-deps.sh test installs python3-django)";
            return "";
        }
        int status = 0;
        ::waitpid(pid, &status, 0);
        EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << "django_interop.py " << argv[4] << " failed";
        while (!text.empty() && text.back() == '\n') text.pop_back();
        return text;
    }
    std::string db_path() const { return dir_.path() + "/shared.sqlite3"; }

    testing::TempDir dir_;
};

TEST_F(DjangoInterop, DjangoReadsGalesSignedCookieSession) {
    SessionManager m({}, SigningKeys{.secret = kSecret});
    testing::OwnedRequest req;
    Session s = *m.Load(req.request);
    s.Set("user_id", 42);
    s.Set("name", "Zoë");
    s.Set("cart", nlohmann::json::array({1, 2, 3}));
    http::Response resp(200);
    ASSERT_TRUE(m.Save(s, req.request, resp));
    const std::string cookie = testing::CookieValue(testing::SetCookieFor(resp, "sessionid"));
    EXPECT_EQ(nlohmann::json::parse(Django({"signed-load", cookie})), s.data());

    // A big session is compressed (the '.' prefix) and Django inflates it too.
    for (int i = 0; i < 50; ++i) s.Set("k" + std::to_string(i), "the same text again and again");
    http::Response big(200);
    ASSERT_TRUE(m.Save(s, req.request, big));
    const std::string compressed = testing::CookieValue(testing::SetCookieFor(big, "sessionid"));
    ASSERT_EQ(compressed.front(), '.');
    EXPECT_EQ(nlohmann::json::parse(Django({"signed-load", compressed})), s.data());

    // With another key Django refuses it.
    SessionManager other({}, SigningKeys{.secret = "another key"});
    http::Response foreign(200);
    ASSERT_TRUE(other.Save(s, req.request, foreign));
    EXPECT_EQ(Django({"signed-load", testing::CookieValue(testing::SetCookieFor(foreign, "sessionid"))}), "{}");
}

TEST_F(DjangoInterop, GaleReadsDjangosSignedCookieSession) {
    const nlohmann::json data = {{"user_id", 7}, {"flags", {{"beta", true}}}, {"note", "caf\xc3\xa9"}};
    const std::string cookie = Django({"signed-dump", data.dump()});
    testing::OwnedRequest req(http::Method::kGet, {{"Cookie", "sessionid=" + cookie}});
    SessionManager m({}, SigningKeys{.secret = kSecret});
    auto s = m.Load(req.request);
    ASSERT_TRUE(s);
    EXPECT_EQ(s->data(), data);
    // After a key rotation (the old key a fallback), gale still reads it.
    SessionManager rotated({}, SigningKeys{.secret = "the new key", .fallbacks = {kSecret}});
    EXPECT_EQ(rotated.Load(req.request)->data(), data);
    SessionManager wrong({}, SigningKeys{.secret = "the new key"});
    EXPECT_TRUE(wrong.Load(req.request)->empty());
}

TEST_F(DjangoInterop, OneDjangoSessionTableForBoth) {
    db::ConnectionOptions c;
    c.sqlite_path = db_path();
    auto pool = db::Pool::Open(c, {.size = 0, .name = "django-interop"});
    ASSERT_TRUE(pool);
    auto store = DatabaseStore::Open(*pool, {.secret = kSecret});
    ASSERT_TRUE(store && (*store)->CreateTable());
    // gale writes, Django reads.
    const std::string key = NewSessionKey();
    ASSERT_TRUE((*store)->Create(key, {{"user_id", 3}, {"via", "gale"}}, std::chrono::seconds(3600)).value());
    EXPECT_EQ(nlohmann::json::parse(Django({"db-load", key})), (nlohmann::json{{"user_id", 3}, {"via", "gale"}}));
    // Django writes, gale reads (and its expire_date text compares with gale's).
    const std::string django_key = Django({"db-save", R"({"user_id": 4, "via": "django"})"});
    ASSERT_EQ(django_key.size(), 32U);
    EXPECT_EQ((*store)->Load(django_key).value(), (nlohmann::json{{"user_id", 4}, {"via", "django"}}));
    EXPECT_EQ((*store)->ClearExpired().value(), 0) << "Django's fresh row is not expired for gale";
}

TEST_F(DjangoInterop, CsrfTokensCrossBothWays) {
    // Django's cookie and form token pass gale's check.
    const std::string pair = Django({"csrf-token"});
    const std::string django_cookie = pair.substr(0, pair.find(' '));
    const std::string django_token = pair.substr(pair.find(' ') + 1);
    ASSERT_EQ(django_token.size(), 64U);
    EXPECT_TRUE(csrf::TokensMatch(django_token, django_cookie));
    EXPECT_FALSE(csrf::TokensMatch(csrf::MaskSecret(csrf::NewSecret()), django_cookie));

    // gale's cookie and form token pass Django's middleware; a token for another secret is refused there.
    auto options = std::make_shared<const csrf::Options>();
    const std::string gale_cookie = csrf::MaskSecret(csrf::NewSecret());
    csrf::Csrf c(options, gale_cookie);
    const std::string gale_token = c.Token();
    EXPECT_EQ(Django({"csrf-check", gale_cookie, gale_token}), "accepted");
    EXPECT_EQ(Django({"csrf-check", gale_cookie, csrf::MaskSecret(csrf::NewSecret())}),
              "CSRF token missing or incorrect.");
    // The token gale renders for Django's cookie is accepted by Django.
    csrf::Csrf on_django(options, django_cookie);
    EXPECT_EQ(Django({"csrf-check", django_cookie, on_django.Token()}), "accepted");
}

}  // namespace
}  // namespace gale::sessions
