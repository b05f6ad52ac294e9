// SPDX-License-Identifier: MIT
// kombu's fanout emulation (redis_fanout.hpp) and the transport-free presence rules (worker_presence.hpp), against
// what Debian's Celery 5.2.6 / kombu 5.2.4 wrote on redis-server (captured with MONITOR and PSUBSCRIBE '*').
#include "redis_fanout.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "kombu_envelope.hpp"
#include "worker_presence.hpp"

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

TEST(WorkerPresence, RequestsAreForTheirNodes) {
    const std::string node = "gale@h";
    EXPECT_TRUE(tasks::detail::IsForNode(json::parse(R"({"destination": ["gale@h"]})"), node));
    EXPECT_FALSE(tasks::detail::IsForNode(json::parse(R"({"destination": ["other@h"]})"), node));
    EXPECT_TRUE(tasks::detail::IsForNode(json::parse(R"({"destination": null, "pattern": null})"), node));
    EXPECT_TRUE(tasks::detail::IsForNode(json::parse(R"({"pattern": "gale@*", "matcher": "glob"})"), node));
    EXPECT_FALSE(tasks::detail::IsForNode(json::parse(R"({"pattern": "x@*", "matcher": "glob"})"), node));
    EXPECT_TRUE(tasks::detail::IsForNode(json::parse(R"({"pattern": "ga.e", "matcher": "pcre"})"), node));
    EXPECT_FALSE(tasks::detail::IsForNode(json::parse(R"({"pattern": "(", "matcher": "pcre"})"), node));
    EXPECT_FALSE(tasks::detail::IsForNode(json::parse("[1]"), node));
}

TEST(WorkerPresence, ExpiredRequestsAndAnswers) {
    const auto now = std::chrono::system_clock::now();
    const double t = std::chrono::duration<double>(now.time_since_epoch()).count();
    EXPECT_TRUE(tasks::detail::IsExpired({.expires = t - 1}, now));
    EXPECT_FALSE(tasks::detail::IsExpired({.expires = t + 1}, now));
    EXPECT_FALSE(tasks::detail::IsExpired({}, now));
    EXPECT_EQ(tasks::detail::ControlAnswer("ping"), json::parse(R"({"ok": "pong"})"));
    EXPECT_EQ(tasks::detail::ControlAnswer("stats")["error"],
              "gale does not implement the remote control command 'stats'");
    EXPECT_FALSE(tasks::detail::ReplyAddress(json::parse(R"({"method": "shutdown"})")));
    auto to = tasks::detail::ReplyAddress(
        json::parse(R"({"reply_to": {"exchange": "reply.celery.pidbox", "routing_key": "abc"}})"));
    ASSERT_TRUE(to);
    EXPECT_EQ(to->exchange, "reply.celery.pidbox");
    EXPECT_EQ(to->routing_key, "abc");
}

TEST(WorkerPresence, EventsHaveCelerysFieldsInCelerysOrder) {
    const json e = tasks::detail::WorkerEvent(
        "worker-heartbeat",
        {.nodename = "gale@h", .clock = 4, .freq = std::chrono::milliseconds(2000), .active = 1, .processed = 2});
    std::vector<std::string> keys;
    for (const auto& [k, v] : e.items()) keys.push_back(k);
    EXPECT_THAT(keys, ::testing::ElementsAre("hostname", "utcoffset", "pid", "clock", "freq", "active", "processed",
                                             "loadavg", "sw_ident", "sw_ver", "sw_sys", "timestamp", "type"));
    EXPECT_EQ(e["freq"], 2.0);
    EXPECT_EQ(e["sw_ident"], "gale");
    EXPECT_EQ(e["type"], "worker-heartbeat");
}

}  // namespace
}  // namespace gale::tasks::redis::detail
