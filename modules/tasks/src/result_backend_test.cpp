// SPDX-License-Identifier: MIT
// Celery's result meta documents, against the bytes observed from Celery 5.2.6 (celery.md §2).
#include <gtest/gtest.h>

#include <gale/tasks/result_backend.hpp>

#include "py_json.hpp"

namespace gale::tasks {
namespace {

TEST(TaskResult, SuccessMetaIsCelerysDocument) {
    // OBSERVED success: {"status": "SUCCESS", "result": 5, "traceback": null, "children": [], "date_done":
    // "2026-12-01T21:28:59.368182", "task_id": "926ec08d-..."}
    TaskResult r;
    r.task_id = "926ec08d-0000-4000-8000-000000000000";
    r.state = TaskState::kSuccess;
    r.result = 5;
    r.date_done = *ParseIsoTime("2026-12-01T21:28:59.368182");
    EXPECT_EQ(detail::PythonJson(r.ToMeta()),
              R"js({"status": "SUCCESS", "result": 5, "traceback": null, "children": [], )js"
              R"js("date_done": "2026-12-01T21:28:59.368182", "task_id": "926ec08d-0000-4000-8000-000000000000"})js");
}

TEST(TaskResult, ReadsCelerysExtendedFailure) {
    const auto meta = nlohmann::ordered_json::parse(
        R"js({"status": "FAILURE", "result": {"exc_type": "ValueError", "exc_message": ["bad 1"], "exc_module": )js"
        R"js("builtins"}, "traceback": "Traceback ...", "children": [], "date_done": "2026-12-01T21:28:59.368182", )js"
        R"js("name": "tasks_fail.boom", "args": [1], "kwargs": {}, "worker": "w6@127.0.0.1", "retries": 0, "queue": )js"
        R"js("celery", "task_id": "t-1"})js");
    auto r = TaskResult::FromMeta(meta);
    ASSERT_TRUE(r) << r.error().ToString();
    EXPECT_EQ(r->state, TaskState::kFailure);
    EXPECT_EQ(r->result, TaskResult::Failure("ValueError", "bad 1"));
    EXPECT_EQ(r->traceback, "Traceback ...");
    EXPECT_EQ(r->name, "tasks_fail.boom");
    EXPECT_EQ(r->worker, "w6@127.0.0.1");
    EXPECT_EQ(r->queue, "celery");
    EXPECT_EQ(r->task_id, "t-1");
    ASSERT_TRUE(r->date_done);
    // And back: the same keys in Celery's order.
    std::vector<std::string> keys;
    const auto meta_back = r->ToMeta();
    for (const auto& [k, v] : meta_back.items()) keys.push_back(k);
    EXPECT_EQ(keys, (std::vector<std::string>{"status", "result", "traceback", "children", "date_done", "name", "args",
                                              "kwargs", "worker", "retries", "queue", "task_id"}));
}

TEST(TaskResult, RefusesBadMetaNamingTheField) {
    EXPECT_FALSE(TaskResult::FromMeta(nlohmann::ordered_json::array()));
    auto no_status = TaskResult::FromMeta({{"result", 1}});
    ASSERT_FALSE(no_status);
    EXPECT_NE(no_status.error().message().find("'status'"), std::string::npos);
    auto bad_state = TaskResult::FromMeta({{"status", "DONE"}});
    ASSERT_FALSE(bad_state);
    EXPECT_NE(bad_state.error().message().find("'DONE' is not a task state"), std::string::npos);
    auto bad_date = TaskResult::FromMeta({{"status", "SUCCESS"}, {"date_done", "yesterday"}});
    ASSERT_FALSE(bad_date);
    EXPECT_NE(bad_date.error().message().find("'date_done'"), std::string::npos);
    auto bad_tb = TaskResult::FromMeta({{"status", "SUCCESS"}, {"traceback", 3}});
    ASSERT_FALSE(bad_tb);
}

TEST(TaskState, NamesRoundTrip) {
    for (auto s : {TaskState::kPending, TaskState::kReceived, TaskState::kStarted, TaskState::kSuccess,
                   TaskState::kFailure, TaskState::kRetry, TaskState::kRevoked}) {
        auto back = ParseTaskState(ToString(s));
        ASSERT_TRUE(back);
        EXPECT_EQ(*back, s);
    }
    EXPECT_FALSE(ParseTaskState("success"));
}

}  // namespace
}  // namespace gale::tasks
