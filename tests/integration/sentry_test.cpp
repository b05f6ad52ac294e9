// SPDX-License-Identifier: MIT
// Error reporting as a deployment meets it: testsvc run with SENTRY_DSN pointing at a receiver on loopback
// (http_testing's RecordingServer). A throwing route, a returned 503 error, a plain 503 and a dead-lettered message
// each arrive as one envelope with the service's release, the role and the request's id and scrubbed headers; a
// Sentry that never answers slows no request, and shutdown still ends within its budget.
#include <signal.h>

#include <chrono>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <gale/http/testing/recording_server.hpp>
#include <gale/pipe/embedded_log.hpp>

#include "harness.hpp"

namespace {

using namespace std::chrono_literals;
using gale::http::testing::RecordingServer;
using gale::testing::integration::Eventually;
using gale::testing::integration::Get;
using gale::testing::integration::Process;
using gale::testing::integration::ReadFile;
using gale::testing::integration::StatusOf;
using Json = nlohmann::json;

#ifndef GALE_TESTSVC_PATH
#error "GALE_TESTSVC_PATH must name the testsvc binary"
#endif
constexpr const char* kTestsvc = GALE_TESTSVC_PATH;

/// An envelope's three lines, the item's length checked against its payload.
struct Envelope {
    Json header;
    Json item;
    Json payload;
};

Envelope Parse(const std::string& body) {
    std::istringstream in(body);
    std::string header, item, payload;
    std::getline(in, header);
    std::getline(in, item);
    std::getline(in, payload);
    Envelope e{Json::parse(header, nullptr, false), Json::parse(item, nullptr, false),
               Json::parse(payload, nullptr, false)};
    EXPECT_FALSE(e.header.is_discarded() || e.item.is_discarded() || e.payload.is_discarded()) << body;
    EXPECT_EQ(e.item.value("type", ""), "event");
    EXPECT_EQ(e.item.value("length", std::size_t{0}), payload.size());
    EXPECT_EQ(e.header.value("event_id", ""), e.payload.value("event_id", "?"));
    return e;
}

class SentryTest : public gale::testing::integration::ProcessTest {
protected:
    SentryTest() : ProcessTest("sentry-test", {"GALE_", "TESTSVC_", "SENTRY_"}) {}

    std::string DsnFor(std::uint16_t port) const { return "http://pubkey@127.0.0.1:" + std::to_string(port) + "/7"; }
    static std::uint16_t PortOf(const RecordingServer& s) {
        const std::string url = s.Url("");
        return static_cast<std::uint16_t>(std::stoi(url.substr(url.rfind(':') + 1)));
    }

    /// testsvc serve on loopback with `env`; returns the app port (0 on failure).
    std::uint16_t Serve(std::map<std::string, std::string> env, Process** out) {
        Process& p =
            Spawn({kTestsvc, "serve", "--bind", "127.0.0.1", "--port", "0", "--drain-delay", "0"}, std::move(env));
        *out = &p;
        const std::uint16_t probe = p.WaitForPort("probe server listening", 10s);
        const std::uint16_t app = p.WaitForPort("app server listening", 10s);
        EXPECT_NE(app, 0);
        EXPECT_TRUE(Eventually([&] { return StatusOf(probe, "/startup") == 200; }, 5s));
        return app;
    }

    static void ExpectScrubbedHeaders(const Json& request) {
        EXPECT_EQ(request["headers"].value("User-Agent", ""), "sentry-test");
        EXPECT_EQ(request["headers"].value("Authorization", ""), "[Filtered]");
        EXPECT_EQ(request["headers"].value("X-Api-Key", ""), "[Filtered]");
        EXPECT_FALSE(request["headers"].contains("Cookie"));
        EXPECT_FALSE(request.contains("data"));
    }
};

constexpr const char* kHeaders =
    "User-Agent: sentry-test\r\nCookie: sessionid=hunter2\r\nAuthorization: Bearer hunter2\r\nX-Api-Key: hunter2\r\n";

TEST_F(SentryTest, ServeReportsExceptionsReturnedErrorsAnd5xxOnceEachWithTheirRequest) {
    RecordingServer sentry;
    ASSERT_TRUE(sentry.ok());
    Process* p = nullptr;
    const std::uint16_t port = Serve({{"SENTRY_DSN", DsnFor(PortOf(sentry))}, {"SENTRY_ENVIRONMENT", "ci"}}, &p);
    ASSERT_NE(port, 0);
    auto thrown = Get(port, "/throw?access_token=hunter2&page=1", kHeaders);
    ASSERT_TRUE(thrown);
    EXPECT_EQ(thrown->status, 500);
    ASSERT_TRUE(sentry.WaitForRequests(1, 10s));
    auto returned = Get(port, "/error/unavailable", kHeaders);
    ASSERT_TRUE(returned);
    EXPECT_EQ(returned->status, 503);
    ASSERT_TRUE(sentry.WaitForRequests(2, 10s));
    auto plain = Get(port, "/status/503", kHeaders);
    ASSERT_TRUE(plain);
    EXPECT_EQ(plain->status, 503);
    ASSERT_TRUE(sentry.WaitForRequests(3, 10s));
    for (const char* quiet : {"/", "/status/404", "/error/not_found"}) EXPECT_LT(StatusOf(port, quiet), 500);
    p->Signal(SIGTERM);
    auto code = p->WaitExit(15s);
    ASSERT_TRUE(code);
    EXPECT_EQ(*code, 0);

    auto requests = sentry.requests();
    ASSERT_EQ(requests.size(), 3U) << "one event per failed request, none for the others";
    for (const auto& r : requests) {
        EXPECT_EQ(r.method, "POST");
        EXPECT_EQ(r.target, "/api/7/envelope/");
        EXPECT_EQ(r.Header("Content-Type").value_or(""), "application/x-sentry-envelope");
        const std::string auth = r.Header("X-Sentry-Auth").value_or("");
        EXPECT_TRUE(auth.starts_with("Sentry sentry_version=7, sentry_client=gale/")) << auth;
        EXPECT_NE(auth.find("sentry_key=pubkey"), std::string::npos) << auth;
        EXPECT_EQ(r.body.find("hunter2"), std::string::npos) << r.body;
    }
    const Json e1 = Parse(requests[0].body).payload;
    EXPECT_EQ(e1["level"], "error");
    EXPECT_EQ(e1["platform"], "native");
    EXPECT_EQ(e1["release"], "testsvc@1.2.3");
    EXPECT_EQ(e1["environment"], "ci");
    EXPECT_EQ(e1["tags"]["role"], "serve");
    EXPECT_EQ(e1["tags"]["request_id"], thrown->header("x-request-id"));
    EXPECT_EQ(e1["exception"]["values"][0]["type"], "std::runtime_error");
    EXPECT_EQ(e1["exception"]["values"][0]["value"], "boom: password=[Filtered]");
    EXPECT_EQ(e1["request"]["url"], "/throw");
    EXPECT_EQ(e1["request"]["query_string"], "access_token=[Filtered]&page=1");
    ExpectScrubbedHeaders(e1["request"]);
    EXPECT_FALSE(e1["breadcrumbs"]["values"].empty());  // the start-up records

    const Json e2 = Parse(requests[1].body).payload;
    EXPECT_EQ(e2["logger"], "gale.handler");
    EXPECT_EQ(e2["tags"]["request_id"], returned->header("x-request-id"));
    EXPECT_EQ(e2["extra"]["code"], "unavailable");
    ExpectScrubbedHeaders(e2["request"]);

    const Json e3 = Parse(requests[2].body).payload;
    EXPECT_EQ(e3["logger"], "gale.access");
    EXPECT_EQ(e3["message"]["formatted"], "HTTP 503 Service Unavailable answering GET /status/{code}");
    EXPECT_EQ(e3["tags"]["request_id"], plain->header("x-request-id"));
    EXPECT_EQ(e3["tags"]["route"], "/status/{code}");
    EXPECT_EQ(e3["request"]["url"], "/status/503");
    ExpectScrubbedHeaders(e3["request"]);
}

TEST_F(SentryTest, ADeadSentrySlowsNoRequestAndShutdownKeepsItsBudget) {
    const gale::http::testing::LoopbackPort silent(64);  // accepts, never answers
    ASSERT_TRUE(silent.ok());
    Process* p = nullptr;
    const std::uint16_t port = Serve({{"SENTRY_DSN", DsnFor(silent.port())}}, &p);
    ASSERT_NE(port, 0);
    for (int i = 0; i < 20; ++i) {
        const auto t0 = std::chrono::steady_clock::now();
        EXPECT_EQ(StatusOf(port, "/status/503"), 503);
        EXPECT_LT(std::chrono::steady_clock::now() - t0, 500ms) << "request " << i;  // a blocked send: seconds
    }
    const auto t0 = std::chrono::steady_clock::now();
    p->Signal(SIGTERM);
    auto code = p->WaitExit(15s);
    ASSERT_TRUE(code);
    EXPECT_EQ(*code, 0);
    // 2 s for the queue, about 1 s for libcurl to notice the cancelled send; no drain delay, nothing in flight.
    EXPECT_LT(std::chrono::steady_clock::now() - t0, 6s);
    EXPECT_NE(p->Log().find("events still unsent after the shutdown budget"), std::string::npos);
}

TEST_F(SentryTest, ConsumeReportsADeadLetteredMessage) {
    RecordingServer sentry;
    ASSERT_TRUE(sentry.ok());
    const std::string db = dir_ + "/pipe.db";
    const std::string out = dir_ + "/saved.txt";
    {
        auto log = gale::pipe::EmbeddedLog::Open(db);
        ASSERT_TRUE(log) << log.error().ToString();
        auto producer = log->Producer();
        ASSERT_TRUE(producer);
        for (const char* v : {R"(json:{"type":"us-state","version":1,"message":{"code":"XX","name":"Nowhere"}})",
                              R"(json:{"type":"us-state","version":1,"message":{"code":"NY","name":"New York"}})"}) {
            ASSERT_TRUE((*producer)->Send("us-states", "", v));
        }
    }
    Process& p = Spawn({kTestsvc, "consume", "--bind", "127.0.0.1", "--port", "0"},
                       {{"TESTSVC_PIPE_DB", db}, {"TESTSVC_PIPE_OUT", out}, {"SENTRY_DSN", DsnFor(PortOf(sentry))}});
    ASSERT_TRUE(Eventually([&] { return ReadFile(out) == "NY\n"; }, 10s)) << p.Log();
    ASSERT_TRUE(sentry.WaitForRequests(1, 10s)) << p.Log();
    p.Signal(SIGTERM);
    auto code = p.WaitExit(15s);
    ASSERT_TRUE(code);
    EXPECT_EQ(*code, 0);
    auto requests = sentry.requests();
    ASSERT_EQ(requests.size(), 1U) << "the failed attempts before it are warnings, not events";
    const Json e = Parse(requests[0].body).payload;
    EXPECT_EQ(e["message"]["formatted"], "Dead-lettered message");
    EXPECT_EQ(e["tags"]["role"], "consume");
    EXPECT_EQ(e["extra"]["topic"], "us-states");
    EXPECT_NE(e["extra"]["reason"].get<std::string>().find("XX cannot be saved"), std::string::npos) << e.dump();
}

}  // namespace
