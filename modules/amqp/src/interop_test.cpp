// SPDX-License-Identifier: MIT
// Interop with Python: Debian's python3-pika (django-hurricane's AMQP client) driven from here through
// testing/pika_interop.py. pika publishes and gale consumes; gale publishes and pika consumes; bodies (binary too),
// properties and headers (strings, integers, booleans, nested tables, arrays) intact both ways.
#include <cstdio>
#include <memory>

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <gale/amqp/consumer.hpp>
#include <gale/amqp/publisher.hpp>

#include "test_broker.hpp"

namespace gale::amqp {
namespace {

using test::Eventually;
using test::Name;

/// Runs the pika script; returns its stdout, or an error with its exit status.
Result<std::string> Pika(const std::vector<std::string>& args) {
    std::string cmd = std::string(GALE_AMQP_PYTHON) + " " + GALE_AMQP_PIKA_SCRIPT;
    for (const auto& a : args) cmd += " '" + a + "'";
    cmd += " 2>&1";
    FILE* f = ::popen(cmd.c_str(), "r");
    if (f == nullptr) return MakeError(ErrorCode::kIo, "popen failed");
    std::string out;
    char buf[4096];
    while (std::size_t n = std::fread(buf, 1, sizeof buf, f)) out.append(buf, n);
    const int rc = ::pclose(f);
    if (rc != 0) return MakeError(ErrorCode::kInternal, "pika script failed (" + std::to_string(rc) + "): " + out);
    return out;
}

std::string Base64(std::string_view in) {
    static const char* k = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    std::string out;
    std::size_t i = 0;
    for (; i + 2 < in.size(); i += 3) {
        const unsigned v = (static_cast<unsigned char>(in[i]) << 16) | (static_cast<unsigned char>(in[i + 1]) << 8) |
                           static_cast<unsigned char>(in[i + 2]);
        out += {k[v >> 18], k[(v >> 12) & 63], k[(v >> 6) & 63], k[v & 63]};
    }
    if (i + 1 == in.size()) {
        const unsigned v = static_cast<unsigned char>(in[i]) << 16;
        out += {k[v >> 18], k[(v >> 12) & 63], '=', '='};
    } else if (i + 2 == in.size()) {
        const unsigned v = (static_cast<unsigned char>(in[i]) << 16) | (static_cast<unsigned char>(in[i + 1]) << 8);
        out += {k[v >> 18], k[(v >> 12) & 63], k[(v >> 6) & 63], '='};
    }
    return out;
}

TEST(AmqpInterop, PikaPublishesGaleConsumes) {
    GALE_SHARED_BROKER(broker);
    QueueSpec q{.name = Name("q"), .exchange = {.name = Name("x")}, .routing_keys = {"py.#"}};
    std::mutex mu;
    std::vector<Message> got;
    Subscription sub{q, [&](const Message& m) -> Result<void> {
                         std::lock_guard lock(mu);
                         got.push_back(m);
                         return {};
                     }};
    ConsumerOptions o;
    o.handler_threads = 1;  // in order
    auto c = Consumer::Create(broker->connection_options(), {sub}, o);
    ASSERT_TRUE(c);
    (*c)->Start();
    ASSERT_TRUE(Eventually([&] { return (*c)->connected(); })) << (*c)->last_error();
    auto out = Pika({"publish", broker->url(), q.exchange.name, "py.orders"});
    ASSERT_TRUE(out) << out.error().ToString();
    ASSERT_TRUE(Eventually([&] {
        std::lock_guard lock(mu);
        return got.size() == 3;
    }));
    (*c)->Stop();
    EXPECT_EQ(got[0].body, "plain text");
    EXPECT_EQ(got[0].routing_key, "py.orders");
    EXPECT_EQ(got[0].properties.content_type, "application/octet-stream");
    EXPECT_EQ(got[0].properties.correlation_id, "corr-0");
    EXPECT_EQ(got[0].properties.message_id, "msg-0");
    EXPECT_EQ(got[0].properties.delivery_mode, std::optional<std::uint8_t>(2));
    EXPECT_EQ(got[0].headers(), (FieldTable{{"kind", "order"}, {"n", 1}, {"ok", true}}));
    EXPECT_EQ(got[1].body, std::string("\0\xff"
                                       "binary\x80",
                                       9));
    EXPECT_EQ(got[1].headers(), (FieldTable{{"nested", FieldTable{{"a", 1}, {"b", "two"}}},
                                            {"list", FieldArray{1, "x", false}},
                                            {"big", std::int64_t{1} << 40}}));
    EXPECT_EQ(got[2].body, "caf\xc3\xa9 \xe2\x98\x83");
    EXPECT_EQ(got[2].headers(), (FieldTable{{"unicode", "caf\xc3\xa9"}, {"neg", -5}}));
}

TEST(AmqpInterop, GalePublishesPikaConsumes) {
    GALE_SHARED_BROKER(broker);
    QueueSpec q{.name = Name("q"), .exchange = {.name = Name("x")}, .routing_keys = {"gale.#"}};
    auto p = Publisher::Connect(broker->connection_options());
    ASSERT_TRUE(p);
    ASSERT_TRUE((*p)->DeclareQueue(q));
    const std::vector<std::string> bodies{"first", std::string("\0\x01\xfe", 3), "caf\xc3\xa9"};
    for (std::size_t i = 0; i < bodies.size(); ++i) {
        Properties props;
        props.content_type = "text/plain";
        props.correlation_id = "c-" + std::to_string(i);
        props.message_id = "m-" + std::to_string(i);
        props.headers = {{"s", "str"},
                         {"i", static_cast<int>(i)},
                         {"b", i % 2 == 0},
                         {"big", std::int64_t{1} << 40},
                         {"t", FieldTable{{"inner", "v"}, {"deep", FieldTable{{"n", -1}}}}},
                         {"a", FieldArray{"x", 2, true}},
                         {"raw", gale::amqp::Bytes{std::string("\x00\x80", 2)}}};
        auto r = (*p)->Publish(q.exchange.name, "gale.k" + std::to_string(i), bodies[i], props);
        ASSERT_TRUE(r) << r.error().ToString();
    }
    auto out = Pika({"consume", broker->url(), q.name, "3"});
    ASSERT_TRUE(out) << out.error().ToString();
    std::vector<nlohmann::json> lines;
    std::size_t start = 0;
    for (std::size_t nl; (nl = out->find('\n', start)) != std::string::npos; start = nl + 1) {
        lines.push_back(nlohmann::json::parse(out->substr(start, nl - start)));
    }
    ASSERT_EQ(lines.size(), 3u) << *out;
    for (std::size_t i = 0; i < 3; ++i) {
        const auto& j = lines[i];
        EXPECT_EQ(j["body"], Base64(bodies[i]));
        EXPECT_EQ(j["routing_key"], "gale.k" + std::to_string(i));
        EXPECT_EQ(j["content_type"], "text/plain");
        EXPECT_EQ(j["correlation_id"], "c-" + std::to_string(i));
        EXPECT_EQ(j["message_id"], "m-" + std::to_string(i));
        EXPECT_EQ(j["delivery_mode"], 2);
        const auto& h = j["headers"];
        // pika decodes AMQP long strings as bytes (str only when valid UTF-8 in pika >= 1.0): accept either.
        auto str = [](const nlohmann::json& v) {
            return v.is_string() ? v.get<std::string>() : std::string("b64:") + v["bytes"].get<std::string>();
        };
        EXPECT_EQ(str(h["s"]), "str");
        EXPECT_EQ(h["i"], static_cast<int>(i));
        EXPECT_EQ(h["b"], i % 2 == 0);
        EXPECT_EQ(h["big"], std::int64_t{1} << 40);
        EXPECT_EQ(str(h["t"]["inner"]), "v");
        EXPECT_EQ(h["t"]["deep"]["n"], -1);
        EXPECT_EQ(str(h["a"][0]), "x");
        EXPECT_EQ(h["a"][1], 2);
        EXPECT_EQ(h["a"][2], true);
        EXPECT_EQ(h["raw"]["bytes"], Base64(std::string("\x00\x80", 2)));
    }
}

}  // namespace
}  // namespace gale::amqp
