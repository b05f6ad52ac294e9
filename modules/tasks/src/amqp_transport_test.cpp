// SPDX-License-Identifier: MIT
// The mapping of Celery's headers to AMQP field types (py-amqp's) and of the message to basic properties; the bytes
// on the wire are checked against the captured frames in amqp_broker_test.cpp.
#include "amqp_transport.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace gale::tasks::amqp::detail {
namespace {

using gale::amqp::FieldArray;
using gale::amqp::FieldTable;
using gale::amqp::FieldValue;

TEST(AmqpTransport, CeleryHeadersGetPyAmqpFieldTypes) {
    TaskRequest r;
    r.id = "caf2166b-fe60-435a-ac84-fec9985fa24c";
    r.task = "tasks.add";
    r.args = {2, 3};
    r.root_id = r.id;
    r.origin = "gen27472@vm";
    const TransportMessage m = EncodeTask(r);
    const FieldTable t = ToFieldTable(m.headers);
    ASSERT_EQ(t.size(), 16u);
    std::vector<std::string> keys;
    for (const auto& [k, v] : t) keys.push_back(k);
    EXPECT_THAT(keys, ::testing::ElementsAre("lang", "task", "id", "shadow", "eta", "expires", "group", "group_index",
                                             "retries", "timelimit", "root_id", "parent_id", "argsrepr", "kwargsrepr",
                                             "origin", "ignore_result"));
    EXPECT_EQ(t[0].second, FieldValue("py"));                                    // S
    EXPECT_EQ(t[3].second, FieldValue());                                        // V (None)
    EXPECT_EQ(t[8].second, FieldValue(0));                                       // I 0
    EXPECT_EQ(t[9].second, FieldValue(FieldArray{FieldValue(), FieldValue()}));  // A [V, V]
    EXPECT_EQ(t[12].second, FieldValue("(2, 3)"));
    EXPECT_EQ(t[15].second, FieldValue(false));  // t False
}

TEST(AmqpTransport, ValuesRoundTripAndKeepTheirKinds) {
    nlohmann::ordered_json h = nlohmann::ordered_json::parse(
        R"({"n": null, "b": true, "i": -7, "big": 5000000000, "f": 1.5, "s": "é", "a": [1, "x", [null]],)"
        R"( "o": {"z": 1, "a": 2}})");
    const FieldTable t = ToFieldTable(h);
    EXPECT_EQ(FromFieldTable(t), h);
    EXPECT_NE(t[3].second.get_if<std::int64_t>(), nullptr);  // beyond 32 bits: still an integer (l on the wire)
    EXPECT_NE(t[4].second.get_if<double>(), nullptr);
    // Kinds RabbitMQ or other clients may send read as JSON too.
    const FieldTable other{{"bytes", gale::amqp::Bytes{"raw"}}, {"ts", gale::amqp::Timestamp{1700000000}}};
    EXPECT_EQ(FromFieldTable(other), nlohmann::ordered_json::parse(R"({"bytes": "raw", "ts": 1700000000})"));
}

TEST(AmqpTransport, PropertiesAreCeleryS) {
    TransportMessage m;
    m.correlation_id = "id-1";
    m.reply_to = "oid-1";
    m.priority = 5;
    m.expiration = std::chrono::milliseconds(3600000);
    m.headers = {{"task", "t"}};
    const gale::amqp::Properties p = ToProperties(m);
    EXPECT_EQ(p.content_type, "application/json");
    EXPECT_EQ(p.content_encoding, "utf-8");
    EXPECT_EQ(p.delivery_mode, 2);
    EXPECT_EQ(p.priority, 5);
    EXPECT_EQ(p.correlation_id, "id-1");
    EXPECT_EQ(p.reply_to, "oid-1");
    EXPECT_EQ(p.expiration, "3600000");  // kombu: expires seconds → milliseconds, as a string
    m.expiration.reset();
    m.priority = 0;
    m.delivery_mode = 1;
    const gale::amqp::Properties q = ToProperties(m);
    EXPECT_EQ(q.priority, 0);  // always sent, as Celery sends priority 0
    EXPECT_EQ(q.delivery_mode, 1);
    EXPECT_TRUE(q.expiration.empty());

    gale::amqp::Message in;
    in.body = "[[], {}, {}]";
    in.properties = p;
    const TransportMessage back = FromAmqp(in);
    EXPECT_EQ(back.priority, 5);
    EXPECT_EQ(back.expiration, std::chrono::milliseconds(3600000));
    EXPECT_EQ(back.headers, m.headers);
    EXPECT_EQ(back.reply_to, "oid-1");
    gale::amqp::Message bare;
    const TransportMessage defaults = FromAmqp(bare);
    EXPECT_EQ(defaults.delivery_mode, 2);
    EXPECT_EQ(defaults.priority, 0);
    EXPECT_TRUE(defaults.content_type.empty());  // DecodeTask refuses it: not Celery's
}

}  // namespace
}  // namespace gale::tasks::amqp::detail
