// SPDX-License-Identifier: MIT
// The integration end to end inside one process: gale's log records and a real http::Server (its handlers
// throwing, returning errors and 5xx) reported to a real receiver over loopback.
#include <chrono>
#include <stdexcept>
#include <string>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <gale/http/router.hpp>
#include <gale/http/server.hpp>
#include <gale/http/testing/raw_client.hpp>
#include <gale/log/log.hpp>
#include <gale/log/testing/captured_log.hpp>
#include <gale/sentry/integration.hpp>

#include "receiver_fixture.hpp"

namespace gale::sentry {
namespace {

using namespace std::chrono_literals;
using testing::ParseEnvelope;
using testing::Receiver;

struct OrderError : std::runtime_error {
    using std::runtime_error::runtime_error;
};

class SentryIntegration : public ::testing::Test {
protected:
    SentryIntegration() {
        ReporterOptions o;
        o.dsn = ParseDsn(receiver_.Dsn()).value();
        o.release = "svc@1.0";
        o.tags = {{"role", "serve"}};
        o.request_hold = 2000ms;
        reporter_ = std::make_unique<Reporter>(o);
        integration_ = std::make_unique<Integration>(*reporter_, IntegrationOptions{.max_breadcrumbs = 5});
        integration_->Install();
    }
    ~SentryIntegration() override {
        integration_->Uninstall();
        reporter_->Stop();
    }
    std::vector<nlohmann::json> Payloads() {
        std::vector<nlohmann::json> out;
        for (const auto& r : receiver_.received()) {
            auto env = ParseEnvelope(r.body);
            if (env) out.push_back(env->payload);
        }
        return out;
    }

    log::testing::CapturedLog captured_;  // keeps the test's output quiet and lets it read the records
    Receiver receiver_;
    std::unique_ptr<Reporter> reporter_;
    std::unique_ptr<Integration> integration_;
};

TEST_F(SentryIntegration, ErrorRecordsBecomeEventsWithBreadcrumbsOthersOnlyBreadcrumbs) {
    log::Debug("app", "debug is neither");
    for (int i = 0; i < 7; ++i) log::Info("app", "step", {{"i", i}});
    log::Warning("app", "careful", {{"api_key", "k-123"}, {"dsn", "https://u:hunter2@host/1"}});
    log::Error("gale.worker", "task failed",
               {{"task", "orders.charge"},
                {"id", "t-1"},
                {"exc_type", "ValueError"},
                {"exc_module", "builtins"},
                {"error", "card declined: token=tok_secret"}});
    log::Error("gale.sentry", "never an event of its own");
    ASSERT_TRUE(reporter_->Flush(5s));
    auto payloads = Payloads();
    ASSERT_EQ(payloads.size(), 1U);
    const auto& p = payloads[0];
    EXPECT_EQ(p["level"], "error");
    EXPECT_EQ(p["logger"], "gale.worker");
    EXPECT_EQ(p["message"]["formatted"], "task failed");
    EXPECT_EQ(p["exception"]["values"][0]["type"], "ValueError");
    EXPECT_EQ(p["exception"]["values"][0]["module"], "builtins");
    EXPECT_EQ(p["exception"]["values"][0]["value"], "card declined: token=[Filtered]");
    EXPECT_EQ(p["extra"]["task"], "orders.charge");
    EXPECT_EQ(p["tags"]["role"], "serve");
    EXPECT_EQ(p["release"], "svc@1.0");
    // The last five records at info or above, oldest first; the warning's secrets filtered.
    const auto& crumbs = p["breadcrumbs"]["values"];
    ASSERT_EQ(crumbs.size(), 5U);
    EXPECT_EQ(crumbs[0]["data"]["i"], "3");
    EXPECT_EQ(crumbs[3]["data"]["i"], "6");
    EXPECT_EQ(crumbs[4]["level"], "warning");
    EXPECT_EQ(crumbs[4]["data"]["api_key"], "[Filtered]");
    EXPECT_EQ(crumbs[4]["data"]["dsn"], "https://u:[Filtered]@host/1");
    EXPECT_EQ(receiver_.received()[0].body.find("hunter2"), std::string::npos);
    EXPECT_EQ(receiver_.received()[0].body.find("tok_secret"), std::string::npos);
}

class SentryHttp : public SentryIntegration {
protected:
    SentryHttp() {
        (void)router_.Add(http::Method::kGet, "/throw/{id}",
                          [](http::Request&) -> http::Response { throw OrderError("order failed: password=hunter2"); });
        (void)router_.Add(http::Method::kGet, "/fail", http::HandleErrors([](http::Request&) -> Result<http::Response> {
                              return MakeError(ErrorCode::kUnavailable, "db down: password=hunter2");
                          }));
        (void)router_.Add(http::Method::kGet, "/plain503",
                          [](http::Request&) { return http::Response::Text(503, "busy\n"); });
        (void)router_.Add(http::Method::kGet, "/notfound",
                          [](http::Request&) { return http::Response::Text(404, "no\n"); });
        http::ServerOptions o;
        o.bind = "127.0.0.1";
        o.port = 0;
        o.loops = 1;
        o.workers = 2;
        server_ = std::make_unique<http::Server>(o, router_,
                                                 [this](const http::RequestRecord& r) { integration_->OnRequest(r); });
        EXPECT_TRUE(server_->Listen());
        server_->Start();
    }
    ~SentryHttp() override { server_->Stop(); }

    std::optional<http::testing::RawResponse> Get(const std::string& target) {
        return http::testing::Fetch(server_->port(), "GET " + target +
                                                         " HTTP/1.1\r\nHost: svc\r\nCookie: sessionid=abc\r\n"
                                                         "Authorization: Bearer hunter2\r\nX-Api-Key: hunter2\r\n"
                                                         "User-Agent: test/1\r\nConnection: close\r\n\r\n");
    }

    http::Router router_;
    std::unique_ptr<http::Server> server_;
};

void ExpectScrubbedRequest(const nlohmann::json& p, const std::string& url) {
    const auto& r = p["request"];
    EXPECT_EQ(r["method"], "GET");
    EXPECT_EQ(r["url"], url);
    EXPECT_EQ(r["headers"]["Host"], "svc");
    EXPECT_EQ(r["headers"]["User-Agent"], "test/1");
    EXPECT_EQ(r["headers"]["Authorization"], "[Filtered]");
    EXPECT_EQ(r["headers"]["X-Api-Key"], "[Filtered]");
    EXPECT_FALSE(r["headers"].contains("Cookie"));
    EXPECT_FALSE(r.contains("data"));
    EXPECT_FALSE(r.contains("cookies"));
}

TEST_F(SentryHttp, AThrowingHandlerIsOneEventWithItsExceptionAndRequest) {
    auto res = Get("/throw/7?token=hunter2&page=2");
    ASSERT_TRUE(res);
    ASSERT_EQ(res->status, 500);
    const std::string request_id = res->header("x-request-id");
    ASSERT_TRUE(reporter_->Flush(5s));
    auto payloads = Payloads();
    ASSERT_EQ(payloads.size(), 1U) << "the exception and its 500 are one event";
    const auto& p = payloads[0];
    EXPECT_EQ(p["exception"]["values"][0]["type"], "gale::sentry::(anonymous namespace)::OrderError");
    EXPECT_EQ(p["exception"]["values"][0]["value"], "order failed: password=[Filtered]");
    EXPECT_EQ(p["tags"]["request_id"], request_id);
    EXPECT_EQ(p["extra"]["route"], "/throw/{id}");
    ExpectScrubbedRequest(p, "/throw/7");
    EXPECT_EQ(p["request"]["query_string"], "token=[Filtered]&page=2");
    EXPECT_EQ(receiver_.received()[0].body.find("hunter2"), std::string::npos);
}

TEST_F(SentryHttp, AReturnedErrorAndAPlain503AreOneEventEachA404None) {
    auto fail = Get("/fail");
    ASSERT_TRUE(fail);
    EXPECT_EQ(fail->status, 503);
    ASSERT_TRUE(reporter_->Flush(5s));
    auto plain = Get("/plain503");
    ASSERT_TRUE(plain);
    EXPECT_EQ(plain->status, 503);
    auto nf = Get("/notfound");
    ASSERT_TRUE(nf);
    EXPECT_EQ(nf->status, 404);
    ASSERT_TRUE(reporter_->Flush(5s));
    auto payloads = Payloads();
    ASSERT_EQ(payloads.size(), 2U);
    EXPECT_EQ(payloads[0]["logger"], "gale.handler");
    EXPECT_EQ(payloads[0]["tags"]["request_id"], fail->header("x-request-id"));
    EXPECT_EQ(payloads[0]["extra"]["status"], "503");
    EXPECT_NE(payloads[0]["extra"]["error"].get<std::string>().find("password=[Filtered]"), std::string::npos);
    ExpectScrubbedRequest(payloads[0], "/fail");
    EXPECT_EQ(payloads[1]["logger"], "gale.access");
    EXPECT_EQ(payloads[1]["message"]["formatted"], "HTTP 503 Service Unavailable answering GET /plain503");
    EXPECT_EQ(payloads[1]["tags"]["request_id"], plain->header("x-request-id"));
    EXPECT_EQ(payloads[1]["tags"]["status_code"], "503");
    ExpectScrubbedRequest(payloads[1], "/plain503");
    // Breadcrumbs of the second include the first's error record.
    bool saw = false;
    for (const auto& c : payloads[1]["breadcrumbs"]["values"]) saw = saw || c["category"] == "gale.handler";
    EXPECT_TRUE(saw);
}

TEST_F(SentryHttp, ADeadSentryDoesNotSlowRequests) {
    // A Reporter whose Sentry never answers, fed by every request: requests keep their speed.
    testing::SilentPort silent;
    ReporterOptions o;
    o.dsn = ParseDsn("http://k@127.0.0.1:" + std::to_string(silent.port()) + "/1").value();
    o.send_timeout = 10s;
    o.max_events_per_minute = 1000;
    integration_->Uninstall();
    Reporter dead(o);
    Integration hooked(dead);
    hooked.Install();
    http::Router router;
    (void)router.Add(http::Method::kGet, "/plain503", [](http::Request&) { return http::Response::Text(503, "x"); });
    http::ServerOptions so;
    so.bind = "127.0.0.1";
    so.port = 0;
    so.loops = 1;
    so.workers = 2;
    http::Server server(so, router, [&hooked](const http::RequestRecord& r) { hooked.OnRequest(r); });
    ASSERT_TRUE(server.Listen());
    server.Start();
    for (int i = 0; i < 20; ++i) {
        const auto t0 = std::chrono::steady_clock::now();
        auto res =
            http::testing::Fetch(server.port(), "GET /plain503 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
        const auto took = std::chrono::steady_clock::now() - t0;
        ASSERT_TRUE(res);
        EXPECT_EQ(res->status, 503);
        EXPECT_LT(took, 50ms) << "request " << i;
    }
    server.Stop();
    hooked.Uninstall();
    const auto f0 = std::chrono::steady_clock::now();
    EXPECT_FALSE(dead.Flush(200ms));
    EXPECT_LT(std::chrono::steady_clock::now() - f0, 1000ms);
}

}  // namespace
}  // namespace gale::sentry
