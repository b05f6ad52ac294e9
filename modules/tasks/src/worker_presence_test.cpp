// SPDX-License-Identifier: MIT
// The broker-independent rules of Celery's worker presence (gale/tasks/worker_presence.hpp), which the AMQP and the
// Redis adapters both use: node names as Celery's worker makes them (checked against Debian's Celery 5.2.6
// host_format(default_nodename(…))), the events' body and bytes, which requests a node answers and how, the clock.
#include <unistd.h>

#include <atomic>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <gale/base/version.hpp>
#include <gale/tasks/worker_presence.hpp>

namespace gale::tasks {
namespace {

using json = nlohmann::ordered_json;
using ::testing::HasSubstr;

std::string Host() {
    char host[256] = {};
    EXPECT_EQ(::gethostname(host, sizeof host - 1), 0);
    return host;
}

std::string Named(std::string_view name) {
    auto n = WorkerNodeName(name);
    EXPECT_TRUE(n) << name << ": " << n.error().ToString();
    return n ? *n : std::string();
}

TEST(WorkerNodeName, IsCelerysDefaultNodenameThenHostFormat) {
    const std::string host = Host();
    const std::string first_label = host.substr(0, host.find('.'));
    EXPECT_EQ(DefaultNodeName(), "celery@" + host);
    EXPECT_EQ(Named(""), DefaultNodeName());
    EXPECT_EQ(Named("w1@%h"), "w1@" + host);
    EXPECT_EQ(Named("%h"), "celery@" + host);  // no '@': the value is the host
    EXPECT_EQ(Named("w1.example"), "celery@w1.example");
    EXPECT_EQ(Named("w1@"), "w1@" + host);
    EXPECT_EQ(Named("@x"), "celery@x");
    EXPECT_EQ(Named("w%i@%n"), "w0@" + first_label);  // no pool process: index 0
    EXPECT_EQ(Named("w%I@h"), "w@h");
    EXPECT_EQ(Named("a@b@c"), "a@b@c");          // split at the first '@'
    EXPECT_EQ(Named("50%-off@h"), "50%-off@h");  // '%' before a non-word character stays
    EXPECT_EQ(Named("w1@%"), "w1@%");
    const auto dot = host.find('.');
    EXPECT_EQ(Named("w1@%d"), "w1@" + (dot == std::string::npos ? std::string() : host.substr(dot + 1)));
}

TEST(WorkerNodeName, UnknownFormatsAreErrorsNamingTheOption) {
    auto bad = WorkerNodeName("w1@%x", "--hostname");
    ASSERT_FALSE(bad);
    EXPECT_EQ(bad.error().code(), ErrorCode::kInvalidArgument);
    EXPECT_THAT(bad.error().message(), HasSubstr("--hostname"));
    EXPECT_THAT(bad.error().message(), HasSubstr("%x"));
    EXPECT_FALSE(WorkerNodeName("x%%y@h"));  // Celery reads "%y" there too
    EXPECT_FALSE(WorkerNodeName("w%1@h"));
}

}  // namespace
}  // namespace gale::tasks

namespace gale::tasks::detail {
namespace {

using json = nlohmann::ordered_json;
using ::testing::HasSubstr;

TEST(WorkerPresence, RequestsAreForTheirNodes) {
    const std::string node = "gale@h";
    EXPECT_TRUE(IsForNode(json::parse(R"({"destination": ["gale@h"]})"), node));
    EXPECT_FALSE(IsForNode(json::parse(R"({"destination": ["other@h"]})"), node));
    EXPECT_TRUE(IsForNode(json::parse(R"({"destination": null, "pattern": null})"), node));
    EXPECT_TRUE(IsForNode(json::parse(R"({"pattern": "gale@*", "matcher": "glob"})"), node));
    EXPECT_FALSE(IsForNode(json::parse(R"({"pattern": "x@*", "matcher": "glob"})"), node));
    EXPECT_TRUE(IsForNode(json::parse(R"({"pattern": "ga.e", "matcher": "pcre"})"), node));
    EXPECT_FALSE(IsForNode(json::parse(R"({"pattern": "(", "matcher": "pcre"})"), node));
    EXPECT_FALSE(IsForNode(json::parse("[1]"), node));
}

TEST(WorkerPresence, ExpiredRequestsAndAnswers) {
    const auto now = std::chrono::system_clock::now();
    const double t = std::chrono::duration<double>(now.time_since_epoch()).count();
    EXPECT_TRUE(IsExpired(t - 1, now));
    EXPECT_FALSE(IsExpired(t + 1, now));
    EXPECT_FALSE(IsExpired(std::nullopt, now));
    EXPECT_FALSE(IsExpired(0.0, now));
    EXPECT_EQ(ControlAnswer("ping"), json::parse(R"({"ok": "pong"})"));
    EXPECT_EQ(ControlAnswer("stats")["error"], "gale does not implement the remote control command 'stats'");
    EXPECT_FALSE(ReplyAddress(json::parse(R"({"method": "shutdown"})")));
    auto to = ReplyAddress(json::parse(R"({"reply_to": {"exchange": "reply.celery.pidbox", "routing_key": "abc"}})"));
    ASSERT_TRUE(to);
    EXPECT_EQ(to->exchange, "reply.celery.pidbox");
    EXPECT_EQ(to->routing_key, "abc");
}

TEST(WorkerPresence, EventsHaveCelerysFieldsInCelerysOrder) {
    const json e = WorkerEvent(
        "worker-heartbeat",
        {.nodename = "gale@h", .clock = 4, .freq = std::chrono::milliseconds(2000), .active = 1, .processed = 2});
    std::vector<std::string> keys;
    for (const auto& [k, v] : e.items()) keys.push_back(k);
    EXPECT_THAT(keys, ::testing::ElementsAre("hostname", "utcoffset", "pid", "clock", "freq", "active", "processed",
                                             "loadavg", "sw_ident", "sw_ver", "sw_sys", "timestamp", "type"));
    EXPECT_EQ(e["hostname"], "gale@h");
    EXPECT_EQ(e["pid"], ::getpid());
    EXPECT_EQ(e["clock"], 4);
    EXPECT_EQ(e["freq"], 2.0);
    EXPECT_EQ(e["active"], 1);
    EXPECT_EQ(e["processed"], 2);
    EXPECT_EQ(e["sw_ident"], "gale");
    EXPECT_EQ(e["sw_ver"], kVersion);
    EXPECT_EQ(e["sw_sys"], "Linux");
    EXPECT_EQ(e["type"], "worker-heartbeat");
    EXPECT_EQ(EventRoutingKey("worker-heartbeat"), "worker.heartbeat");
    EXPECT_EQ(EventRoutingKey("worker-online"), "worker.online");
}

TEST(WorkerPresence, AnEventSourceWritesPythonsBytesAndAdvancesItsClock) {
    std::atomic<std::uint64_t> processed{7};
    EventSource events("gale@h", kHeartbeatInterval, {}, [&] { return processed.load(); });
    const auto online = events.Next("worker-online");
    EXPECT_EQ(online.routing_key, "worker.online");
    EXPECT_EQ(online.body.rfind(R"({"hostname": "gale@h", "utcoffset": )", 0), 0U) << online.body;
    EXPECT_THAT(online.body, HasSubstr(R"("clock": 1, "freq": 2.0, "active": 0, "processed": 7, "loadavg": [)"));
    EXPECT_THAT(online.body, HasSubstr(std::string(R"(, "sw_ident": "gale", "sw_ver": ")") + kVersion +
                                       R"(", "sw_sys": "Linux", "timestamp": )"));
    EXPECT_THAT(online.body, ::testing::EndsWith(R"(, "type": "worker-online"})"));
    processed = 8;
    const auto beat = events.Next("worker-heartbeat");
    EXPECT_EQ(beat.routing_key, "worker.heartbeat");
    const auto parsed = json::parse(beat.body);
    EXPECT_EQ(parsed["clock"], 2);
    EXPECT_EQ(parsed["processed"], 8);
    EXPECT_EQ(parsed["type"], "worker-heartbeat");
}

TEST(WorkerPresence, OptionsAreCheckedAlikeOnEveryBroker) {
    std::string node;
    ASSERT_TRUE(CheckControlOptions(node, "celery"));
    EXPECT_EQ(node, DefaultNodeName());
    node = "no-at";
    EXPECT_THAT(CheckControlOptions(node, "celery").error().message(), HasSubstr("has no '@'"));
    node = "w1@h";
    EXPECT_FALSE(CheckControlOptions(node, ""));
    node.clear();
    ASSERT_TRUE(CheckEventOptions(node, kHeartbeatInterval, "celeryev"));
    EXPECT_EQ(node, DefaultNodeName());
    EXPECT_THAT(CheckEventOptions(node, std::chrono::milliseconds(99), "celeryev").error().message(),
                HasSubstr("under 100 ms"));
    EXPECT_FALSE(CheckEventOptions(node, kHeartbeatInterval, ""));
    EXPECT_EQ(kHeartbeatInterval, std::chrono::seconds(2));
    EXPECT_EQ(NextBackoff(std::chrono::milliseconds(500)), std::chrono::milliseconds(1000));
    EXPECT_EQ(NextBackoff(std::chrono::milliseconds(8000)), kMaxReconnectBackoff);
}

// Celery 5.2.6's `inspect ping -d w1@127.0.0.1` request body, as the pidbox carries it on both brokers.
constexpr std::string_view kPing =
    R"({"method": "ping", "arguments": {}, "destination": ["w1@127.0.0.1"], "pattern": null, "matcher": null, )"
    R"("ticket": "4b588f47-4047-425d-b023-3f93b21236de", "reply_to": {"exchange": "reply.celery.pidbox", )"
    R"("routing_key": "098535ed-5ddd-3454-ad8e-353c8c46c6e2"}})";

TEST(WorkerPresence, APidboxNodeAnswersPingAsCeleryDoes) {
    PidboxNode node("w1@127.0.0.1", "test");
    const auto now = std::chrono::system_clock::now();
    const auto reply = node.Handle({.body = kPing, .clock = 2}, now);
    ASSERT_TRUE(reply);
    EXPECT_EQ(reply->to.exchange, "reply.celery.pidbox");
    EXPECT_EQ(reply->to.routing_key, "098535ed-5ddd-3454-ad8e-353c8c46c6e2");
    EXPECT_EQ(reply->body, R"({"w1@127.0.0.1": {"ok": "pong"}})");  // Celery's reply body, byte for byte
    EXPECT_EQ(reply->ticket, "4b588f47-4047-425d-b023-3f93b21236de");
    EXPECT_EQ(reply->clock, 4U);  // max(0, 2) + 1 on receipt, + 1 for the reply

    std::string stats(kPing);
    stats.replace(stats.find("\"ping\""), 6, "\"stats\"");
    const auto error = node.Handle({.body = stats, .clock = 10}, now);
    ASSERT_TRUE(error);
    EXPECT_EQ(error->body,
              R"({"w1@127.0.0.1": {"error": "gale does not implement the remote control command 'stats'"}})");
    EXPECT_EQ(error->clock, 12U);
    const auto unclocked = node.Handle({.body = kPing}, now);  // kombu: a missing clock counts as 0
    ASSERT_TRUE(unclocked);
    EXPECT_EQ(unclocked->clock, 14U);
}

TEST(WorkerPresence, APidboxNodeDropsWhatIsNotItsToAnswer) {
    PidboxNode node("other@127.0.0.1", "test");
    const auto now = std::chrono::system_clock::now();
    const double t = std::chrono::duration<double>(now.time_since_epoch()).count();
    EXPECT_FALSE(node.Handle({.body = kPing, .clock = 5}, now));  // another node's: dropped, the clock moves on
    PidboxNode w1("w1@127.0.0.1", "test");
    EXPECT_FALSE(w1.Handle({.body = kPing, .expires = t - 1}, now));      // expired
    EXPECT_FALSE(w1.Handle({.body = R"({"method": "shutdown"})"}, now));  // a cast: no reply_to
    EXPECT_FALSE(w1.Handle({.body = "not json"}, now));                   // untrusted bytes
    EXPECT_FALSE(w1.Handle({.body = "[1, 2]"}, now));
    const auto odd = w1.Handle({.body = R"({"method": 5, "ticket": 6, "reply_to": {"exchange": "x",)"
                                        R"( "routing_key": "k"}})"},
                               now);
    ASSERT_TRUE(odd);  // a broadcast with a method that is not a string: an error answer, not an exception
    EXPECT_EQ(odd->body, R"({"w1@127.0.0.1": {"error": "gale does not implement the remote control command ''"}})");
    EXPECT_EQ(odd->ticket, "");
    EXPECT_TRUE(w1.Handle({.body = kPing, .expires = t + 60}, now));
}

TEST(WorkerPresence, APresenceThreadStopsFromItsWait) {
    PresenceThread thread;
    std::atomic<int> turns{0};
    thread.Start([&] {
        while (!thread.WaitFor(std::chrono::hours(1))) ++turns;
    });
    thread.Start([&] { turns = 100; });  // once
    const auto before = std::chrono::steady_clock::now();
    thread.Stop();
    EXPECT_LT(std::chrono::steady_clock::now() - before, std::chrono::seconds(5));
    EXPECT_EQ(turns.load(), 0);
    EXPECT_TRUE(thread.stopping());
    thread.Stop();  // idempotent
}

}  // namespace
}  // namespace gale::tasks::detail
