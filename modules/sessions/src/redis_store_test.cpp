// SPDX-License-Identifier: MIT
// The Redis store against a real redis-server the test starts (ctest label `redis`).
#include <gtest/gtest.h>

#include <gale/redis/connection.hpp>
#include <gale/redis/testing/redis_server.hpp>
#include <gale/sessions/manager.hpp>
#include <gale/sessions/redis_store.hpp>

namespace gale::sessions {
namespace {

using std::chrono::seconds;

class RedisStoreTest : public ::testing::Test {
protected:
    static void SetUpTestSuite() {
        auto s = redis::testing::RedisServer::Start();
        if (s) {
            server_ = std::move(*s);
        } else {
            start_error_ = s.error().message();
        }
    }
    static void TearDownTestSuite() { server_.reset(); }
    void SetUp() override {
        ASSERT_TRUE(server_) << "cannot start redis-server: " << start_error_;
        RedisStoreOptions o;
        o.connection = server_->connection_options();
        o.key_prefix = std::string("t:") + ::testing::UnitTest::GetInstance()->current_test_info()->name() + ":";
        store_ = std::make_unique<RedisStore>(o, SigningKeys{.secret = "k"});
        auto c = redis::Connection::Connect(server_->connection_options());
        ASSERT_TRUE(c);
        raw_ = std::move(*c);
    }

    static inline std::unique_ptr<redis::testing::RedisServer> server_;
    static inline std::string start_error_;
    std::unique_ptr<RedisStore> store_;
    std::unique_ptr<redis::Connection> raw_;
};

TEST_F(RedisStoreTest, CreateLoadUpdateDeleteWithTheTimeToLive) {
    const std::string key = NewSessionKey();
    EXPECT_EQ(store_->Load(key).value(), std::nullopt);
    ASSERT_TRUE(store_->Create(key, {{"a", 1}}, seconds(100)).value());
    EXPECT_FALSE(store_->Create(key, {{"a", 2}}, seconds(100)).value());
    EXPECT_EQ(store_->Load(key).value(), (nlohmann::json{{"a", 1}}));
    const std::string redis_key = store_->key_prefix() + key;
    auto ttl = raw_->Command({"TTL", redis_key});
    ASSERT_TRUE(ttl);
    EXPECT_GT(ttl->integer, 90);
    EXPECT_LE(ttl->integer, 100);
    // What Redis holds is Django's encoding, signed.
    auto raw = raw_->Command({"GET", redis_key});
    ASSERT_TRUE(raw);
    EXPECT_EQ(SessionCodec({.secret = "k"}).Decode(raw->str).value(), (nlohmann::json{{"a", 1}}));

    ASSERT_TRUE(store_->Update(key, {{"a", 3}}, seconds(500)).value());
    EXPECT_GT(raw_->Command({"TTL", redis_key})->integer, 400) << "a save restarts the age";
    EXPECT_EQ(store_->Load(key).value(), (nlohmann::json{{"a", 3}}));
    ASSERT_TRUE(store_->Delete(key));
    EXPECT_FALSE(store_->Update(key, {{"a", 4}}, seconds(60)).value()) << "a deleted session is not brought back";
    EXPECT_EQ(raw_->Command({"EXISTS", redis_key})->integer, 0);
}

TEST_F(RedisStoreTest, RedisExpiresTheSession) {
    const std::string key = NewSessionKey();
    ASSERT_TRUE(store_->Create(key, {{"a", 1}}, seconds(60)).value());
    ASSERT_TRUE(raw_->Command({"PEXPIRE", store_->key_prefix() + key, "1"}));
    const auto deadline = std::chrono::steady_clock::now() + seconds(5);
    std::optional<nlohmann::json> loaded = nlohmann::json::object();
    while (loaded && std::chrono::steady_clock::now() < deadline) loaded = store_->Load(key).value();
    EXPECT_EQ(loaded, std::nullopt);
}

TEST_F(RedisStoreTest, TamperedDataIsANewSession) {
    const std::string key = NewSessionKey();
    ASSERT_TRUE(store_->Create(key, {{"user_id", 1}}, seconds(60)).value());
    ASSERT_TRUE(raw_->Command({"SET", store_->key_prefix() + key, "eyJ1c2VyX2lkIjowfQ:1r31eq:forged"}));
    EXPECT_EQ(store_->Load(key).value(), std::nullopt);
}

TEST_F(RedisStoreTest, LoginRotationThroughTheManager) {
    auto store = std::shared_ptr<SessionStore>(std::move(store_));
    SessionManager m({}, store);
    Session anon;
    anon.Set("cart", 2);
    http::Request none;
    http::Response r1(200);
    ASSERT_TRUE(m.Save(anon, none, r1));
    const std::string old_key = anon.key();
    ASSERT_EQ(old_key.size(), 32U);
    anon.Rotate();
    anon.Set("user", "ann");
    http::Response r2(200);
    ASSERT_TRUE(m.Save(anon, none, r2));
    EXPECT_NE(anon.key(), old_key);
    EXPECT_EQ(store->Load(old_key).value(), std::nullopt);
    EXPECT_EQ(store->Load(anon.key()).value(), (nlohmann::json{{"cart", 2}, {"user", "ann"}}));
}

TEST(RedisStoreUnreachable, IsAnErrorNamingTheServerNotAHang) {
    RedisStoreOptions o;
    o.connection.host = "127.0.0.1";
    o.connection.port = redis::testing::RedisServer::FreePort();
    o.connection.connect_timeout = std::chrono::milliseconds(500);
    RedisStore store(o, {.secret = "k"});
    auto r = store.Load(NewSessionKey());
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().code(), ErrorCode::kUnavailable);
    EXPECT_NE(r.error().message().find("127.0.0.1:" + std::to_string(o.connection.port)), std::string::npos)
        << r.error().message();
}

}  // namespace
}  // namespace gale::sessions
