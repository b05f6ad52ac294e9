// SPDX-License-Identifier: MIT
#include "codec.hpp"

#include <gtest/gtest.h>

namespace gale::amqp::detail {
namespace {

TEST(AmqpCodec, TableRoundTripsThroughTheWireEncoding) {
    FieldTable t{{"s", "text"},
                 {"bytes", gale::amqp::Bytes{std::string("\0\xff", 2)}},
                 {"small", 42},
                 {"big", std::int64_t{1} << 40},
                 {"neg", -7},
                 {"yes", true},
                 {"pi", 3.25},
                 {"when", Timestamp{1700000000}},
                 {"none", FieldValue()},
                 {"list", FieldArray{1, "two", FieldArray{false}}},
                 {"nested", FieldTable{{"a", 1}, {"b", FieldTable{{"c", "d"}}}}}};
    Arena arena;
    amqp_table_t encoded = EncodeTable(t, arena);
    // Through rabbitmq-c's own wire encoder and decoder.
    char buf[4096];
    amqp_bytes_t out{sizeof buf, buf};
    size_t offset = 0;
    ASSERT_EQ(amqp_encode_table(out, &encoded, &offset), AMQP_STATUS_OK);
    amqp_pool_t pool;
    init_amqp_pool(&pool, 4096);
    amqp_table_t decoded{};
    size_t read = 0;
    amqp_bytes_t in{offset, buf};
    ASSERT_EQ(amqp_decode_table(in, &pool, &decoded, &read), AMQP_STATUS_OK);
    EXPECT_EQ(DecodeTable(decoded), t);
    empty_amqp_pool(&pool);
}

TEST(AmqpCodec, IntegersGoOutAsI32WhenTheyFit) {
    FieldTable t{{"a", 5}, {"b", std::int64_t{1} << 33}};
    Arena arena;
    amqp_table_t e = EncodeTable(t, arena);
    EXPECT_EQ(e.entries[0].value.kind, AMQP_FIELD_KIND_I32);
    EXPECT_EQ(e.entries[1].value.kind, AMQP_FIELD_KIND_I64);
}

TEST(AmqpCodec, PropertiesRoundTripAndPersistentByDefault) {
    Properties p;
    p.content_type = "application/json";
    p.correlation_id = "c-1";
    p.message_id = "m-1";
    p.priority = 3;
    p.timestamp = 1700000000;
    p.headers = {{"k", "v"}};
    Arena arena;
    amqp_basic_properties_t e = EncodeProperties(p, arena, true);
    Properties back = DecodeProperties(e);
    EXPECT_EQ(back.content_type, "application/json");
    EXPECT_EQ(back.correlation_id, "c-1");
    EXPECT_EQ(back.message_id, "m-1");
    EXPECT_EQ(back.delivery_mode, std::optional<std::uint8_t>(2));
    EXPECT_EQ(back.priority, std::optional<std::uint8_t>(3));
    EXPECT_EQ(back.timestamp, std::optional<std::uint64_t>(1700000000));
    EXPECT_EQ(back.headers, p.headers);
    EXPECT_TRUE(back.reply_to.empty());
    p.delivery_mode = 1;
    EXPECT_EQ(DecodeProperties(EncodeProperties(p, arena, true)).delivery_mode, std::optional<std::uint8_t>(1));
}

}  // namespace
}  // namespace gale::amqp::detail
