// SPDX-License-Identifier: MIT
// The AMQP broker and the RPC backend against a real RabbitMQ (label rabbitmq): the frames gale sends for
// add.delay(2, 3) against the ones Celery 5.2.6 sent (celery.md, appendix), consumption with prefetch, ack,
// reject, SetPrefetch, unsettled deliveries returning at close, priorities with x-max-priority, expiration,
// QueueLength, RPC results, and a broker restart during consumption.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <gale/amqp/channel.hpp>
#include <gale/config/settings.hpp>
#include <gale/tasks/amqp.hpp>
#include <gale/tasks/settings.hpp>

#include "amqp_test_util.hpp"

namespace gale::tasks::amqp {
namespace {

using test::Eventually;
using test::Name;
using ::testing::HasSubstr;

std::string Hex(std::string_view bytes) {
    static const char* k = "0123456789abcdef";
    std::string out;
    for (unsigned char c : bytes) {
        out += k[c >> 4];
        out += k[c & 15];
    }
    return out;
}

struct Frame {
    int type = 0;
    int channel = 0;
    std::string payload;
};

/// The frames of a client→server AMQP stream (after the protocol header).
std::vector<Frame> Frames(const std::string& stream) {
    std::vector<Frame> out;
    std::size_t i = 8;
    while (i + 7 <= stream.size()) {
        const auto u8 = [&](std::size_t at) { return static_cast<unsigned char>(stream[at]); };
        Frame f;
        f.type = u8(i);
        f.channel = (u8(i + 1) << 8) | u8(i + 2);
        const std::size_t size =
            (static_cast<std::size_t>(u8(i + 3)) << 24) | (u8(i + 4) << 16) | (u8(i + 5) << 8) | u8(i + 6);
        if (i + 7 + size + 1 > stream.size()) break;
        f.payload = stream.substr(i + 7, size);
        out.push_back(std::move(f));
        i += 7 + size + 1;
    }
    return out;
}

/// Celery 5.2.6's add.delay(2, 3), as captured (celery.md appendix).
TaskRequest CapturedAdd() {
    TaskRequest r;
    r.id = "caf2166b-fe60-435a-ac84-fec9985fa24c";
    r.task = "tasks.add";
    r.args = {2, 3};
    r.root_id = r.id;
    r.origin = "gen27472@vm";
    r.reply_to = "bc0925cc-7bfb-3598-9d36-b91ea0592cea";
    return r;
}

TEST(AmqpBroker, FramesAreCeleryS) {
    GALE_TASKS_SHARED_BROKER(broker);
    test::RecordingProxy proxy(broker->port());
    auto options = broker->connection_options();
    options.port = proxy.port();
    // The captured declarations are of a fresh queue "celery".
    {
        auto admin = gale::amqp::Channel::Open(broker->connection_options());
        ASSERT_TRUE(admin);
        (void)(*admin)->DeleteQueue("celery");
    }
    auto b = MakeBroker(options, {.channels = 1});
    ASSERT_TRUE(b->Publish(Route{}, EncodeTask(CapturedAdd())));
    const std::vector<Frame> frames = Frames(proxy.sent());
    std::vector<std::string> methods;
    std::string header, body;
    for (const auto& f : frames) {
        if (f.type == 1 && f.channel == 1) methods.push_back(Hex(f.payload));
        if (f.type == 2) header = Hex(f.payload);
        if (f.type == 3) body = f.payload;
    }
    // Exchange.Declare celery direct durable; Queue.Declare celery durable; Queue.Bind celery<-celery rk celery.
    EXPECT_THAT(methods, ::testing::Contains("0028000a00000663656c657279066469726563740200000000"));
    EXPECT_THAT(methods, ::testing::Contains("0032000a00000663656c6572790200000000"));
    EXPECT_THAT(methods, ::testing::Contains("0032001400000663656c6572790663656c6572790663656c6572790000000000"));
    // Basic.Publish exchange "" routing key "celery": Celery's bytes but for the last, mandatory=1 (gale's choice:
    // an unroutable task is an error, not a silent drop).
    EXPECT_THAT(methods, ::testing::Contains("003c00280000000663656c65727901"));
    // The content header — properties and the 284-byte headers table — byte for byte Celery's.
    EXPECT_EQ(header,
              "003c00000000000000000051fe00106170706c69636174696f6e2f6a736f6e057574662d380000011c046c616e67530000000270"
              "79047461736b53000000097461736b732e616464026964530000002463616632313636622d666536302d343335612d616338342d"
              "66656339393835666132346306736861646f775603657461560765787069726573560567726f7570560b67726f75705f696e6465"
              "7856077265747269657349000000000974696d656c696d69744100000002565607726f6f745f6964530000002463616632313636"
              "622d666536302d343335612d616338342d66656339393835666132346309706172656e745f696456086172677372657072530000"
              "000628322c2033290a6b77617267737265707253000000027b7d066f726967696e530000000b67656e323734373240766d0d6967"
              "6e6f72655f726573756c74740002002463616632313636622d666536302d343335612d616338342d666563393938356661323463"
              "2462633039323563632d376266622d333539382d396433362d623931656130353932636561");
    EXPECT_EQ(body, R"([[2, 3], {}, {"callbacks": null, "errbacks": null, "chain": null, "chord": null}])");
}

TEST(AmqpBroker, ConsumePrefetchAckRejectAndClose) {
    GALE_TASKS_SHARED_BROKER(broker);
    auto b = MakeBroker(broker->connection_options());
    const Route route{.queue = Name("q")};
    ASSERT_TRUE(b->Declare({route}));
    for (int i = 0; i < 3; ++i) {
        TaskRequest r;
        r.id = NewTaskId();
        r.task = "t" + std::to_string(i);
        ASSERT_TRUE(b->Publish(route, EncodeTask(r)));
    }
    auto length = b->QueueLength(route.queue);
    ASSERT_TRUE(length) << length.error().ToString();
    EXPECT_EQ(*length, 3u);
    auto c = b->Consume({route.queue}, 2);
    ASSERT_TRUE(c) << c.error().ToString();
    auto d1 = (*c)->Next(std::chrono::seconds(5));
    auto d2 = (*c)->Next(std::chrono::seconds(5));
    ASSERT_TRUE(d1 && *d1 && d2 && *d2);
    auto t1 = DecodeTask((*d1)->message);
    ASSERT_TRUE(t1) << t1.error().ToString();
    EXPECT_EQ(t1->task, "t0");
    EXPECT_EQ((*d1)->queue, route.queue);
    EXPECT_EQ((*d1)->routing_key, route.queue);
    EXPECT_EQ((*d1)->exchange, "");
    EXPECT_FALSE((*d1)->redelivered);
    EXPECT_EQ((*d1)->delivery_count, 0u);                    // a classic queue does not count
    auto none = (*c)->Next(std::chrono::milliseconds(300));  // prefetch 2
    ASSERT_TRUE(none);
    EXPECT_FALSE(*none);
    ASSERT_TRUE((*c)->SetPrefetch(3));
    auto d3 = (*c)->Next(std::chrono::seconds(5));
    ASSERT_TRUE(d3 && *d3);
    ASSERT_TRUE((*c)->Ack(**d2));
    ASSERT_TRUE((*c)->Reject(**d3, /*requeue=*/false));  // dropped
    ASSERT_TRUE((*c)->Reject(**d1, /*requeue=*/true));
    auto again = (*c)->Next(std::chrono::seconds(5));
    ASSERT_TRUE(again && *again);
    EXPECT_TRUE((*again)->redelivered);
    EXPECT_EQ(DecodeTask((*again)->message)->task, "t0");
    (*c)->Cancel();
    (*c)->Close();  // t0 unsettled: back to the queue
    EXPECT_TRUE(Eventually([&] {
        auto n = b->QueueLength(route.queue);
        return n && *n == 1;
    }));
    EXPECT_TRUE(b->connected());
    auto bad = (*c)->Next(std::chrono::milliseconds(1));
    ASSERT_FALSE(bad);
    EXPECT_EQ(bad.error().code(), ErrorCode::kUnavailable);
}

TEST(AmqpBroker, PrioritiesWithMaxPriorityExpirationAndUnroutable) {
    GALE_TASKS_SHARED_BROKER(broker);
    auto b = MakeBroker(broker->connection_options(), {.max_priority = 10});
    const Route route{.queue = Name("q")};
    for (int priority : {1, 9, 5}) {
        TaskRequest r;
        r.id = NewTaskId();
        r.task = "p" + std::to_string(priority);
        r.priority = priority;
        ASSERT_TRUE(b->Publish(route, EncodeTask(r)));
    }
    auto c = b->Consume({route.queue}, 10);
    ASSERT_TRUE(c) << c.error().ToString();
    std::vector<std::string> order;
    for (int i = 0; i < 3; ++i) {
        auto d = (*c)->Next(std::chrono::seconds(5));
        ASSERT_TRUE(d && *d);
        order.push_back(DecodeTask((*d)->message)->task);
        EXPECT_EQ((*d)->message.priority, std::stoi(order.back().substr(1)));
        ASSERT_TRUE((*c)->Ack(**d));
    }
    EXPECT_THAT(order, ::testing::ElementsAre("p9", "p5", "p1"));

    // A queue of the same name declared without x-max-priority is refused, naming the argument.
    auto plain = MakeBroker(broker->connection_options());
    auto refused = plain->Declare({route});
    ASSERT_FALSE(refused);
    EXPECT_EQ(refused.error().code(), ErrorCode::kInvalidArgument);
    EXPECT_THAT(refused.error().message(), HasSubstr("x-max-priority"));

    // expiration: RabbitMQ drops it once it has waited that long.
    const Route expiring{.queue = Name("expiring")};
    TransportMessage m = EncodeTask(TaskRequest{.id = NewTaskId(), .task = "late"});
    m.expiration = std::chrono::milliseconds(100);
    ASSERT_TRUE(plain->Publish(expiring, m));
    EXPECT_TRUE(Eventually([&] {
        auto n = plain->QueueLength(expiring.queue);
        return n && *n == 0;
    }));

    // A route whose queue went away after it was declared: mandatory + confirms make it an error, not a message
    // RabbitMQ drops unseen (Celery publishes without mandatory).
    const Route gone{.queue = Name("gone")};
    ASSERT_TRUE(plain->Publish(gone, m));
    {
        auto admin = gale::amqp::Channel::Open(broker->connection_options());
        ASSERT_TRUE(admin);
        ASSERT_TRUE((*admin)->DeleteQueue(gone.queue));
    }
    auto unroutable = plain->Publish(gone, m);
    ASSERT_FALSE(unroutable);
    EXPECT_EQ(unroutable.error().code(), ErrorCode::kNotFound);
    EXPECT_THAT(unroutable.error().message(), HasSubstr("unroutable"));
    ASSERT_TRUE(plain->Declare({gone}));  // declared again, routable again
    EXPECT_TRUE(plain->Publish(gone, m));
    auto missing = plain->QueueLength(Name("never-declared"));
    ASSERT_TRUE(missing);
    EXPECT_EQ(*missing, 0u);
}

TEST(AmqpRpcBackend, StoreWaitGetAndTimeout) {
    GALE_TASKS_SHARED_BROKER(broker);
    auto b = MakeBroker(broker->connection_options());
    auto client = MakeRpcBackend(*b);
    ASSERT_TRUE(client) << client.error().ToString();
    auto worker = MakeRpcBackend(broker->connection_options());
    ASSERT_TRUE(worker);
    TaskRequest r;
    r.id = NewTaskId();
    r.task = "tasks.add";
    ASSERT_TRUE((*client)->Prepare(r));
    EXPECT_FALSE(r.reply_to.empty());
    auto pending = (*client)->Get(r.id);
    ASSERT_TRUE(pending);
    EXPECT_EQ(pending->state, TaskState::kPending);

    TaskResult started;
    started.state = TaskState::kStarted;
    ASSERT_TRUE((*worker)->Store(r, started));
    TaskResult done;
    done.state = TaskState::kSuccess;
    done.result = 5;
    ASSERT_TRUE((*worker)->Store(r, done));
    auto got = (*client)->Wait(r.id, std::chrono::seconds(10));
    ASSERT_TRUE(got) << got.error().ToString();
    EXPECT_EQ(got->state, TaskState::kSuccess);
    EXPECT_EQ(got->result, 5);
    EXPECT_EQ(got->task_id, r.id);
    auto again = (*client)->Get(r.id);
    ASSERT_TRUE(again);
    EXPECT_EQ(again->state, TaskState::kSuccess);

    TaskRequest failing = r;
    failing.id = NewTaskId();
    TaskResult failure;
    failure.state = TaskState::kFailure;
    failure.result = TaskResult::Failure("ValueError", "bad");
    failure.traceback = "Traceback (most recent call last): ...";
    ASSERT_TRUE((*worker)->Store(failing, failure));
    auto failed = (*client)->Wait(failing.id, std::chrono::seconds(10));
    ASSERT_TRUE(failed);
    EXPECT_EQ(failed->state, TaskState::kFailure);
    EXPECT_EQ(failed->result["exc_type"], "ValueError");
    EXPECT_EQ(failed->traceback, failure.traceback);

    auto timeout = (*client)->Wait(NewTaskId(), std::chrono::milliseconds(200));
    ASSERT_FALSE(timeout);
    EXPECT_EQ(timeout.error().code(), ErrorCode::kTimeout);

    // Without reply_to nothing is sent (and nothing fails).
    TaskRequest fire_and_forget;
    fire_and_forget.id = NewTaskId();
    EXPECT_TRUE((*worker)->Store(fire_and_forget, done));
}

class NotAmqp final : public Broker {
public:
    std::string_view name() const noexcept override { return "embedded"; }
    std::string Describe() const override { return "sqlite:///x.db"; }
    Result<void> Declare(const std::vector<Route>&) override { return {}; }
    Result<void> Publish(const Route&, const TransportMessage&) override { return {}; }
    Result<std::unique_ptr<BrokerConsumer>> Consume(const std::vector<std::string>&, std::size_t) override {
        return MakeError(ErrorCode::kInternal, "no");
    }
    Result<std::uint64_t> QueueLength(const std::string&) override { return 0; }
};

TEST(AmqpRpcBackend, NeedsAnAmqpBroker) {
    NotAmqp other;
    auto r = MakeRpcBackend(other);
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().code(), ErrorCode::kInvalidArgument);
    EXPECT_THAT(r.error().message(), HasSubstr("needs an AMQP broker"));
    auto url = MakeBroker("redis://localhost", {}, "CELERY_BROKER_URL");
    ASSERT_FALSE(url);
    EXPECT_THAT(url.error().message(), HasSubstr("CELERY_BROKER_URL"));
    EXPECT_FALSE(MakeBroker("amqp://localhost", {.max_priority = 0}));
}

TEST(AmqpInstall, SettingsBuildTheBrokerAndTheRpcBackend) {
    GALE_TASKS_SHARED_BROKER(broker);
    Install();
    config::Settings s;
    s.Set("CELERY_BROKER_URL", broker->url(), config::Layer::kEnvironment);
    s.Set("CELERY_RESULT_BACKEND", "rpc://", config::Layer::kEnvironment);
    auto settings = TasksSettingsFromSettings(s);
    ASSERT_TRUE(settings) << settings.error().ToString();
    auto b = tasks::MakeBroker(*settings, {.service_name = "hello"});
    ASSERT_TRUE(b) << b.error().ToString();
    EXPECT_EQ((*b)->name(), "amqp");
    EXPECT_THAT((*b)->Describe(), HasSubstr("127.0.0.1"));
    EXPECT_THAT((*b)->Describe(), ::testing::Not(HasSubstr(broker->connection_options().password)));
    auto backend = tasks::MakeResultBackend(*settings, {.result_expires = std::chrono::seconds(60)}, **b);
    ASSERT_TRUE(backend) << backend.error().ToString();
    ASSERT_NE(*backend, nullptr);
    EXPECT_EQ((*backend)->name(), "rpc");
    // The pair works: a result stored for a request Prepared by this backend is read back.
    TaskRequest r{.id = NewTaskId(), .task = "t"};
    ASSERT_TRUE((*backend)->Prepare(r));
    TaskResult done;
    done.state = TaskState::kSuccess;
    done.result = "ok";
    ASSERT_TRUE((*backend)->Store(r, done));
    auto got = (*backend)->Wait(r.id, std::chrono::seconds(10));
    ASSERT_TRUE(got) << got.error().ToString();
    EXPECT_EQ(got->result, "ok");
    // base-python's RABBITMQ_* name the same broker.
    config::Settings rabbit;
    rabbit.Set("RABBITMQ_HOST", "127.0.0.1", config::Layer::kEnvironment);
    rabbit.Set("RABBITMQ_PORT", std::to_string(broker->port()), config::Layer::kEnvironment);
    rabbit.Set("RABBITMQ_USERNAME", broker->connection_options().username, config::Layer::kEnvironment);
    rabbit.Set("RABBITMQ_PASSWORD", broker->connection_options().password, config::Layer::kEnvironment);
    auto from_rabbit = TasksSettingsFromSettings(rabbit);
    ASSERT_TRUE(from_rabbit) << from_rabbit.error().ToString();
    auto b2 = tasks::MakeBroker(*from_rabbit, {});
    ASSERT_TRUE(b2) << b2.error().ToString();
    EXPECT_TRUE((*b2)->Publish(Route{.queue = Name("q")}, EncodeTask(TaskRequest{.id = NewTaskId(), .task = "x"})));
}

// Its own suite, registered last so that it runs last: it restarts the shared broker.
TEST(AmqpBrokerRestart, ConsumerFailsThenANewOneConsumesAgain) {
    GALE_TASKS_SHARED_BROKER(broker);
    auto b = MakeBroker(broker->connection_options());
    const Route route{.queue = Name("q")};
    ASSERT_TRUE(b->Publish(route, EncodeTask(TaskRequest{.id = NewTaskId(), .task = "before"})));
    auto c = b->Consume({route.queue}, 4);
    ASSERT_TRUE(c);
    auto d = (*c)->Next(std::chrono::seconds(5));
    ASSERT_TRUE(d && *d);  // unsettled when the broker goes
    ASSERT_TRUE(broker->Stop());
    Result<std::optional<Delivery>> lost = std::optional<Delivery>();
    ASSERT_TRUE(Eventually(
        [&] {
            lost = (*c)->Next(std::chrono::milliseconds(100));
            return !lost;
        },
        std::chrono::seconds(10)));
    EXPECT_EQ(lost.error().code(), ErrorCode::kUnavailable);
    auto down = b->Publish(route, EncodeTask(TaskRequest{.id = NewTaskId(), .task = "during"}));
    ASSERT_FALSE(down);
    EXPECT_EQ(down.error().code(), ErrorCode::kUnavailable);
    EXPECT_FALSE(b->connected());
    ASSERT_TRUE(broker->StartAgain());
    (*c)->Close();
    ASSERT_TRUE(b->Publish(route, EncodeTask(TaskRequest{.id = NewTaskId(), .task = "after"})));
    EXPECT_TRUE(b->connected());
    auto c2 = b->Consume({route.queue}, 4);
    ASSERT_TRUE(c2) << c2.error().ToString();
    std::vector<std::string> got;
    for (int i = 0; i < 2; ++i) {
        auto n = (*c2)->Next(std::chrono::seconds(10));
        ASSERT_TRUE(n && *n);
        got.push_back(DecodeTask((*n)->message)->task);
        ASSERT_TRUE((*c2)->Ack(**n));
    }
    // The unsettled "before" survived the restart (durable queue, persistent message) and came back.
    EXPECT_THAT(got, ::testing::UnorderedElementsAre("before", "after"));
}

}  // namespace
}  // namespace gale::tasks::amqp
