// SPDX-License-Identifier: MIT
//
// The WORKER role (issue 10 §3) as a user runs it: `hello worker` and `worker_svc worker` as real processes in a
// fresh directory, on the embedded SQLite queue (<service>-tasks.db in the working directory), on a real Redis and
// on a real RabbitMQ, with Python's Celery 5.2.6 on the other side. What is checked:
//  - hello: migrate, worker, probes 200 once consuming; `hello add 2 3` prints 5; POST /tasks/visits/ada on serve is
//    run by the worker (GET /tasks/{id} SUCCESS, GET /visits/ada 1); the task counter on /metrics; SIGTERM exits 0.
//    A service without tasks refuses `worker` (exit 2, saying why). -Q / GALE_WORKER_QUEUES and -c /
//    APP_WORKER_COUNT choose the queues and threads; a worker whose threads are all busy is not taken for stalled.
//  - SIGTERM drain: readiness fails at once, the running tasks finish, exit 0 within the graceful timeout; the
//    prefetched ones are returned to the queue at once (a second worker runs them without waiting for a lease).
//  - SIGKILL between a task's commit and its acknowledgement: the task is delivered again, RunOnce makes its effect
//    happen once (N rows for N tasks), every task ends SUCCESS.
//  - The hard time limit: FAILURE TimeLimitExceeded, liveness fails naming tasks-stuck while the abandoned thread
//    runs and passes again after; the next task runs meanwhile.
//  - Redis and RabbitMQ: Python's send_task runs on hello's worker; `hello add` runs on a Python Celery worker. A
//    Redis outage fails readiness at once and liveness after --max-outage; the worker resumes when Redis is back.
// The tests send tasks to worker_svc through gale::tasks' own client on the same SQLite file, as another service
// of the same deployment would; the test reads worker_svc's events ("start <id>", "done <id>"…) from a file.
#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <gale/amqp/testing/rabbitmq_server.hpp>
#include <gale/db/database.hpp>
#include <gale/http/testing/recording_server.hpp>
#include <gale/redis/testing/redis_server.hpp>
#include <gale/tasks/client.hpp>
#include <gale/tasks/embedded_broker.hpp>

#include "harness.hpp"

namespace {

using namespace std::chrono_literals;
using gale::testing::integration::Eventually;
using gale::testing::integration::Get;
using gale::testing::integration::Post;
using gale::testing::integration::Process;
using gale::testing::integration::ProcessTest;
using gale::testing::integration::ReadFile;
using gale::testing::integration::StatusOf;
using Json = nlohmann::json;
namespace fs = std::filesystem;
namespace tasks = gale::tasks;

#if !defined(GALE_HELLO_PATH) || !defined(GALE_WORKER_SVC_PATH) || !defined(GALE_TESTSVC_PATH) || \
    !defined(GALE_CELERY_PYTHON)
#error "GALE_HELLO_PATH, GALE_WORKER_SVC_PATH, GALE_TESTSVC_PATH and GALE_CELERY_PYTHON must be defined"
#endif
constexpr const char* kHello = GALE_HELLO_PATH;
constexpr const char* kSvc = GALE_WORKER_SVC_PATH;
constexpr const char* kTestsvc = GALE_TESTSVC_PATH;
constexpr const char* kPython = GALE_CELERY_PYTHON;

/// worker_svc's event file: for each task id, how often each event happened.
using Events = std::map<std::string, std::map<std::string, int>>;

class WorkerTest : public ProcessTest {
protected:
    WorkerTest() : ProcessTest("worker", {"GALE_", "APP_", "DATABASE_", "CELERY_", "AMQP_", "RABBITMQ_", "PYTHON"}) {}

    void TearDown() override {
        procs_.clear();
        client_.reset();
        backend_.reset();
        broker_.reset();
        ProcessTest::TearDown();
    }

    /// `binary ARGS…` in dir_ with `env`, without the runner's own GALE_*, APP_*, DATABASE_*, CELERY_*, AMQP_* and
    /// RABBITMQ_* settings.
    Process& Run(const std::string& binary, std::vector<std::string> args,
                 std::map<std::string, std::string> env = {}) {
        args.insert(args.begin(), binary);
        return Spawn(std::move(args), std::move(env));
    }

    /// worker_svc's environment: its event file and its database in dir_, plus `extra`.
    std::map<std::string, std::string> SvcEnv(std::map<std::string, std::string> extra = {}) const {
        extra["WORKER_SVC_EVENTS"] = events_path();
        extra["WORKER_SVC_DB"] = dir_ + "/svc.db";
        return extra;
    }
    std::string events_path() const { return dir_ + "/events.txt"; }

    /// `worker_svc worker --port 0 ARGS…`; returns its probe port (0 on failure, with a test failure).
    std::uint16_t StartSvcWorker(std::vector<std::string> args, Process** out,
                                 std::map<std::string, std::string> env = {}) {
        args.insert(args.begin(), {"worker", "--bind", "127.0.0.1", "--port", "0"});
        Process& p = Run(kSvc, std::move(args), SvcEnv(std::move(env)));
        *out = &p;
        const std::uint16_t probe = p.WaitForPort("probe server listening", 20s);
        EXPECT_NE(probe, 0) << "no probe server";
        if (probe == 0) return 0;
        EXPECT_TRUE(Eventually([&] { return StatusOf(probe, "/ready") == 200; }, 20s)) << "the worker is not ready";
        return probe;
    }

    /// A client of worker_svc's embedded queue and results (workersvc-tasks.db in dir_), as another process of the
    /// same deployment would have.
    tasks::TaskClient& Client() {
        if (!client_) {
            const std::string path = dir_ + "/workersvc-tasks.db";
            auto broker = tasks::EmbeddedBroker::Open(path);
            EXPECT_TRUE(broker) << broker.error().ToString();
            auto backend = tasks::EmbeddedResultBackend::Open(path);
            EXPECT_TRUE(backend) << backend.error().ToString();
            broker_ = std::move(*broker);
            backend_ = std::move(*backend);
            client_ = std::make_unique<tasks::TaskClient>(*broker_, backend_.get());
        }
        return *client_;
    }
    std::string Send(const std::string& task, Json args, const tasks::SendOptions& options = {}) {
        auto id = Client().Send(task, std::move(args), Json::object(), options);
        EXPECT_TRUE(id) << id.error().ToString();
        return id ? *id : std::string();
    }
    tasks::TaskResult Result(const std::string& id) {
        auto r = Client().Get(id);
        EXPECT_TRUE(r) << r.error().ToString();
        return r ? *r : tasks::TaskResult{};
    }

    Events ReadEvents() const {
        Events out;
        std::istringstream in(ReadFile(events_path()));
        for (std::string event, id; in >> event >> id;) ++out[id][event];
        return out;
    }
    int CountEvent(const std::string& event) const {
        int n = 0;
        for (const auto& [id, counts] : ReadEvents()) {
            auto it = counts.find(event);
            n += it == counts.end() ? 0 : it->second;
        }
        return n;
    }

    /// SIGTERM, then the exit code (-1 if it did not exit within `timeout`).
    static int Terminate(Process& p, std::chrono::milliseconds timeout = 20s) {
        p.Signal(SIGTERM);
        auto code = p.WaitExit(timeout);
        return code ? *code : -1;
    }
    static int ExitOf(Process& p, std::chrono::milliseconds timeout = 20s) {
        auto code = p.WaitExit(timeout);
        return code ? *code : -1;
    }
    /// The value of the sample `series` (e.g. `gale_tasks_total{task="x",outcome="succeeded"}`) on /metrics; -1 if
    /// absent.
    static double Metric(std::uint16_t probe, const std::string& series) {
        auto r = Get(probe, "/metrics");
        if (!r || r->status != 200) return -1;
        std::istringstream in(r->body);
        for (std::string line; std::getline(in, line);) {
            if (line.rfind(series + " ", 0) == 0) return std::stod(line.substr(series.size() + 1));
        }
        return -1;
    }

    std::unique_ptr<tasks::EmbeddedBroker> broker_;
    std::unique_ptr<tasks::EmbeddedResultBackend> backend_;
    std::unique_ptr<tasks::TaskClient> client_;
};

/// gethostname(): what Celery's node names are made of ("celery@<hostname>", `-n w1@%h`).
std::string HostName() {
    char host[256] = {};
    EXPECT_EQ(::gethostname(host, sizeof host - 1), 0);
    return host;
}

bool HasLine(const std::string& text, const std::string& line) {
    std::istringstream in(text);
    for (std::string l; std::getline(in, l);) {
        if (l == line) return true;
    }
    return false;
}

// --- the embedded queue ----------------------------------------------------------------------------------------

TEST_F(WorkerTest, HelloRunsItsTasksOnTheEmbeddedQueue) {
    ASSERT_EQ(ExitOf(Run(kHello, {"migrate"})), 0);
    Process& worker = Run(kHello, {"worker", "--bind", "127.0.0.1", "--port", "0", "-c", "2"});
    const std::uint16_t probe = worker.WaitForPort("probe server listening", 20s);
    ASSERT_NE(probe, 0);
    ASSERT_TRUE(Eventually([&] { return StatusOf(probe, "/startup") == 200; }, 20s));
    EXPECT_EQ(StatusOf(probe, "/ready"), 200);
    EXPECT_EQ(StatusOf(probe, "/alive"), 200);
    auto started = worker.Records("worker started");
    ASSERT_EQ(started.size(), 1U);
    EXPECT_EQ(started[0].value("queues", ""), "celery");
    EXPECT_EQ(started[0].value("concurrency", 0), 2);
    EXPECT_TRUE(fs::exists(dir_ + "/hello-tasks.db")) << "the embedded queue is not in the working directory";

    Process& add = Run(kHello, {"add", "2", "3"});
    ASSERT_EQ(ExitOf(add), 0) << add.Log();
    EXPECT_TRUE(HasLine(add.Log(), "5")) << add.Log();

    Process& serve = Run(kHello, {"serve", "--bind", "127.0.0.1", "--port", "0", "--drain-delay", "0s"});
    const std::uint16_t app = serve.WaitForPort("app server listening", 20s);
    ASSERT_NE(app, 0);
    auto sent = Post(app, "/tasks/visits/ada", "");
    ASSERT_TRUE(sent);
    ASSERT_EQ(sent->status, 202) << sent->body;
    const std::string id = Json::parse(sent->body, nullptr, false).value("task_id", "");
    ASSERT_FALSE(id.empty()) << sent->body;
    Json state;
    EXPECT_TRUE(Eventually(
        [&] {
            auto r = Get(app, "/tasks/" + id);
            if (!r || r->status != 200) return false;
            state = Json::parse(r->body, nullptr, false);
            return state.is_object() && state.value("state", "") == "SUCCESS";
        },
        15s))
        << state.dump();
    EXPECT_EQ(state["result"].value("name", ""), "ada") << state.dump();
    EXPECT_TRUE(state["result"].contains("id")) << state.dump();
    auto visits = Get(app, "/visits/ada");
    ASSERT_TRUE(visits);
    EXPECT_EQ(Json::parse(visits->body, nullptr, false).value("visits", -1), 1) << visits->body;
    auto unknown = Get(app, "/tasks/no-such-task");
    ASSERT_TRUE(unknown);
    EXPECT_EQ(unknown->status, 200);
    EXPECT_NE(unknown->body.find("PENDING"), std::string::npos) << unknown->body;

    EXPECT_EQ(Metric(probe, R"(gale_tasks_total{task="hello.add",outcome="succeeded"})"), 1)
        << Get(probe, "/metrics")->body;
    EXPECT_EQ(Metric(probe, R"(gale_tasks_total{task="hello.record_visit",outcome="succeeded"})"), 1);

    EXPECT_EQ(Terminate(serve), 0);
    EXPECT_EQ(Terminate(worker), 0);
    auto stopped = worker.Records("worker stopped");
    ASSERT_EQ(stopped.size(), 1U) << worker.Log();
    EXPECT_EQ(stopped[0].value("succeeded", 0), 2);
}

TEST_F(WorkerTest, AServiceWithoutTasksRefusesTheWorkerRole) {
    Process& p = Run(kTestsvc, {"worker", "--bind", "127.0.0.1", "--port", "0"});
    EXPECT_EQ(ExitOf(p), 2) << p.Log();
    EXPECT_NE(p.Log().find("no tasks are registered: declare them with App::Task"), std::string::npos) << p.Log();
    EXPECT_TRUE(p.Records("probe server listening").empty()) << "it started its probes before refusing";
    // The same through APP_RUN_MODE=WORKER.
    Process& q = Run(kTestsvc, {}, {{"APP_RUN_MODE", "WORKER"}});
    EXPECT_EQ(ExitOf(q), 2) << q.Log();
    EXPECT_NE(q.Log().find("no tasks are registered"), std::string::npos) << q.Log();
}

TEST_F(WorkerTest, QueuesAndConcurrencyComeFromTheOptionsOrTheEnvironment) {
    // By default: the default queue and every queue a task names; APP_WORKER_COUNT threads.
    Process* all = nullptr;
    ASSERT_NE(StartSvcWorker({}, &all, {{"APP_WORKER_COUNT", "3"}}), 0);
    auto started = all->Records("worker started");
    ASSERT_EQ(started.size(), 1U);
    EXPECT_EQ(started[0].value("queues", ""), "celery,other");
    EXPECT_EQ(started[0].value("concurrency", 0), 3);
    const std::string first = Send("svc.elsewhere", Json::array(), {.queue = "other"});
    EXPECT_TRUE(Eventually([&] { return Result(first).state == tasks::TaskState::kSuccess; }, 10s));
    EXPECT_EQ(Terminate(*all), 0);

    // -Q celery: a task on "other" waits; -c wins over APP_WORKER_COUNT.
    Process* celery = nullptr;
    ASSERT_NE(StartSvcWorker({"-Q", "celery", "-c", "1"}, &celery, {{"APP_WORKER_COUNT", "3"}}), 0);
    started = celery->Records("worker started");
    ASSERT_EQ(started.size(), 1U);
    EXPECT_EQ(started[0].value("queues", ""), "celery");
    EXPECT_EQ(started[0].value("concurrency", 0), 1);
    const std::string waiting = Send("svc.elsewhere", Json::array(), {.queue = "other"});
    const std::string sleeper = Send("svc.sleep", {10});
    EXPECT_TRUE(Eventually([&] { return Result(sleeper).state == tasks::TaskState::kSuccess; }, 10s));
    std::this_thread::sleep_for(300ms);
    EXPECT_EQ(Result(waiting).state, tasks::TaskState::kPending);
    EXPECT_EQ(Terminate(*celery), 0);

    // GALE_WORKER_QUEUES=other runs it.
    Process* other = nullptr;
    ASSERT_NE(StartSvcWorker({"-c", "1"}, &other, {{"GALE_WORKER_QUEUES", "other"}}), 0);
    EXPECT_EQ(other->Records("worker started").at(0).value("queues", ""), "other");
    EXPECT_TRUE(Eventually([&] { return Result(waiting).state == tasks::TaskState::kSuccess; }, 10s));
    EXPECT_EQ(Terminate(*other), 0);
}

TEST_F(WorkerTest, TheNodeNameIsCelerysDefaultOrTheHostnameOptionAndBadOnesAreRefused) {
    using Names = std::pair<std::string, std::string>;
    // The node name a worker started with `args` and `env` logs, and the one in the result of a task it ran.
    auto names = [&](std::vector<std::string> args, std::map<std::string, std::string> env) {
        Names out;
        Process* worker = nullptr;
        if (StartSvcWorker(std::move(args), &worker, std::move(env)) == 0) return out;
        out.first = worker->Records("worker started").at(0).value("node", "");
        const std::string id = Send("svc.sleep", {1});
        EXPECT_TRUE(Eventually([&] { return Result(id).state == tasks::TaskState::kSuccess; }, 10s));
        out.second = Result(id).worker;
        EXPECT_EQ(Terminate(*worker), 0);
        return out;
    };
    const std::string host = HostName();
    // By default Celery's celery@<hostname>, in the results as in the log (and the events and ping answers:
    // WorkerCeleryTest.*OneNodeName*).
    EXPECT_EQ(names({"-c", "1"}, {}), Names("celery@" + host, "celery@" + host));
    // -n/--hostname as Celery's worker reads it: %h is the host name; the flag wins over the variable.
    EXPECT_EQ(names({"-c", "1", "-n", "w1@%h"}, {{"GALE_WORKER_HOSTNAME", "ignored@h"}}),
              Names("w1@" + host, "w1@" + host));
    // GALE_WORKER_HOSTNAME without -n; a value without '@' is the host, as in Celery.
    EXPECT_EQ(names({"-c", "1"}, {{"GALE_WORKER_HOSTNAME", "w2.example"}}),
              Names("celery@w2.example", "celery@w2.example"));

    // An unknown %-format is a bad option: exit 2 before anything listens, naming the flag or the variable.
    Process& bad = Run(kSvc, {"worker", "--bind", "127.0.0.1", "--port", "0", "-n", "w1@%x"}, SvcEnv());
    EXPECT_EQ(ExitOf(bad), 2) << bad.Log();
    EXPECT_NE(bad.Log().find("--hostname: unknown format %x"), std::string::npos) << bad.Log();
    EXPECT_TRUE(bad.Records("probe server listening").empty());
    Process& bad_env =
        Run(kSvc, {"worker", "--bind", "127.0.0.1", "--port", "0"}, SvcEnv({{"GALE_WORKER_HOSTNAME", "w@%q"}}));
    EXPECT_EQ(ExitOf(bad_env), 2) << bad_env.Log();
    EXPECT_NE(bad_env.Log().find("GALE_WORKER_HOSTNAME: unknown format %q"), std::string::npos) << bad_env.Log();
}

TEST_F(WorkerTest, AFullWorkerIsNotTakenForAStalledOne) {
    // One thread, prefetch 1, a task of 2.5 s, a watchdog of 1 s: the fetch loop keeps turning while the worker
    // has no room, so liveness passes throughout.
    Process* worker = nullptr;
    const std::uint16_t probe =
        StartSvcWorker({"-c", "1", "--prefetch-multiplier", "1", "--watchdog-timeout", "1s"}, &worker);
    ASSERT_NE(probe, 0);
    const std::string slow = Send("svc.sleep", {2500});
    const std::string next = Send("svc.sleep", {10});
    ASSERT_TRUE(Eventually([&] { return CountEvent("start") >= 1; }, 5s));
    int failures = 0;
    std::string body;
    while (Result(slow).state != tasks::TaskState::kSuccess && worker->Running()) {
        auto r = Get(probe, "/alive");
        if (!r || r->status != 200) {
            ++failures;
            body = r ? r->body : "no answer";
        }
        std::this_thread::sleep_for(100ms);
    }
    EXPECT_EQ(failures, 0) << body;
    EXPECT_TRUE(Eventually([&] { return Result(next).state == tasks::TaskState::kSuccess; }, 5s));
    EXPECT_EQ(Terminate(*worker), 0);
}

TEST_F(WorkerTest, SigtermFinishesTheRunningTasksAndReturnsThePrefetchedOnes) {
    Process* worker = nullptr;
    const std::uint16_t probe = StartSvcWorker(
        {"-c", "2", "--prefetch-multiplier", "2", "--drain-delay", "1s", "--graceful-timeout", "10s"}, &worker);
    ASSERT_NE(probe, 0);
    std::vector<std::string> ids;
    for (int i = 0; i < 6; ++i) ids.push_back(Send("svc.sleep", {1500}));
    ASSERT_TRUE(Eventually([&] { return CountEvent("start") >= 2; }, 10s)) << ReadFile(events_path());
    // Both threads are busy for 1.5 s; one or two more are prefetched (prefetch 2 × 2, but the embedded consumer
    // claims only while half its prefetch is free: tasks sent one by one may stop it at three), the rest wait in the
    // queue. Not waited for long: the SIGTERM must come while the first two run.
    EXPECT_TRUE(Eventually([&] { return Metric(probe, "gale_tasks_prefetched") >= 1; }, 600ms))
        << Get(probe, "/metrics")->body;
    const auto sigterm = std::chrono::steady_clock::now();
    worker->Signal(SIGTERM);
    // Readiness fails at once (the worker does not sit out the drain delay: no load balancer routes to it) while
    // the running tasks go on.
    EXPECT_TRUE(Eventually([&] { return StatusOf(probe, "/ready") == 503; }, 1s));
    EXPECT_EQ(CountEvent("done"), 0) << "the tasks finished before readiness was seen failing";
    const int code = ExitOf(*worker, 15s);
    const auto took = std::chrono::steady_clock::now() - sigterm;
    EXPECT_EQ(code, 0) << worker->Log();
    EXPECT_LT(took, 10s) << "not within the graceful timeout";
    Events after_first = ReadEvents();
    int started = 0;
    for (const auto& [id, counts] : after_first) {
        started += counts.count("start") ? counts.at("start") : 0;
        EXPECT_EQ(counts.count("done") ? counts.at("done") : 0, counts.at("start")) << id << " was cut short";
    }
    EXPECT_EQ(started, 2) << "a prefetched task was started after SIGTERM:\n" << ReadFile(events_path());
    auto stopped = worker->Records("worker stopped");
    ASSERT_EQ(stopped.size(), 1U);
    EXPECT_EQ(stopped[0].value("succeeded", 0), 2);
    int pending = 0;
    for (const auto& id : ids) pending += Result(id).state == tasks::TaskState::kPending ? 1 : 0;
    EXPECT_EQ(pending, 4);

    // The four others were returned to the queue (the two prefetched ones at once, not after their 30 s lease): a
    // second worker runs them all, two at a time, in about 3 s.
    Process* second = nullptr;
    ASSERT_NE(StartSvcWorker({"-c", "2"}, &second), 0);
    EXPECT_TRUE(Eventually(
        [&] {
            for (const auto& id : ids) {
                if (Result(id).state != tasks::TaskState::kSuccess) return false;
            }
            return true;
        },
        12s))
        << ReadFile(events_path());
    Events all = ReadEvents();
    for (const auto& id : ids) {
        EXPECT_GE(all[id]["done"], 1) << id << " never ran to the end";
        EXPECT_EQ(Result(id).result, Json(1500));
    }
    EXPECT_EQ(Terminate(*second), 0);
}

TEST_F(WorkerTest, SigkillBetweenCommitAndAckRunsTheTaskAgainButItsEffectOnce) {
    constexpr int kTasks = 20;
    const std::map<std::string, std::string> lease = {{"CELERY_BROKER_VISIBILITY_TIMEOUT", "2s"}};
    Process* worker = nullptr;
    ASSERT_NE(StartSvcWorker({"-c", "2", "--prefetch-multiplier", "1"}, &worker, lease), 0);
    std::vector<std::string> ids;
    for (int i = 0; i < kTasks; ++i) ids.push_back(Send("svc.visit_then_sleep", {"v" + std::to_string(i), 300}));

    // Kill it once a few tasks are done and one has committed but not yet finished (in its 300 ms sleep).
    std::string victim;
    ASSERT_TRUE(Eventually(
        [&] {
            Events e = ReadEvents();
            if (CountEvent("done") < 4) return false;
            for (const auto& [id, counts] : e) {
                if (counts.count("committed") && !counts.count("done")) {
                    victim = id;
                    return true;
                }
            }
            return false;
        },
        20s, 2ms))
        << ReadFile(events_path());
    worker->Signal(SIGKILL);
    ASSERT_EQ(ExitOf(*worker, 5s), 128 + SIGKILL);
    const int done_before = CountEvent("done");
    EXPECT_LT(done_before, kTasks) << "too late: everything had run";

    Process* again = nullptr;
    ASSERT_NE(StartSvcWorker({"-c", "2", "--prefetch-multiplier", "1"}, &again, lease), 0);
    EXPECT_TRUE(Eventually(
        [&] {
            for (const auto& id : ids) {
                if (Result(id).state != tasks::TaskState::kSuccess) return false;
            }
            return true;
        },
        30s, 50ms))
        << ReadFile(events_path());

    // At least once: the victim ran twice (delivered again after its lease ran out) and got past RunOnce twice,
    // but its body ran once: the second run found the completion record.
    Events e = ReadEvents();
    EXPECT_GE(e[victim]["start"], 2) << victim << " was not delivered again:\n" << ReadFile(events_path());
    EXPECT_GE(e[victim]["committed"], 2) << ReadFile(events_path());
    EXPECT_EQ(e[victim]["insert"], 1) << "RunOnce ran the body of a committed task again";
    // (Another task's body may have run twice: the kill may have come inside its transaction, before the commit,
    // which rolled back. The table below is what counts.)
    for (const auto& id : ids) EXPECT_GE(e[id]["insert"], 1) << id;
    for (int i = 0; i < kTasks; ++i) {
        const auto r = Result(ids[i]);
        EXPECT_EQ(r.result.value("name", ""), "v" + std::to_string(i)) << r.result.dump();
    }
    auto db = gale::db::Database::Open(dir_ + "/svc.db");
    ASSERT_TRUE(db) << db.error().ToString();
    auto rows = db->Query("SELECT COUNT(*), COUNT(DISTINCT task_id) FROM visits");
    ASSERT_TRUE(rows) << rows.error().ToString();
    EXPECT_EQ(std::get<std::int64_t>((*rows)[0][0]), kTasks);
    EXPECT_EQ(std::get<std::int64_t>((*rows)[0][1]), kTasks);
    auto completions = db->Query("SELECT COUNT(*) FROM gale_task_completions");
    ASSERT_TRUE(completions);
    EXPECT_EQ(std::get<std::int64_t>((*completions)[0][0]), kTasks);
    EXPECT_EQ(Terminate(*again), 0);
}

/// The event payloads of the envelopes `server` received (the third line of each: header, item header, payload).
std::vector<Json> SentryPayloads(const gale::http::testing::RecordingServer& server) {
    std::vector<Json> out;
    for (const auto& r : server.requests()) {
        std::istringstream in(r.body);
        std::string header, item, payload;
        std::getline(in, header);
        std::getline(in, item);
        std::getline(in, payload);
        out.push_back(Json::parse(payload, nullptr, false));
    }
    return out;
}

TEST_F(WorkerTest, ATaskThatFailsForGoodIsOneSentryEventAndAHardTimeLimitAnother) {
    gale::http::testing::RecordingServer sentry;
    ASSERT_TRUE(sentry.ok());
    const std::string url = sentry.Url("/");  // http://127.0.0.1:<port>/
    Process* worker = nullptr;
    const std::uint16_t probe =
        StartSvcWorker({"-c", "2"}, &worker, {{"SENTRY_DSN", "http://k@" + url.substr(7) + "9"}});
    ASSERT_NE(probe, 0);
    // Three runs (two retries), one event: the retries are not failures.
    const std::string failing = Send("svc.fail", Json::array());
    ASSERT_TRUE(Eventually([&] { return Result(failing).state == tasks::TaskState::kFailure; }, 10s));
    EXPECT_EQ(ReadEvents()[failing]["start"], 3);
    const std::string hang = Send("svc.hang", {1500});
    ASSERT_TRUE(Eventually([&] { return Result(hang).state == tasks::TaskState::kFailure; }, 10s));
    ASSERT_TRUE(sentry.WaitForRequests(2, 5s));
    EXPECT_EQ(Terminate(*worker), 0);
    auto events = SentryPayloads(sentry);
    ASSERT_EQ(events.size(), 2U);
    const Json& failed = events[0];
    EXPECT_EQ(failed["logger"], "gale.worker");
    EXPECT_EQ(failed["message"]["formatted"], "task failed");
    EXPECT_EQ(failed["exception"]["values"][0]["type"], "RuntimeError");
    EXPECT_EQ(failed["exception"]["values"][0]["value"], "charge failed: token=[Filtered]");
    EXPECT_EQ(failed["extra"]["task"], "svc.fail");
    EXPECT_EQ(failed["extra"]["id"], failing);
    EXPECT_EQ(failed["extra"]["retries"], "2");
    EXPECT_EQ(failed["tags"]["role"], "worker");
    EXPECT_EQ(failed["release"], "workersvc@1.0.0");
    EXPECT_EQ(failed["environment"], "production");
    const Json& limit = events[1];
    EXPECT_EQ(limit["exception"]["values"][0]["type"], "TimeLimitExceeded");
    EXPECT_EQ(limit["extra"]["id"], hang);
    for (const auto& r : sentry.requests()) EXPECT_EQ(r.body.find("tok_secret"), std::string::npos);
}

TEST_F(WorkerTest, AHardTimeLimitFailsTheTaskAndLivenessUntilTheAbandonedThreadReturns) {
    Process* worker = nullptr;
    const std::uint16_t probe = StartSvcWorker({"-c", "1"}, &worker);
    ASSERT_NE(probe, 0);
    const auto sent_at = std::chrono::steady_clock::now();
    const std::string hang = Send("svc.hang", {4000});
    tasks::TaskResult r;
    ASSERT_TRUE(Eventually(
        [&] {
            r = Result(hang);
            return r.state == tasks::TaskState::kFailure;
        },
        5s))
        << tasks::ToString(r.state);
    EXPECT_GE(std::chrono::steady_clock::now() - sent_at, 900ms);
    EXPECT_EQ(r.result.value("exc_type", ""), "TimeLimitExceeded") << r.result.dump();
    EXPECT_EQ(CountEvent("done"), 0);

    // The abandoned thread still sleeps: liveness fails (500: a liveness failure is the service's), naming the
    // check.
    std::optional<gale::http::testing::RawResponse> alive;
    EXPECT_TRUE(Eventually(
        [&] {
            alive = Get(probe, "/alive");
            return alive && alive->status == 500;
        },
        2s))
        << (alive ? alive->body : "no answer");
    if (alive) {
        EXPECT_NE(alive->body.find("tasks-stuck"), std::string::npos) << alive->body;
    }
    // A new thread took its place: the next task runs meanwhile.
    const std::string next = Send("svc.sleep", {10});
    EXPECT_TRUE(Eventually([&] { return Result(next).state == tasks::TaskState::kSuccess; }, 3s));
    EXPECT_EQ(ReadEvents()[hang]["done"], 0) << "the hung task returned already; the check above proved nothing";

    // It returns at 4 s: liveness passes again, and its late return changes nothing.
    EXPECT_TRUE(Eventually([&] { return StatusOf(probe, "/alive") == 200; }, 6s)) << Get(probe, "/alive")->body;
    EXPECT_TRUE(Eventually([&] { return ReadEvents()[hang]["done"] == 1; }, 2s));
    EXPECT_EQ(Result(hang).state, tasks::TaskState::kFailure);
    EXPECT_EQ(Terminate(*worker), 0);
}

// --- Python's Celery -------------------------------------------------------------------------------------------

/// Runs python3 `script` ARGS… in `test`'s directory; its output (stdout and stderr) and exit code.
struct PyRun {
    int code = -1;
    std::string out;
};

class WorkerCeleryTest : public WorkerTest {
protected:
    void SetUp() override {
        WorkerTest::SetUp();
        ASSERT_TRUE(fs::exists(kPython)) << kPython << " is missing (Debian's python3-celery)";
    }

    PyRun Python(const std::string& script, std::vector<std::string> args, std::chrono::milliseconds timeout = 30s) {
        const std::string path = dir_ + "/script" + std::to_string(procs_.size()) + ".py";
        std::ofstream(path) << script;
        args.insert(args.begin(), path);
        Process& p = Run(kPython, std::move(args), {{"PYTHONDONTWRITEBYTECODE", "1"}});
        PyRun out;
        out.code = ExitOf(p, timeout);
        out.out = p.Log();
        return out;
    }

    /// Python's send_task("hello.add", (2, 3)).get() on `broker` / `backend`: expects 5.
    void PythonSendsAdd(const std::string& broker, const std::string& backend) {
        const std::string script = R"(import sys
from celery import Celery
app = Celery("client", broker=sys.argv[1], backend=sys.argv[2])
r = app.send_task("hello.add", (2, 3))
print("result", r.get(timeout=10))
r = app.send_task("hello.add", (2, "x"))
try:
    r.get(timeout=10)
    print("no error")
except Exception as e:
    print("error", type(e).__name__)
)";
        PyRun r = Python(script, {broker, backend});
        EXPECT_EQ(r.code, 0) << r.out;
        EXPECT_TRUE(HasLine(r.out, "result 5")) << r.out;
        EXPECT_TRUE(HasLine(r.out, "error TypeError")) << r.out;
    }

    /// A Python Celery worker (-P solo, queue celery) with a task hello.add; returns once it is ready.
    Process& StartPythonWorker(const std::string& broker, const std::string& backend) {
        std::ofstream(dir_ + "/pyhello.py") << R"(import os
from celery import Celery
app = Celery("pyhello", broker=os.environ["PYHELLO_BROKER"], backend=os.environ["PYHELLO_BACKEND"])
app.conf.update(worker_hijack_root_logger=False, broker_connection_retry_on_startup=True)

@app.task(name="hello.add")
def add(a, b):
    print(f"python ran hello.add {a} {b}", flush=True)
    return a + b
)";
        Process& p =
            Run(kPython,
                {"-m", "celery", "-A", "pyhello", "worker", "-P", "solo", "-c", "1", "-Q", "celery", "-n",
                 "py1@127.0.0.1", "--without-gossip", "--without-mingle", "--without-heartbeat", "--loglevel", "INFO"},
                {{"PYTHONPATH", dir_},
                 {"PYTHONDONTWRITEBYTECODE", "1"},
                 {"PYHELLO_BROKER", broker},
                 {"PYHELLO_BACKEND", backend}});
        EXPECT_TRUE(Eventually([&] { return p.Log().find(" ready.") != std::string::npos || !p.Running(); }, 60s));
        EXPECT_TRUE(p.Running()) << p.Log();
        return p;
    }

    /// The node names Celery sees for the one gale worker on `broker`/`backend`: the first event's hostname (a
    /// heartbeat: they come every 2 s), the nodes answering `inspect ping` (broadcast, as `celery status`), the
    /// `worker` of hello.add's result (AsyncResult.worker: the result's meta; rpc:// carries none, as Celery's) and
    /// the node a failure's traceback names. Checks that they are one: `node`.
    void ExpectOneNodeName(const std::string& broker, const std::string& backend, const std::string& node) {
        const std::string script = R"(import json, re, sys
from celery import Celery
app = Celery("client", broker=sys.argv[1], backend=sys.argv[2])
seen = {}
with app.connection() as conn:
    recv = app.events.Receiver(conn, handlers={"*": lambda e: seen.setdefault("event", [e["type"], e["hostname"]])})
    for _ in recv.itercapture(limit=None, timeout=10, wakeup=False):  # raises after 10 s without an event
        if seen:
            break
pong = {}
for _ in range(5):  # the responder consumes the pidbox from a thread of its own
    pong = app.control.inspect(timeout=3).ping() or {}
    if pong:
        break
r = app.send_task("hello.add", (2, 3))
result = r.get(timeout=10)
failed = app.send_task("hello.add", (2, "x"))
try:
    failed.get(timeout=10)
except Exception:
    pass
on = re.search(r" on (\S+), retries", failed.traceback or "")
print(json.dumps({"event": seen.get("event"), "ping": sorted(pong), "result": result, "worker": r.worker,
                  "traceback": on.group(1) if on else failed.traceback}))
)";
        PyRun r = Python(script, {broker, backend}, 60s);
        ASSERT_EQ(r.code, 0) << r.out;
        std::string last;  // the script's answer, among whatever Celery wrote to stderr
        std::istringstream lines(r.out);
        for (std::string line; std::getline(lines, line);) {
            if (line.rfind(R"({"event": )", 0) == 0) last = line;
        }
        const Json got = Json::parse(last, nullptr, false);
        ASSERT_TRUE(got.is_object()) << r.out;
        EXPECT_EQ(got["event"], Json::array({"worker-heartbeat", node})) << r.out;
        EXPECT_EQ(got["ping"], Json::array({node})) << r.out;
        EXPECT_EQ(got["result"], 5) << r.out;
        if (backend != "rpc://") {
            EXPECT_EQ(got["worker"], node) << r.out;
        }
        EXPECT_EQ(got["traceback"], node) << r.out;
    }

    /// `hello worker` on `env`'s broker: its probe port once ready (0, with a failure, if not).
    std::uint16_t StartHelloWorker(const std::map<std::string, std::string>& env, Process** out,
                                   std::vector<std::string> extra = {}) {
        std::vector<std::string> args = {"worker", "--bind", "127.0.0.1", "--port", "0", "-c", "2"};
        args.insert(args.end(), extra.begin(), extra.end());
        Process& w = Run(kHello, std::move(args), env);
        *out = &w;
        const std::uint16_t probe = w.WaitForPort("probe server listening", 20s);
        EXPECT_NE(probe, 0) << "no probe server";
        if (probe == 0) return 0;
        EXPECT_TRUE(Eventually([&] { return StatusOf(probe, "/ready") == 200; }, 30s))
            << (Get(probe, "/ready") ? Get(probe, "/ready")->body : "");
        return probe;
    }
};

TEST_F(WorkerCeleryTest, RedisPythonSendsToHelloAndHelloSendsToPython) {
    auto redis = gale::redis::testing::RedisServer::Start();
    ASSERT_TRUE(redis) << redis.error().ToString();
    const std::string url = (*redis)->url();
    const std::map<std::string, std::string> env = {{"CELERY_BROKER_URL", url}, {"CELERY_RESULT_BACKEND", url}};
    ASSERT_EQ(ExitOf(Run(kHello, {"migrate"})), 0);
    Process* worker = nullptr;
    const std::uint16_t probe = StartHelloWorker(env, &worker);
    ASSERT_NE(probe, 0);
    PythonSendsAdd(url, url);
    EXPECT_EQ(Metric(probe, R"(gale_tasks_total{task="hello.add",outcome="succeeded"})"), 1);
    EXPECT_EQ(Terminate(*worker), 0);

    // gale sends, Python runs.
    Process& py = StartPythonWorker(url, url);
    Process& add = Run(kHello, {"add", "2", "3"}, env);
    EXPECT_EQ(ExitOf(add), 0) << add.Log();
    EXPECT_TRUE(HasLine(add.Log(), "5")) << add.Log();
    EXPECT_TRUE(Eventually([&] { return py.Log().find("python ran hello.add 2 3") != std::string::npos; }, 5s))
        << py.Log();
    EXPECT_EQ(Terminate(py, 20s), 0) << py.Log();
}

// One node name for the worker, its results, its events and its ping answers (Celery's default celery@<hostname>,
// or -n), as Celery itself sees them.
TEST_F(WorkerCeleryTest, RedisOneNodeNameForResultsEventsAndPing) {
    auto server = gale::redis::testing::RedisServer::Start();
    ASSERT_TRUE(server) << server.error().ToString();
    const std::string redis = (*server)->url();
    ASSERT_EQ(ExitOf(Run(kHello, {"migrate"})), 0);
    const std::vector<std::pair<std::vector<std::string>, std::string>> cases = {
        {{}, "celery@" + HostName()},            // Celery's default
        {{"-n", "w1@%h"}, "w1@" + HostName()}};  // Celery's -n
    for (const auto& [flags, node] : cases) {
        Process* worker = nullptr;
        ASSERT_NE(StartHelloWorker({{"CELERY_BROKER_URL", redis}, {"CELERY_RESULT_BACKEND", redis}}, &worker, flags),
                  0);
        ExpectOneNodeName(redis, redis, node);
        EXPECT_EQ(Terminate(*worker), 0);
    }
}

/// A broker outage as the probes show it: readiness fails at once, liveness after --max-outage; the broker comes
/// back: ready again, and a task sent afterwards runs.
TEST_F(WorkerCeleryTest, RedisOutageFailsReadinessAtOnceAndLivenessAfterTheLimit) {
    auto redis = gale::redis::testing::RedisServer::Start();
    ASSERT_TRUE(redis) << redis.error().ToString();
    const std::string url = (*redis)->url();
    const std::map<std::string, std::string> env = {{"CELERY_BROKER_URL", url}, {"CELERY_RESULT_BACKEND", url}};
    ASSERT_EQ(ExitOf(Run(kHello, {"migrate"})), 0);  // hello's readiness reads the visits table
    Process& w = Run(kHello, {"worker", "--bind", "127.0.0.1", "--port", "0", "-c", "1", "--max-outage", "2s"}, env);
    const std::uint16_t probe = w.WaitForPort("probe server listening", 20s);
    ASSERT_NE(probe, 0);
    ASSERT_TRUE(Eventually([&] { return StatusOf(probe, "/ready") == 200; }, 20s));

    ASSERT_TRUE((*redis)->Stop());
    const auto down = std::chrono::steady_clock::now();
    EXPECT_TRUE(Eventually([&] { return StatusOf(probe, "/ready") == 503; }, 5s)) << Get(probe, "/ready")->body;
    EXPECT_EQ(StatusOf(probe, "/alive"), 200) << "liveness failed before the outage limit";
    std::optional<gale::http::testing::RawResponse> alive;
    EXPECT_TRUE(Eventually(
        [&] {
            alive = Get(probe, "/alive");
            return alive && alive->status == 500;
        },
        8s));
    EXPECT_GE(std::chrono::steady_clock::now() - down, 1500ms) << "liveness failed before --max-outage";
    if (alive) {
        EXPECT_NE(alive->body.find("tasks-outage"), std::string::npos) << alive->body;
    }

    ASSERT_TRUE((*redis)->StartAgain());
    EXPECT_TRUE(Eventually([&] { return StatusOf(probe, "/ready") == 200; }, 40s)) << Get(probe, "/ready")->body;
    // Each probe runs its checks on its own schedule: liveness may pass a few milliseconds after readiness.
    EXPECT_TRUE(Eventually([&] { return StatusOf(probe, "/alive") == 200; }, 5s)) << Get(probe, "/alive")->body;
    Process& add = Run(kHello, {"add", "2", "3"}, env);
    EXPECT_EQ(ExitOf(add), 0) << add.Log();
    EXPECT_TRUE(HasLine(add.Log(), "5")) << add.Log();
    EXPECT_EQ(Terminate(w), 0);
}

TEST_F(WorkerCeleryTest, RabbitMqPythonSendsToHelloAndHelloSendsToPython) {
    auto rabbit = gale::amqp::testing::RabbitMqServer::Start();
    ASSERT_TRUE(rabbit) << rabbit.error().ToString();
    const std::string url = (*rabbit)->url();
    const std::map<std::string, std::string> env = {{"CELERY_BROKER_URL", url}, {"CELERY_RESULT_BACKEND", "rpc://"}};
    ASSERT_EQ(ExitOf(Run(kHello, {"migrate"})), 0);
    Process* worker = nullptr;
    const std::uint16_t probe = StartHelloWorker(env, &worker);
    ASSERT_NE(probe, 0);
    PythonSendsAdd(url, "rpc://");
    EXPECT_EQ(Metric(probe, R"(gale_tasks_total{task="hello.add",outcome="succeeded"})"), 1);
    EXPECT_EQ(Terminate(*worker), 0);

    Process& py = StartPythonWorker(url, "rpc://");
    Process& add = Run(kHello, {"add", "2", "3"}, env);
    EXPECT_EQ(ExitOf(add), 0) << add.Log();
    EXPECT_TRUE(HasLine(add.Log(), "5")) << add.Log();
    EXPECT_TRUE(Eventually([&] { return py.Log().find("python ran hello.add 2 3") != std::string::npos; }, 5s))
        << py.Log();
    EXPECT_EQ(Terminate(py, 20s), 0) << py.Log();
}

TEST_F(WorkerCeleryTest, RabbitMqOneNodeNameForResultsEventsAndPing) {
    auto server = gale::amqp::testing::RabbitMqServer::Start();
    ASSERT_TRUE(server) << server.error().ToString();
    const std::string amqp = (*server)->url();
    ASSERT_EQ(ExitOf(Run(kHello, {"migrate"})), 0);
    Process* worker = nullptr;  // GALE_WORKER_HOSTNAME, as the environment names it in a Deployment
    ASSERT_NE(StartHelloWorker(
                  {{"CELERY_BROKER_URL", amqp}, {"CELERY_RESULT_BACKEND", "rpc://"}, {"GALE_WORKER_HOSTNAME", "w2@%h"}},
                  &worker),
              0);
    ExpectOneNodeName(amqp, "rpc://", "w2@" + HostName());
    EXPECT_EQ(Terminate(*worker), 0);
}

}  // namespace
