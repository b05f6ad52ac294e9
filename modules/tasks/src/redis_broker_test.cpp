// SPDX-License-Identifier: MIT
// The Redis broker against a real redis-server (label `redis`): kombu's keys and envelope, priorities, bindings,
// the unacked hash and index through every settlement, the visibility-timeout restore under unacked_mutex,
// connection loss and an unreachable server. Interop with Python Celery is in redis_celery_interop_test.cpp.
#include <thread>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <gale/redis/connection.hpp>
#include <gale/tasks/message.hpp>
#include <gale/tasks/redis.hpp>
#include <gale/tasks/settings.hpp>

#include "redis_test_util.hpp"

namespace gale::tasks::redis {
namespace {

using json = nlohmann::ordered_json;
using test::Ms;
using test::Since;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::UnorderedElementsAre;
namespace r = gale::redis;

TransportMessage Task(const std::string& id, int priority = 0) {
    TaskRequest request;
    request.id = id;
    request.task = "proj.tasks.add";
    request.args = nlohmann::json::array({2, 3});
    request.priority = priority;
    return EncodeTask(request);
}

std::unique_ptr<r::Connection> Redis(const r::testing::RedisServer& s) {
    auto c = r::Connection::Connect(s.connection_options());
    EXPECT_TRUE(c) << c.error().ToString();
    return c ? std::move(*c) : nullptr;
}

std::string TaskId(const Delivery& d) { return d.message.headers.value("id", ""); }

std::string NextId(BrokerConsumer& consumer, Ms timeout = Ms(2000)) {
    auto d = consumer.Next(timeout);
    if (!d) return "error: " + d.error().ToString();
    if (!*d) return "none";
    return TaskId(**d);
}

TEST(RedisBroker, PublishLpushesKombusEnvelope) {
    GALE_FRESH_REDIS(server);
    auto broker = MakeBroker(server->url());
    ASSERT_TRUE(broker) << broker.error().ToString();
    EXPECT_EQ((*broker)->name(), "redis");
    EXPECT_EQ((*broker)->Describe(), "redis://127.0.0.1:" + std::to_string(server->port()) + "/0");
    TransportMessage m = Task("id-1");
    m.reply_to = "reply-oid";
    ASSERT_TRUE((*broker)->Publish(Route{}, m));
    auto c = Redis(*server);
    auto items = c->Command({"LRANGE", "celery", "0", "-1"});
    ASSERT_TRUE(items);
    ASSERT_EQ(items->elements.size(), 1U);
    const auto envelope = json::parse(items->elements[0].str);
    std::vector<std::string> keys;
    for (const auto& [k, v] : envelope.items()) keys.push_back(k);
    EXPECT_THAT(keys, ElementsAre("body", "content-encoding", "content-type", "headers", "properties"));
    std::vector<std::string> props;
    for (const auto& [k, v] : envelope["properties"].items()) props.push_back(k);
    EXPECT_THAT(props, ElementsAre("correlation_id", "reply_to", "delivery_mode", "delivery_info", "priority",
                                   "body_encoding", "delivery_tag"));
    EXPECT_EQ(envelope["properties"]["delivery_info"], json::parse(R"({"exchange": "", "routing_key": "celery"})"));
    EXPECT_EQ(envelope["properties"]["correlation_id"], "id-1");
    EXPECT_EQ(envelope["properties"]["reply_to"], "reply-oid");
    EXPECT_EQ(envelope["properties"]["body_encoding"], "base64");
    EXPECT_EQ(envelope["properties"]["delivery_tag"].get<std::string>().size(), 36U);
    EXPECT_EQ(envelope["content-type"], "application/json");
    EXPECT_EQ(envelope["headers"]["task"], "proj.tasks.add");
    // Written as Python's json.dumps writes it.
    EXPECT_THAT(items->elements[0].str, HasSubstr(R"({"body": ")"));
    EXPECT_THAT(items->elements[0].str, HasSubstr(R"(", "content-encoding": "utf-8", )"));
}

TEST(RedisBroker, PriorityListsAreKombusAndConsumedInStepOrder) {
    EXPECT_EQ(PriorityList("celery", 0), "celery");
    EXPECT_EQ(PriorityList("celery", 2), "celery");
    EXPECT_EQ(PriorityList("celery", 3),
              "celery\x06\x16"
              "3");
    EXPECT_EQ(PriorityList("celery", 5),
              "celery\x06\x16"
              "3");
    EXPECT_EQ(PriorityList("celery", 8),
              "celery\x06\x16"
              "6");
    EXPECT_EQ(PriorityList("celery", 9),
              "celery\x06\x16"
              "9");
    EXPECT_EQ(PriorityList("celery", 42),
              "celery\x06\x16"
              "9");
    EXPECT_EQ(PriorityList("celery", -1), "celery");

    GALE_FRESH_REDIS(server);
    auto broker = MakeBroker(server->connection_options());
    ASSERT_TRUE(broker->Publish(Route{}, Task("p9", 9)));
    ASSERT_TRUE(broker->Publish(Route{}, Task("p5", 5)));
    ASSERT_TRUE(broker->Publish(Route{}, Task("p0-a", 0)));
    ASSERT_TRUE(broker->Publish(Route{}, Task("p7", 7)));
    ASSERT_TRUE(broker->Publish(Route{}, Task("p0-b", 1)));
    auto c = Redis(*server);
    EXPECT_EQ(*c->Command({"LLEN",
                           "celery\x06\x16"
                           "3"}),
              r::Reply::Integer(1));
    EXPECT_EQ(*broker->QueueLength("celery"), 5U);
    auto consumer = broker->Consume({"celery"}, 10);
    ASSERT_TRUE(consumer);
    EXPECT_EQ(NextId(**consumer), "p0-a");
    EXPECT_EQ(NextId(**consumer), "p0-b");
    EXPECT_EQ(NextId(**consumer), "p5");
    EXPECT_EQ(NextId(**consumer), "p7");
    EXPECT_EQ(NextId(**consumer), "p9");
    EXPECT_EQ(NextId(**consumer, Ms(100)), "none");
    EXPECT_EQ(*broker->QueueLength("celery"), 0U);
}

TEST(RedisBroker, DeclareWritesTheBindingSetAndExchangesRouteThroughIt) {
    GALE_FRESH_REDIS(server);
    auto broker = MakeBroker(server->connection_options());
    ASSERT_TRUE(broker->Declare({Route{}, Route{.queue = "emails", .exchange = "mail", .routing_key = "send"}}));
    auto c = Redis(*server);
    EXPECT_EQ(*c->Command({"SMEMBERS", "_kombu.binding.celery"}),
              r::Reply::Array({r::Reply::String("celery\x06\x16\x06\x16"
                                                "celery")}));
    EXPECT_EQ(*c->Command({"SMEMBERS", "_kombu.binding.mail"}), r::Reply::Array({r::Reply::String("send\x06\x16\x06\x16"
                                                                                                  "emails")}));
    ASSERT_TRUE(broker->Publish(Route{.queue = "emails", .exchange = "mail", .routing_key = "send"}, Task("m1")));
    EXPECT_EQ(*broker->QueueLength("emails"), 1U);
    auto unroutable = broker->Publish(Route{.queue = "x", .exchange = "mail", .routing_key = "nobody"}, Task("m2"));
    ASSERT_FALSE(unroutable);
    EXPECT_EQ(unroutable.error().code(), ErrorCode::kNotFound);
    EXPECT_THAT(unroutable.error().message(), HasSubstr("unroutable"));
    auto consumer = broker->Consume({"emails"}, 1);
    auto d = (*consumer)->Next(Ms(2000));
    ASSERT_TRUE(d && *d);
    EXPECT_EQ((*d)->exchange, "mail");
    EXPECT_EQ((*d)->routing_key, "send");
    EXPECT_EQ((*d)->queue, "emails");
}

TEST(RedisBroker, DeliveriesAreUnackedUntilAcked) {
    GALE_FRESH_REDIS(server);
    auto broker = MakeBroker(server->connection_options());
    ASSERT_TRUE(broker->Publish(Route{}, Task("a")));
    auto consumer = broker->Consume({"celery"}, 4);
    auto d = (*consumer)->Next(Ms(2000));
    ASSERT_TRUE(d && *d) << (d ? "none" : d.error().ToString());
    auto c = Redis(*server);
    EXPECT_EQ(*c->Command({"HLEN", "unacked"}), r::Reply::Integer(1));
    auto score = c->Command({"ZSCORE", "unacked_index", (*d)->tag});
    ASSERT_TRUE(score && !score->is_nil());
    const double now = std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
    EXPECT_NEAR(std::stod(score->str), now, 5.0);
    auto entry = json::parse(c->Command({"HGET", "unacked", (*d)->tag})->str);
    ASSERT_TRUE(entry.is_array());
    ASSERT_EQ(entry.size(), 3U);
    EXPECT_EQ(entry[0]["properties"]["delivery_tag"], (*d)->tag);
    EXPECT_EQ(entry[1], "");
    EXPECT_EQ(entry[2], "celery");
    auto request = DecodeTask((*d)->message);
    ASSERT_TRUE(request) << request.error().ToString();
    EXPECT_EQ(request->id, "a");
    EXPECT_EQ(request->args, nlohmann::json::array({2, 3}));
    EXPECT_EQ((*d)->delivery_count, 1U);
    auto ttl = c->Command({"TTL", "_gale.delivery_count." + (*d)->tag});
    EXPECT_GE(ttl->integer, 86000);
    ASSERT_TRUE((*consumer)->Ack(**d));
    EXPECT_EQ(*c->Command({"HLEN", "unacked"}), r::Reply::Integer(0));
    EXPECT_EQ(*c->Command({"ZCARD", "unacked_index"}), r::Reply::Integer(0));
    EXPECT_EQ(*c->Command({"EXISTS", "_gale.delivery_count." + (*d)->tag}), r::Reply::Integer(0));
    (*consumer)->Close();
    EXPECT_EQ(*broker->QueueLength("celery"), 0U);  // nothing to restore at close
}

TEST(RedisBroker, RejectRequeuesBehindTheQueueOrDrops) {
    GALE_FRESH_REDIS(server);
    auto broker = MakeBroker(server->connection_options());
    ASSERT_TRUE(broker->Publish(Route{}, Task("a")));
    ASSERT_TRUE(broker->Publish(Route{}, Task("b")));
    auto consumer = broker->Consume({"celery"}, 4);
    auto a = (*consumer)->Next(Ms(2000));
    ASSERT_TRUE(a && *a);
    EXPECT_EQ(TaskId(**a), "a");
    EXPECT_FALSE((*a)->redelivered);
    ASSERT_TRUE((*consumer)->Reject(**a, /*requeue=*/true));
    auto c = Redis(*server);
    EXPECT_EQ(*c->Command({"HLEN", "unacked"}), r::Reply::Integer(1));  // b: taken with a in one batch
    auto b = (*consumer)->Next(Ms(2000));
    ASSERT_TRUE(b && *b);
    EXPECT_EQ(TaskId(**b), "b");  // LPUSH: a went behind b
    auto again = (*consumer)->Next(Ms(2000));
    ASSERT_TRUE(again && *again);
    EXPECT_EQ(TaskId(**again), "a");
    EXPECT_TRUE((*again)->redelivered);
    EXPECT_EQ((*again)->message.headers["redelivered"], true);
    EXPECT_EQ((*again)->tag, (*a)->tag);
    EXPECT_EQ((*again)->delivery_count, 2U);
    ASSERT_TRUE((*consumer)->Reject(**again, /*requeue=*/false));
    ASSERT_TRUE((*consumer)->Ack(**b));  // the last outstanding settlement sends every pending one
    EXPECT_EQ(*c->Command({"HLEN", "unacked"}), r::Reply::Integer(0));
    EXPECT_EQ(*c->Command({"ZCARD", "unacked_index"}), r::Reply::Integer(0));
    EXPECT_EQ(*broker->QueueLength("celery"), 0U);
}

TEST(RedisBroker, ABatchIsPoppedAndRecordedAtomicallyAndAcksTravelTogether) {
    GALE_FRESH_REDIS(server);
    auto broker = MakeBroker(server->connection_options());
    for (int i = 0; i < 5; ++i) ASSERT_TRUE(broker->Publish(Route{}, Task("t" + std::to_string(i), i == 4 ? 9 : 0)));
    auto consumer = broker->Consume({"celery"}, 10);
    auto c = Redis(*server);
    std::vector<Delivery> got;
    auto first = (*consumer)->Next(Ms(2000));
    ASSERT_TRUE(first && *first);
    got.push_back(**first);
    // One round trip took all five: every one is in unacked (kombu's entry), none is left in the lists.
    EXPECT_EQ(*c->Command({"HLEN", "unacked"}), r::Reply::Integer(5));
    EXPECT_EQ(*broker->QueueLength("celery"), 0U);
    auto entry = json::parse(c->Command({"HGET", "unacked", got[0].tag})->str);
    ASSERT_TRUE(entry.is_array() && entry.size() == 3U);
    EXPECT_EQ(entry[0]["properties"]["delivery_tag"], got[0].tag);
    EXPECT_EQ(entry[1], "");
    EXPECT_EQ(entry[2], "celery");
    EXPECT_EQ(got[0].delivery_count, 1U);
    for (int i = 0; i < 4; ++i) {
        auto d = (*consumer)->Next(Ms(2000));
        ASSERT_TRUE(d && *d);
        got.push_back(**d);
    }
    std::vector<std::string> ids;
    for (const auto& d : got) ids.push_back(TaskId(d));
    EXPECT_THAT(ids, ElementsAre("t0", "t1", "t2", "t3", "t4"));  // priority 9 last, FIFO within a list
    for (int i = 0; i < 4; ++i) ASSERT_TRUE((*consumer)->Ack(got[static_cast<std::size_t>(i)]));
    EXPECT_EQ(*c->Command({"HLEN", "unacked"}), r::Reply::Integer(5));  // not sent yet: t4 is still out
    ASSERT_TRUE((*consumer)->Ack(got[4]));
    EXPECT_EQ(*c->Command({"HLEN", "unacked"}), r::Reply::Integer(0));
    EXPECT_EQ(*c->Command({"ZCARD", "unacked_index"}), r::Reply::Integer(0));
    EXPECT_EQ(*c->Command({"EXISTS", "_gale.delivery_count." + got[2].tag}), r::Reply::Integer(0));
}

TEST(RedisBroker, CloseRestoresUnsettledToTheFrontAndPrefetchBounds) {
    GALE_FRESH_REDIS(server);
    auto broker = MakeBroker(server->connection_options());
    for (const char* id : {"a", "b", "c"}) ASSERT_TRUE(broker->Publish(Route{}, Task(id)));
    auto consumer = broker->Consume({"celery"}, 2);
    auto a = (*consumer)->Next(Ms(2000));
    auto b = (*consumer)->Next(Ms(2000));
    ASSERT_TRUE(a && *a && b && *b);
    const auto start = std::chrono::steady_clock::now();
    EXPECT_EQ(NextId(**consumer, Ms(100)), "none");  // two unsettled = prefetch
    EXPECT_GE(Since(start), Ms(90));
    ASSERT_TRUE((*consumer)->Ack(**a));
    ASSERT_TRUE((*consumer)->SetPrefetch(1));
    EXPECT_EQ(NextId(**consumer, Ms(50)), "none");  // b alone fills a prefetch of 1
    ASSERT_TRUE((*consumer)->SetPrefetch(2));
    auto cc = (*consumer)->Next(Ms(2000));  // room for one again
    ASSERT_TRUE(cc && *cc);
    EXPECT_EQ(TaskId(**cc), "c");
    (*consumer)->Close();
    (*consumer)->Close();  // idempotent
    auto c = Redis(*server);
    EXPECT_EQ(*c->Command({"HLEN", "unacked"}), r::Reply::Integer(0));
    auto next = broker->Consume({"celery"}, 4);
    auto first = (*next)->Next(Ms(2000));
    ASSERT_TRUE(first && *first);
    EXPECT_TRUE((*first)->redelivered);
    auto second = (*next)->Next(Ms(2000));
    ASSERT_TRUE(second && *second);
    EXPECT_THAT((std::vector<std::string>{TaskId(**first), TaskId(**second)}), UnorderedElementsAre("b", "c"));
    EXPECT_EQ(NextId(**next, Ms(50)), "none");
}

TEST(RedisBroker, CancelStopsDeliveries) {
    GALE_FRESH_REDIS(server);
    auto broker = MakeBroker(server->connection_options());
    ASSERT_TRUE(broker->Publish(Route{}, Task("a")));
    auto consumer = broker->Consume({"celery"}, 4);
    (*consumer)->Cancel();
    EXPECT_EQ(NextId(**consumer, Ms(50)), "none");
    EXPECT_EQ(*broker->QueueLength("celery"), 1U);
}

TEST(RedisBroker, VisibilityTimeoutRestoresOnceUnderTheMutex) {
    GALE_FRESH_REDIS(server);
    RedisBrokerOptions options{.visibility_timeout = std::chrono::seconds(1), .restore_interval = Ms(50)};
    auto broker = MakeBroker(server->connection_options(), options);
    ASSERT_TRUE(broker->Publish(Route{}, Task("stale")));
    auto c = Redis(*server);
    // A worker that took it and died: the delivery sits in unacked, older than the visibility timeout.
    std::string tag;
    {
        auto dead = broker->Consume({"celery"}, 1);
        auto d = (*dead)->Next(Ms(2000));
        ASSERT_TRUE(d && *d);
        tag = (*d)->tag;
        ASSERT_TRUE(c->Command({"ZADD", "unacked_index", "1000.5", tag}));
        // Another process holds the mutex: nobody restores.
        ASSERT_TRUE(c->Command({"SET", "unacked_mutex", "python-token", "PX", "60000"}));
        auto other = broker->Consume({"celery"}, 1);
        EXPECT_EQ(NextId(**other, Ms(200)), "none");
        EXPECT_EQ(*c->Command({"HLEN", "unacked"}), r::Reply::Integer(1));
        EXPECT_EQ(*c->Command({"GET", "unacked_mutex"}), r::Reply::String("python-token"));  // not released by us
        ASSERT_TRUE(c->Command({"DEL", "unacked_mutex"}));
        auto got = (*other)->Next(Ms(2000));
        ASSERT_TRUE(got && *got) << (got ? "none" : got.error().ToString());
        EXPECT_EQ(TaskId(**got), "stale");
        EXPECT_TRUE((*got)->redelivered);
        EXPECT_EQ((*got)->tag, tag);
        EXPECT_EQ((*got)->delivery_count, 2U);  // the dead worker's delivery, then this one
        EXPECT_EQ(*c->Command({"EXISTS", "unacked_mutex"}), r::Reply::Integer(0));  // released
        ASSERT_TRUE((*other)->Ack(**got));
        // The dead consumer's Close finds nothing left to restore: no second copy.
        (*dead)->Close();
    }
    EXPECT_EQ(*broker->QueueLength("celery"), 0U);
    EXPECT_EQ(*c->Command({"HLEN", "unacked"}), r::Reply::Integer(0));
}

TEST(RedisBroker, SeveralQueuesTakeTurns) {
    GALE_FRESH_REDIS(server);
    auto broker = MakeBroker(server->connection_options());
    for (int i = 0; i < 3; ++i) {
        ASSERT_TRUE(broker->Publish(Route{.queue = "q1"}, Task("q1-" + std::to_string(i))));
        ASSERT_TRUE(broker->Publish(Route{.queue = "q2"}, Task("q2-" + std::to_string(i))));
    }
    auto consumer = broker->Consume({"q1", "q2"}, 10);
    std::vector<std::string> order;
    for (int i = 0; i < 6; ++i) order.push_back(NextId(**consumer));
    EXPECT_THAT(order, ElementsAre("q1-0", "q2-0", "q1-1", "q2-1", "q1-2", "q2-2"));
}

TEST(RedisBroker, ForeignBytesAreHandedOutForTheWorkerToDeadLetter) {
    GALE_FRESH_REDIS(server);
    auto broker = MakeBroker(server->connection_options());
    auto c = Redis(*server);
    ASSERT_TRUE(c->Command({"LPUSH", "celery", "this is not kombu"}));
    auto consumer = broker->Consume({"celery"}, 1);
    auto d = (*consumer)->Next(Ms(2000));
    ASSERT_TRUE(d && *d);
    EXPECT_EQ((*d)->message.body, "this is not kombu");
    EXPECT_EQ((*d)->message.headers["x-gale-envelope-problem"], "not JSON");
    auto decoded = DecodeTask((*d)->message);
    ASSERT_FALSE(decoded);
    EXPECT_EQ(decoded.error().code(), ErrorCode::kInvalidArgument);
    EXPECT_EQ(*c->Command({"HLEN", "unacked"}), r::Reply::Integer(0));
    ASSERT_TRUE((*consumer)->Ack(**d));
    ASSERT_TRUE(broker->Publish(Route{}, Task("after")));
    EXPECT_EQ(NextId(**consumer), "after");
}

TEST(RedisBroker, LostConnectionAndUnreachableServer) {
    auto server = r::testing::RedisServer::Start();
    ASSERT_TRUE(server) << server.error().ToString();
    auto broker = MakeBroker((*server)->connection_options());
    auto consumer = broker->Consume({"celery"}, 1);
    EXPECT_EQ(NextId(**consumer, Ms(50)), "none");
    ASSERT_TRUE((*server)->Stop());
    auto lost = (*consumer)->Next(Ms(500));
    ASSERT_FALSE(lost);
    EXPECT_EQ(lost.error().code(), ErrorCode::kUnavailable);
    auto publish = broker->Publish(Route{}, Task("x"));
    ASSERT_FALSE(publish);
    EXPECT_EQ(publish.error().code(), ErrorCode::kUnavailable);
    EXPECT_FALSE(broker->connected());
    ASSERT_TRUE((*server)->StartAgain());
    ASSERT_TRUE(broker->Publish(Route{}, Task("back")));
    EXPECT_TRUE(broker->connected());
    auto fresh = broker->Consume({"celery"}, 1);
    EXPECT_EQ(NextId(**fresh), "back");

    r::ConnectionOptions nowhere = (*server)->connection_options();
    nowhere.port = r::testing::RedisServer::FreePort();
    auto unreachable = MakeBroker(nowhere);
    const auto start = std::chrono::steady_clock::now();
    auto refused = unreachable->Publish(Route{}, Task("y"));
    ASSERT_FALSE(refused);
    EXPECT_EQ(refused.error().code(), ErrorCode::kUnavailable);
    EXPECT_THAT(refused.error().ToString(), HasSubstr("Connection refused"));
    auto length = unreachable->QueueLength("celery");
    ASSERT_FALSE(length);
    auto c = unreachable->Consume({"celery"}, 1);
    auto next = (*c)->Next(Ms(100));
    ASSERT_FALSE(next);
    EXPECT_EQ(next.error().code(), ErrorCode::kUnavailable);
    EXPECT_LT(Since(start), Ms(2000));

    auto bad = MakeBroker("amqp://host", {}, "CELERY_BROKER_URL");
    ASSERT_FALSE(bad);
    EXPECT_THAT(bad.error().message(), HasSubstr("CELERY_BROKER_URL"));
}

TEST(RedisBroker, InstallRegistersTheRedisSchemes) {
    GALE_FRESH_REDIS(server);
    Install();
    config::Settings s;
    s.Set("CELERY_BROKER_URL", server->url(), config::Layer::kEnvironment);
    s.Set("CELERY_RESULT_BACKEND", server->url(1), config::Layer::kEnvironment);
    s.Set("CELERY_BROKER_VISIBILITY_TIMEOUT", "90s", config::Layer::kEnvironment);
    auto settings = TasksSettingsFromSettings(s);
    ASSERT_TRUE(settings) << settings.error().ToString();
    TransportOptions options{.service_name = "hello world", .visibility_timeout = settings->visibility_timeout};
    auto broker = tasks::MakeBroker(*settings, options);
    ASSERT_TRUE(broker) << broker.error().ToString();
    EXPECT_EQ((*broker)->name(), "redis");
    ASSERT_TRUE((*broker)->Publish(Route{}, Task("via-settings")));
    EXPECT_EQ(*(*broker)->QueueLength("celery"), 1U);
    auto backend = tasks::MakeResultBackend(*settings, options, **broker);
    ASSERT_TRUE(backend) << backend.error().ToString();
    ASSERT_NE(*backend, nullptr);
    EXPECT_EQ((*backend)->name(), "redis");
    auto consumer = (*broker)->Consume({"celery"}, 1);
    auto d = (*consumer)->Next(Ms(2000));
    ASSERT_TRUE(d && *d);
    auto c = Redis(*server);
    auto clients = c->Command({"CLIENT", "LIST"});
    EXPECT_THAT(clients->str, HasSubstr("name=hello_world-tasks"));

    config::Settings tls;
    tls.Set("CELERY_BROKER_URL", "rediss://127.0.0.1:6380/0", config::Layer::kEnvironment);
    auto tls_settings = TasksSettingsFromSettings(tls);
    ASSERT_TRUE(tls_settings) << tls_settings.error().ToString();
    auto refused = tasks::MakeBroker(*tls_settings, {});
    ASSERT_FALSE(refused);
    EXPECT_THAT(refused.error().ToString(), HasSubstr("rediss:// (TLS) is not supported"));
}

}  // namespace
}  // namespace gale::tasks::redis
