// SPDX-License-Identifier: MIT
#include "kombu_envelope.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "py_json.hpp"

namespace gale::tasks::redis::detail {
namespace {

using ::testing::HasSubstr;

// The exact bytes Celery 5.2.6 / kombu 5.2.4 LPUSHed for add.delay(2, 3) (celery.md §1, OBSERVED).
constexpr std::string_view kCeleryEnvelope =
    R"J({"body": "W1syLCAzXSwge30sIHsiY2FsbGJhY2tzIjogbnVsbCwgImVycmJhY2tzIjogbnVsbCwgImNoYWluIjogbnVsbCwgImNob3JkIjogbnVsbH1d", "content-encoding": "utf-8", "content-type": "application/json", "headers": {"lang": "py", "task": "tasks.add", "id": "e8e152e9-9c5f-4801-8e27-904ef0aa25f1", "shadow": null, "eta": null, "expires": null, "group": null, "group_index": null, "retries": 0, "timelimit": [null, null], "root_id": "e8e152e9-9c5f-4801-8e27-904ef0aa25f1", "parent_id": null, "argsrepr": "(2, 3)", "kwargsrepr": "{}", "origin": "gen22179@vm", "ignore_result": false}, "properties": {"correlation_id": "e8e152e9-9c5f-4801-8e27-904ef0aa25f1", "reply_to": "1b0c61a4-1ab3-32b1-addf-199d10116f78", "delivery_mode": 2, "delivery_info": {"exchange": "", "routing_key": "celery"}, "priority": 0, "body_encoding": "base64", "delivery_tag": "c29966fc-1ce9-4d77-921c-755f1b02b803"}})J";

TEST(KombuEnvelope, ReadsCelerysBytes) {
    Envelope e = ReadEnvelope(kCeleryEnvelope);
    ASSERT_TRUE(e.valid) << e.problem;
    EXPECT_EQ(e.message.body, R"([[2, 3], {}, {"callbacks": null, "errbacks": null, "chain": null, "chord": null}])");
    EXPECT_EQ(e.message.content_type, "application/json");
    EXPECT_EQ(e.message.content_encoding, "utf-8");
    EXPECT_EQ(e.message.headers["task"], "tasks.add");
    EXPECT_EQ(e.message.correlation_id, "e8e152e9-9c5f-4801-8e27-904ef0aa25f1");
    EXPECT_EQ(e.message.reply_to, "1b0c61a4-1ab3-32b1-addf-199d10116f78");
    EXPECT_EQ(e.message.delivery_mode, 2);
    EXPECT_EQ(e.message.priority, 0);
    EXPECT_EQ(e.exchange, "");
    EXPECT_EQ(e.routing_key, "celery");
    EXPECT_EQ(e.delivery_tag, "c29966fc-1ce9-4d77-921c-755f1b02b803");
    EXPECT_FALSE(e.redelivered);
    // Re-dumped as Python would, the envelope is byte for byte what kombu wrote (what goes into `unacked`).
    EXPECT_EQ(tasks::detail::PythonJson(e.raw), kCeleryEnvelope);
}

TEST(KombuEnvelope, WritesKombusLayout) {
    Envelope celery = ReadEnvelope(kCeleryEnvelope);
    ASSERT_TRUE(celery.valid);
    auto written = MakeEnvelope(celery.message, "", "celery", "c29966fc-1ce9-4d77-921c-755f1b02b803");
    EXPECT_EQ(tasks::detail::PythonJson(written), kCeleryEnvelope);
    TransportMessage m = celery.message;
    m.expiration = std::chrono::milliseconds(3600000);
    m.priority = 5;
    const std::string text = tasks::detail::PythonJson(MakeEnvelope(m, "", "celery", "t"));
    EXPECT_THAT(text, HasSubstr(R"("delivery_mode": 2, "expiration": "3600000", "delivery_info": {)"));
    EXPECT_THAT(text, HasSubstr(R"("priority": 5, "body_encoding": "base64", "delivery_tag": "t"})"));
}

TEST(KombuEnvelope, RedeliveredMarks) {
    Envelope e = ReadEnvelope(kCeleryEnvelope);
    MarkRedelivered(e.raw);
    Envelope again = ReadEnvelope(tasks::detail::PythonJson(e.raw));
    ASSERT_TRUE(again.valid);
    EXPECT_TRUE(again.redelivered);
    EXPECT_EQ(again.raw["headers"]["redelivered"], true);
    EXPECT_EQ(again.raw["properties"]["delivery_info"]["redelivered"], true);
}

TEST(KombuEnvelope, InvalidEnvelopesAreMarkedNotThrown) {
    const std::pair<std::string_view, std::string_view> cases[] = {
        {"not json", "not JSON"},
        {"[1, 2]", "not a JSON object"},
        {R"({"body": "e30="})", "no 'properties' object"},
        {R"({"body": "e30=", "properties": {"delivery_tag": 7}})", "delivery_tag"},
        {R"({"body": "e30", "properties": {"delivery_tag": "t", "body_encoding": "base64"}})", "not base64"},
        {R"({"body": "e3=0", "properties": {"delivery_tag": "t", "body_encoding": "base64"}})", "not base64"},
        {R"({"body": 12, "properties": {"delivery_tag": "t"}})", "'body' is not a string"},
        {R"({"body": "x", "properties": {"delivery_tag": "t", "body_encoding": "rot13"}})", "body_encoding"},
    };
    for (const auto& [bytes, problem] : cases) {
        Envelope e = ReadEnvelope(bytes);
        EXPECT_FALSE(e.valid) << bytes;
        EXPECT_THAT(e.problem, HasSubstr(problem)) << bytes;
        EXPECT_EQ(e.message.content_type, kInvalidEnvelopeType);
        EXPECT_EQ(e.message.body, bytes);
    }
    // Types that are wrong but not needed are ignored: a body without body_encoding is taken as it is.
    Envelope raw = ReadEnvelope(R"({"body": "[[3, 4], {}, {}]", "headers": 5, "properties": {"delivery_tag": "t",
        "priority": "high", "delivery_info": null}})");
    ASSERT_TRUE(raw.valid) << raw.problem;
    EXPECT_EQ(raw.message.body, "[[3, 4], {}, {}]");
    EXPECT_EQ(raw.message.priority, 0);
}

TEST(KombuEnvelope, Base64) {
    EXPECT_EQ(Base64Encode(""), "");
    EXPECT_EQ(Base64Encode("f"), "Zg==");
    EXPECT_EQ(Base64Encode("fo"), "Zm8=");
    EXPECT_EQ(Base64Encode("foo"), "Zm9v");
    EXPECT_EQ(*Base64Decode("Zg=="), "f");
    EXPECT_EQ(*Base64Decode("Zm8="), "fo");
    EXPECT_EQ(*Base64Decode(""), "");
    const std::string binary("\0\xff\x10 x", 5);
    EXPECT_EQ(*Base64Decode(Base64Encode(binary)), binary);
    EXPECT_FALSE(Base64Decode("Zg="));
    EXPECT_FALSE(Base64Decode("Z=g="));
    EXPECT_FALSE(Base64Decode("Zg\n="));
}

}  // namespace
}  // namespace gale::tasks::redis::detail
