// SPDX-License-Identifier: MIT
#include <chrono>
#include <cmath>
#include <string>

#include <gtest/gtest.h>

#include <gale/pipe/producer.hpp>
#include <gale/pipe/testing/memory_backend.hpp>

namespace gale::pipe {
namespace {

using testing::MemoryBackend;
using namespace std::chrono_literals;

struct UsState {
    std::string code;
    std::string name;
};
GALE_PIPE_DEFINE_MESSAGE(UsState, code, name)

struct Reading {
    std::string sensor;
    double value = 0;
};
GALE_PIPE_DEFINE_MESSAGE(Reading, sensor, value)

const TypedSerializer<UsState> kStates("us-state", 1, "code");
constexpr char kTopic[] = "us-states";

TEST(Producer, SendsTheGoldenJsonWithKey) {
    MemoryBackend backend;
    Producer producer(kTopic, backend);
    auto md = producer.Send(kStates, {"NY", "New York"});
    ASSERT_TRUE(md) << md.error().ToString();
    EXPECT_EQ(md->topic, kTopic);
    EXPECT_EQ(md->partition, "0");
    EXPECT_EQ(md->offset, "0");
    const auto records = backend.records();
    ASSERT_EQ(records.size(), 1u);
    EXPECT_EQ(records[0].topic, kTopic);
    EXPECT_EQ(records[0].key, "NY");
    EXPECT_EQ(records[0].value, R"(json:{"type":"us-state","version":1,"message":{"code":"NY","name":"New York"}})");
    EXPECT_EQ(producer.Send(kStates, {"PA", "Pennsylvania"})->offset, "1");
}

TEST(TypedProducer, BindsTheSerializer) {
    MemoryBackend backend;
    TypedProducer<UsState> producer(kTopic, kStates, backend);
    auto md = producer.Send({"NY", "New York"});
    ASSERT_TRUE(md) << md.error().ToString();
    const auto records = backend.records();
    ASSERT_EQ(records.size(), 1u);
    EXPECT_EQ(records[0].key, "NY");
    EXPECT_EQ(records[0].value, R"(json:{"type":"us-state","version":1,"message":{"code":"NY","name":"New York"}})");
    EXPECT_EQ(producer.producer().topic(), kTopic);
    EXPECT_EQ(producer.serializer().type(), "us-state");
}

TEST(Producer, ProducerIdAndMsgpack) {
    MemoryBackend backend;
    Producer producer(kTopic, backend, Format::kMsgpack, "svc-a");
    ASSERT_TRUE(producer.Send(kStates, {"NY", "New York"}));
    const std::string expected =
        "msgpack:\x84\xa4type\xa8us-state\xa7version\x01\xa7message\x82\xa4"
        "code\xa2NY\xa4name\xa8New York"
        "\xa8producer\xa5svc-a";
    EXPECT_EQ(backend.records().at(0).value, expected);
    EXPECT_EQ(backend.records().at(0).key, "NY");
}

TEST(Producer, NoKeyFieldSendsEmptyKey) {
    MemoryBackend backend;
    Producer producer(kTopic, backend);
    ASSERT_TRUE(producer.Send(TypedSerializer<UsState>("us-state", 1), {"NY", "New York"}));
    EXPECT_EQ(backend.records().at(0).key, "");
}

TEST(Producer, Errors) {
    MemoryBackend backend;
    Producer producer(kTopic, backend);
    // Missing key field.
    auto missing = producer.Send(TypedSerializer<UsState>("us-state", 1, "uuid"), {"NY", "New York"});
    ASSERT_FALSE(missing);
    EXPECT_EQ(missing.error().code(), ErrorCode::kNotFound);
    // NaN cannot be JSON.
    auto nan = producer.Send(TypedSerializer<Reading>("reading", 1, "sensor"), {"s1", std::nan("")});
    ASSERT_FALSE(nan);
    EXPECT_EQ(nan.error().code(), ErrorCode::kInvalidArgument);
    // The backend's error is returned as is.
    backend.FailNextSend(Error(ErrorCode::kTimeout, "broker timed out"));
    auto timeout = producer.Send(kStates, {"NY", "New York"});
    ASSERT_FALSE(timeout);
    EXPECT_EQ(timeout.error().code(), ErrorCode::kTimeout);
    EXPECT_TRUE(backend.records().empty());
    EXPECT_TRUE(producer.Send(kStates, {"NY", "New York"}));  // the injected failure was for one send
}

TEST(Producer, UntypedSendMessage) {
    MemoryBackend backend;
    Producer producer(kTopic, backend);
    ASSERT_TRUE(producer.SendMessage("counter", 3, "n", Value({{"n", 7}, {"f", 1e16}})));
    EXPECT_EQ(backend.records().at(0).key, "7");
    EXPECT_EQ(backend.records().at(0).value, R"(json:{"type":"counter","version":3,"message":{"n":7,"f":1e+16}})");
}

TEST(MemoryBackend, PollCommitRestartLag) {
    MemoryBackend backend(kTopic);
    Producer producer(kTopic, backend);
    Producer other("other-topic", backend);
    ASSERT_TRUE(producer.Send(kStates, {"NY", "New York"}));
    ASSERT_TRUE(other.Send(kStates, {"CA", "California"}));
    ASSERT_TRUE(producer.Send(kStates, {"PA", "Pennsylvania"}));
    EXPECT_EQ(backend.Lag(), 2);

    auto first = backend.Poll(100ms);
    ASSERT_TRUE(first && *first);
    EXPECT_EQ((*first)->key, "NY");
    EXPECT_EQ((*first)->offset, "0");
    ASSERT_TRUE(backend.Commit(**first));
    EXPECT_EQ(backend.Lag(), 1);

    auto second = backend.Poll(100ms);  // skips the other topic
    ASSERT_TRUE(second && *second);
    EXPECT_EQ((*second)->key, "PA");
    EXPECT_EQ((*second)->offset, "1");
    auto none = backend.Poll(100ms);
    ASSERT_TRUE(none);
    EXPECT_FALSE(*none);

    // Not committed: a restart re-reads PA.
    backend.RestartForTest();
    auto again = backend.Poll(100ms);
    ASSERT_TRUE(again && *again);
    EXPECT_EQ((*again)->key, "PA");
    ASSERT_TRUE(backend.Commit(**again));
    EXPECT_EQ(backend.Lag(), 0);
    EXPECT_EQ(backend.commits().size(), 2u);

    // Committing a record never polled is an error; injected failures fire once.
    Record unknown;
    unknown.topic = kTopic;
    unknown.offset = "99";
    EXPECT_FALSE(backend.Commit(unknown));
    backend.FailNextPoll(Error(ErrorCode::kUnavailable, "down"));
    EXPECT_FALSE(backend.Poll(0ms));
    EXPECT_TRUE(backend.Poll(0ms));
    backend.Append(kTopic, "k", "garbage");
    backend.SetTimestampMs(1234);
    backend.Append(kTopic, "k", "json:{}");
    EXPECT_EQ(backend.records().back().timestamp_ms, 1234);
    auto raw = backend.Poll(0ms);
    ASSERT_TRUE(raw && *raw);
    EXPECT_EQ((*raw)->value, "garbage");
    backend.FailNextCommit(Error(ErrorCode::kIo, "disk"));
    EXPECT_FALSE(backend.Commit(**raw));
    EXPECT_TRUE(backend.Commit(**raw));
}

}  // namespace
}  // namespace gale::pipe
