// SPDX-License-Identifier: MIT
// End to end on one redis-server with the real Python Celery 5.2.6 (labels redis, celery): Python's delay() runs in
// gale's Worker and AsyncResult.get() reads gale's result (success, failure, countdown, retries); gale's
// TaskClient::Send runs on a Celery worker; an unknown task name and malformed messages are dead-lettered and
// counted by gale's worker, which neither crashes nor loops and keeps running what follows.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <gale/tasks/client.hpp>
#include <gale/tasks/redis.hpp>
#include <gale/tasks/task.hpp>
#include <gale/tasks/worker.hpp>

#include "kombu_envelope.hpp"
#include "py_json.hpp"
#include "redis_celery_fixture.hpp"

namespace gale::tasks::redis {
namespace {

using json = nlohmann::json;
using test::CeleryInterop;
using test::Ms;
using ::testing::HasSubstr;
namespace r = gale::redis;

class GaleWorkerInterop : public CeleryInterop {
protected:
    void SetUp() override {
        CeleryInterop::SetUp();
        if (HasFatalFailure()) return;
        ASSERT_TRUE(registry_.Add("proj.tasks.add", [](TaskContext& ctx) -> Result<json> {
            return ctx.args().at(0).get<std::int64_t>() + ctx.args().at(1).get<std::int64_t>();
        }));
        ASSERT_TRUE(registry_.Add("proj.tasks.boom", [](TaskContext& ctx) -> Result<json> {
            throw TaskError("ValueError", "bad " + ctx.args().at(0).dump());
        }));
        ASSERT_TRUE(registry_.Add("proj.tasks.describe", [](TaskContext& ctx) -> Result<json> {
            return json{{"retries", ctx.retries()}, {"kwargs", ctx.kwargs()}, {"worker", ctx.worker()}};
        }));
        broker_ = MakeBroker(server_->connection_options());
        backend_ = MakeResultBackend(server_->connection_options());
        client_ = std::make_unique<TaskClient>(*broker_, backend_.get());
        worker_ = std::make_unique<Worker>(*broker_, registry_, backend_.get(), *client_,
                                           WorkerOptions{.concurrency = 2, .hostname = "gale1@127.0.0.1"});
        ASSERT_TRUE(worker_->Start());
    }
    void TearDown() override {
        if (worker_) worker_->Stop();
    }

    TaskRegistry registry_;
    std::unique_ptr<Broker> broker_;
    std::unique_ptr<ResultBackend> backend_;
    std::unique_ptr<TaskClient> client_;
    std::unique_ptr<Worker> worker_;
};

TEST_F(GaleWorkerInterop, PythonDelayRunsInGalesWorkerAndAsyncResultReadsIt) {
    json sent = Python("send", {{"name", "proj.tasks.add"}, {"args", {2, 3}}, {"delay", true}});
    ASSERT_TRUE(sent.is_object());
    json got = Python("get", {{"id", sent["id"]}, {"timeout", 20}});
    EXPECT_EQ(got["state"], "SUCCESS") << got.dump();
    EXPECT_EQ(got["result"], 5);
    auto meta = backend_->Get(sent["id"]);
    ASSERT_TRUE(meta);
    EXPECT_EQ(meta->worker, "gale1@127.0.0.1");

    json boom = Python("send", {{"name", "proj.tasks.boom"}, {"args", {1}}, {"delay", true}});
    json failed = Python("get", {{"id", boom["id"]}, {"timeout", 20}});
    EXPECT_EQ(failed["state"], "FAILURE") << failed.dump();
    EXPECT_EQ(failed["exc_type"], "ValueError");
    EXPECT_EQ(failed["exc_message"], json::array({"bad 1"}));
    EXPECT_TRUE(failed["traceback"].is_string());

    const auto before = std::chrono::system_clock::now();
    json later = Python("send", {{"name", "proj.tasks.describe"},
                                 {"kwargs", {{"who", "python"}}},
                                 {"countdown", 2},
                                 {"retries", 2},
                                 {"priority", 9}});
    json described = Python("get", {{"id", later["id"]}, {"timeout", 30}});
    EXPECT_EQ(described["state"], "SUCCESS") << described.dump();
    EXPECT_EQ(described["result"]["retries"], 2);
    EXPECT_EQ(described["result"]["kwargs"], json({{"who", "python"}}));
    auto done = backend_->Get(later["id"]);
    ASSERT_TRUE(done && done->date_done);
    EXPECT_GE(*done->date_done, before + std::chrono::milliseconds(1900));  // not run before its eta
    auto c = Redis();
    EXPECT_EQ(*c->Command({"HLEN", "unacked"}), r::Reply::Integer(0));
}

TEST_F(GaleWorkerInterop, GalesSendRunsOnAPythonWorker) {
    worker_->Stop();  // only the Python worker consumes here
    auto python = StartWorker();
    ASSERT_FALSE(HasFailure());
    auto id = client_->Send("proj.tasks.add", json::array({20, 22}));
    ASSERT_TRUE(id) << id.error().ToString();
    auto result = client_->Wait(*id, Ms(30000));
    ASSERT_TRUE(result) << result.error().ToString() << "\n" << python->Output();
    EXPECT_EQ(result->state, TaskState::kSuccess);
    EXPECT_EQ(result->result, 42);
    EXPECT_EQ(result->worker, "py1@127.0.0.1");
    auto boom = client_->Send("proj.tasks.boom", json::array({7}));
    ASSERT_TRUE(boom);
    auto failed = client_->Wait(*boom, Ms(30000));
    ASSERT_TRUE(failed) << failed.error().ToString();
    EXPECT_EQ(failed->state, TaskState::kFailure);
    EXPECT_EQ(failed->result["exc_type"], "ValueError");
    EXPECT_EQ(failed->result["exc_message"], json::array({"bad 7"}));
}

TEST_F(GaleWorkerInterop, UnknownTasksAndMalformedMessagesAreDeadLetteredNotLooped) {
    json unknown = Python("send", {{"name", "proj.tasks.nobody"}, {"args", {1}}});
    ASSERT_TRUE(unknown.is_object());
    auto c = Redis();
    ASSERT_TRUE(c->Command({"LPUSH", "celery", "{not kombu at all"}));
    // Celery's own poison: a one-element body (Celery 5.2's worker crashes on it and restores it for ever).
    TaskRequest shape;
    shape.id = NewTaskId();
    shape.task = "proj.tasks.add";
    TransportMessage poison = EncodeTask(shape);
    poison.body = "[[1, 2]]";
    ASSERT_TRUE(c->Command(
        {"LPUSH", "celery", tasks::detail::PythonJson(detail::MakeEnvelope(poison, "", "celery", NewTaskId()))}));
    json after = Python("send", {{"name", "proj.tasks.add"}, {"args", {1, 1}}, {"delay", true}});
    json got = Python("get", {{"id", after["id"]}, {"timeout", 20}});
    EXPECT_EQ(got["state"], "SUCCESS") << got.dump();
    EXPECT_EQ(got["result"], 2);

    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (std::chrono::steady_clock::now() < deadline && c->Command({"LLEN", "celery.dead-letter"})->integer < 3) {
        std::this_thread::sleep_for(Ms(20));
    }
    auto letters = c->Command({"LRANGE", "celery.dead-letter", "0", "-1"});
    ASSERT_TRUE(letters);
    ASSERT_EQ(letters->elements.size(), 3U);
    std::vector<std::string> reasons;
    for (const auto& item : letters->elements) {
        detail::Envelope e = detail::ReadEnvelope(item.str);
        ASSERT_TRUE(e.valid) << item.str;
        reasons.push_back(e.message.headers.value("x-gale-dead-letter-reason", ""));
        EXPECT_EQ(e.message.headers.value("x-gale-queue", ""), "celery");
    }
    std::sort(reasons.begin(), reasons.end());
    std::string all;
    for (const auto& reason : reasons) all += reason + "\n";
    EXPECT_THAT(all, HasSubstr("proj.tasks.nobody"));
    // Nothing loops: the queue and the unacked hash are empty, and stay so.
    std::this_thread::sleep_for(Ms(500));
    EXPECT_EQ(*broker_->QueueLength("celery"), 0U);
    EXPECT_EQ(*c->Command({"HLEN", "unacked"}), r::Reply::Integer(0));
    EXPECT_EQ(c->Command({"LLEN", "celery.dead-letter"})->integer, 3);
    const WorkerStats stats = worker_->Stats();
    EXPECT_EQ(stats.outcomes[static_cast<std::size_t>(TaskOutcome::kRejected)], 3U);
    EXPECT_GE(stats.outcomes[static_cast<std::size_t>(TaskOutcome::kSucceeded)], 1U);
    EXPECT_TRUE(stats.connected);
}

}  // namespace
}  // namespace gale::tasks::redis
