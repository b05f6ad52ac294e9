// SPDX-License-Identifier: MIT
// End to end on one RabbitMQ with gale's Worker and the real Python Celery 5.2.6 (labels rabbitmq, celery):
// Python's delay() runs in gale's worker and AsyncResult.get() reads the result over rpc:// (success, failure,
// countdown, retries, kwargs); gale's TaskClient::Send runs on a Celery worker; an unknown task name and malformed
// messages are dead-lettered and counted, nothing loops, and the worker keeps running what follows; a broker restart
// during consumption: the worker reconnects and consumes again (Celery issues 8030/8082).
#include <unistd.h>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <gale/amqp/channel.hpp>
#include <gale/tasks/amqp.hpp>
#include <gale/tasks/client.hpp>
#include <gale/tasks/task.hpp>
#include <gale/tasks/worker.hpp>

#include "amqp_celery_fixture.hpp"

namespace gale::tasks::amqp {
namespace {

using json = nlohmann::json;
using test::Child;
using test::Eventually;
using test::kPythonTimeout;
using test::Name;
using test::Python;
using test::ReadJson;
using ::testing::HasSubstr;

class AmqpWorkerInterop : public ::testing::Test {
protected:
    void SetUp() override {
        auto& shared = test::SharedBrokerResult();
        ASSERT_TRUE(shared) << shared.error().ToString();
        server_ = shared->get();
        queue_ = Name("q");
        ASSERT_TRUE(registry_.Add("tasks.add", [](TaskContext& ctx) -> Result<json> {
            std::int64_t sum = ctx.args().at(0).get<std::int64_t>() + ctx.args().at(1).get<std::int64_t>();
            for (const auto& [k, v] : ctx.kwargs().items()) sum += v.get<std::int64_t>();
            return sum;
        }));
        ASSERT_TRUE(registry_.Add("tasks.fail", [](TaskContext& ctx) -> Result<json> {
            throw TaskError("ValueError", ctx.args().at(0).get<std::string>());
        }));
        ASSERT_TRUE(registry_.Add("tasks.describe", [](TaskContext& ctx) -> Result<json> {
            return json{{"retries", ctx.retries()}, {"kwargs", ctx.kwargs()}, {"worker", ctx.worker()}};
        }));
        broker_ = MakeBroker(server_->connection_options());
        auto backend = MakeRpcBackend(*broker_);
        ASSERT_TRUE(backend) << backend.error().ToString();
        backend_ = std::move(*backend);
        client_ = std::make_unique<TaskClient>(*broker_, backend_.get(), ClientOptions{.default_queue = queue_});
    }
    void TearDown() override {
        if (worker_) worker_->Stop();
    }

    void StartGaleWorker() {
        worker_ = std::make_unique<Worker>(*broker_, registry_, backend_.get(), *client_,
                                           WorkerOptions{.queues = {queue_},
                                                         .concurrency = 2,
                                                         .hostname = "gale1@127.0.0.1",
                                                         .reconnect_max = std::chrono::seconds(2)});
        ASSERT_TRUE(worker_->Start());
        ASSERT_TRUE(Eventually([&] { return worker_->Stats().connected; })) << worker_->Stats().last_error;
    }

    json Call(json spec) {
        spec["queue"] = queue_;
        auto py = Python(*server_, {"gale_celery_amqp.py", "call", spec.dump()}, "call");
        if (py == nullptr) return nullptr;
        const json sent = ReadJson(*py);
        json got = ReadJson(*py);
        if (got.is_object()) got["id"] = sent.value("id", "");
        EXPECT_EQ(py->Wait(kPythonTimeout), 0) << py->Stderr();
        return got;
    }

    std::uint64_t Outcome(TaskOutcome o) const { return worker_->Stats().outcomes[static_cast<std::size_t>(o)]; }

    gale::amqp::testing::RabbitMqServer* server_ = nullptr;
    std::string queue_;
    TaskRegistry registry_;
    std::unique_ptr<Broker> broker_;
    std::unique_ptr<ResultBackend> backend_;
    std::unique_ptr<TaskClient> client_;
    std::unique_ptr<Worker> worker_;
};

TEST_F(AmqpWorkerInterop, PythonDelayRunsInGalesWorkerAndAsyncResultGetReadsIt) {
    StartGaleWorker();
    ASSERT_FALSE(HasFatalFailure());
    json five = Call({{"name", "tasks.add"}, {"args", {2, 3}}, {"delay", true}});
    EXPECT_EQ(five["state"], "SUCCESS") << five.dump();
    EXPECT_EQ(five["result"], 5);

    json failed = Call({{"name", "tasks.fail"}, {"args", {"bad 1"}}, {"delay", true}});
    EXPECT_EQ(failed["state"], "FAILURE") << failed.dump();
    EXPECT_EQ(failed["error"], "ValueError");
    EXPECT_EQ(failed["message"], "bad 1");
    EXPECT_TRUE(failed["traceback"].is_string()) << failed.dump();

    json described = Call({{"name", "tasks.describe"},
                           {"kwargs", {{"who", "python"}}},
                           {"countdown", 2},
                           {"retries", 2},
                           {"priority", 9}});
    EXPECT_EQ(described["state"], "SUCCESS") << described.dump();
    EXPECT_EQ(described["result"]["retries"], 2);
    EXPECT_EQ(described["result"]["kwargs"], json({{"who", "python"}}));
    EXPECT_EQ(described["result"]["worker"], "gale1@127.0.0.1");
    EXPECT_GE(described["elapsed"].get<double>(), 1.9);  // not run before its eta
    EXPECT_EQ(Outcome(TaskOutcome::kSucceeded), 2u);
    EXPECT_EQ(Outcome(TaskOutcome::kFailed), 1u);
    EXPECT_TRUE(Eventually([&] { return *broker_->QueueLength(queue_) == 0; }));
}

TEST_F(AmqpWorkerInterop, GalesSendRunsOnAPythonWorker) {
    const std::string node = "py-" + std::to_string(::getpid()) + "@localhost";
    auto python = Python(*server_,
                         {"-m", "celery", "-A", "gale_celery_amqp", "worker", "-P", "solo", "-Q", queue_, "-n", node,
                          "--without-gossip", "--without-mingle", "-l", "info"},
                         "worker");
    ASSERT_NE(python, nullptr);
    ASSERT_TRUE(python->StderrContains(node + " ready.", kPythonTimeout)) << python->Stderr();
    auto id = client_->Send("tasks.add", json::array({20, 22}), json::object({{"z", 0}}));
    ASSERT_TRUE(id) << id.error().ToString();
    auto result = client_->Wait(*id, kPythonTimeout);
    ASSERT_TRUE(result) << result.error().ToString() << "\n" << python->Stderr();
    EXPECT_EQ(result->state, TaskState::kSuccess);
    EXPECT_EQ(result->result, 42);
    auto boom = client_->Send("tasks.fail", json::array({"bad 7"}));
    ASSERT_TRUE(boom);
    auto failed = client_->Wait(*boom, kPythonTimeout);
    ASSERT_TRUE(failed) << failed.error().ToString();
    EXPECT_EQ(failed->state, TaskState::kFailure);
    EXPECT_EQ(failed->result["exc_type"], "ValueError");
    EXPECT_EQ(failed->result["exc_message"], json::array({"bad 7"}));
    python->Terminate();
}

TEST_F(AmqpWorkerInterop, UnknownTasksAndMalformedMessagesAreDeadLetteredNotLooped) {
    StartGaleWorker();
    ASSERT_FALSE(HasFatalFailure());
    auto raw = gale::amqp::Channel::Open(server_->connection_options(), {.confirms = true});
    ASSERT_TRUE(raw) << raw.error().ToString();
    // An unknown task name (sent by Python), bytes that are not Celery's, and Celery's own poison: a one-element body
    // (Celery 5.2's worker crashes on it, and the message, restored, crashes the next worker too).
    auto unknown = Python(*server_,
                          {"gale_celery_amqp.py", "call",
                           json({{"name", "tasks.nobody"}, {"args", {1}}, {"queue", queue_}, {"timeout", 1}}).dump()},
                          "unknown");
    ASSERT_NE(unknown, nullptr);
    ASSERT_TRUE(ReadJson(*unknown).is_object());
    gale::amqp::Properties junk;
    junk.content_type = "application/octet-stream";
    ASSERT_TRUE((*raw)->Publish("", queue_, "\x01\x02 not a task", junk, true));
    TransportMessage poison = EncodeTask(TaskRequest{.id = NewTaskId(), .task = "tasks.add"});
    poison.body = "[[1, 2]]";
    gale::amqp::Properties p;
    p.content_type = poison.content_type;
    p.content_encoding = poison.content_encoding;
    p.correlation_id = poison.correlation_id;
    p.delivery_mode = 2;
    for (const auto& [k, v] : poison.headers.items()) {
        if (v.is_string()) p.headers.emplace_back(k, v.get<std::string>());
    }
    ASSERT_TRUE((*raw)->Publish("", queue_, poison.body, p, true));

    json after = Call({{"name", "tasks.add"}, {"args", {1, 1}}, {"delay", true}});
    EXPECT_EQ(after["state"], "SUCCESS") << after.dump();
    EXPECT_EQ(after["result"], 2);

    const std::string dead = DeadLetterQueue(queue_);
    ASSERT_TRUE(Eventually([&] {
        auto n = broker_->QueueLength(dead);
        return n && *n == 3;
    })) << *broker_->QueueLength(dead);
    std::string reasons;
    for (int i = 0; i < 3; ++i) {
        auto d = (*raw)->Get(dead);
        ASSERT_TRUE(d && *d);
        reasons += gale::amqp::FindString((*d)->message.headers(), "x-gale-dead-letter-reason").value_or("?") + "\n";
    }
    EXPECT_THAT(reasons, HasSubstr("tasks.nobody"));
    // Nothing loops: the queue stays empty and the worker goes on.
    std::this_thread::sleep_for(std::chrono::milliseconds(500));
    EXPECT_EQ(*broker_->QueueLength(queue_), 0u);
    EXPECT_EQ(Outcome(TaskOutcome::kRejected), 3u);
    EXPECT_GE(Outcome(TaskOutcome::kSucceeded), 1u);
    EXPECT_TRUE(worker_->Stats().connected);
    (void)unknown->Wait(kPythonTimeout);
}

// Its own suite, registered last: it restarts the shared broker.
class AmqpWorkerRestart : public AmqpWorkerInterop {};

TEST_F(AmqpWorkerRestart, TheWorkerReconnectsAndConsumesAgain) {
    StartGaleWorker();
    ASSERT_FALSE(HasFatalFailure());
    auto before = client_->Send("tasks.add", json::array({1, 2}));
    ASSERT_TRUE(before) << before.error().ToString();
    auto three = client_->Wait(*before, std::chrono::seconds(20));
    ASSERT_TRUE(three) << three.error().ToString();
    EXPECT_EQ(three->result, 3);

    ASSERT_TRUE(server_->Stop());
    ASSERT_TRUE(Eventually([&] { return !worker_->Stats().connected; }, std::chrono::seconds(20)));
    ASSERT_TRUE(server_->StartAgain());
    ASSERT_TRUE(Eventually([&] { return worker_->Stats().connected; }, std::chrono::seconds(30)))
        << worker_->Stats().last_error;
    EXPECT_GE(worker_->Stats().reconnects, 1u);
    // A task sent after the restart runs: the worker consumes again, not just "connected" (Celery 8030/8082).
    Result<std::string> after = MakeError(ErrorCode::kUnavailable, "not sent");
    ASSERT_TRUE(Eventually(
        [&] {
            after = client_->Send("tasks.add", json::array({20, 22}));
            return after.has_value();
        },
        std::chrono::seconds(30)))
        << after.error().ToString();
    auto result = client_->Wait(*after, std::chrono::seconds(30));
    ASSERT_TRUE(result) << result.error().ToString();
    EXPECT_EQ(result->result, 42);
}

}  // namespace
}  // namespace gale::tasks::amqp
