// SPDX-License-Identifier: MIT
// Celery's view of gale's workers on Redis (labels redis, celery): the real Python Celery 5.2.6's event receiver
// (app.events.Receiver and State, as `celery events` and flower use them) sees gale's worker-online, heartbeats and
// worker-offline with the node's hostname, and `celery inspect ping` — the API and the CLI with -b redis://…, to one
// node and broadcast — lists gale's node; the same through the transport registry beside a running gale Worker,
// with Celery's default node name.
#include <unistd.h>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <gale/tasks/client.hpp>
#include <gale/tasks/redis.hpp>
#include <gale/tasks/redis_control.hpp>
#include <gale/tasks/redis_events.hpp>
#include <gale/tasks/settings.hpp>
#include <gale/tasks/task.hpp>
#include <gale/tasks/worker.hpp>

#include "redis_celery_fixture.hpp"

namespace gale::tasks::redis {
namespace {

using json = nlohmann::json;
using test::Child;
using test::Ms;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

template <typename F>
bool Eventually(F f, Ms timeout = Ms(10000)) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < deadline) {
        if (f()) return true;
        std::this_thread::sleep_for(Ms(20));
    }
    return f();
}

class CeleryPresence : public test::CeleryInterop {
protected:
    /// presence.py `args…` as a child; its output is read while it runs.
    std::unique_ptr<Child> Presence(std::vector<std::string> args, const std::string& name) {
        std::vector<std::string> argv{GALE_CELERY_PYTHON, std::string(GALE_CELERY_REDIS_DIR) + "/presence.py"};
        argv.insert(argv.end(), args.begin(), args.end());
        auto child = std::make_unique<Child>(argv, Env(), dir_ + "/" + name + ".out");
        EXPECT_TRUE(child->started());
        return child;
    }
    /// `celery -A celery_redis_app …` with the broker named on the command line, as an operator runs it.
    std::unique_ptr<Child> Cli(std::vector<std::string> args, const std::string& name) {
        std::vector<std::string> argv{GALE_CELERY_PYTHON, "-m", "celery",      "-A",
                                      "celery_redis_app", "-b", server_->url()};
        argv.insert(argv.end(), args.begin(), args.end());
        auto child = std::make_unique<Child>(argv, Env(), dir_ + "/" + name + ".out");
        EXPECT_TRUE(child->started());
        return child;
    }
    /// Waits (bounded) until the child printed `text`.
    static bool Printed(const Child& child, const std::string& text, Ms timeout = Ms(60000)) {
        const auto deadline = std::chrono::steady_clock::now() + timeout;
        while (std::chrono::steady_clock::now() < deadline) {
            if (child.Output().find(text) != std::string::npos) return true;
            std::this_thread::sleep_for(Ms(20));
        }
        return false;
    }
    static std::size_t Count(const std::string& text, const std::string& what) {
        std::size_t n = 0;
        for (auto at = text.find(what); at != std::string::npos; at = text.find(what, at + 1)) ++n;
        return n;
    }
    /// The child's last line as JSON (null when it is not).
    static json LastJson(const Child& child) {
        std::string out = child.Output();
        out = out.substr(0, out.find_last_not_of('\n') + 1);
        const auto nl = out.find_last_of('\n');
        return json::parse(nl == std::string::npos ? out : out.substr(nl + 1), nullptr, false);
    }
};

TEST_F(CeleryPresence, CeleryEventReceiverSeesGalesHeartbeatsAndOffline) {
    const std::string node = "gale-events-" + std::to_string(::getpid()) + "@127.0.0.1";
    auto receiver = Presence({"events", node, "30"}, "events");
    ASSERT_TRUE(Printed(*receiver, R"({"ready": true})")) << receiver->Output();

    auto sender = EventSender::Create(server_->connection_options(), {.nodename = node,
                                                                      .interval = Ms(1000),
                                                                      .active = [] { return std::uint64_t{1}; },
                                                                      .processed = [] { return std::uint64_t{7}; }});
    ASSERT_TRUE(sender) << sender.error().ToString();
    EXPECT_EQ((*sender)->heartbeat_channel(), "/0.celeryev/worker.heartbeat");  // kombu's, with fanout_prefix
    (*sender)->Start();
    ASSERT_TRUE(Eventually([&] { return Count(receiver->Output(), R"("worker-heartbeat")") >= 2; }, Ms(20000)))
        << receiver->Output();
    EXPECT_TRUE((*sender)->connected());
    (*sender)->Stop();
    EXPECT_EQ(receiver->Wait(Ms(30000)), 0) << receiver->Output();

    const json got = LastJson(*receiver);
    ASSERT_TRUE(got.is_object()) << receiver->Output();
    const auto types = got["types"].get<std::vector<std::string>>();
    ASSERT_GE(types.size(), 4u) << got.dump();
    EXPECT_EQ(types.front(), "worker-online");
    EXPECT_EQ(types.back(), "worker-offline");
    for (std::size_t i = 1; i + 1 < types.size(); ++i) EXPECT_EQ(types[i], "worker-heartbeat") << got.dump();
    EXPECT_EQ(got["alive"], true) << got.dump();         // Celery's State: alive while the beats came
    EXPECT_EQ(got["alive_after"], false) << got.dump();  // and gone after worker-offline
    EXPECT_EQ(got["sw_ident"], "gale");
    const json& beat = got["events"][1];
    EXPECT_EQ(beat["hostname"], node);
    EXPECT_EQ(beat["type"], "worker-heartbeat");
    std::vector<std::string> keys;
    for (const auto& [k, v] : beat.items()) keys.push_back(k);
    for (const char* k : {"hostname", "utcoffset", "pid", "clock", "freq", "active", "processed", "loadavg", "sw_ident",
                          "sw_ver", "sw_sys", "timestamp", "type"}) {
        EXPECT_THAT(keys, ::testing::Contains(k));
    }
    EXPECT_EQ(beat["freq"], 1.0);
    EXPECT_EQ(beat["active"], 1);
    EXPECT_EQ(beat["processed"], 7);
    EXPECT_EQ(beat["pid"], ::getpid());
    EXPECT_GE((*sender)->heartbeats(), 2u);
}

TEST_F(CeleryPresence, InspectPingListsGalesNode) {
    const std::string node = "gale-ping-" + std::to_string(::getpid()) + "@127.0.0.1";
    auto responder = ControlResponder::Create(server_->connection_options(), {.nodename = node});
    ASSERT_TRUE(responder) << responder.error().ToString();
    EXPECT_EQ((*responder)->channel(), "/0.celery.pidbox");
    (*responder)->Start();
    ASSERT_TRUE(Eventually([&] { return (*responder)->connected(); })) << (*responder)->last_error();

    auto ping = Presence({"ping", node, "5"}, "ping");
    EXPECT_EQ(ping->Wait(Ms(60000)), 0) << ping->Output();
    EXPECT_EQ(LastJson(*ping), json::parse(R"({")" + node + R"(": {"ok": "pong"}})")) << ping->Output();

    auto all = Presence({"ping-all", "3"}, "ping-all");  // a broadcast: every node answers
    EXPECT_EQ(all->Wait(Ms(60000)), 0) << all->Output();
    EXPECT_EQ(LastJson(*all), json::parse(R"({")" + node + R"(": {"ok": "pong"}})")) << all->Output();

    // The CLI, as Kubernetes probes written for Celery run it.
    auto cli = Cli({"inspect", "ping", "-d", node, "--timeout", "5"}, "cli");
    EXPECT_EQ(cli->Wait(Ms(60000)), 0) << cli->Output();
    EXPECT_THAT(cli->Output(), HasSubstr(node));
    EXPECT_THAT(cli->Output(), HasSubstr("pong"));
    EXPECT_THAT(cli->Output(), HasSubstr("1 node online"));

    // A command gale does not implement gets an answer that says so, not silence.
    auto stats = Cli({"inspect", "stats", "-d", node, "--timeout", "5"}, "stats");
    (void)stats->Wait(Ms(60000));
    EXPECT_THAT(stats->Output(), HasSubstr("gale does not implement the remote control command 'stats'"));
    EXPECT_GE((*responder)->answered(), 4u);

    // A ping for another node is not answered.
    const auto answered = (*responder)->answered();
    auto other = Presence({"ping", "nobody@127.0.0.1", "2"}, "ping-other");
    EXPECT_EQ(other->Wait(Ms(60000)), 0) << other->Output();
    EXPECT_EQ(LastJson(*other), json::object());
    EXPECT_EQ((*responder)->answered(), answered);
    (*responder)->Stop();
    EXPECT_FALSE((*responder)->connected());
}

// What the WORKER role starts (MakeWorkerCompanions for a redis:// broker, after Install()), beside a gale Worker
// running on the same server: Celery sees the worker's heartbeats and its ping answer, under Celery's default node
// name celery@<hostname>.
TEST_F(CeleryPresence, TheRegistrysCompanionsMakeAGaleWorkerVisibleToCelery) {
    Install();
    TasksSettings settings;
    auto url = ParseTransportUrl(server_->url(), "CELERY_BROKER_URL");
    ASSERT_TRUE(url) << url.error().ToString();
    settings.broker = *url;
    char host[256] = {};
    ASSERT_EQ(::gethostname(host, sizeof host - 1), 0);
    const std::string node = std::string("celery@") + host;

    TaskRegistry registry;
    ASSERT_TRUE(registry.Add("proj.tasks.add", [](TaskContext& ctx) -> Result<json> {
        return ctx.args().at(0).get<std::int64_t>() + ctx.args().at(1).get<std::int64_t>();
    }));
    auto broker = MakeBroker(server_->connection_options());
    auto backend = MakeResultBackend(server_->connection_options());
    TaskClient client(*broker, backend.get());
    Worker worker(*broker, registry, backend.get(), client, WorkerOptions{.concurrency = 1});
    ASSERT_TRUE(worker.Start());

    auto receiver = Presence({"events", node, "30"}, "events");
    ASSERT_TRUE(Printed(*receiver, R"({"ready": true})")) << receiver->Output();
    auto companions = MakeWorkerCompanions(
        settings, {}, {.active = [] { return std::uint64_t{0}; }, .processed = [] { return std::uint64_t{3}; }});
    ASSERT_TRUE(companions) << companions.error().ToString();
    ASSERT_EQ(companions->size(), 2u);
    for (auto& c : *companions) c->Start();

    ASSERT_TRUE(Printed(*receiver, R"({"event": "worker-heartbeat"})", Ms(20000))) << receiver->Output();
    auto cli = Cli({"inspect", "ping", "--timeout", "3"}, "cli");  // broadcast, as `celery status` does
    EXPECT_EQ(cli->Wait(Ms(60000)), 0) << cli->Output();
    EXPECT_THAT(cli->Output(), HasSubstr(node + ": OK"));
    EXPECT_THAT(cli->Output(), HasSubstr("pong"));

    for (auto& c : *companions) c->Stop();  // worker-offline, as the WORKER role stops them before the worker
    EXPECT_EQ(receiver->Wait(Ms(30000)), 0) << receiver->Output();
    const json got = LastJson(*receiver);
    ASSERT_TRUE(got.is_object()) << receiver->Output();
    EXPECT_EQ(got["types"].front(), "worker-online");
    EXPECT_EQ(got["types"].back(), "worker-offline");
    EXPECT_EQ(got["events"][1]["hostname"], node);
    EXPECT_EQ(got["events"][1]["processed"], 3);
    EXPECT_EQ(got["alive"], true);
    worker.Stop();
}

}  // namespace
}  // namespace gale::tasks::redis
