// SPDX-License-Identifier: MIT
// Interop with the real Python Celery on RabbitMQ (labels rabbitmq, celery): Debian's python3-celery 5.2.6 on
// /usr/bin/python3, driven through testing/celery_amqp/gale_celery_amqp.py. Both directions of tasks (Python's
// send_task read by gale's consumer and codec; gale's send run by a Python worker with its result read over rpc://),
// Python's AsyncResult.get() reading results gale stored, `celery inspect ping` answered by gale's ControlResponder,
// and Celery's event receiver seeing gale's worker events.
#include <unistd.h>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <gale/tasks/amqp.hpp>
#include <gale/tasks/amqp_control.hpp>
#include <gale/tasks/amqp_events.hpp>

#include "amqp_celery_fixture.hpp"

namespace gale::tasks::amqp {
namespace {

using test::Child;
using test::kPythonTimeout;
using test::Name;
using test::Python;
using test::ReadJson;
using ::testing::HasSubstr;

double SecondsFromNow(SystemTime t) {
    return std::chrono::duration<double>(t - std::chrono::system_clock::now()).count();
}

TEST(CeleryAmqpInterop, PythonSendTaskIsReadByGale) {
    GALE_TASKS_SHARED_BROKER(broker);
    const std::string queue = Name("q");
    auto py = Python(*broker, {"gale_celery_amqp.py", "send", queue}, "send");
    ASSERT_NE(py, nullptr);
    const nlohmann::json sent = ReadJson(*py);
    ASSERT_TRUE(sent.is_object());

    auto b = MakeBroker(broker->connection_options());
    auto c = b->Consume({queue}, 8);  // the queue Celery declared: gale's declaration must be equivalent
    ASSERT_TRUE(c) << c.error().ToString();
    auto d = (*c)->Next(std::chrono::seconds(10));
    ASSERT_TRUE(d && *d) << (d ? "no delivery" : d.error().ToString());
    auto t = DecodeTask((*d)->message);
    ASSERT_TRUE(t) << t.error().ToString();
    EXPECT_EQ(t->id, sent["id"]);
    EXPECT_EQ(t->task, "tasks.add");
    EXPECT_EQ(t->args, nlohmann::json::parse("[2, 3]"));
    EXPECT_EQ(t->kwargs, nlohmann::json::parse(R"({"z": 1})"));
    ASSERT_TRUE(t->eta);
    EXPECT_NEAR(SecondsFromNow(*t->eta), 60, 10);  // countdown=60
    ASSERT_TRUE(t->expires);
    EXPECT_NEAR(SecondsFromNow(*t->expires), 3600, 10);
    EXPECT_EQ(t->priority, 5);
    EXPECT_EQ((*d)->message.priority, 5);
    EXPECT_EQ(t->retries, 2);
    EXPECT_EQ(t->hard_time_limit, 30.0);
    EXPECT_EQ(t->soft_time_limit, 20.0);
    EXPECT_EQ(t->reply_to, sent["oid"]);
    EXPECT_EQ(t->root_id, t->id);
    EXPECT_THAT(t->origin, ::testing::StartsWith("gen"));
    EXPECT_EQ(t->argsrepr, "[2, 3]");  // send_task: saferepr of the list it was given
    EXPECT_EQ(t->kwargsrepr, "{'z': 1}");
    EXPECT_EQ((*d)->message.correlation_id, t->id);
    ASSERT_TRUE((*d)->message.expiration);  // kombu: expires → the AMQP expiration, in ms
    EXPECT_NEAR(static_cast<double>((*d)->message.expiration->count()), 3600000, 10000);
    EXPECT_EQ((*d)->message.delivery_mode, 2);
    EXPECT_EQ((*d)->routing_key, queue);
    EXPECT_EQ((*d)->exchange, "");
    ASSERT_TRUE((*c)->Ack(**d));
    EXPECT_EQ(py->Wait(kPythonTimeout), 0) << py->Stderr();
}

TEST(CeleryAmqpInterop, GaleSendsAPythonWorkerRunsAndGaleReadsTheRpcResult) {
    GALE_TASKS_SHARED_BROKER(broker);
    const std::string queue = Name("q");
    const std::string node = "py-" + std::to_string(::getpid()) + "@localhost";
    auto worker = Python(*broker,
                         {"-m", "celery", "-A", "gale_celery_amqp", "worker", "-P", "solo", "-Q", queue, "-n", node,
                          "--without-gossip", "--without-mingle", "-l", "info"},
                         "worker");
    ASSERT_NE(worker, nullptr);
    ASSERT_TRUE(worker->StderrContains(node + " ready.", kPythonTimeout)) << worker->Stderr();

    auto b = MakeBroker(broker->connection_options());
    auto results = MakeRpcBackend(*b);
    ASSERT_TRUE(results) << results.error().ToString();
    auto send = [&](const std::string& task, nlohmann::json args) -> std::string {
        TaskRequest r;
        r.id = NewTaskId();
        r.task = task;
        r.root_id = r.id;
        r.args = std::move(args);
        r.origin = NodeName();
        EXPECT_TRUE((*results)->Prepare(r));
        auto sent = b->Publish(Route{.queue = queue}, EncodeTask(r));
        EXPECT_TRUE(sent) << sent.error().ToString();
        return r.id;
    };
    const std::string ok = send("tasks.add", {2, 3});
    const std::string bad = send("tasks.fail", {"boom"});
    auto five = (*results)->Wait(ok, kPythonTimeout);
    ASSERT_TRUE(five) << five.error().ToString() << "\n" << worker->Stderr();
    EXPECT_EQ(five->state, TaskState::kSuccess);
    EXPECT_EQ(five->result, 5);
    auto failed = (*results)->Wait(bad, kPythonTimeout);
    ASSERT_TRUE(failed) << failed.error().ToString();
    EXPECT_EQ(failed->state, TaskState::kFailure);
    EXPECT_EQ(failed->result["exc_type"], "ValueError");
    EXPECT_EQ(failed->result["exc_message"], nlohmann::json::parse(R"(["boom"])"));
    EXPECT_THAT(failed->traceback, HasSubstr("ValueError: boom"));
    EXPECT_THAT(worker->Stderr(), HasSubstr("Task tasks.add[" + ok + "] succeeded"));
    worker->Terminate();
}

TEST(CeleryAmqpInterop, PythonAsyncResultGetReadsWhatGaleStored) {
    GALE_TASKS_SHARED_BROKER(broker);
    const std::string queue = Name("q");
    auto b = MakeBroker(broker->connection_options());
    auto backend = MakeRpcBackend(broker->connection_options());
    ASSERT_TRUE(backend);
    for (const bool succeed : {true, false}) {
        auto py = Python(*broker, {"gale_celery_amqp.py", "delay-and-get", queue, "30"}, "get");
        ASSERT_NE(py, nullptr);
        const nlohmann::json sent = ReadJson(*py);
        ASSERT_TRUE(sent.is_object());
        auto c = b->Consume({queue}, 1);
        ASSERT_TRUE(c) << c.error().ToString();
        auto d = (*c)->Next(std::chrono::seconds(10));
        ASSERT_TRUE(d && *d);
        auto request = DecodeTask((*d)->message);
        ASSERT_TRUE(request) << request.error().ToString();
        EXPECT_EQ(request->id, sent["id"]);
        EXPECT_EQ(request->reply_to, sent["oid"]);
        TaskResult result;
        result.task_id = request->id;
        if (succeed) {
            result.state = TaskState::kSuccess;
            result.result = request->args[0].get<int>() + request->args[1].get<int>();
        } else {
            result.state = TaskState::kFailure;
            result.result = TaskResult::Failure("ValueError", "gale says no");
            result.traceback = "Traceback (most recent call last):\n  gale\nValueError: gale says no\n";
        }
        ASSERT_TRUE((*backend)->Store(*request, result));
        ASSERT_TRUE((*c)->Ack(**d));
        const nlohmann::json got = ReadJson(*py);
        if (succeed) {
            EXPECT_EQ(got, nlohmann::json::parse(R"({"result": 42, "state": "SUCCESS"})")) << py->Stderr();
        } else {
            EXPECT_EQ(got, nlohmann::json::parse(R"({"error": "ValueError", "message": "gale says no",)"
                                                 R"( "state": "FAILURE"})"))
                << py->Stderr();
        }
        EXPECT_EQ(py->Wait(kPythonTimeout), 0) << py->Stderr();
    }
}

TEST(CeleryAmqpInterop, InspectPingSeesGalesNode) {
    GALE_TASKS_SHARED_BROKER(broker);
    const std::string node = "gale-" + std::to_string(::getpid()) + "@localhost";
    auto responder = ControlResponder::Create(broker->connection_options(), {.nodename = node});
    ASSERT_TRUE(responder) << responder.error().ToString();
    (*responder)->Start();
    ASSERT_TRUE(test::Eventually([&] { return (*responder)->connected(); })) << (*responder)->last_error();

    auto py = Python(*broker, {"gale_celery_amqp.py", "ping", node, "5"}, "ping");
    ASSERT_NE(py, nullptr);
    EXPECT_EQ(ReadJson(*py), nlohmann::json::parse(R"({")" + node + R"(": {"ok": "pong"}})"));
    EXPECT_EQ(py->Wait(kPythonTimeout), 0) << py->Stderr();

    // The CLI, as Kubernetes probes written for Celery run it.
    auto cli = Python(
        *broker, {"-m", "celery", "-A", "gale_celery_amqp", "inspect", "ping", "-d", node, "--timeout", "5"}, "cli");
    ASSERT_NE(cli, nullptr);
    auto first = cli->ReadLine(kPythonTimeout);
    ASSERT_TRUE(first) << first.error().ToString();
    std::string all = *first;
    while (auto more = cli->ReadLine(std::chrono::seconds(10))) all += "\n" + *more;
    EXPECT_THAT(all, HasSubstr(node));
    EXPECT_THAT(all, HasSubstr("pong"));
    EXPECT_THAT(all, HasSubstr("1 node online"));
    EXPECT_EQ(cli->Wait(kPythonTimeout), 0) << cli->Stderr();

    // A command gale does not implement gets an answer that says so, not silence.
    auto stats = Python(
        *broker, {"-m", "celery", "-A", "gale_celery_amqp", "inspect", "stats", "-d", node, "--timeout", "5"}, "stats");
    ASSERT_NE(stats, nullptr);
    std::string text;
    while (auto line = stats->ReadLine(std::chrono::seconds(20))) text += *line + "\n";
    EXPECT_THAT(text, HasSubstr("gale does not implement the remote control command 'stats'"));
    EXPECT_GE((*responder)->answered(), 3u);
    (*responder)->Stop();
    EXPECT_FALSE((*responder)->connected());
}

TEST(CeleryAmqpInterop, CeleryEventReceiverSeesGalesWorker) {
    GALE_TASKS_SHARED_BROKER(broker);
    const std::string node = "gale-events-" + std::to_string(::getpid()) + "@localhost";
    auto py = Python(*broker, {"gale_celery_amqp.py", "events", node, "20"}, "events");
    ASSERT_NE(py, nullptr);
    EXPECT_EQ(ReadJson(*py), nlohmann::json::parse(R"({"ready": true})"));
    auto sender = EventSender::Create(broker->connection_options(), {.nodename = node,
                                                                     .interval = std::chrono::milliseconds(1000),
                                                                     .active = [] { return std::uint64_t{1}; },
                                                                     .processed = [] { return std::uint64_t{7}; }});
    ASSERT_TRUE(sender) << sender.error().ToString();
    (*sender)->Start();
    const nlohmann::json got = ReadJson(*py);
    ASSERT_TRUE(got.is_object()) << py->Stderr();
    EXPECT_THAT(got["types"].get<std::vector<std::string>>(),
                ::testing::ElementsAre("worker-online", "worker-heartbeat", "worker-heartbeat"));
    EXPECT_EQ(got["alive"], true);
    EXPECT_EQ(got["sw_ident"], "gale");
    const nlohmann::json& beat = got["events"][1];
    std::vector<std::string> keys;
    for (const auto& [k, v] : beat.items()) keys.push_back(k);
    // Celery's fields; State adds local_received to what it received.
    for (const char* k : {"hostname", "utcoffset", "pid", "clock", "freq", "active", "processed", "loadavg", "sw_ident",
                          "sw_ver", "sw_sys", "timestamp", "type"}) {
        EXPECT_THAT(keys, ::testing::Contains(k));
    }
    EXPECT_EQ(beat["freq"], 1.0);
    EXPECT_EQ(beat["active"], 1);
    EXPECT_EQ(beat["processed"], 7);
    EXPECT_EQ(beat["pid"], ::getpid());
    (*sender)->Stop();
    EXPECT_GE((*sender)->heartbeats(), 2u);
    EXPECT_EQ(py->Wait(kPythonTimeout), 0) << py->Stderr();
}

}  // namespace
}  // namespace gale::tasks::amqp
