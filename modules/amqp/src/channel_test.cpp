// SPDX-License-Identifier: MIT
// Channel against a real RabbitMQ (label rabbitmq): consume/next/ack/reject, qos, unacked deliveries returning when
// the channel closes, basic.get, deliveries that arrive while a publish waits for its confirm, a passive declare of
// a missing queue (the channel is reopened), and a consumer the broker cancels.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <gale/amqp/channel.hpp>

#include "test_broker.hpp"

namespace gale::amqp {
namespace {

using test::Name;
using ::testing::HasSubstr;

std::unique_ptr<Channel> OpenChannel(testing::RabbitMqServer& broker, bool confirms = false) {
    auto c = Channel::Open(broker.connection_options(), {.confirms = confirms});
    EXPECT_TRUE(c) << c.error().ToString();
    return c ? std::move(*c) : nullptr;
}

TEST(AmqpChannel, ConsumeQosAckRejectAndCloseReturnsUnacked) {
    GALE_SHARED_BROKER(broker);
    const std::string q = Name("q");
    auto ch = OpenChannel(*broker, /*confirms=*/true);
    ASSERT_NE(ch, nullptr);
    ASSERT_TRUE(ch->DeclareQueue({.name = q}));
    for (const char* body : {"one", "two", "three"}) {
        Properties p;
        p.content_type = "text/plain";
        p.headers = {{"n", body}};
        auto r = ch->Publish("", q, body, p, /*mandatory=*/true);
        ASSERT_TRUE(r) << r.error().ToString();
    }
    ASSERT_TRUE(ch->Qos(2, /*global=*/true));
    auto tag = ch->Consume(q);
    ASSERT_TRUE(tag) << tag.error().ToString();

    auto d1 = ch->Next(std::chrono::seconds(5));
    ASSERT_TRUE(d1 && *d1) << (d1 ? "timeout" : d1.error().ToString());
    EXPECT_EQ((*d1)->message.body, "one");
    EXPECT_EQ((*d1)->message.queue, q);
    EXPECT_EQ((*d1)->message.routing_key, q);
    EXPECT_EQ((*d1)->consumer_tag, *tag);
    EXPECT_EQ((*d1)->message.properties.content_type, "text/plain");
    EXPECT_EQ(FindString((*d1)->message.headers(), "n"), "one");
    auto d2 = ch->Next(std::chrono::seconds(5));
    ASSERT_TRUE(d2 && *d2);
    EXPECT_EQ((*d2)->message.body, "two");
    // prefetch 2: the third waits for a settlement.
    auto none = ch->Next(std::chrono::milliseconds(300));
    ASSERT_TRUE(none);
    EXPECT_FALSE(*none);

    ASSERT_TRUE(ch->Reject((*d1)->delivery_tag, /*requeue=*/true));  // "one" goes back, redelivered
    ASSERT_TRUE(ch->Ack((*d2)->delivery_tag));
    std::vector<std::string> next;
    for (int i = 0; i < 2; ++i) {
        auto d = ch->Next(std::chrono::seconds(5));
        ASSERT_TRUE(d && *d);
        next.push_back((*d)->message.body + ((*d)->message.redelivered ? "*" : ""));
    }
    EXPECT_THAT(next, ::testing::UnorderedElementsAre("one*", "three"));
    ch.reset();  // two unacked deliveries: they return to the queue

    auto other = OpenChannel(*broker);
    ASSERT_NE(other, nullptr);
    auto count = other->QueueMessageCount(q);
    ASSERT_TRUE(count) << count.error().ToString();
    EXPECT_EQ(*count, 2u);
    auto got = other->Get(q);
    ASSERT_TRUE(got && *got);
    EXPECT_TRUE((*got)->message.redelivered);
    EXPECT_TRUE((*got)->consumer_tag.empty());
    EXPECT_EQ((*got)->message.queue, q);
    ASSERT_TRUE(other->Reject((*got)->delivery_tag, /*requeue=*/false));  // dropped
    auto last = other->Get(q, /*no_ack=*/true);
    ASSERT_TRUE(last && *last);
    auto empty = other->Get(q);
    ASSERT_TRUE(empty);
    EXPECT_FALSE(*empty);
}

TEST(AmqpChannel, DeliveriesArrivingDuringAConfirmWaitAreKept) {
    GALE_SHARED_BROKER(broker);
    const std::string in = Name("in");
    const std::string out = Name("out");
    auto ch = OpenChannel(*broker, /*confirms=*/true);
    ASSERT_NE(ch, nullptr);
    ASSERT_TRUE(ch->DeclareQueue({.name = in}));
    ASSERT_TRUE(ch->DeclareQueue({.name = out}));
    ASSERT_TRUE(ch->Consume(in, {.no_ack = true}));
    // Each publish to `in` is delivered back to this channel's consumer, usually before the confirm is read.
    for (int i = 0; i < 50; ++i) ASSERT_TRUE(ch->Publish("", in, std::to_string(i), {}, true));
    int seen = 0;
    while (seen < 50) {
        auto d = ch->Next(std::chrono::seconds(5));
        ASSERT_TRUE(d && *d) << "after " << seen;
        EXPECT_EQ((*d)->message.body, std::to_string(seen));
        ++seen;
    }
    auto unroutable = ch->Publish("", Name("nobody"), "x", {}, /*mandatory=*/true);
    ASSERT_FALSE(unroutable);
    EXPECT_EQ(unroutable.error().code(), ErrorCode::kNotFound);
    EXPECT_THAT(unroutable.error().message(), HasSubstr("312 NO_ROUTE"));
    EXPECT_FALSE(ch->broken());
}

TEST(AmqpChannel, MissingQueueClosesOnlyTheChannelAndBrokerCancelIsReported) {
    GALE_SHARED_BROKER(broker);
    auto ch = OpenChannel(*broker);
    ASSERT_NE(ch, nullptr);
    auto missing = ch->QueueMessageCount(Name("missing"));
    ASSERT_FALSE(missing);
    EXPECT_EQ(missing.error().code(), ErrorCode::kNotFound);
    EXPECT_THAT(missing.error().message(), HasSubstr("404"));
    EXPECT_FALSE(ch->broken());
    const std::string q = Name("q");
    ASSERT_TRUE(ch->DeclareQueue({.name = q}));  // the channel was reopened

    auto tag = ch->Consume(q);
    ASSERT_TRUE(tag);
    auto idle = ch->Next(std::chrono::milliseconds(100));
    ASSERT_TRUE(idle);
    EXPECT_FALSE(*idle);
    auto admin = OpenChannel(*broker);
    ASSERT_NE(admin, nullptr);
    ASSERT_TRUE(admin->DeleteQueue(q));
    auto cancelled = ch->Next(std::chrono::seconds(5));
    ASSERT_FALSE(cancelled);
    EXPECT_EQ(cancelled.error().code(), ErrorCode::kUnavailable);
    EXPECT_THAT(cancelled.error().message(), HasSubstr("cancelled consumer '" + *tag + "'"));
    EXPECT_FALSE(ch->broken());
}

TEST(AmqpChannel, AnUnknownReplyCodeBreaksTheConnection) {
    GALE_SHARED_BROKER(broker);
    auto ch = OpenChannel(*broker);
    ASSERT_NE(ch, nullptr);
    const std::string q = Name("q");
    ASSERT_TRUE(ch->DeclareQueue({.name = q, .exclusive = true}));
    // Another connection may not consume an exclusive queue: 405 RESOURCE_LOCKED. Codes other than 403/404/406
    // are read as "the connection is not to be trusted": the channel is broken and says so.
    auto other = OpenChannel(*broker);
    ASSERT_NE(other, nullptr);
    auto locked = other->Consume(q);
    ASSERT_FALSE(locked);
    EXPECT_EQ(locked.error().code(), ErrorCode::kUnavailable);
    EXPECT_THAT(locked.error().message(), HasSubstr("405"));
    EXPECT_TRUE(other->broken());
    auto after = other->Next(std::chrono::milliseconds(10));
    ASSERT_FALSE(after);
    EXPECT_EQ(after.error().code(), ErrorCode::kUnavailable);
    EXPECT_THAT(after.error().message(), HasSubstr("open a new channel"));
}

}  // namespace
}  // namespace gale::amqp
