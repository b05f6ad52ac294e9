// SPDX-License-Identifier: MIT
// gale's Redis broker and result backend against the real Python Celery (Debian's python3-celery 5.2.6, kombu
// 5.2.4, python3-redis 4.3.4 on /usr/bin/python3) on one real redis-server (labels redis, celery): Python's
// send_task read by gale's consumer and DecodeTask; gale's messages run by a Celery worker whose results gale
// reads; gale's results read by AsyncResult.get(); the visibility-timeout restore in both directions. Every wait
// is bounded and every process this test starts is killed by it. Fails, never skips, without Python Celery.
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <gale/redis/connection.hpp>
#include <gale/tasks/message.hpp>
#include <gale/tasks/redis.hpp>

#include "redis_celery_fixture.hpp"

namespace gale::tasks::redis {
namespace {

using json = nlohmann::json;
using test::CeleryInterop;
using test::Ms;
using ::testing::HasSubstr;
namespace r = gale::redis;

double Seconds(SystemTime t) { return std::chrono::duration<double>(t.time_since_epoch()).count(); }
double NowSeconds() { return Seconds(std::chrono::system_clock::now()); }

TEST_F(CeleryInterop, PythonSendTaskIsDeliveredAndDecoded) {
    const double before = NowSeconds();
    json sent = Python("send", {{"name", "proj.tasks.add"},
                                {"args", {2, 3}},
                                {"kwargs", {{"scale", 10}, {"label", "é"}}},
                                {"countdown", 60},
                                {"expires", 3600},
                                {"priority", 5},
                                {"retries", 2}});
    ASSERT_TRUE(sent.is_object());
    const std::string id = sent["id"];
    auto c = Redis();
    EXPECT_EQ(*c->Command({"LLEN",
                           "celery\x06\x16"
                           "3"}),
              r::Reply::Integer(1));  // priority 5 -> step 3
    EXPECT_EQ(*c->Command({"LLEN", "celery"}), r::Reply::Integer(0));
    // Celery's producer declared its queue: the binding set is kombu's.
    EXPECT_EQ(*c->Command({"SISMEMBER", "_kombu.binding.celery",
                           "celery\x06\x16\x06\x16"
                           "celery"}),
              r::Reply::Integer(1));

    auto broker = MakeBroker(server_->connection_options());
    EXPECT_EQ(*broker->QueueLength("celery"), 1U);
    auto consumer = broker->Consume({"celery"}, 1);
    ASSERT_TRUE(consumer);
    auto d = (*consumer)->Next(Ms(5000));
    ASSERT_TRUE(d && *d) << (d ? "nothing delivered" : d.error().ToString());
    EXPECT_EQ((*d)->queue, "celery");
    EXPECT_EQ((*d)->exchange, "");
    EXPECT_EQ((*d)->routing_key, "celery");
    EXPECT_FALSE((*d)->redelivered);
    EXPECT_EQ((*d)->message.priority, 5);
    ASSERT_TRUE((*d)->message.expiration.has_value());
    EXPECT_EQ((*d)->message.expiration->count(), 3600000);
    auto request = DecodeTask((*d)->message);
    ASSERT_TRUE(request) << request.error().ToString();
    EXPECT_EQ(request->id, id);
    EXPECT_EQ(request->task, "proj.tasks.add");
    EXPECT_EQ(request->args, json::array({2, 3}));
    EXPECT_EQ(request->kwargs, json({{"scale", 10}, {"label", "é"}}));
    EXPECT_EQ(request->retries, 2);
    EXPECT_EQ(request->priority, 5);
    EXPECT_EQ(request->root_id, id);
    EXPECT_EQ(request->parent_id, "");
    EXPECT_EQ(request->argsrepr, "[2, 3]");  // send_task with a list (delay() would give "(2, 3)")
    ASSERT_TRUE(request->eta.has_value());
    EXPECT_NEAR(Seconds(*request->eta), before + 60, 30);
    ASSERT_TRUE(request->expires.has_value());
    EXPECT_NEAR(Seconds(*request->expires), before + 3600, 30);
    EXPECT_THAT(request->origin, HasSubstr("@"));
    EXPECT_EQ(*c->Command({"HLEN", "unacked"}), r::Reply::Integer(1));
    ASSERT_TRUE((*consumer)->Ack(**d));
    EXPECT_EQ(*c->Command({"HLEN", "unacked"}), r::Reply::Integer(0));
    EXPECT_EQ(*broker->QueueLength("celery"), 0U);
}

TEST_F(CeleryInterop, GaleMessagesRunOnACeleryWorkerAndGaleReadsTheResults) {
    auto worker = StartWorker();
    ASSERT_FALSE(HasFailure());
    auto broker = MakeBroker(server_->url());
    auto backend = MakeResultBackend(server_->url());
    ASSERT_TRUE(broker && backend);
    ASSERT_TRUE((*broker)->Declare({Route{}}));

    TaskRequest add;
    add.id = NewTaskId();
    add.root_id = add.id;
    add.task = "proj.tasks.add";
    add.args = json::array({2, 3});
    ASSERT_TRUE((*broker)->Publish(Route{}, EncodeTask(add)));

    TaskRequest boom;
    boom.id = NewTaskId();
    boom.root_id = boom.id;
    boom.task = "proj.tasks.boom";
    boom.args = json::array({1});
    ASSERT_TRUE((*broker)->Publish(Route{}, EncodeTask(boom)));

    TaskRequest describe;
    describe.id = NewTaskId();
    describe.root_id = "root-of-it";
    describe.parent_id = "parent-of-it";
    describe.task = "proj.tasks.describe";
    describe.args = json::array({"x", 1.5});
    describe.kwargs = {{"k", json::array({true, nullptr})}};
    describe.retries = 3;
    describe.priority = 9;
    describe.expires = std::chrono::system_clock::now() + std::chrono::hours(1);
    ASSERT_TRUE((*broker)->Publish(Route{}, EncodeTask(describe)));

    auto sum = (*backend)->Wait(add.id, Ms(30000));
    ASSERT_TRUE(sum) << sum.error().ToString() << "\n" << worker->Output();
    EXPECT_EQ(sum->state, TaskState::kSuccess);
    EXPECT_EQ(sum->result, 5);
    EXPECT_EQ(sum->task_id, add.id);
    EXPECT_EQ(sum->name, "proj.tasks.add");  // result_extended
    EXPECT_EQ(sum->worker, "py1@127.0.0.1");

    auto failed = (*backend)->Wait(boom.id, Ms(30000));
    ASSERT_TRUE(failed) << failed.error().ToString();
    EXPECT_EQ(failed->state, TaskState::kFailure);
    EXPECT_EQ(failed->result["exc_type"], "ValueError");
    EXPECT_EQ(failed->result["exc_message"], json::array({"bad 1"}));
    EXPECT_EQ(failed->result["exc_module"], "builtins");
    EXPECT_THAT(failed->traceback, HasSubstr("ValueError: bad 1"));

    auto seen = (*backend)->Wait(describe.id, Ms(30000));
    ASSERT_TRUE(seen) << seen.error().ToString();
    ASSERT_EQ(seen->state, TaskState::kSuccess) << seen->traceback;
    EXPECT_EQ(seen->result["args"], json::array({"x", 1.5}));
    EXPECT_EQ(seen->result["kwargs"], json({{"k", json::array({true, nullptr})}}));
    EXPECT_EQ(seen->result["retries"], 3);
    EXPECT_EQ(seen->result["root_id"], "root-of-it");
    EXPECT_EQ(seen->result["parent_id"], "parent-of-it");
    EXPECT_EQ(seen->result["priority"], 9);
    EXPECT_FALSE(seen->result["expires"].is_null());
    EXPECT_EQ(*(*broker)->QueueLength("celery"), 0U);
    // Celery's prefork parent acks when the child reports the task accepted, which can come after the child stored
    // the result: wait for it (bounded) rather than read once.
    auto c = Redis();
    const auto deadline = std::chrono::steady_clock::now() + Ms(10000);
    while (*c->Command({"HLEN", "unacked"}) != r::Reply::Integer(0) && std::chrono::steady_clock::now() < deadline) {
        std::this_thread::sleep_for(Ms(20));
    }
    EXPECT_EQ(*c->Command({"HLEN", "unacked"}), r::Reply::Integer(0));
}

TEST_F(CeleryInterop, AsyncResultGetReadsGalesResults) {
    auto backend = MakeResultBackend(server_->url());
    ASSERT_TRUE(backend);
    TaskRequest request;
    request.id = NewTaskId();
    TaskResult ok;
    ok.task_id = request.id;
    ok.state = TaskState::kSuccess;
    ok.result = {{"sum", 5}, {"items", json::array({1, "two", nullptr})}};
    ok.date_done = std::chrono::system_clock::now();
    ok.name = "proj.tasks.add";
    ok.args = json::array({2, 3});
    ok.kwargs = json::object();
    ok.worker = "gale@test";
    ok.queue = "celery";
    ASSERT_TRUE((*backend)->Store(request, ok));
    json got = Python("get", {{"id", request.id}, {"timeout", 10}});
    EXPECT_EQ(got["state"], "SUCCESS");
    EXPECT_EQ(got["result"], ok.result);

    TaskRequest failing;
    failing.id = NewTaskId();
    TaskResult failed;
    failed.task_id = failing.id;
    failed.state = TaskState::kFailure;
    failed.result = TaskResult::Failure("ValueError", "bad 1");
    failed.traceback = "Traceback (most recent call last):\n  File \"gale\", line 1\nValueError: bad 1\n";
    failed.date_done = std::chrono::system_clock::now();
    ASSERT_TRUE((*backend)->Store(failing, failed));
    json error = Python("get", {{"id", failing.id}, {"timeout", 10}});
    EXPECT_EQ(error["state"], "FAILURE");
    EXPECT_EQ(error["exc_type"], "ValueError");
    EXPECT_EQ(error["exc_message"], json::array({"bad 1"}));
    EXPECT_EQ(error["traceback"], failed.traceback);

    // A result stored while Python waits (its subscription sees the PUBLISH).
    TaskRequest later;
    later.id = NewTaskId();
    std::thread store([&] {
        std::this_thread::sleep_for(Ms(1500));
        TaskResult t;
        t.task_id = later.id;
        t.state = TaskState::kSuccess;
        t.result = 42;
        (void)(*backend)->Store(later, t);
    });
    json waited = Python("get", {{"id", later.id}, {"timeout", 20}});
    store.join();
    EXPECT_EQ(waited["state"], "SUCCESS");
    EXPECT_EQ(waited["result"], 42);
}

TEST_F(CeleryInterop, AnUnackedGaleDeliveryIsRestoredAndRunByCelery) {
    auto broker = MakeBroker(server_->url());
    auto backend = MakeResultBackend(server_->url());
    ASSERT_TRUE(broker && backend);
    TaskRequest add;
    add.id = NewTaskId();
    add.task = "proj.tasks.add";
    add.args = json::array({20, 22});
    ASSERT_TRUE((*broker)->Publish(Route{}, EncodeTask(add)));
    // A gale worker process takes the message and dies without settling it (SIGKILL: no Close, no restore).
    const pid_t pid = ::fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
        auto b = MakeBroker(server_->connection_options());
        auto consumer = b->Consume({"celery"}, 1);
        auto d = consumer ? (*consumer)->Next(Ms(5000)) : Result<std::optional<Delivery>>(std::nullopt);
        ::raise(SIGKILL);
        std::_Exit(d && *d ? 0 : 1);
    }
    int status = 0;
    ::waitpid(pid, &status, 0);
    ASSERT_TRUE(WIFSIGNALED(status));
    auto c = Redis();
    ASSERT_EQ(*c->Command({"HLEN", "unacked"}), r::Reply::Integer(1));
    ASSERT_EQ(*broker->get()->QueueLength("celery"), 0U);
    std::this_thread::sleep_for(Ms(1100));  // older than the Python worker's visibility timeout (1 s)
    auto worker = StartWorker(/*visibility_timeout=*/1);
    auto result = (*backend)->Wait(add.id, Ms(60000));
    ASSERT_TRUE(result) << result.error().ToString() << "\n" << worker->Output();
    EXPECT_EQ(result->state, TaskState::kSuccess);
    EXPECT_EQ(result->result, 42);
    // It was only in unacked: the worker ran it because its visibility-timeout scan put it back.
    EXPECT_EQ(*c->Command({"HLEN", "unacked"}), r::Reply::Integer(0));
}

TEST_F(CeleryInterop, ADeliveryACeleryWorkerDiedWithIsRestoredByGale) {
    auto worker = StartWorker();
    ASSERT_FALSE(HasFailure());
    json sent = Python("send", {{"name", "proj.tasks.sleep"}, {"args", {30}}});
    ASSERT_TRUE(sent.is_object());
    auto c = Redis();
    // acks_late: the message stays in unacked while the task runs; then the worker is SIGKILLed.
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
    while (std::chrono::steady_clock::now() < deadline && c->Command({"HLEN", "unacked"})->integer != 1) {
        std::this_thread::sleep_for(Ms(20));
    }
    ASSERT_EQ(*c->Command({"HLEN", "unacked"}), r::Reply::Integer(1)) << worker->Output();
    worker->Kill(SIGKILL);
    ASSERT_EQ(*c->Command({"HLEN", "unacked"}), r::Reply::Integer(1));
    auto broker = MakeBroker(server_->connection_options(),
                             {.visibility_timeout = std::chrono::seconds(1), .restore_interval = Ms(100)});
    auto consumer = broker->Consume({"celery"}, 1);
    std::optional<Delivery> got;
    const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(15);
    while (!got && std::chrono::steady_clock::now() < until) {
        auto d = (*consumer)->Next(Ms(200));
        ASSERT_TRUE(d) << d.error().ToString();
        if (*d) got = std::move(**d);
    }
    ASSERT_TRUE(got.has_value()) << "the Celery worker's unacked delivery was not restored";
    EXPECT_TRUE(got->redelivered);
    auto request = DecodeTask(got->message);
    ASSERT_TRUE(request) << request.error().ToString();
    EXPECT_EQ(request->id, sent["id"]);
    EXPECT_EQ(request->task, "proj.tasks.sleep");
    ASSERT_TRUE((*consumer)->Ack(*got));
    EXPECT_EQ(*c->Command({"HLEN", "unacked"}), r::Reply::Integer(0));
}

}  // namespace
}  // namespace gale::tasks::redis
