// SPDX-License-Identifier: MIT
// The database store on a real PostgreSQL the test starts (modules/db's PostgresServer; ctest label `postgres`):
// Django's column types, expiry compared as timestamp with time zone, and the rotation through the manager.
#include <gtest/gtest.h>

#include <gale/db/testing/postgres_server.hpp>
#include <gale/sessions/database_store.hpp>
#include <gale/sessions/manager.hpp>

namespace gale::sessions {
namespace {

using std::chrono::seconds;

class PostgresStore : public ::testing::Test {
protected:
    static void SetUpTestSuite() {
        auto s = db::testing::PostgresServer::Start();
        if (s) {
            server_ = std::move(*s);
        } else {
            start_error_ = s.error().message();
        }
    }
    static void TearDownTestSuite() { server_.reset(); }
    void SetUp() override {
        ASSERT_TRUE(server_) << "cannot start PostgreSQL: " << start_error_;
        auto pool =
            db::Pool::Open(server_->connection_options(),
                           {.size = 2, .name = ::testing::UnitTest::GetInstance()->current_test_info()->name()});
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

    static inline std::unique_ptr<db::testing::PostgresServer> server_;
    static inline std::string start_error_;
    SystemClock::time_point now_ = SystemClock::now();
    std::shared_ptr<db::Pool> pool_;
    std::unique_ptr<DatabaseStore> store_;
};

TEST_F(PostgresStore, CreateLoadUpdateDeleteAndExpiry) {
    const std::string key = NewSessionKey();
    ASSERT_TRUE(store_->Create(key, {{"a", 1}}, seconds(10)).value());
    EXPECT_FALSE(store_->Create(key, {{"a", 2}}, seconds(10)).value());
    EXPECT_EQ(store_->Load(key).value(), (nlohmann::json{{"a", 1}}));
    EXPECT_TRUE(store_->Update(key, {{"a", 3}}, seconds(10)).value());
    EXPECT_EQ(store_->Load(key).value(), (nlohmann::json{{"a", 3}}));
    now_ += seconds(11);
    EXPECT_EQ(store_->Load(key).value(), std::nullopt);
    EXPECT_GE(store_->ClearExpired().value(), 1);
    EXPECT_FALSE(store_->Update(key, {{"a", 4}}, seconds(10)).value());
    auto lease = pool_->Acquire();
    auto type = (*lease)->Query(
        "SELECT data_type FROM information_schema.columns WHERE table_name = 'django_session' AND "
        "column_name = 'expire_date'");
    ASSERT_TRUE(type && type->size() == 1);
    EXPECT_EQ(std::get<std::string>((*type)[0][0]), "timestamp with time zone");
}

TEST_F(PostgresStore, RotationThroughTheManagerDeletesTheOldRow) {
    auto store = std::shared_ptr<SessionStore>(std::move(store_));
    SessionManager m({}, store);
    Session s;
    s.Set("cart", 1);
    http::Request none;
    http::Response r1(200);
    ASSERT_TRUE(m.Save(s, none, r1));
    const std::string old_key = s.key();
    s.Rotate();
    http::Response r2(200);
    ASSERT_TRUE(m.Save(s, none, r2));
    EXPECT_EQ(store->Load(old_key).value(), std::nullopt);
    EXPECT_EQ(store->Load(s.key()).value(), (nlohmann::json{{"cart", 1}}));
}

}  // namespace
}  // namespace gale::sessions
