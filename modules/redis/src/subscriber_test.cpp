// SPDX-License-Identifier: MIT
// Subscriber against a real redis-server (label `redis`).
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <gale/redis/connection.hpp>
#include <gale/redis/subscriber.hpp>

#include "test_server.hpp"

namespace gale::redis {
namespace {

using test::Ms;
using test::Since;
using ::testing::HasSubstr;
using Clock = std::chrono::steady_clock;

TEST(RedisSubscriber, ReceivesWhatIsPublishedAfterSubscribeReturned) {
    GALE_SHARED_REDIS(server);
    auto sub = Subscriber::Connect(server->connection_options());
    ASSERT_TRUE(sub) << sub.error().ToString();
    auto pub = Connection::Connect(server->connection_options());
    ASSERT_TRUE(pub);
    ASSERT_TRUE((*sub)->Subscribe({"celery-task-meta-1", "celery-task-meta-2"}));
    ASSERT_TRUE((*sub)->PSubscribe({"/0.celeryev/*"}));
    EXPECT_EQ(*(*pub)->Command({"PUBLISH", "celery-task-meta-2", "two"}), Reply::Integer(1));
    EXPECT_EQ(*(*pub)->Command({"PUBLISH", "/0.celeryev/worker.heartbeat", "hb"}), Reply::Integer(1));
    EXPECT_EQ(*(*pub)->Command({"PUBLISH", "celery-task-meta-1", std::string("b\0n", 3)}), Reply::Integer(1));
    auto a = (*sub)->Next(Ms(2000));
    ASSERT_TRUE(a && *a) << (a ? "timeout" : a.error().ToString());
    EXPECT_EQ((*a)->channel, "celery-task-meta-2");
    EXPECT_EQ((*a)->payload, "two");
    EXPECT_EQ((*a)->pattern, "");
    auto b = (*sub)->Next(Ms(2000));
    ASSERT_TRUE(b && *b);
    EXPECT_EQ((*b)->channel, "/0.celeryev/worker.heartbeat");
    EXPECT_EQ((*b)->pattern, "/0.celeryev/*");
    auto c = (*sub)->Next(Ms(2000));
    ASSERT_TRUE(c && *c);
    EXPECT_EQ((*c)->payload, std::string("b\0n", 3));

    // Messages that arrive while a confirmation is awaited are kept, in order.
    EXPECT_EQ(*(*pub)->Command({"PUBLISH", "celery-task-meta-1", "early"}), Reply::Integer(1));
    ASSERT_TRUE((*sub)->Subscribe({"later"}));
    ASSERT_TRUE((*sub)->Unsubscribe({"celery-task-meta-2"}));
    EXPECT_EQ(*(*pub)->Command({"PUBLISH", "celery-task-meta-2", "nobody"}), Reply::Integer(0));
    EXPECT_EQ(*(*pub)->Command({"PUBLISH", "later", "now"}), Reply::Integer(1));
    EXPECT_EQ((*(*sub)->Next(Ms(2000)))->payload, "early");
    EXPECT_EQ((*(*sub)->Next(Ms(2000)))->payload, "now");

    const auto start = Clock::now();
    auto none = (*sub)->Next(Ms(150));
    ASSERT_TRUE(none) << none.error().ToString();
    EXPECT_FALSE(none->has_value());
    EXPECT_GE(Since(start), Ms(100));
    EXPECT_LT(Since(start), Ms(2000));
    EXPECT_FALSE(*(*sub)->Next(Ms(0)));
}

TEST(RedisSubscriber, ResubscribesAfterTheServerRestarts) {
    auto server = testing::RedisServer::Start();
    ASSERT_TRUE(server) << server.error().ToString();
    auto sub = Subscriber::Connect((*server)->connection_options());
    ASSERT_TRUE(sub);
    ASSERT_TRUE((*sub)->Subscribe({"ch"}));
    ASSERT_TRUE((*sub)->PSubscribe({"p.*"}));
    ASSERT_TRUE((*server)->Restart());
    auto lost = (*sub)->Next(Ms(2000));
    ASSERT_FALSE(lost);
    EXPECT_EQ(lost.error().code(), ErrorCode::kUnavailable);
    EXPECT_THAT(lost.error().ToString(), HasSubstr("connection lost"));
    // The next call reconnects and subscribes again before it waits.
    auto none = (*sub)->Next(Ms(10));
    ASSERT_TRUE(none) << none.error().ToString();
    EXPECT_EQ((*sub)->reconnects(), 1U);
    auto pub = Connection::Connect((*server)->connection_options());
    ASSERT_TRUE(pub);
    EXPECT_EQ(*(*pub)->Command({"PUBLISH", "ch", "back"}), Reply::Integer(1));
    EXPECT_EQ(*(*pub)->Command({"PUBLISH", "p.x", "pattern"}), Reply::Integer(1));
    EXPECT_EQ((*(*sub)->Next(Ms(2000)))->payload, "back");
    EXPECT_EQ((*(*sub)->Next(Ms(2000)))->payload, "pattern");

    ASSERT_TRUE((*server)->Stop());
    EXPECT_FALSE((*sub)->Next(Ms(2000)));
    const auto start = Clock::now();
    auto down = (*sub)->Next(Ms(2000));
    ASSERT_FALSE(down);
    EXPECT_EQ(down.error().code(), ErrorCode::kUnavailable);
    EXPECT_LT(Since(start), Ms(1000));
}

}  // namespace
}  // namespace gale::redis
