// SPDX-License-Identifier: MIT
// kombu's fanout emulation (redis_fanout.hpp), against what Debian's Celery 5.2.6 / kombu 5.2.4 wrote on
// redis-server (captured with MONITOR and PSUBSCRIBE '*'). The transport-free presence rules are tested in
// gale-tasks-unittest (worker_presence_test.cpp).
#include "redis_fanout.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "kombu_envelope.hpp"

namespace gale::tasks::redis::detail {
namespace {

using json = nlohmann::ordered_json;

TEST(RedisFanout, ChannelsAreKombus) {
    EXPECT_EQ(FanoutChannel(0, "celeryev", "worker.heartbeat"), "/0.celeryev/worker.heartbeat");
    EXPECT_EQ(FanoutChannel(0, "celery.pidbox", ""), "/0.celery.pidbox");
    EXPECT_EQ(FanoutChannel(3, "celeryev", "worker.online"), "/3.celeryev/worker.online");
    EXPECT_EQ(FanoutChannel(3, "celeryev", "worker.online", {.prefix = false}), "celeryev/worker.online");
    EXPECT_EQ(FanoutChannel(0, "celeryev", "worker.online", {.patterns = false}), "/0.celeryev");
    EXPECT_EQ(FanoutChannel(0, "celeryev", "worker.online", {.prefix = false, .patterns = false}), "celeryev");
}

TEST(RedisFanout, ThePongEnvelopeIsCelerysButForTheTag) {
    // Celery 5.2.6's reply to `inspect ping`, LPUSHed to "<uuid>.reply.celery.pidbox".
    const std::string celery =
        R"({"body": "eyJ3MUAxMjcuMC4wLjEiOiB7Im9rIjogInBvbmcifX0=", "content-encoding": "utf-8", )"
        R"("content-type": "application/json", "headers": {"ticket": "4b588f47-4047-425d-b023-3f93b21236de", )"
        R"("clock": 3}, "properties": {"delivery_mode": 1, "delivery_info": {"exchange": "reply.celery.pidbox", )"
        R"("routing_key": "098535ed-5ddd-3454-ad8e-353c8c46c6e2"}, "priority": 0, "body_encoding": "base64", )"
        R"("delivery_tag": "6fb762d1-5c39-4a08-acdd-f9634aadba16"}})";
    json headers = json::object();
    headers["ticket"] = "4b588f47-4047-425d-b023-3f93b21236de";
    headers["clock"] = 3;
    std::string gale = PresenceEnvelope(R"({"w1@127.0.0.1": {"ok": "pong"}})", headers, "reply.celery.pidbox",
                                        "098535ed-5ddd-3454-ad8e-353c8c46c6e2", 1);
    const auto tag = gale.find(R"("delivery_tag": ")");
    ASSERT_NE(tag, std::string::npos);
    EXPECT_EQ(gale.size(), celery.size());
    EXPECT_EQ(gale.substr(0, tag), celery.substr(0, tag));
    EXPECT_EQ(gale.substr(tag + 17 + 36), celery.substr(tag + 17 + 36));  // a fresh uuid4 in between
    // kombu reads it back as any envelope.
    const Envelope read = ReadEnvelope(gale);
    ASSERT_TRUE(read.valid) << read.problem;
    EXPECT_EQ(read.message.body, R"({"w1@127.0.0.1": {"ok": "pong"}})");
    EXPECT_EQ(read.routing_key, "098535ed-5ddd-3454-ad8e-353c8c46c6e2");
}

}  // namespace
}  // namespace gale::tasks::redis::detail
