// SPDX-License-Identifier: MIT
#include <gtest/gtest.h>

#include <gale/sessions/database_store.hpp>

#include "test_support.hpp"

namespace gale::sessions {
namespace {

using std::chrono::seconds;

class SqliteStore : public ::testing::Test {
protected:
    void SetUp() override {
        db::ConnectionOptions o;
        o.sqlite_path = dir_.path() + "/s.db";
        auto pool = db::Pool::Open(o, {.size = 2, .name = "sqlite-store-test"});
        ASSERT_TRUE(pool) << pool.error().message();
        pool_ = *pool;
        DatabaseStoreOptions options;
        options.now = [this] { return now_; };
        auto store = DatabaseStore::Open(pool_, {.secret = "k"}, options);
        ASSERT_TRUE(store);
        store_ = std::move(*store);
        ASSERT_TRUE(store_->CreateTable());
        ASSERT_TRUE(store_->CreateTable()) << "idempotent";
    }
    testing::TempDir dir_;
    SystemClock::time_point now_{seconds(1800000000)};
    std::shared_ptr<db::Pool> pool_;
    std::unique_ptr<DatabaseStore> store_;
};

TEST_F(SqliteStore, CreateLoadUpdateDelete) {
    const std::string key = NewSessionKey();
    EXPECT_EQ(store_->Load(key).value(), std::nullopt);
    EXPECT_TRUE(store_->Create(key, {{"a", 1}}, seconds(60)).value());
    EXPECT_FALSE(store_->Create(key, {{"a", 2}}, seconds(60)).value()) << "a taken key is never overwritten";
    EXPECT_EQ(store_->Load(key).value(), (nlohmann::json{{"a", 1}}));
    EXPECT_TRUE(store_->Update(key, {{"a", 3}}, seconds(60)).value());
    EXPECT_EQ(store_->Load(key).value(), (nlohmann::json{{"a", 3}}));
    ASSERT_TRUE(store_->Delete(key));
    ASSERT_TRUE(store_->Delete(key)) << "deleting twice is no error";
    EXPECT_FALSE(store_->Update(key, {{"a", 4}}, seconds(60)).value());
    EXPECT_EQ(store_->Load(key).value(), std::nullopt);
}

TEST_F(SqliteStore, RowsExpireAndClearExpiredDeletesThem) {
    const std::string a = NewSessionKey();
    const std::string b = NewSessionKey();
    ASSERT_TRUE(store_->Create(a, {{"x", 1}}, seconds(10)).value());
    ASSERT_TRUE(store_->Create(b, {{"x", 2}}, seconds(100)).value());
    now_ += seconds(9);
    EXPECT_TRUE(store_->Load(a).value().has_value());
    now_ += seconds(2);
    EXPECT_EQ(store_->Load(a).value(), std::nullopt);
    EXPECT_TRUE(store_->Load(b).value().has_value());
    EXPECT_EQ(store_->ClearExpired().value(), 1);
    EXPECT_EQ(store_->ClearExpired().value(), 0);
    auto lease = pool_->Acquire();
    auto rows = (*lease)->Query("SELECT session_key, expire_date FROM django_session");
    ASSERT_TRUE(rows);
    ASSERT_EQ(rows->size(), 1U);
    EXPECT_EQ(std::get<std::string>((*rows)[0][0]), b);
    // Django's text form of a UTC datetime: 1800000000 + 100 s.
    EXPECT_EQ(std::get<std::string>((*rows)[0][1]), "2027-01-15 08:01:40.000000");
}

TEST_F(SqliteStore, DataAlteredInTheTableIsNotTrusted) {
    const std::string key = NewSessionKey();
    ASSERT_TRUE(store_->Create(key, {{"user_id", 1}}, seconds(60)).value());
    auto lease = pool_->Acquire();
    const std::string forged =
        TimestampSigner({.secret = "guess"}, "django.contrib.sessions.SessionStore").SignObject({{"user_id", 0}}, true);
    ASSERT_TRUE((*lease)->Execute("UPDATE django_session SET session_data = ? WHERE session_key = ?", {forged, key}));
    EXPECT_EQ(store_->Load(key).value(), std::nullopt);
    ASSERT_TRUE(
        (*lease)->Execute("UPDATE django_session SET session_data = 'not signed' WHERE session_key = ?", {key}));
    EXPECT_EQ(store_->Load(key).value(), std::nullopt);
}

TEST(DatabaseStoreOpen, RefusesATableNameThatIsNotAnIdentifier) {
    testing::TempDir dir;
    db::ConnectionOptions o;
    o.sqlite_path = dir.path() + "/s.db";
    auto pool = db::Pool::Open(o, {.size = 0, .name = "open-test"});
    ASSERT_TRUE(pool);
    DatabaseStoreOptions options;
    options.table = "x\"; DROP TABLE y; --";
    auto store = DatabaseStore::Open(*pool, {.secret = "k"}, options);
    ASSERT_FALSE(store);
    EXPECT_NE(store.error().message().find("only letters, digits and '_'"), std::string::npos);
}

TEST(SessionKeys, AreDjangoShaped) {
    for (int i = 0; i < 100; ++i) {
        const std::string k = NewSessionKey();
        ASSERT_EQ(k.size(), 32U);
        ASSERT_TRUE(IsValidSessionKey(k));
    }
    EXPECT_FALSE(IsValidSessionKey("abc"));
    EXPECT_FALSE(IsValidSessionKey("ABCDEFGHIJ"));
    EXPECT_FALSE(IsValidSessionKey(std::string(41, 'a')));
    EXPECT_TRUE(IsValidSessionKey(std::string(40, 'a')));
}

}  // namespace
}  // namespace gale::sessions
