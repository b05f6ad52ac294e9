// SPDX-License-Identifier: MIT
// Publisher against a real RabbitMQ (label rabbitmq).
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <gale/amqp/publisher.hpp>

#include "test_broker.hpp"

namespace gale::amqp {
namespace {

using test::Name;
using ::testing::HasSubstr;

TEST(AmqpPublisher, ConfirmedPublishUnroutableAndMissingExchange) {
    GALE_SHARED_BROKER(broker);
    auto p = Publisher::Connect(broker->connection_options());
    ASSERT_TRUE(p) << p.error().ToString();
    QueueSpec q{.name = Name("q"), .exchange = {.name = Name("x")}, .routing_keys = {"orders.#"}};
    ASSERT_TRUE((*p)->DeclareQueue(q));
    auto sent = (*p)->Publish(q.exchange.name, "orders.new", "hello");
    EXPECT_TRUE(sent) << sent.error().ToString();

    auto unroutable = (*p)->Publish(q.exchange.name, "nobody.listens", "lost?");
    ASSERT_FALSE(unroutable);
    EXPECT_EQ(unroutable.error().code(), ErrorCode::kNotFound);
    EXPECT_THAT(unroutable.error().message(), HasSubstr("unroutable"));
    EXPECT_THAT(unroutable.error().message(), HasSubstr("312 NO_ROUTE"));

    auto missing = (*p)->Publish(Name("no-such-exchange"), "k", "x");
    ASSERT_FALSE(missing);
    EXPECT_EQ(missing.error().code(), ErrorCode::kNotFound);
    EXPECT_THAT(missing.error().message(), HasSubstr("404"));

    // The channel closed by the 404 is reopened; the persistent message and the next one are both in the queue.
    ASSERT_TRUE((*p)->Publish(q.exchange.name, "orders.old", "again"));
    auto count = (*p)->DeclareQueue(q);
    ASSERT_TRUE(count) << count.error().ToString();
    EXPECT_EQ(*count, 2u);
}

TEST(AmqpPublisher, WrongCredentialsNameUserAndVhost) {
    GALE_SHARED_BROKER(broker);
    auto o = broker->connection_options();
    o.password = "wrong-password";
    auto p = Publisher::Connect(o);
    ASSERT_FALSE(p);
    EXPECT_EQ(p.error().code(), ErrorCode::kInvalidArgument);
    EXPECT_THAT(p.error().message(), HasSubstr("refused the login of user 'gale' on vhost '/'"));
    EXPECT_THAT(p.error().message(), HasSubstr("ACCESS_REFUSED"));
    EXPECT_THAT(p.error().message(), ::testing::Not(HasSubstr("wrong-password")));

    o = broker->connection_options();
    o.vhost = "no-such-vhost";
    auto v = Publisher::Connect(o);
    ASSERT_FALSE(v);
    EXPECT_THAT(v.error().message(), HasSubstr("vhost 'no-such-vhost'"));
}

TEST(AmqpPublisher, UnreachableBrokerIsUnavailable) {
    ConnectionOptions o;
    o.host = "127.0.0.1";
    o.port = testing::RabbitMqServer::FreePort();
    o.connect_timeout = std::chrono::seconds(2);
    auto p = Publisher::Connect(o);
    ASSERT_FALSE(p);
    EXPECT_EQ(p.error().code(), ErrorCode::kUnavailable);
    EXPECT_THAT(p.error().message(),
                HasSubstr("cannot connect to the AMQP broker at 127.0.0.1:" + std::to_string(o.port)));
}

}  // namespace
}  // namespace gale::amqp
