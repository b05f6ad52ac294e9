// SPDX-License-Identifier: MIT
// Consumer against a real RabbitMQ (label rabbitmq): topology, acks, retries and dead letters, prefetch, stopping
// under load, redelivery after SIGKILL, broker restart, unreachable broker, wrong credentials, heartbeats, metrics.
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <fstream>
#include <map>
#include <mutex>
#include <set>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <gale/amqp/consumer.hpp>
#include <gale/amqp/consumer_metrics.hpp>
#include <gale/amqp/publisher.hpp>
#include <gale/log/log.hpp>
#include <gale/log/testing/captured_log.hpp>
#include <gale/metrics/registry.hpp>

#include "test_broker.hpp"

namespace gale::amqp {
namespace {

using test::Eventually;
using test::Name;
using ::testing::HasSubstr;
using namespace std::chrono_literals;

/// Thread-safe record of what handlers saw.
struct Seen {
    std::mutex mu;
    std::vector<Message> messages;
    void Add(const Message& m) {
        std::lock_guard lock(mu);
        messages.push_back(m);
    }
    std::size_t size() {
        std::lock_guard lock(mu);
        return messages.size();
    }
    std::vector<Message> Copy() {
        std::lock_guard lock(mu);
        return messages;
    }
};

std::unique_ptr<Consumer> MakeConsumer(const ConnectionOptions& c, std::vector<Subscription> subs,
                                       ConsumerOptions o = {}) {
    o.reconnect_initial_backoff = 50ms;
    o.reconnect_max_backoff = 500ms;
    auto r = Consumer::Create(c, std::move(subs), o);
    EXPECT_TRUE(r) << r.error().ToString();
    return r ? std::move(*r) : nullptr;
}

std::unique_ptr<Publisher> MakePublisher(const testing::RabbitMqServer& b) {
    auto p = Publisher::Connect(b.connection_options());
    EXPECT_TRUE(p) << p.error().ToString();
    return p ? std::move(*p) : nullptr;
}

/// Publishes, retrying through a reconnect (after a broker restart the first call finds the old socket dead).
void PublishOrFail(Publisher& p, const std::string& exchange, const std::string& key, const std::string& body,
                   const Properties& props = {}) {
    Result<void> r = MakeError(ErrorCode::kUnavailable, "not tried");
    for (int i = 0; i < 50 && !r; ++i) {
        r = p.Publish(exchange, key, body, props);
        if (!r && r.error().code() == ErrorCode::kNotFound) break;
        if (!r) std::this_thread::sleep_for(100ms);
    }
    ASSERT_TRUE(r) << r.error().ToString();
}

Subscription Sub(QueueSpec q, Seen& seen) {
    return Subscription{std::move(q), [&seen](const Message& m) -> Result<void> {
                            seen.Add(m);
                            return {};
                        }};
}

TEST(AmqpConsumer, CreateRejectsBadSubscriptionsAndOptionsAllAtOnce) {
    ConsumerOptions o;
    o.prefetch = 0;
    o.handler_threads = 0;
    auto r = Consumer::Create({}, {Subscription{QueueSpec{}, nullptr}}, o);
    ASSERT_FALSE(r);
    EXPECT_THAT(r.error().message(), HasSubstr("needs a name"));
    EXPECT_THAT(r.error().message(), HasSubstr("no handler"));
    EXPECT_THAT(r.error().message(), HasSubstr("prefetch 0"));
    EXPECT_THAT(r.error().message(), HasSubstr("handler_threads 0"));
}

TEST(AmqpConsumer, DeclaresAndBindsTopicDirectFanoutAndHeadersExchanges) {
    GALE_SHARED_BROKER(broker);
    Seen topic, direct, fanout, headers, by_name;
    std::vector<Subscription> subs;
    subs.push_back(
        Sub({.name = Name("topic"), .exchange = {.name = Name("tx")}, .routing_keys = {"orders.*", "audit.#"}}, topic));
    subs.push_back(Sub({.name = Name("direct"),
                        .exchange = {.name = Name("dx"), .type = ExchangeType::kDirect},
                        .routing_keys = {"k1"}},
                       direct));
    subs.push_back(
        Sub({.name = Name("fanout"), .exchange = {.name = Name("fx"), .type = ExchangeType::kFanout}}, fanout));
    subs.push_back(Sub({.name = Name("headers"),
                        .exchange = {.name = Name("hx"), .type = ExchangeType::kHeaders},
                        .binding_arguments = {{"x-match", "all"}, {"kind", "order"}}},
                       headers));
    // No routing keys: bound with the queue's own name (hurricane's default).
    subs.push_back(Sub({.name = Name("byname"), .exchange = {.name = Name("tx")}}, by_name));
    auto c = MakeConsumer(broker->connection_options(), std::move(subs));
    ASSERT_TRUE(c);
    c->Start();
    ASSERT_TRUE(Eventually([&] { return c->connected(); })) << c->last_error();
    auto p = MakePublisher(*broker);
    ASSERT_TRUE(p);
    PublishOrFail(*p, Name("tx"), "orders.new", "t1");
    PublishOrFail(*p, Name("tx"), "audit.a.b", "t2");
    PublishOrFail(*p, Name("tx"), Name("byname"), "n1");
    PublishOrFail(*p, Name("dx"), "k1", "d1");
    PublishOrFail(*p, Name("fx"), "anything", "f1");
    Properties order;
    order.headers = {{"kind", "order"}, {"extra", 1}};
    PublishOrFail(*p, Name("hx"), "", "h1", order);
    // What the bindings do not match is unroutable (mandatory), which proves no catch-all binding was made.
    EXPECT_EQ(p->Publish(Name("tx"), "orders.new.deep", "x").error().code(), ErrorCode::kNotFound);
    EXPECT_EQ(p->Publish(Name("dx"), "k2", "x").error().code(), ErrorCode::kNotFound);
    Properties other;
    other.headers = {{"kind", "refund"}};
    EXPECT_EQ(p->Publish(Name("hx"), "", "x", other).error().code(), ErrorCode::kNotFound);

    ASSERT_TRUE(Eventually([&] {
        return topic.size() == 2 && direct.size() == 1 && fanout.size() == 1 && headers.size() == 1 &&
               by_name.size() == 1;
    }));
    auto t = topic.Copy();
    std::set<std::string> keys{t[0].routing_key, t[1].routing_key};
    EXPECT_EQ(keys, (std::set<std::string>{"orders.new", "audit.a.b"}));
    EXPECT_EQ(t[0].exchange, Name("tx"));
    EXPECT_EQ(t[0].queue, Name("topic"));
    EXPECT_EQ(headers.Copy()[0].body, "h1");
    EXPECT_EQ(FindString(headers.Copy()[0].headers(), "kind"), "order");
    c->Stop();
    // Durable by default: declaring the same queue as transient is refused by the broker, naming it.
    auto r = p->DeclareQueue({.name = Name("direct"), .durable = false});
    ASSERT_FALSE(r);
    EXPECT_THAT(r.error().message(), HasSubstr("PRECONDITION_FAILED"));
    EXPECT_THAT(r.error().message(), HasSubstr("durable"));
}

TEST(AmqpConsumer, AcksOnlyAfterSuccessRetriesWithAttemptNumbers) {
    GALE_SHARED_BROKER(broker);
    QueueSpec q{.name = Name("q"), .exchange = {.name = Name("x")}, .routing_keys = {"#"}};
    std::mutex mu;
    std::vector<int> attempts;
    std::vector<bool> redelivered;
    Subscription sub{q, [&](const Message& m) -> Result<void> {
                         std::lock_guard lock(mu);
                         attempts.push_back(m.attempt);
                         redelivered.push_back(m.redelivered);
                         if (m.attempt < 3) return MakeError(ErrorCode::kUnavailable, "database busy");
                         return {};
                     }};
    ConsumerOptions o;
    o.initial_backoff = 10ms;
    auto c = MakeConsumer(broker->connection_options(), {sub}, o);
    c->Start();
    ASSERT_TRUE(Eventually([&] { return c->connected(); })) << c->last_error();
    auto p = MakePublisher(*broker);
    PublishOrFail(*p, q.exchange.name, "a", "body");
    ASSERT_TRUE(Eventually([&] { return c->Stats().queues[0].acked == 1; }));
    auto s = c->Stats().queues[0];
    EXPECT_EQ(s.delivered, 1u);
    EXPECT_EQ(s.retried, 2u);
    EXPECT_EQ(s.dead_lettered, 0u);
    {
        std::lock_guard lock(mu);
        EXPECT_EQ(attempts, (std::vector<int>{1, 2, 3}));
        EXPECT_EQ(redelivered, (std::vector<bool>{false, false, false}));
    }
    c->Stop();
    auto count = p->DeclareQueue(q);
    ASSERT_TRUE(count);
    EXPECT_EQ(*count, 0u);  // acknowledged: gone from the queue
}

TEST(AmqpConsumer, PoisonMessagesAreDeadLetteredWithTheReasonAndConsumptionGoesOn) {
    GALE_SHARED_BROKER(broker);
    QueueSpec q{.name = Name("q"), .exchange = {.name = Name("x")}, .routing_keys = {"#"}};
    std::atomic<int> calls_fail{0}, calls_throw{0}, calls_permanent{0}, good{0};
    Subscription sub{q, [&](const Message& m) -> Result<void> {
                         if (m.body == "fail") {
                             ++calls_fail;
                             return MakeError(ErrorCode::kUnavailable, "db down");
                         }
                         if (m.body == "throw") {
                             ++calls_throw;
                             throw std::runtime_error("boom");
                         }
                         if (m.body == "undecodable") {
                             ++calls_permanent;
                             return MakeError(ErrorCode::kInvalidArgument, "not JSON");
                         }
                         ++good;
                         return {};
                     }};
    ConsumerOptions o;
    o.max_attempts = 3;
    o.initial_backoff = 5ms;
    o.handler_threads = 1;
    auto c = MakeConsumer(broker->connection_options(), {sub}, o);
    c->Start();
    ASSERT_TRUE(Eventually([&] { return c->connected(); })) << c->last_error();
    auto p = MakePublisher(*broker);
    Properties props;
    props.message_id = "m-1";
    props.headers = {{"trace", "abc"}};
    PublishOrFail(*p, q.exchange.name, "k.fail", "fail", props);
    PublishOrFail(*p, q.exchange.name, "k.throw", "throw");
    PublishOrFail(*p, q.exchange.name, "k.perm", "undecodable");
    PublishOrFail(*p, q.exchange.name, "k.good", "good");
    ASSERT_TRUE(Eventually([&] { return c->Stats().queues[0].dead_lettered == 3 && good == 1; }))
        << c->Stats().queues[0].dead_lettered;
    EXPECT_EQ(calls_fail.load(), 3);
    EXPECT_EQ(calls_throw.load(), 3);
    EXPECT_EQ(calls_permanent.load(), 1);  // permanent: not retried
    auto s = c->Stats().queues[0];
    EXPECT_EQ(s.acked, 1u);
    EXPECT_EQ(s.retried, 4u);
    EXPECT_EQ(s.failed, 0u);
    c->Stop();
    EXPECT_EQ(*p->DeclareQueue(q), 0u);

    // The dead-letter queue holds the three, with reasons and the original routing.
    Seen dl;
    auto dc = MakeConsumer(broker->connection_options(), {Sub({.name = q.name + ".dead-letter"}, dl)});
    dc->Start();
    ASSERT_TRUE(Eventually([&] { return dl.size() == 3; })) << dc->last_error();
    std::map<std::string, Message> by_body;
    for (auto& m : dl.Copy()) by_body[m.body] = m;
    const auto& f = by_body.at("fail");
    EXPECT_THAT(*FindString(f.headers(), "x-gale-failure-reason"), HasSubstr("db down"));
    EXPECT_EQ(*Find(f.headers(), "x-gale-attempts"), FieldValue(3));
    EXPECT_EQ(FindString(f.headers(), "x-gale-original-routing-key"), "k.fail");
    EXPECT_EQ(FindString(f.headers(), "x-gale-original-exchange"), q.exchange.name);
    EXPECT_EQ(FindString(f.headers(), "x-gale-queue"), q.name);
    EXPECT_EQ(FindString(f.headers(), "trace"), "abc");
    EXPECT_EQ(f.properties.message_id, "m-1");
    EXPECT_EQ(f.properties.delivery_mode, std::optional<std::uint8_t>(2));
    EXPECT_THAT(*FindString(by_body.at("throw").headers(), "x-gale-failure-reason"), HasSubstr("exception: boom"));
    EXPECT_THAT(*FindString(by_body.at("undecodable").headers(), "x-gale-failure-reason"), HasSubstr("not JSON"));
    EXPECT_EQ(*Find(by_body.at("undecodable").headers(), "x-gale-attempts"), FieldValue(1));
}

TEST(AmqpConsumer, PrefetchBoundsUnacknowledgedDeliveries) {
    GALE_SHARED_BROKER(broker);
    QueueSpec q{.name = Name("q"), .exchange = {.name = Name("x")}, .routing_keys = {"#"}};
    std::mutex mu;
    std::condition_variable cv;
    bool release = false;
    std::atomic<int> now{0}, peak{0}, done{0};
    Subscription sub{q, [&](const Message&) -> Result<void> {
                         const int n = ++now;
                         int p = peak.load();
                         while (n > p && !peak.compare_exchange_weak(p, n)) {
                         }
                         std::unique_lock lock(mu);
                         cv.wait(lock, [&] { return release; });
                         --now;
                         ++done;
                         return {};
                     }};
    ConsumerOptions o;
    o.prefetch = 3;
    o.handler_threads = 8;
    auto c = MakeConsumer(broker->connection_options(), {sub}, o);
    c->Start();
    ASSERT_TRUE(Eventually([&] { return c->connected(); })) << c->last_error();
    auto p = MakePublisher(*broker);
    for (int i = 0; i < 10; ++i) PublishOrFail(*p, q.exchange.name, "k", std::to_string(i));
    ASSERT_TRUE(Eventually([&] { return now.load() == 3; }));
    std::this_thread::sleep_for(300ms);  // give the broker every chance to send a fourth
    EXPECT_EQ(peak.load(), 3);
    EXPECT_EQ(c->Stats().queues[0].delivered, 3u);
    {
        std::lock_guard lock(mu);
        release = true;
    }
    cv.notify_all();
    ASSERT_TRUE(Eventually([&] { return done.load() == 10; }));
    EXPECT_EQ(peak.load(), 3);
    c->Stop();
}

TEST(AmqpConsumer, StopUnderLoadFinishesInFlightAcksThemAndReturnsTheRest) {
    GALE_SHARED_BROKER(broker);
    QueueSpec q{.name = Name("q"), .exchange = {.name = Name("x")}, .routing_keys = {"#"}};
    constexpr int kMessages = 60;
    auto p = MakePublisher(*broker);
    ASSERT_TRUE(p->DeclareQueue(q));
    for (int i = 0; i < kMessages; ++i) PublishOrFail(*p, q.exchange.name, "k", std::to_string(i));

    std::mutex mu;
    std::multiset<std::string> first, started_unfinished;
    Subscription sub{q, [&](const Message& m) -> Result<void> {
                         {
                             std::lock_guard lock(mu);
                             started_unfinished.insert(m.body);
                         }
                         std::this_thread::sleep_for(30ms);
                         std::lock_guard lock(mu);
                         started_unfinished.erase(started_unfinished.find(m.body));
                         first.insert(m.body);
                         return {};
                     }};
    ConsumerOptions o;
    o.prefetch = 10;
    o.handler_threads = 2;
    auto c = MakeConsumer(broker->connection_options(), {sub}, o);
    c->Start();
    ASSERT_TRUE(Eventually([&] {
        std::lock_guard lock(mu);
        return first.size() >= 10;
    }));
    c->StopConsuming();
    EXPECT_TRUE(c->WaitIdle(std::chrono::steady_clock::now() + 5s));
    {
        std::lock_guard lock(mu);
        EXPECT_TRUE(started_unfinished.empty());  // every started handler ran to its end
    }
    c->Stop();
    const auto s = c->Stats().queues[0];
    EXPECT_EQ(s.acked, first.size());
    EXPECT_LT(first.size(), static_cast<std::size_t>(kMessages));

    // The rest went back to the queue, and nothing acknowledged comes again.
    Seen rest;
    auto c2 = MakeConsumer(broker->connection_options(), {Sub(q, rest)});
    c2->Start();
    ASSERT_TRUE(Eventually([&] { return first.size() + rest.size() >= kMessages; }));
    std::this_thread::sleep_for(200ms);
    c2->Stop();
    std::multiset<std::string> all = first;
    for (const auto& m : rest.Copy()) all.insert(m.body);
    EXPECT_EQ(all.size(), static_cast<std::size_t>(kMessages));  // no duplicates
    for (int i = 0; i < kMessages; ++i) EXPECT_EQ(all.count(std::to_string(i)), 1u) << i;
}

TEST(AmqpConsumer, RedeliveryAfterSigkillOfTheConsumerProcess) {
    GALE_SHARED_BROKER(broker);
    QueueSpec q{.name = Name("q")};
    constexpr int kMessages = 100;
    auto p = MakePublisher(*broker);
    ASSERT_TRUE(p->DeclareQueue(q));
    for (int i = 0; i < kMessages; ++i) PublishOrFail(*p, "", q.name, std::to_string(i));
    const std::string out = broker->dir() + "/" + Name("handled.txt");

    std::vector<std::string> argv{GALE_AMQP_TEST_CONSUMER, broker->url(), q.name, out, "10"};
    std::vector<char*> a;
    for (auto& s : argv) a.push_back(s.data());
    a.push_back(nullptr);
    pid_t pid = 0;
    ASSERT_EQ(::posix_spawn(&pid, a[0], nullptr, nullptr, a.data(), environ), 0);
    auto lines = [&] {
        std::ifstream in(out);
        std::vector<std::string> v;
        for (std::string l; std::getline(in, l);) v.push_back(l);
        return v;
    };
    ASSERT_TRUE(Eventually([&] { return lines().size() >= 20; }, 30s));
    ::kill(pid, SIGKILL);
    ::waitpid(pid, nullptr, 0);
    const auto before = lines();
    ASSERT_LT(before.size(), static_cast<std::size_t>(kMessages));

    Seen after;
    auto c = MakeConsumer(broker->connection_options(), {Sub(q, after)});
    c->Start();
    std::set<std::string> handled(before.begin(), before.end());
    ASSERT_TRUE(Eventually([&] {
        std::set<std::string> all = handled;
        for (const auto& m : after.Copy()) all.insert(m.body);
        return all.size() == static_cast<std::size_t>(kMessages);
    })) << "handled before the kill: "
        << before.size() << ", after: " << after.size();
    c->Stop();
    int redelivered = 0;
    for (const auto& m : after.Copy()) redelivered += m.redelivered ? 1 : 0;
    EXPECT_GE(redelivered, 1);  // the unacknowledged deliveries of the killed process came back
    EXPECT_EQ(*p->DeclareQueue(q), 0u);
}

TEST(AmqpConsumer, BrokerRestartDropsConnectedAndConsumptionResumes) {
    GALE_SHARED_BROKER(broker);
    QueueSpec q{.name = Name("q"), .exchange = {.name = Name("x")}, .routing_keys = {"#"}};
    metrics::Registry registry;
    ConsumerMetrics cm(registry);
    Seen seen;
    ConsumerOptions o;
    o.name = "restart";
    o.metrics = &cm;
    auto c = MakeConsumer(broker->connection_options(), {Sub(q, seen)}, o);
    c->Start();
    ASSERT_TRUE(Eventually([&] { return c->connected(); })) << c->last_error();
    EXPECT_EQ(c->outage(), std::chrono::steady_clock::duration::zero());
    auto p = MakePublisher(*broker);
    for (int i = 0; i < 5; ++i) PublishOrFail(*p, q.exchange.name, "k", "before-" + std::to_string(i));
    ASSERT_TRUE(Eventually([&] { return seen.size() == 5; }));

    ASSERT_TRUE(broker->Stop());
    ASSERT_TRUE(Eventually([&] { return !c->connected(); }));
    EXPECT_THAT(registry.Render(), HasSubstr("gale_amqp_connected{consumer=\"restart\"} 0"));
    std::this_thread::sleep_for(200ms);
    EXPECT_GT(c->outage(), 100ms);
    auto restarted = broker->StartAgain();
    ASSERT_TRUE(restarted) << restarted.error().ToString();
    ASSERT_TRUE(Eventually([&] { return c->connected(); }, 30s)) << c->last_error();
    for (int i = 0; i < 5; ++i) PublishOrFail(*p, q.exchange.name, "k", "after-" + std::to_string(i));
    ASSERT_TRUE(Eventually([&] { return seen.size() == 10; }));
    const auto stats = c->Stats();
    EXPECT_EQ(stats.connects, 2u);
    EXPECT_EQ(stats.disconnects, 1u);
    const std::string text = registry.Render();
    EXPECT_THAT(text, HasSubstr("gale_amqp_reconnects_total{consumer=\"restart\"} 1"));
    EXPECT_THAT(text, HasSubstr("gale_amqp_connected{consumer=\"restart\"} 1"));
    EXPECT_THAT(text, HasSubstr("gale_amqp_messages_total{consumer=\"restart\",queue=\"" + q.name +
                                "\",outcome=\"acked\"} 10"));
    EXPECT_THAT(text, HasSubstr("gale_amqp_handler_duration_seconds_count"));
    c->Stop();
}

using LogCapture = log::testing::CapturedLog;

TEST(AmqpConsumer, UnreachableBrokerAtStartRetriesWithAClearLogLine) {
    LogCapture capture;
    ConnectionOptions o;
    o.host = "127.0.0.1";
    o.port = testing::RabbitMqServer::FreePort();
    o.connect_timeout = 1s;
    Seen seen;
    auto c = MakeConsumer(o, {Sub({.name = "never"}, seen)});
    c->Start();
    ASSERT_TRUE(Eventually([&] { return c->Stats().connect_failures >= 3; }));
    EXPECT_FALSE(c->connected());
    EXPECT_GT(c->outage(), 0ms);
    EXPECT_THAT(c->last_error(), HasSubstr("cannot connect to the AMQP broker at 127.0.0.1:" + std::to_string(o.port)));
    c->Stop();
    const std::string text = capture.Text();
    EXPECT_THAT(text, HasSubstr("AMQP consumer cannot reach the broker; retrying"));
    EXPECT_THAT(text, HasSubstr("127.0.0.1:" + std::to_string(o.port)));
}

TEST(AmqpConsumer, WrongCredentialsAreAClearErrorNamingUserAndVhost) {
    GALE_SHARED_BROKER(broker);
    LogCapture capture;
    auto o = broker->connection_options();
    o.password = "not-the-password";
    Seen seen;
    auto c = MakeConsumer(o, {Sub({.name = Name("q")}, seen)});
    c->Start();
    ASSERT_TRUE(Eventually([&] { return c->Stats().connect_failures >= 2; }));
    EXPECT_FALSE(c->connected());
    EXPECT_THAT(c->last_error(), HasSubstr("refused the login of user 'gale' on vhost '/'"));
    EXPECT_THAT(c->last_error(), HasSubstr("ACCESS_REFUSED"));
    c->Stop();
    const std::string text = capture.Text();
    EXPECT_THAT(text, HasSubstr("the broker refuses it"));
    EXPECT_THAT(text, HasSubstr("user 'gale' on vhost '/'"));
    EXPECT_THAT(text, ::testing::Not(HasSubstr("not-the-password")));
}

TEST(AmqpConsumer, HeartbeatsKeepAnIdleConnectionOpen) {
    GALE_SHARED_BROKER(broker);
    auto o = broker->connection_options();
    o.heartbeat = 1s;  // the broker closes a connection that misses two
    Seen seen;
    auto c = MakeConsumer(o, {Sub({.name = Name("q")}, seen)});
    c->Start();
    ASSERT_TRUE(Eventually([&] { return c->connected(); })) << c->last_error();
    std::this_thread::sleep_for(4s);
    EXPECT_TRUE(c->connected());
    EXPECT_EQ(c->Stats().disconnects, 0u) << c->last_error();
    c->Stop();
}

}  // namespace
}  // namespace gale::amqp
