// SPDX-License-Identifier: MIT
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <gale/amqp/topology.hpp>

namespace gale::amqp {
namespace {

using ::testing::HasSubstr;

TEST(AmqpTopology, ExchangeTypesParseAndPrint) {
    for (auto t : {ExchangeType::kTopic, ExchangeType::kDirect, ExchangeType::kFanout, ExchangeType::kHeaders}) {
        auto parsed = ParseExchangeType(ToString(t));
        ASSERT_TRUE(parsed);
        EXPECT_EQ(*parsed, t);
    }
    EXPECT_EQ(*ParseExchangeType("TOPIC"), ExchangeType::kTopic);
    EXPECT_THAT(ParseExchangeType("x-delayed").error().message(), HasSubstr("'x-delayed' is not an exchange type"));
}

TEST(AmqpTopology, DurableByDefault) {
    QueueSpec q{.name = "q"};
    EXPECT_TRUE(q.durable);
    EXPECT_TRUE(q.exchange.durable);
    EXPECT_EQ(q.exchange.type, ExchangeType::kTopic);
}

TEST(AmqpTopology, Validate) {
    EXPECT_TRUE(Validate(QueueSpec{.name = "q", .exchange = {.name = "x"}, .routing_keys = {"a.#"}}));
    EXPECT_THAT(Validate(QueueSpec{}).error().message(), HasSubstr("needs a name"));
    EXPECT_THAT(Validate(QueueSpec{.name = std::string(256, 'q')}).error().message(), HasSubstr("over 255 bytes"));
    EXPECT_THAT(
        Validate(
            QueueSpec{.name = "q", .exchange = {.name = "x", .type = ExchangeType::kFanout}, .routing_keys = {"k"}})
            .error()
            .message(),
        HasSubstr("ignored by a fanout exchange ('x')"));
    EXPECT_THAT(Validate(QueueSpec{.name = "q", .routing_keys = {"k"}}).error().message(),
                HasSubstr("need an exchange"));
}

}  // namespace
}  // namespace gale::amqp
