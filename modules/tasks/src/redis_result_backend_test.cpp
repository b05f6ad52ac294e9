// SPDX-License-Identifier: MIT
// The Redis result backend against a real redis-server (label `redis`).
#include <atomic>
#include <thread>
#include <vector>

#include <fmt/format.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <gale/redis/connection.hpp>
#include <gale/tasks/redis.hpp>

#include "py_json.hpp"
#include "redis_test_util.hpp"

namespace gale::tasks::redis {
namespace {

using test::Ms;
using test::Since;
using ::testing::HasSubstr;
namespace r = gale::redis;

TaskResult Success(const std::string& id, nlohmann::json value) {
    TaskResult t;
    t.task_id = id;
    t.state = TaskState::kSuccess;
    t.result = std::move(value);
    t.date_done = std::chrono::system_clock::now();
    return t;
}

TEST(RedisResultBackend, StoreIsSetexAndPublishOfCeleryMeta) {
    GALE_FRESH_REDIS(server);
    auto backend = MakeResultBackend(server->url(), {.result_expires = std::chrono::seconds(600)});
    ASSERT_TRUE(backend) << backend.error().ToString();
    EXPECT_EQ((*backend)->name(), "redis");
    auto c = r::Connection::Connect(server->connection_options());
    auto sub_options = server->connection_options();
    auto pending = (*backend)->Get("t-1");
    ASSERT_TRUE(pending) << pending.error().ToString();
    EXPECT_EQ(pending->state, TaskState::kPending);
    EXPECT_EQ(pending->task_id, "t-1");

    TaskRequest request;
    request.id = "t-1";
    TaskResult result = Success("", 5);
    ASSERT_TRUE((*backend)->Store(request, result));
    auto stored = (*c)->Command({"GET", "celery-task-meta-t-1"});
    ASSERT_TRUE(stored && !stored->is_nil());
    result.task_id = "t-1";
    EXPECT_EQ(stored->str, tasks::detail::PythonJson(result.ToMeta()));
    EXPECT_THAT(stored->str, HasSubstr(R"({"status": "SUCCESS", "result": 5, "traceback": null, "children": [])"));
    auto ttl = (*c)->Command({"TTL", "celery-task-meta-t-1"});
    EXPECT_GE(ttl->integer, 590);
    EXPECT_LE(ttl->integer, 600);
    auto read = (*backend)->Get("t-1");
    ASSERT_TRUE(read);
    EXPECT_EQ(read->state, TaskState::kSuccess);
    EXPECT_EQ(read->result, 5);
}

// StoreAsync: results handed in from several threads are pipelined by the backend's writer; each is stored as
// Store stores it (SETEX with the TTL, PUBLISHed on its channel) and each `done` is called once, successfully.
TEST(RedisResultBackend, StoreAsyncPipelinesResultsFromManyThreads) {
    GALE_FRESH_REDIS(server);
    auto backend = MakeResultBackend(server->url(), {.result_expires = std::chrono::seconds(600)});
    ASSERT_TRUE(backend) << backend.error().ToString();
    std::atomic<int> ok{0}, failed{0};
    std::vector<std::thread> threads;
    for (int t = 0; t < 4; ++t) {
        threads.emplace_back([&, t] {
            for (int i = 0; i < 50; ++i) {
                TaskRequest request;
                request.id = fmt::format("a-{}-{}", t, i);
                (*backend)->StoreAsync(request, Success("", i), [&](Result<void> r) { (r ? ok : failed)++; });
            }
        });
    }
    for (auto& t : threads) t.join();
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (ok.load() + failed.load() < 200 && std::chrono::steady_clock::now() < deadline) {
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    EXPECT_EQ(ok.load(), 200);
    EXPECT_EQ(failed.load(), 0);
    auto c = r::Connection::Connect(server->connection_options());
    ASSERT_TRUE(c) << c.error().ToString();
    auto stored = (*c)->Command({"GET", "celery-task-meta-a-3-49"});
    ASSERT_TRUE(stored && !stored->is_nil());
    TaskResult expected = Success("a-3-49", 49);
    auto read = (*backend)->Get("a-3-49");
    ASSERT_TRUE(read);
    EXPECT_EQ(read->state, TaskState::kSuccess);
    EXPECT_EQ(read->result, 49);
    auto ttl = (*c)->Command({"TTL", "celery-task-meta-a-0-0"});
    EXPECT_GE(ttl->integer, 590);
    auto keys = (*c)->Command({"KEYS", "celery-task-meta-a-*"});
    ASSERT_TRUE(keys);
    EXPECT_EQ(keys->elements.size(), 200U);
}

// A store whose server is gone answers its `done` with the error (the worker logs it and settles the message).
TEST(RedisResultBackend, StoreAsyncAnswersAnUnreachableServerWithItsError) {
    auto backend = MakeResultBackend("redis://127.0.0.1:1/0", {});
    ASSERT_TRUE(backend) << backend.error().ToString();
    std::atomic<int> failed{0};
    TaskRequest request;
    request.id = "gone";
    (*backend)->StoreAsync(request, Success("", 1), [&](Result<void> r) {
        if (!r) ++failed;
    });
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (failed.load() == 0 && std::chrono::steady_clock::now() < deadline) {
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    EXPECT_EQ(failed.load(), 1);
}

TEST(RedisResultBackend, WaitSeesResultsStoredBeforeAndAfterItStarted) {
    GALE_FRESH_REDIS(server);
    auto backend = MakeResultBackend(server->connection_options());
    TaskRequest request;
    request.id = "early";
    ASSERT_TRUE(backend->Store(request, Success("early", "done")));
    auto early = backend->Wait("early", Ms(2000));
    ASSERT_TRUE(early) << early.error().ToString();
    EXPECT_EQ(early->result, "done");

    // Not ready states do not end the wait; the later SUCCESS does.
    std::thread later([&] {
        std::this_thread::sleep_for(Ms(100));
        TaskRequest rq;
        rq.id = "late";
        TaskResult started;
        started.task_id = "late";
        started.state = TaskState::kStarted;
        (void)backend->Store(rq, started);
        std::this_thread::sleep_for(Ms(50));
        TaskResult failed;
        failed.task_id = "late";
        failed.state = TaskState::kFailure;
        failed.result = TaskResult::Failure("ValueError", "bad 1");
        failed.traceback = "Traceback (most recent call last):\n";
        (void)backend->Store(rq, failed);
    });
    const auto start = std::chrono::steady_clock::now();
    auto late = backend->Wait("late", Ms(5000));
    later.join();
    ASSERT_TRUE(late) << late.error().ToString();
    EXPECT_EQ(late->state, TaskState::kFailure);
    EXPECT_EQ(late->result["exc_type"], "ValueError");
    EXPECT_LT(Since(start), Ms(3000));

    const auto t0 = std::chrono::steady_clock::now();
    auto never = backend->Wait("never", Ms(200));
    ASSERT_FALSE(never);
    EXPECT_EQ(never.error().code(), ErrorCode::kTimeout);
    EXPECT_GE(Since(t0), Ms(150));
    EXPECT_LT(Since(t0), Ms(2000));
}

TEST(RedisResultBackend, WaitRereadsAfterTheServerCameBack) {
    auto server = r::testing::RedisServer::Start();
    ASSERT_TRUE(server) << server.error().ToString();
    auto backend = MakeResultBackend((*server)->connection_options());
    std::thread restarter([&] {
        std::this_thread::sleep_for(Ms(150));
        (void)(*server)->Restart();
        TaskRequest rq;
        rq.id = "r";
        // Stored while no subscriber is connected: only a GET after the reconnect can see it.
        for (int i = 0; i < 50 && !backend->Store(rq, Success("r", 1)); ++i) std::this_thread::sleep_for(Ms(20));
    });
    auto result = backend->Wait("r", Ms(8000));
    restarter.join();
    ASSERT_TRUE(result) << result.error().ToString();
    EXPECT_EQ(result->result, 1);

    ASSERT_TRUE((*server)->Stop());
    const auto start = std::chrono::steady_clock::now();
    auto down = backend->Wait("x", Ms(500));
    ASSERT_FALSE(down);
    EXPECT_EQ(down.error().code(), ErrorCode::kUnavailable);
    EXPECT_LT(Since(start), Ms(2000));
}

}  // namespace
}  // namespace gale::tasks::redis
