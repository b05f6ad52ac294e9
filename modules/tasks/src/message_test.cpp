// SPDX-License-Identifier: MIT
// The codec against the real bytes of celery.md §1 (Celery 5.2.6 on the wire): add.delay(2, 3) as its AMQP
// header frame and as kombu's Redis envelope.
#include <cstdint>
#include <string>

#include <gtest/gtest.h>

#include <gale/tasks/message.hpp>

#include "py_json.hpp"

namespace gale::tasks {
namespace {

using Json = nlohmann::ordered_json;
using namespace std::chrono_literals;

// celery.md, "exact LRANGE celery 0 -1 for add.delay(2,3)": the envelope's headers and its base64-decoded body.
constexpr std::string_view kRedisHeaders =
    R"js({"lang": "py", "task": "tasks.add", "id": "e8e152e9-9c5f-4801-8e27-904ef0aa25f1", "shadow": null, "eta": null, )js"
    R"js("expires": null, "group": null, "group_index": null, "retries": 0, "timelimit": [null, null], )js"
    R"js("root_id": "e8e152e9-9c5f-4801-8e27-904ef0aa25f1", "parent_id": null, "argsrepr": "(2, 3)", )js"
    R"js("kwargsrepr": "{}", "origin": "gen22179@vm", "ignore_result": false})js";
constexpr std::string_view kBody =
    R"js([[2, 3], {}, {"callbacks": null, "errbacks": null, "chain": null, "chord": null}])js";

// celery.md appendix: the AMQP content header frame payload of add.delay(2, 3) (class 60, properties 0xfe00).
constexpr std::string_view kAmqpHeaderHex =
    "003c00000000000000000051fe00106170706c69636174696f6e2f6a736f6e057574662d380000011c046c616e6753000000027079047461"
    "736b53000000097461736b732e616464026964530000002463616632313636622d666536302d343335612d616338342d6665633939383566"
    "6132346306736861646f775603657461560765787069726573560567726f7570560b67726f75705f696e6465785607726574726965734900"
    "0000000974696d656c696d69744100000002565607726f6f745f6964530000002463616632313636622d666536302d343335612d61633834"
    "2d66656339393835666132346309706172656e745f696456086172677372657072530000000628322c2033290a6b77617267737265707253"
    "000000027b7d066f726967696e530000000b67656e323734373240766d0d69676e6f72655f726573756c7474000200246361663231363662"
    "2d666536302d343335612d616338342d6665633939383566613234632462633039323563632d376266622d333539382d396433362d623931"
    "656130353932636561";

std::string Unhex(std::string_view hex) {
    std::string out;
    for (std::size_t i = 0; i + 1 < hex.size(); i += 2)
        out.push_back(static_cast<char>(std::stoi(std::string(hex.substr(i, 2)), nullptr, 16)));
    return out;
}

/// A minimal reader of the AMQP field table in the header frame above: the keys in order with their type letters
/// and values as JSON (S longstr, V void, I int32, A array, t bool: the types the frame holds).
struct Field {
    std::string key;
    char type;
    Json value;
};
std::vector<Field> ReadAmqpHeaders(const std::string& frame) {
    std::size_t p = 14;  // class(2) weight(2) body size(8) flags(2)
    auto u8 = [&] { return static_cast<unsigned char>(frame.at(p++)); };
    auto u32 = [&] {
        std::uint32_t v = 0;
        for (int i = 0; i < 4; ++i) v = (v << 8) | u8();
        return v;
    };
    auto shortstr = [&] {
        std::size_t n = u8();
        std::string s = frame.substr(p, n);
        p += n;
        return s;
    };
    auto longstr = [&] {
        std::size_t n = u32();
        std::string s = frame.substr(p, n);
        p += n;
        return s;
    };
    std::function<Json(char)> value = [&](char type) -> Json {
        switch (type) {
            case 'S':
                return longstr();
            case 'V':
                return nullptr;
            case 'I':
                return static_cast<std::int32_t>(u32());
            case 't':
                return u8() != 0;
            case 'A': {
                std::size_t end = u32() + p;
                Json a = Json::array();
                while (p < end) a.push_back(value(static_cast<char>(u8())));
                return a;
            }
            default:
                ADD_FAILURE() << "unexpected field type " << type;
                return nullptr;
        }
    };
    shortstr();  // content_type
    shortstr();  // content_encoding
    std::size_t end = u32() + p;
    std::vector<Field> out;
    while (p < end) {
        Field f;
        f.key = shortstr();
        f.type = static_cast<char>(u8());
        f.value = value(f.type);
        out.push_back(std::move(f));
    }
    return out;
}

TaskRequest AddRequest(std::string id, std::string origin) {
    TaskRequest r;
    r.task = "tasks.add";
    r.id = id;
    r.root_id = id;
    r.origin = std::move(origin);
    r.args = nlohmann::json::array({2, 3});
    return r;
}

TEST(EncodeTask, WritesCeleryRedisHeadersAndBodyByteForByte) {
    TransportMessage m = EncodeTask(AddRequest("e8e152e9-9c5f-4801-8e27-904ef0aa25f1", "gen22179@vm"));
    EXPECT_EQ(detail::PythonJson(m.headers), kRedisHeaders);
    EXPECT_EQ(m.body, kBody);
    EXPECT_EQ(m.content_type, "application/json");
    EXPECT_EQ(m.content_encoding, "utf-8");
    EXPECT_EQ(m.correlation_id, "e8e152e9-9c5f-4801-8e27-904ef0aa25f1");
    EXPECT_EQ(m.delivery_mode, 2);
    EXPECT_EQ(m.priority, 0);
    EXPECT_FALSE(m.expiration.has_value());
}

TEST(EncodeTask, HeadersMatchTheAmqpFrameOfCelery526InOrderAndType) {
    const std::string frame = Unhex(kAmqpHeaderHex);
    ASSERT_EQ(frame.substr(0, 2), std::string("\x00\x3c", 2));
    const auto fields = ReadAmqpHeaders(frame);
    TransportMessage m = EncodeTask(AddRequest("caf2166b-fe60-435a-ac84-fec9985fa24c", "gen27472@vm"));
    ASSERT_EQ(fields.size(), m.headers.size());
    std::size_t i = 0;
    for (const auto& [key, value] : m.headers.items()) {
        SCOPED_TRACE(key);
        EXPECT_EQ(fields[i].key, key);
        EXPECT_EQ(fields[i].value, value);
        // The JSON type the adapters map to each AMQP type.
        switch (fields[i].type) {
            case 'S':
                EXPECT_TRUE(value.is_string());
                break;
            case 'V':
                EXPECT_TRUE(value.is_null());
                break;
            case 'I':
                EXPECT_TRUE(value.is_number_integer());
                break;
            case 't':
                EXPECT_TRUE(value.is_boolean());
                break;
            case 'A':
                EXPECT_TRUE(value.is_array());
                break;
        }
        ++i;
    }
}

TEST(DecodeTask, ReadsTheRedisMessageOfAddDelay) {
    TransportMessage m;
    m.headers = Json::parse(kRedisHeaders);
    m.body = std::string(kBody);
    m.correlation_id = "e8e152e9-9c5f-4801-8e27-904ef0aa25f1";
    m.reply_to = "1b0c61a4-1ab3-32b1-addf-199d10116f78";
    auto r = DecodeTask(m);
    ASSERT_TRUE(r) << r.error().ToString();
    EXPECT_EQ(r->task, "tasks.add");
    EXPECT_EQ(r->id, "e8e152e9-9c5f-4801-8e27-904ef0aa25f1");
    EXPECT_EQ(r->root_id, r->id);
    EXPECT_EQ(r->parent_id, "");
    EXPECT_EQ(r->args, nlohmann::json::array({2, 3}));
    EXPECT_EQ(r->kwargs, nlohmann::json::object());
    EXPECT_TRUE(r->embed.callbacks.is_null());
    EXPECT_TRUE(r->embed.chain.is_null());
    EXPECT_EQ(r->retries, 0);
    EXPECT_FALSE(r->eta);
    EXPECT_FALSE(r->hard_time_limit);
    EXPECT_EQ(r->origin, "gen22179@vm");
    EXPECT_EQ(r->argsrepr, "(2, 3)");
    EXPECT_EQ(r->reply_to, "1b0c61a4-1ab3-32b1-addf-199d10116f78");
    EXPECT_FALSE(r->ignore_result);
    EXPECT_TRUE(r->extra_headers.empty());
    // Encoding what was decoded gives the same bytes back.
    TransportMessage again = EncodeTask(*r);
    EXPECT_EQ(detail::PythonJson(again.headers), kRedisHeaders);
    EXPECT_EQ(again.body, kBody);
}

TEST(DecodeTask, CountdownExpiresAndPriorityAsCeleryWritesThem) {
    // celery.md: countdown=60, expires=3600, priority=5.
    TransportMessage m = EncodeTask(AddRequest("id-1", "gen1@vm"));
    m.headers["eta"] = "2026-12-01T21:29:51.479830+00:00";
    m.headers["expires"] = "2026-12-01T22:28:51.479830+00:00";
    m.priority = 5;
    auto r = DecodeTask(m);
    ASSERT_TRUE(r) << r.error().ToString();
    ASSERT_TRUE(r->eta && r->expires);
    EXPECT_EQ(FormatIsoTime(*r->eta), "2026-12-01T21:29:51.479830+00:00");
    EXPECT_EQ(*r->expires - *r->eta, std::chrono::seconds(3540));
    EXPECT_EQ(r->priority, 5);
}

TEST(EncodeTask, TimeLimitIsHardThenSoftAndExpiresSetsExpiration) {
    TaskRequest r = AddRequest("id-2", "gen1@vm");
    r.hard_time_limit = 30;
    r.soft_time_limit = 20;
    r.expires = std::chrono::system_clock::now() + 1h;
    r.eta = std::chrono::system_clock::now() + 1min;
    TransportMessage m = EncodeTask(r);
    EXPECT_EQ(m.headers["timelimit"].dump(),
              "[30,20]");  // OBSERVED 5.2.6: apply_async(time_limit=30, soft_time_limit=20)
    ASSERT_TRUE(m.expiration);
    EXPECT_GT(*m.expiration, 3590s);
    EXPECT_LE(*m.expiration, 3600s);
    auto back = DecodeTask(m);
    ASSERT_TRUE(back);
    EXPECT_EQ(back->hard_time_limit, 30.0);
    EXPECT_EQ(back->soft_time_limit, 20.0);
    r.hard_time_limit = 1.5;
    EXPECT_EQ(EncodeTask(r).headers["timelimit"].dump(), "[1.5,20]");
}

TEST(EncodeTask, ReprsAndUnknownHeadersAndEmbed) {
    TaskRequest r = AddRequest("id-3", "gen1@vm");
    r.args = nlohmann::json::array({"it's", 1.0, nullptr, true});
    r.kwargs = nlohmann::json{{"name", "ada"}};
    r.extra_headers["stamps"] = Json::object();
    r.extra_headers["task"] = "ignored: a known header";
    r.embed.callbacks = Json::array({Json{{"task", "tasks.log"}, {"args", Json::array()}}});
    TransportMessage m = EncodeTask(r);
    EXPECT_EQ(m.headers["argsrepr"], R"js(("it's", 1.0, None, True))js");
    EXPECT_EQ(m.headers["kwargsrepr"], "{'name': 'ada'}");
    EXPECT_EQ(m.headers["task"], "tasks.add");
    EXPECT_EQ(m.headers.back(), Json::object());  // stamps, after the known headers
    EXPECT_EQ(m.body,
              R"js([["it's", 1.0, null, true], {"name": "ada"}, {"callbacks": [{"task": "tasks.log", "args": []}], )js"
              R"js("errbacks": null, "chain": null, "chord": null}])js");
    r.args = nlohmann::json::array({7});
    EXPECT_EQ(EncodeTask(r).headers["argsrepr"], "(7,)");
    auto back = DecodeTask(m);
    ASSERT_TRUE(back);
    EXPECT_EQ(back->extra_headers.size(), 1U);
    EXPECT_EQ(back->embed.callbacks.size(), 1U);
}

TEST(PythonJson, WritesWhatPythonsJsonDumpsWrites) {
    // Expected strings are json.dumps(...) of Python 3.11.
    EXPECT_EQ(detail::PythonJson(Json::parse(R"js({"a": [1, 2.5, 1e16, 0.0001, 1e-05, -0.0]})js")),
              R"js({"a": [1, 2.5, 1e+16, 0.0001, 1e-05, -0.0]})js");
    EXPECT_EQ(detail::PythonJson(Json("é\n\"\\\x01\x7f😀")), R"js("\u00e9\n\"\\\u0001\u007f\ud83d\ude00")js");
    EXPECT_EQ(detail::PythonJson(Json(std::string("a\xff") + "b")), R"js("a\ufffdb")js");
    EXPECT_EQ(detail::PythonJson(Json(100.0)), "100.0");
    EXPECT_EQ(detail::PythonJson(Json(std::numeric_limits<double>::quiet_NaN())), "NaN");
}

TEST(DecodeTask, AcceptsV1BodiesAsCeleryDoes) {
    TransportMessage m;
    m.body = R"js({"task": "tasks.add", "id": "v1-id", "args": [3, 4], "kwargs": {"x": 1}, "retries": 2, )js"
             R"js("eta": "2026-12-01T21:29:51Z", "timelimit": [10, null], "taskset": "g1", "callbacks": null})js";
    auto r = DecodeTask(m);
    ASSERT_TRUE(r) << r.error().ToString();
    EXPECT_EQ(r->task, "tasks.add");
    EXPECT_EQ(r->id, "v1-id");
    EXPECT_EQ(r->args, nlohmann::json::array({3, 4}));
    EXPECT_EQ(r->kwargs["x"], 1);
    EXPECT_EQ(r->retries, 2);
    EXPECT_EQ(r->hard_time_limit, 10.0);
    EXPECT_FALSE(r->soft_time_limit);
    EXPECT_EQ(r->group, "g1");
    EXPECT_EQ(r->root_id, "v1-id");
    ASSERT_TRUE(r->eta);
    EXPECT_EQ(FormatIsoTime(*r->eta), "2026-12-01T21:29:51+00:00");
}

TEST(DecodeTask, AcceptsTheMinimalHandMadeMessageCeleryRan) {
    // OBSERVED: headers {task, id} only, body [[3, 4], {}, {}] ran on Celery 5.2.6.
    TransportMessage m;
    m.headers = Json{{"task", "tasks.add"}, {"id", "x"}};
    m.body = "[[3, 4], {}, {}]";
    auto r = DecodeTask(m);
    ASSERT_TRUE(r) << r.error().ToString();
    EXPECT_EQ(r->args, nlohmann::json::array({3, 4}));
    EXPECT_EQ(r->lang, "py");
}

struct BadCase {
    const char* name;
    std::function<void(TransportMessage&)> spoil;
    const char* expected;  // a substring of the error
};

TEST(DecodeTask, RefusesWhatCeleryWouldCrashOnOrMisreadNamingTheField) {
    const std::vector<BadCase> cases = {
        {"one-element body", [](TransportMessage& m) { m.body = "[[1, 2]]"; },
         "body must be [args, kwargs, embed], not a list of 1"},
        {"not json", [](TransportMessage& m) { m.body = "[[1, 2], {}"; }, "body is not JSON"},
        {"args not a list", [](TransportMessage& m) { m.body = R"js({"a": 1})js"; },
         "body must be [args, kwargs, embed], not object"},
        {"kwargs not a dict", [](TransportMessage& m) { m.body = "[[], [], {}]"; }, "kwargs must be a dict"},
        {"pickle", [](TransportMessage& m) { m.content_type = "application/x-python-serialize"; }, "pickle"},
        {"yaml", [](TransportMessage& m) { m.content_type = "application/x-yaml"; },
         "content type 'application/x-yaml'"},
        {"binary encoding", [](TransportMessage& m) { m.content_encoding = "binary"; }, "content encoding 'binary'"},
        {"no task", [](TransportMessage& m) { m.headers.erase("task"); }, "no 'task' header"},
        {"empty task", [](TransportMessage& m) { m.headers["task"] = ""; }, "header 'task' is empty"},
        {"numeric id", [](TransportMessage& m) { m.headers["id"] = 5; }, "header 'id' must be a string, not number"},
        {"bad eta", [](TransportMessage& m) { m.headers["eta"] = "tomorrow"; },
         "header 'eta': 'tomorrow' is not an ISO 8601 time"},
        {"bad month", [](TransportMessage& m) { m.headers["expires"] = "2026-13-01T00:00:00"; }, "header 'expires'"},
        {"timelimit shape", [](TransportMessage& m) { m.headers["timelimit"] = Json::array({1}); },
         "'timelimit' must be [hard, soft]"},
        {"timelimit type",
         [](TransportMessage& m) {
             m.headers["timelimit"] = Json::array({"1", nullptr});
         },
         "'timelimit'[0]"},
        {"retries type", [](TransportMessage& m) { m.headers["retries"] = "1"; },
         "header 'retries' must be an integer"},
        {"retries negative", [](TransportMessage& m) { m.headers["retries"] = -1; }, "'retries' is out of range"},
        {"ignore_result type", [](TransportMessage& m) { m.headers["ignore_result"] = 1; },
         "'ignore_result' must be a bool"},
        {"callbacks type", [](TransportMessage& m) { m.body = R"js([[], {}, {"callbacks": "x"}])js"; },
         "'callbacks' must be a list"},
        {"callback not a dict", [](TransportMessage& m) { m.body = R"js([[], {}, {"chain": [1]}])js"; },
         "'chain' holds a number"},
        {"deep nesting",
         [](TransportMessage& m) { m.body = "[" + std::string(100000, '[') + std::string(100000, ']') + ", {}, {}]"; },
         "nested deeper than 256"},
    };
    for (const auto& c : cases) {
        SCOPED_TRACE(c.name);
        TransportMessage m = EncodeTask(AddRequest("id", "o@h"));
        c.spoil(m);
        auto r = DecodeTask(m);
        ASSERT_FALSE(r);
        EXPECT_EQ(r.error().code(), ErrorCode::kInvalidArgument);
        EXPECT_NE(r.error().message().find(c.expected), std::string::npos) << r.error().message();
    }
}

TEST(IsoTime, ParsesZonesAndFractionsAndFormatsAsPython) {
    const auto base = ParseIsoTime("2026-12-01T21:29:51+00:00");
    ASSERT_TRUE(base);
    for (const char* same : {"2026-12-01T21:29:51Z", "2026-12-01 21:29:51", "2026-12-01T22:29:51+01:00",
                             "2026-12-01T20:29:51-0100", "2026-12-01T23:29:51+02", "2026-12-01T21:29:51.000000"}) {
        auto t = ParseIsoTime(same);
        ASSERT_TRUE(t) << same;
        EXPECT_EQ(*t, *base) << same;
    }
    auto frac = ParseIsoTime("2026-12-01T21:29:51.4798301234Z");
    EXPECT_FALSE(frac);  // 10 fraction digits
    frac = ParseIsoTime("2026-12-01T21:29:51.479830123Z");
    ASSERT_TRUE(frac);
    EXPECT_EQ(FormatIsoTime(*frac), "2026-12-01T21:29:51.479830+00:00");
    EXPECT_EQ(FormatIsoTime(*base), "2026-12-01T21:29:51+00:00");
    for (const char* bad : {"", "2026-12-01", "2026-02-30T00:00:00", "2026-12-01T24:00:00", "2026-12-01T21:29:51+25:00",
                            "2026-12-01T21:29:51 UTC", "2026-12-01T21:29:51.Z"}) {
        EXPECT_FALSE(ParseIsoTime(bad)) << bad;
    }
}

TEST(NewTaskId, IsAUuid4AndUnique) {
    std::set<std::string> seen;
    for (int i = 0; i < 1000; ++i) {
        std::string id = NewTaskId();
        ASSERT_EQ(id.size(), 36U);
        EXPECT_EQ(id[14], '4');
        EXPECT_NE(std::string("89ab").find(id[19]), std::string::npos);
        EXPECT_TRUE(seen.insert(id).second);
    }
    EXPECT_EQ(NodeName().rfind("gale", 0), 0U);
    EXPECT_NE(NodeName().find('@'), std::string::npos);
}

}  // namespace
}  // namespace gale::tasks
