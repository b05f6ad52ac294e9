// SPDX-License-Identifier: MIT
//
// The example service's AMQP consumer (issue 9 §3) as a user runs it: `hello consume` next to `hello serve`, real
// processes in a fresh directory, a real RabbitMQ (Debian rabbitmq-server, started by the fixture on free loopback
// ports, stopped afterwards). A message with routing key visits.* and body `ada` records a visit that GET
// /visits/ada on `serve` then counts. Also: without a broker, `consume` says once that the AMQP consumers are off and
// runs its log-pipe consumer; a broker restart drops readiness, and consumption resumes; SIGTERM exits 0.
#include <signal.h>

#include <chrono>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <gale/amqp/publisher.hpp>
#include <gale/amqp/settings.hpp>
#include <gale/amqp/testing/rabbitmq_server.hpp>

#include "harness.hpp"

namespace {

using namespace std::chrono_literals;
using gale::testing::integration::Eventually;
using gale::testing::integration::Get;
using gale::testing::integration::Process;
using gale::testing::integration::ProcessTest;
using Json = nlohmann::json;

#ifndef GALE_HELLO_PATH
#error "GALE_HELLO_PATH must name the hello binary"
#endif
constexpr const char* kHello = GALE_HELLO_PATH;

class HelloAmqpTest : public ProcessTest {
protected:
    HelloAmqpTest() : ProcessTest("hello-amqp", {"GALE_", "APP_", "DATABASE_", "AMQP_", "RABBITMQ_"}) {}

    /// `hello ARGS…` in dir_ with `env`, without the runner's GALE_*, APP_*, DATABASE_*, AMQP_* and RABBITMQ_*.
    Process& Hello(std::vector<std::string> args, std::map<std::string, std::string> env = {}) {
        args.insert(args.begin(), kHello);
        return Spawn(std::move(args), std::move(env));
    }

    int Visits(std::uint16_t port, const std::string& name) {
        auto r = Get(port, "/visits/" + name);
        if (!r || r->status != 200) return -1;
        return Json::parse(r->body, nullptr, false).value("visits", -1);
    }

    static int StatusOf(std::uint16_t port, const std::string& path) {
        auto r = Get(port, path);
        return r ? r->status : 0;
    }
};

TEST_F(HelloAmqpTest, WithoutABrokerConsumeSaysOnceThatAmqpIsOffAndRunsThePipe) {
    {
        Process& migrate = Hello({"migrate"});  // hello's readiness check reads the visits table
        auto code = migrate.WaitExit(10s);
        ASSERT_TRUE(code);
        ASSERT_EQ(*code, 0);
    }
    Process& consume = Hello({"consume", "--bind", "127.0.0.1", "--port", "0"});
    std::uint16_t probe = consume.WaitForPort("probe server listening", 10s);
    ASSERT_NE(probe, 0);
    ASSERT_TRUE(Eventually([&] { return StatusOf(probe, "/ready") == 200; }, 10s)) << "the log pipe is not ready";
    std::this_thread::sleep_for(2s);  // no retry storm: still the one line
    EXPECT_EQ(consume
                  .Records("AMQP consumers are off: no broker is configured (set AMQP_URL, AMQP_HOST or "
                           "RABBITMQ_HOST, or pass --amqp-host)")
                  .size(),
              1U);
    EXPECT_TRUE(consume.Records("consuming").size() == 1U);
    consume.Signal(SIGTERM);
    auto code = consume.WaitExit(10s);
    ASSERT_TRUE(code);
    EXPECT_EQ(*code, 0);
}

TEST_F(HelloAmqpTest, AVisitPublishedOnRabbitMqIsRecordedAndReadBackThroughServe) {
    auto broker = gale::amqp::testing::RabbitMqServer::Start();
    ASSERT_TRUE(broker) << broker.error().ToString();
    const std::string url = (*broker)->url();
    {
        Process& migrate = Hello({"migrate"});
        auto code = migrate.WaitExit(10s);
        ASSERT_TRUE(code);
        ASSERT_EQ(*code, 0);
    }
    Process& serve = Hello({"serve", "--bind", "127.0.0.1", "--port", "0", "--drain-delay", "0s"});
    std::uint16_t app = serve.WaitForPort("app server listening", 10s);
    ASSERT_NE(app, 0);
    Process& consume = Hello({"consume", "--bind", "127.0.0.1", "--port", "0"}, {{"AMQP_URL", url}});
    std::uint16_t probe = consume.WaitForPort("probe server listening", 10s);
    ASSERT_NE(probe, 0);
    ASSERT_TRUE(Eventually([&] { return StatusOf(probe, "/ready") == 200; }, 20s))
        << "consume not ready: " << (Get(probe, "/ready") ? Get(probe, "/ready")->body : "");

    auto connection = gale::amqp::ParseUrl(url);
    ASSERT_TRUE(connection);
    auto publisher = gale::amqp::Publisher::Connect(*connection);
    ASSERT_TRUE(publisher) << publisher.error().ToString();
    ASSERT_TRUE((*publisher)->Publish("hello", "visits.web", "ada"));
    ASSERT_TRUE((*publisher)->Publish("hello", "visits.mobile.ios", "ada"));
    EXPECT_TRUE(Eventually([&] { return Visits(app, "ada") == 2; }, 10s)) << Visits(app, "ada");
    // An empty body is refused by the handler: dead-lettered at once (not retried), and consumption goes on.
    ASSERT_TRUE((*publisher)->Publish("hello", "visits.web", ""));
    ASSERT_TRUE((*publisher)->Publish("hello", "visits.web", "grace"));
    EXPECT_TRUE(Eventually([&] { return Visits(app, "grace") == 1; }, 10s));
    EXPECT_TRUE(Eventually(
        [&] {
            auto dead = (*publisher)->DeclareQueue({.name = "hello.visits.dead-letter"});
            return dead && *dead == 1;
        },
        5s))
        << "the empty message is not in hello.visits.dead-letter";
    auto metrics = Get(probe, "/metrics");
    ASSERT_TRUE(metrics);
    EXPECT_NE(metrics->body.find("gale_amqp_messages_total"), std::string::npos);

    // The broker goes away: readiness fails (liveness does not, within the outage limit); it comes back: ready again,
    // and consumption resumes.
    publisher->reset();
    ASSERT_TRUE((*broker)->Stop());
    EXPECT_TRUE(Eventually([&] { return StatusOf(probe, "/ready") == 503; }, 10s));
    EXPECT_EQ(StatusOf(probe, "/alive"), 200);
    ASSERT_TRUE((*broker)->StartAgain());
    EXPECT_TRUE(Eventually([&] { return StatusOf(probe, "/ready") == 200; }, 40s)) << "no reconnect";
    auto again = gale::amqp::Publisher::Connect(*connection);
    ASSERT_TRUE(again) << again.error().ToString();
    ASSERT_TRUE((*again)->Publish("hello", "visits.web", "ada"));
    EXPECT_TRUE(Eventually([&] { return Visits(app, "ada") == 3; }, 10s));

    consume.Signal(SIGTERM);
    serve.Signal(SIGTERM);
    auto consume_code = consume.WaitExit(30s);
    auto serve_code = serve.WaitExit(10s);
    ASSERT_TRUE(consume_code);
    ASSERT_TRUE(serve_code);
    EXPECT_EQ(*consume_code, 0);
    EXPECT_EQ(*serve_code, 0);
}

}  // namespace

namespace {

// `hello worker` on RabbitMQ answers Celery's own remote control: `celery inspect ping` (the real Python CLI, Debian's
// python3-celery) sees its node, so probes and scripts written for Celery workers find a gale worker unchanged.
TEST_F(HelloAmqpTest, TheWorkerAnswersCeleryInspectPing) {
    auto broker = gale::amqp::testing::RabbitMqServer::Start();
    ASSERT_TRUE(broker) << broker.error().ToString();
    const std::string url = (*broker)->url();
    {
        Process& migrate = Hello({"migrate"});
        auto code = migrate.WaitExit(10s);
        ASSERT_TRUE(code);
        ASSERT_EQ(*code, 0);
    }
    Process& worker = Hello({"worker", "--bind", "127.0.0.1", "--port", "0", "--drain-delay", "0s"},
                            {{"CELERY_BROKER_URL", url}, {"CELERY_RESULT_BACKEND", "rpc://"}});
    std::uint16_t probe = worker.WaitForPort("probe server listening", 10s);
    ASSERT_NE(probe, 0);
    ASSERT_TRUE(Eventually([&] { return StatusOf(probe, "/ready") == 200; }, 20s)) << "the worker is not consuming";

    bool pong = false;
    std::string out;
    for (int attempt = 0; attempt < 5 && !pong; ++attempt) {  // the pidbox queue is declared by a thread of its own
        Process& ping =
            Spawn({"/usr/bin/python3", "-m", "celery", "--broker", url, "inspect", "ping", "--timeout", "3"});
        auto code = ping.WaitExit(30s);
        ASSERT_TRUE(code) << "celery inspect ping hung";
        out = ping.Log();
        pong = *code == 0 && out.find("pong") != std::string::npos;
    }
    EXPECT_TRUE(pong) << out;
    worker.Signal(SIGTERM);
    auto code = worker.WaitExit(20s);
    ASSERT_TRUE(code);
    EXPECT_EQ(*code, 0);
}

}  // namespace
