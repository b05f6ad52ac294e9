// SPDX-License-Identifier: MIT
// The worker on the embedded queue (real SQLite) and on the in-memory broker (which delivers early, as AMQP and
// Redis do, and can fail or hang): acks_late, retries and backoff, ctx.Retry, time limits, expiry, dead letters,
// canvas (link, link_error, chain), parent/root ids, rate limits, reconnects, the heartbeat, shutdown.
#include <atomic>
#include <condition_variable>
#include <mutex>
#include <set>
#include <thread>

#include <gtest/gtest.h>

#include <gale/base/testing/gate.hpp>
#include <gale/metrics/registry.hpp>
#include <gale/tasks/embedded_broker.hpp>
#include <gale/tasks/testing/memory_broker.hpp>
#include <gale/tasks/worker.hpp>

#include "test_util.hpp"

namespace gale::tasks {
namespace {

using namespace std::chrono_literals;
using gale::testing::Gate;
using testing::MemoryBroker;
using testing::TempDir;
using testing::WaitFor;

/// A worker on a fresh embedded queue, with everything it needs.
struct Fixture {
    explicit Fixture(WorkerOptions o = {}, EmbeddedBrokerOptions bo = {}) : options(std::move(o)) {
        broker = std::move(*EmbeddedBroker::Open(dir.File("q.db"), bo));
        backend = std::move(*EmbeddedResultBackend::Open(dir.File("q.db")));
        client = std::make_unique<TaskClient>(*broker, backend.get());
        options.poll = 20ms;
        options.reconnect_initial = 20ms;
        options.metrics = &metrics;
    }
    ~Fixture() {
        if (worker) worker->Stop();
    }
    void Start() {
        worker = std::make_unique<Worker>(*broker, registry, backend.get(), *client, options);
        auto r = worker->Start();
        ASSERT_TRUE(r) << r.error().ToString();
    }
    TaskResult WaitResult(const std::string& id, std::chrono::milliseconds t = 10s) {
        auto r = client->Wait(id, t);
        EXPECT_TRUE(r) << r.error().ToString();
        return r ? *r : TaskResult{};
    }
    std::uint64_t Outcome(TaskOutcome o) { return worker->Stats().outcomes[static_cast<std::size_t>(o)]; }

    TempDir dir;
    metrics::Registry registry_metrics;
    WorkerMetrics metrics{registry_metrics};
    std::unique_ptr<EmbeddedBroker> broker;
    std::unique_ptr<EmbeddedResultBackend> backend;
    std::unique_ptr<TaskClient> client;
    TaskRegistry registry;
    WorkerOptions options;
    std::unique_ptr<Worker> worker;
};

TEST(Worker, RunsATypedTaskAndStoresCelerysResult) {
    Fixture f;
    ASSERT_TRUE(f.registry.Add("hello.add", Typed([](int a, int b) { return a + b; })));
    f.Start();
    auto id = f.client->Send("hello.add", {2, 3});
    ASSERT_TRUE(id);
    TaskResult r = f.WaitResult(*id);
    EXPECT_EQ(r.state, TaskState::kSuccess);
    EXPECT_EQ(r.result, 5);
    EXPECT_EQ(r.name, "hello.add");
    EXPECT_EQ(r.queue, "celery");
    EXPECT_TRUE(r.date_done.has_value());
    EXPECT_TRUE(WaitFor([&] { return f.Outcome(TaskOutcome::kSucceeded) == 1; }));
    EXPECT_NE(f.registry_metrics.Render().find("gale_tasks_total{task=\"hello.add\",outcome=\"succeeded\"} 1"),
              std::string::npos);
    EXPECT_TRUE(WaitFor([&] { return f.broker->Peek("celery")->empty(); }));  // acked
}

/// A backend whose StoreAsync answers only when the test releases it.
class DeferredBackend final : public ResultBackend {
public:
    explicit DeferredBackend(ResultBackend& inner) : inner_(inner) {}
    std::string_view name() const noexcept override { return "deferred"; }
    Result<void> Store(const TaskRequest& request, const TaskResult& result) override {
        return inner_.Store(request, result);
    }
    void StoreAsync(const TaskRequest& request, const TaskResult& result, StoreDone done) override {
        std::lock_guard lock(mu_);
        pending_.push_back({request, result, std::move(done)});
    }
    Result<TaskResult> Get(const std::string& id) override { return inner_.Get(id); }
    Result<TaskResult> Wait(const std::string& id, std::chrono::milliseconds t) override { return inner_.Wait(id, t); }
    std::size_t Pending() {
        std::lock_guard lock(mu_);
        return pending_.size();
    }
    void ReleaseAll() {
        std::vector<Stored> out;
        {
            std::lock_guard lock(mu_);
            out.swap(pending_);
        }
        for (auto& p : out) p.done(inner_.Store(p.request, p.result));
    }

private:
    struct Stored {
        TaskRequest request;
        TaskResult result;
        StoreDone done;
    };
    ResultBackend& inner_;
    std::mutex mu_;
    std::vector<Stored> pending_;
};

// A success with nothing to send after it goes through StoreAsync: the task thread moves on, and the message is
// settled — and the task counted as succeeded — only once the result is written; WaitIdle waits for that too.
TEST(Worker, ASuccessIsSettledOnlyOnceItsResultIsWritten) {
    Fixture f;
    DeferredBackend deferred(*f.backend);
    ASSERT_TRUE(f.registry.Add("hello.add", Typed([](int a, int b) { return a + b; })));
    f.worker = std::make_unique<Worker>(*f.broker, f.registry, &deferred, *f.client, f.options);
    ASSERT_TRUE(f.worker->Start());
    auto id = f.client->Send("hello.add", {2, 3});
    ASSERT_TRUE(id);
    ASSERT_TRUE(WaitFor([&] { return deferred.Pending() == 1; }));
    std::this_thread::sleep_for(50ms);
    EXPECT_EQ(f.Outcome(TaskOutcome::kSucceeded), 0U);
    EXPECT_EQ(f.broker->Peek("celery")->size(), 1U) << "settled before its result was written";
    EXPECT_FALSE(f.worker->WaitIdle(std::chrono::steady_clock::now() + 100ms));
    deferred.ReleaseAll();
    EXPECT_TRUE(f.worker->WaitIdle(std::chrono::steady_clock::now() + 5s));
    EXPECT_EQ(f.Outcome(TaskOutcome::kSucceeded), 1U);
    EXPECT_TRUE(WaitFor([&] { return f.broker->Peek("celery")->empty(); }));  // acked
    EXPECT_EQ(f.WaitResult(*id).result, 5);
}

TEST(Worker, TypedArgumentsAreRangeCheckedTypeErrorsThatAreNotRetried) {
    Fixture f;
    ASSERT_TRUE(f.registry.Add("t.add", Typed([](int a, int b) { return a + b; }, {"a", "b"})));
    f.Start();
    auto fraction = f.WaitResult(*f.client->Send("t.add", {1.5, 2}));
    EXPECT_EQ(fraction.state, TaskState::kFailure);
    EXPECT_EQ(fraction.result["exc_type"], "TypeError");
    EXPECT_NE(fraction.result["exc_message"][0].get<std::string>().find("argument 'a': number 1.5 is not an integer"),
              std::string::npos);
    auto big = f.WaitResult(*f.client->Send("t.add", {1, 1LL << 40}));
    EXPECT_NE(big.result["exc_message"][0].get<std::string>().find("out of range for int32"), std::string::npos);
    auto arity = f.WaitResult(*f.client->Send("t.add", {1, 2, 3}));
    EXPECT_NE(arity.result["exc_message"][0].get<std::string>().find("takes 2 positional arguments but 3 were given"),
              std::string::npos);
    auto by_name = f.WaitResult(*f.client->Send("t.add", {1}, {{"b", 41}}));
    EXPECT_EQ(by_name.state, TaskState::kSuccess);
    EXPECT_EQ(by_name.result, 42);
    auto unknown_kw = f.WaitResult(*f.client->Send("t.add", {1, 2}, {{"c", 1}}));
    EXPECT_NE(unknown_kw.result["exc_message"][0].get<std::string>().find("unexpected keyword argument 'c'"),
              std::string::npos);
    EXPECT_EQ(f.Outcome(TaskOutcome::kRetried), 0U);
}

TEST(Worker, AcksLateKeepsTheMessageHeldUntilTheTaskFinished) {
    Fixture f;
    Gate gate;
    std::atomic<bool> running{false};
    ASSERT_TRUE(f.registry.Add("t.block", [&](TaskContext&) -> Result<nlohmann::json> {
        running = true;
        gate.Wait();
        return nullptr;
    }));
    f.Start();
    auto id = f.client->Send("t.block");
    ASSERT_TRUE(WaitFor([&] { return running.load(); }));
    EXPECT_EQ(f.broker->Peek("celery")->size(), 1U);  // still there: held, not acked
    EXPECT_EQ(*f.broker->QueueLength("celery"), 0U);
    gate.Open();
    f.WaitResult(*id);
    EXPECT_TRUE(WaitFor([&] { return f.broker->Peek("celery")->empty(); }));
}

TEST(Worker, AcksEarlyWhenAcksLateIsOff) {
    Fixture f;
    Gate gate;
    std::atomic<bool> running{false};
    ASSERT_TRUE(f.registry.Add("t.block",
                               [&](TaskContext&) -> Result<nlohmann::json> {
                                   running = true;
                                   gate.Wait();
                                   return nullptr;
                               },
                               {.acks_late = false}));
    f.Start();
    auto id = f.client->Send("t.block");
    ASSERT_TRUE(WaitFor([&] { return running.load(); }));
    EXPECT_TRUE(WaitFor([&] { return f.broker->Peek("celery")->empty(); }));  // acked while running
    gate.Open();
    EXPECT_EQ(f.WaitResult(*id).state, TaskState::kSuccess);
}

TEST(Worker, TransientErrorsAreRetriedWithExponentialBackoff) {
    Fixture f;
    std::atomic<int> calls{0};
    std::vector<std::chrono::steady_clock::time_point> at;
    std::mutex mu;
    ASSERT_TRUE(f.registry.Add("t.flaky",
                               [&](TaskContext& ctx) -> Result<nlohmann::json> {
                                   {
                                       std::lock_guard lock(mu);
                                       at.push_back(std::chrono::steady_clock::now());
                                   }
                                   if (++calls < 3) return MakeError(ErrorCode::kUnavailable, "peer down");
                                   return ctx.retries();
                               },
                               {.retry = {.max_retries = 5, .backoff = 100ms, .jitter = false}}));
    f.Start();
    auto r = f.WaitResult(*f.client->Send("t.flaky"));
    EXPECT_EQ(r.state, TaskState::kSuccess);
    EXPECT_EQ(r.result, 2);  // the third run is retry number 2
    EXPECT_EQ(r.retries, 2);
    ASSERT_EQ(at.size(), 3U);
    EXPECT_GE(at[1] - at[0], 100ms);  // backoff × 2^0
    EXPECT_GE(at[2] - at[1], 200ms);  // backoff × 2^1
    EXPECT_EQ(f.Outcome(TaskOutcome::kRetried), 2U);
}

TEST(Worker, RetriesAreExhaustedIntoAFailureAndOtherErrorsFailAtOnce) {
    Fixture f;
    std::atomic<int> calls{0};
    ASSERT_TRUE(f.registry.Add("t.down",
                               [&](TaskContext&) -> Result<nlohmann::json> {
                                   ++calls;
                                   return MakeError(ErrorCode::kTimeout, "still down");
                               },
                               {.retry = {.max_retries = 2, .backoff = 10ms, .jitter = false}}));
    ASSERT_TRUE(f.registry.Add("t.bad", [](TaskContext&) -> Result<nlohmann::json> {
        return MakeError(ErrorCode::kInvalidArgument, "no such user");
    }));
    ASSERT_TRUE(
        f.registry.Add("t.throws", [](TaskContext&) -> Result<nlohmann::json> { throw std::runtime_error("boom"); }));
    f.Start();
    auto down = f.WaitResult(*f.client->Send("t.down"));
    EXPECT_EQ(down.state, TaskState::kFailure);
    EXPECT_EQ(down.result["exc_type"], "TimeoutError");
    EXPECT_EQ(down.retries, 2);
    EXPECT_EQ(calls.load(), 3);
    auto bad = f.WaitResult(*f.client->Send("t.bad"));
    EXPECT_EQ(bad.result, TaskResult::Failure("ValueError", "no such user"));
    EXPECT_NE(bad.traceback.find("Traceback (most recent call last):"), std::string::npos);
    EXPECT_NE(bad.traceback.find("ValueError: no such user"), std::string::npos);
    EXPECT_EQ(bad.retries, 0);
    auto thrown = f.WaitResult(*f.client->Send("t.throws"));
    EXPECT_EQ(thrown.result, TaskResult::Failure("RuntimeError", "boom"));
    // The worker lives on.
    EXPECT_TRUE(WaitFor([&] { return f.broker->Peek("celery")->empty(); }));
}

TEST(Worker, TaskRequestedRetryWithCountdownAndMaxRetries) {
    Fixture f;
    std::atomic<int> calls{0};
    ASSERT_TRUE(f.registry.Add("t.again", [&](TaskContext& ctx) -> Result<nlohmann::json> {
        ++calls;
        if (ctx.retries() < 1) return ctx.Retry({.countdown = 150ms, .reason = "not yet"});
        return "done";
    }));
    ASSERT_TRUE(f.registry.Add("t.never", [&](TaskContext& ctx) -> Result<nlohmann::json> {
        return ctx.Retry({.countdown = 10ms, .max_retries = 1});
    }));
    f.Start();
    const auto t0 = std::chrono::steady_clock::now();
    auto id = f.client->Send("t.again");
    // RETRY is stored in between.
    EXPECT_TRUE(WaitFor([&] { return f.client->Get(*id)->state == TaskState::kRetry; }, 5s));
    auto again = f.WaitResult(*id);
    EXPECT_GE(std::chrono::steady_clock::now() - t0, 150ms);
    EXPECT_EQ(again.state, TaskState::kSuccess);
    EXPECT_EQ(again.result, "done");
    EXPECT_EQ(calls.load(), 2);
    auto never = f.WaitResult(*f.client->Send("t.never"));
    EXPECT_EQ(never.state, TaskState::kFailure);
    EXPECT_EQ(never.result["exc_type"], "MaxRetriesExceededError");
    EXPECT_EQ(never.result["exc_module"], "celery.exceptions");
    EXPECT_EQ(never.retries, 1);
}

TEST(Worker, SoftTimeLimitCancelsCooperatively) {
    Fixture f;
    ASSERT_TRUE(f.registry.Add("t.slow",
                               [](TaskContext& ctx) -> Result<nlohmann::json> {
                                   while (!ctx.cancelled()) std::this_thread::sleep_for(5ms);
                                   return ctx.Cancelled();
                               },
                               {.soft_time_limit = 200ms}));
    f.Start();
    const auto t0 = std::chrono::steady_clock::now();
    auto r = f.WaitResult(*f.client->Send("t.slow"));
    EXPECT_GE(std::chrono::steady_clock::now() - t0, 200ms);
    EXPECT_EQ(r.state, TaskState::kFailure);
    EXPECT_EQ(r.result["exc_type"], "SoftTimeLimitExceeded");
    EXPECT_EQ(r.result["exc_module"], "billiard.exceptions");
    EXPECT_EQ(f.Outcome(TaskOutcome::kRetried), 0U);
}

TEST(Worker, HardTimeLimitFailsTheTaskAbandonsItsThreadAndReportsStuck) {
    Fixture f({.concurrency = 1, .max_abandoned_threads = 1});
    Gate gate;
    std::atomic<bool> returned{false};
    ASSERT_TRUE(f.registry.Add("t.stuck",
                               [&](TaskContext&) -> Result<nlohmann::json> {
                                   gate.Wait();  // ignores cancelled(): a thread nobody can stop
                                   returned = true;
                                   return "late";
                               },
                               {.time_limit = 300ms}));
    ASSERT_TRUE(f.registry.Add("hello.add", Typed([](int a, int b) { return a + b; })));
    f.Start();
    auto stuck = f.client->Send("t.stuck");
    auto r = f.WaitResult(*stuck);
    EXPECT_EQ(r.state, TaskState::kFailure);
    EXPECT_EQ(r.result["exc_type"], "TimeLimitExceeded");
    EXPECT_EQ(r.result["exc_module"], "billiard.exceptions");
    EXPECT_TRUE(WaitFor([&] { return f.broker->Peek("celery")->empty(); }));  // settled
    auto s = f.worker->Stats();
    EXPECT_EQ(s.abandoned_threads, 1U);
    EXPECT_TRUE(s.stuck);
    // A new thread took its place: concurrency 1 still runs tasks.
    EXPECT_EQ(f.WaitResult(*f.client->Send("hello.add", {1, 2})).result, 3);
    gate.Open();
    EXPECT_TRUE(WaitFor([&] { return returned.load() && f.worker->Stats().abandoned_threads == 0; }));
    EXPECT_FALSE(f.worker->Stats().stuck);
    EXPECT_EQ(f.client->Get(*stuck)->result["exc_type"], "TimeLimitExceeded");  // the late return changed nothing
}

TEST(Worker, TheMessagesTimeLimitWinsOverTheTasks) {
    Fixture f;
    ASSERT_TRUE(f.registry.Add("t.slow",
                               [](TaskContext& ctx) -> Result<nlohmann::json> {
                                   while (!ctx.cancelled()) std::this_thread::sleep_for(5ms);
                                   return ctx.Cancelled();
                               },
                               {.soft_time_limit = 60s}));
    f.Start();
    const auto t0 = std::chrono::steady_clock::now();
    auto r = f.WaitResult(*f.client->Send("t.slow", {}, {}, {.soft_time_limit = 0.1}));
    EXPECT_LT(std::chrono::steady_clock::now() - t0, 5s);
    EXPECT_EQ(r.result["exc_type"], "SoftTimeLimitExceeded");
}

TEST(Worker, ExpiredTasksAreRevokedNotRun) {
    Fixture f;
    std::atomic<int> calls{0};
    ASSERT_TRUE(f.registry.Add("t.count", [&](TaskContext&) -> Result<nlohmann::json> { return ++calls; }));
    auto id = f.client->Send("t.count", {}, {}, {.expires = std::chrono::system_clock::now() - 1s});
    ASSERT_TRUE(id);
    f.Start();
    auto r = f.WaitResult(*id);
    EXPECT_EQ(r.state, TaskState::kRevoked);
    EXPECT_EQ(calls.load(), 0);
    EXPECT_EQ(f.Outcome(TaskOutcome::kRevoked), 1U);
    EXPECT_TRUE(WaitFor([&] { return f.broker->Peek("celery")->empty(); }));
}

TEST(Worker, UnknownTasksAndPoisonMessagesAreDeadLetteredAndCounted) {
    Fixture f;
    ASSERT_TRUE(f.registry.Add("hello.add", Typed([](int a, int b) { return a + b; })));
    f.Start();
    ASSERT_TRUE(f.client->Send("nobody.knows", {1}));
    TransportMessage short_body = EncodeTask(f.client->Build("hello.add", {1, 2}, {}, {})->first);
    short_body.body = "[[1, 2]]";  // crashes Celery 5.2's worker
    ASSERT_TRUE(f.broker->Publish({.queue = "celery"}, short_body));
    TransportMessage pickle = short_body;
    pickle.content_type = "application/x-python-serialize";
    pickle.body = "\x80\x04\x95";
    ASSERT_TRUE(f.broker->Publish({.queue = "celery"}, pickle));
    TransportMessage garbage;
    garbage.body = "not json at all";
    ASSERT_TRUE(f.broker->Publish({.queue = "celery"}, garbage));
    auto ok = f.client->Send("hello.add", {2, 2});
    EXPECT_EQ(f.WaitResult(*ok).result, 4);  // the good one after the bad ones: nothing stopped
    ASSERT_TRUE(WaitFor([&] { return f.broker->Peek("celery.dead-letter")->size() == 4; }));
    auto dead = *f.broker->Peek("celery.dead-letter");
    std::vector<std::string> reasons;
    for (const auto& d : dead) reasons.push_back(d.message.headers["x-gale-dead-letter-reason"].get<std::string>());
    EXPECT_NE(reasons[0].find("unknown task 'nobody.knows'"), std::string::npos);
    EXPECT_NE(reasons[1].find("body must be [args, kwargs, embed]"), std::string::npos);
    EXPECT_NE(reasons[2].find("pickle"), std::string::npos);
    EXPECT_NE(reasons[3].find("body is not JSON"), std::string::npos);
    EXPECT_EQ(dead[0].message.headers["x-gale-queue"], "celery");
    EXPECT_TRUE(WaitFor([&] { return f.broker->Peek("celery")->empty(); }));  // acked once dead-lettered: no loop
    EXPECT_EQ(f.Outcome(TaskOutcome::kRejected), 4U);
    const std::string text = f.registry_metrics.Render();
    EXPECT_NE(text.find("gale_tasks_total{task=\"<unknown>\",outcome=\"rejected\"} 1"), std::string::npos);
    EXPECT_NE(text.find("gale_tasks_total{task=\"<undecodable>\",outcome=\"rejected\"} 3"), std::string::npos);
}

TEST(Worker, AMessageDeliveredTooOftenIsDeadLetteredNotRunAgain) {
    Fixture f({.max_deliveries = 3});
    std::atomic<int> calls{0};
    ASSERT_TRUE(f.registry.Add("t.crashy", [&](TaskContext&) -> Result<nlohmann::json> { return ++calls; }));
    ASSERT_TRUE(f.client->Send("t.crashy"));
    // Three workers "died" holding it: claimed and returned unsettled three times.
    for (int i = 0; i < 3; ++i) {
        auto c = *f.broker->Consume({"celery"}, 1);
        auto d = c->Next(1s);
        ASSERT_TRUE(d && *d);
        c->Close();
    }
    f.Start();
    ASSERT_TRUE(WaitFor([&] { return f.broker->Peek("celery.dead-letter")->size() == 1; }));
    EXPECT_EQ(calls.load(), 0);
    auto dead = *f.broker->Peek("celery.dead-letter");
    EXPECT_NE(dead[0].message.headers["x-gale-dead-letter-reason"].get<std::string>().find("delivered 4 times"),
              std::string::npos);
    EXPECT_EQ(dead[0].message.headers["x-gale-delivery-count"], 4);
}

TEST(Worker, LinkAndChainSendTheNextStepsWithTheResultPrepended) {
    Fixture f({.concurrency = 2});
    std::mutex mu;
    std::vector<nlohmann::json> logged;
    ASSERT_TRUE(f.registry.Add("t.add", Typed([](int a, int b) { return a + b; })));
    ASSERT_TRUE(f.registry.Add("t.mul", Typed([](int a, int b) { return a * b; })));
    ASSERT_TRUE(f.registry.Add("t.log", [&](TaskContext& ctx) -> Result<nlohmann::json> {
        std::lock_guard lock(mu);
        logged.push_back(ctx.args());
        return nullptr;
    }));
    ASSERT_TRUE(f.registry.Add("t.fail", [](TaskContext&) -> Result<nlohmann::json> {
        return MakeError(ErrorCode::kInvalidArgument, "nope");
    }));
    f.Start();
    // chain(add(2, 3), mul(10), mul(2), log): log gets ((2 + 3) * 10) * 2
    auto first = f.client->SendChain(
        {Signature("t.add", {2, 3}), Signature("t.mul", {10}), Signature("t.mul", {2}), Signature("t.log")});
    ASSERT_TRUE(first);
    ASSERT_TRUE(WaitFor([&] {
        std::lock_guard lock(mu);
        return logged.size() == 1;
    }));
    EXPECT_EQ(logged[0], nlohmann::json::array({100}));
    EXPECT_EQ(f.client->Get(*first)->result, 5);
    // link: the callback gets the result first; an immutable one does not.
    Signature immutable("t.log", {"fixed"});
    immutable.immutable = true;
    auto linked = f.client->Send("t.add", {1, 1}, {}, {.link = {Signature("t.log", {"after"}), immutable}});
    ASSERT_TRUE(linked);
    // link_error: the errback gets the failed task's id first.
    auto failed = f.client->Send("t.fail", {}, {}, {.link_error = {Signature("t.log", {"failed"})}});
    ASSERT_TRUE(failed);
    ASSERT_TRUE(WaitFor([&] {
        std::lock_guard lock(mu);
        return logged.size() == 4;
    }));
    std::set<std::string> seen;
    for (std::size_t i = 1; i < logged.size(); ++i) seen.insert(logged[i].dump());
    EXPECT_EQ(seen, (std::set<std::string>{R"([2,"after"])", R"(["fixed"])", "[\"" + *failed + "\",\"failed\"]"}));
}

TEST(Worker, AChainsStepsKnowTheirParentAndRoot) {
    Fixture f;
    std::mutex mu;
    std::map<std::string, std::pair<std::string, std::string>> ids;  // id -> (parent, root)
    auto record = [&](TaskContext& ctx) {
        std::lock_guard lock(mu);
        ids[ctx.id()] = {ctx.request().parent_id, ctx.request().root_id};
    };
    ASSERT_TRUE(f.registry.Add("t.parent", [&](TaskContext& ctx) -> Result<nlohmann::json> {
        record(ctx);
        auto child = ctx.client()->Send("t.child");  // sent from inside a task
        if (!child) return tl::unexpected(child.error());
        return *child;
    }));
    ASSERT_TRUE(f.registry.Add("t.child", [&](TaskContext& ctx) -> Result<nlohmann::json> {
        record(ctx);
        return nullptr;
    }));
    f.Start();
    auto parent = f.client->Send("t.parent");
    auto r = f.WaitResult(*parent);
    const std::string child = r.result.get<std::string>();
    f.WaitResult(child);
    std::lock_guard lock(mu);
    EXPECT_EQ(ids[*parent], std::make_pair(std::string(), *parent));  // root: itself
    EXPECT_EQ(ids[child], std::make_pair(*parent, *parent));
}

TEST(Worker, RateLimitSpacesTheRunsOfATask) {
    Fixture f({.concurrency = 4});
    std::mutex mu;
    std::vector<std::chrono::steady_clock::time_point> at;
    ASSERT_TRUE(f.registry.Add("t.limited",
                               [&](TaskContext&) -> Result<nlohmann::json> {
                                   std::lock_guard lock(mu);
                                   at.push_back(std::chrono::steady_clock::now());
                                   return nullptr;
                               },
                               {.rate_limit = "10/s"}));
    f.Start();
    for (int i = 0; i < 5; ++i) ASSERT_TRUE(f.client->Send("t.limited"));
    ASSERT_TRUE(WaitFor([&] {
        std::lock_guard lock(mu);
        return at.size() == 5;
    }));
    std::sort(at.begin(), at.end());
    EXPECT_GE(at.back() - at.front(), 380ms);  // 4 intervals of 100 ms (scheduling slack of 5 ms each)
}

TEST(Worker, HoldsEarlyDeliveredEtaTasksAndRaisesThePrefetchForThem) {
    MemoryBroker broker;
    TaskRegistry registry;
    std::atomic<int> calls{0};
    ASSERT_TRUE(registry.Add("t.count", [&](TaskContext&) -> Result<nlohmann::json> { return ++calls; }));
    TaskClient client(broker, nullptr);
    Worker worker(broker, registry, nullptr, client,
                  {.concurrency = 1, .prefetch_multiplier = 1, .poll = 10ms, .reconnect_initial = 10ms});
    ASSERT_TRUE(worker.Start());
    // Three tasks due in 400 ms, then one due now: with prefetch 1, the due one runs only because the worker
    // raises the prefetch for each task it holds.
    for (int i = 0; i < 3; ++i) ASSERT_TRUE(client.Send("t.count", {}, {}, {.countdown = 400ms}));
    ASSERT_TRUE(client.Send("t.count"));
    ASSERT_TRUE(WaitFor([&] { return calls.load() == 1; }, 300ms));
    EXPECT_EQ(broker.last_prefetch(), 4U);
    EXPECT_EQ(worker.Stats().prefetched, 3U);
    ASSERT_TRUE(WaitFor([&] { return calls.load() == 4; }, 3s));
    EXPECT_TRUE(WaitFor([&] { return broker.last_prefetch() == 1 && broker.acks() == 4; }));
    worker.Stop();
}

TEST(Worker, ReconnectsAfterTheConsumerFailsAndCountsIt) {
    MemoryBroker broker;
    TaskRegistry registry;
    std::atomic<int> calls{0};
    ASSERT_TRUE(registry.Add("t.count", [&](TaskContext&) -> Result<nlohmann::json> { return ++calls; }));
    TaskClient client(broker, nullptr);
    metrics::Registry m;
    WorkerMetrics wm(m);
    Worker worker(broker, registry, nullptr, client,
                  {.poll = 10ms, .reconnect_initial = 10ms, .reconnect_max = 50ms, .metrics = &wm});
    broker.FailConsume(2);  // the broker is not there yet
    ASSERT_TRUE(worker.Start());
    ASSERT_TRUE(WaitFor([&] { return worker.Stats().connected; }));
    EXPECT_EQ(worker.Stats().reconnects, 0U);  // the first connection is not a reconnect
    broker.FailNext(1);                        // the connection drops
    ASSERT_TRUE(WaitFor([&] { return worker.Stats().reconnects == 1 && worker.Stats().connected; }));
    ASSERT_TRUE(client.Send("t.count"));
    EXPECT_TRUE(WaitFor([&] { return calls.load() == 1; }));
    EXPECT_NE(m.Render().find("gale_task_broker_reconnects_total 1"), std::string::npos);
    worker.Stop();
}

TEST(Worker, AConsumerWhoseFirstNextFailsNeverCountedAsConnected) {
    // Redis connects lazily: Consume succeeds while the server is down and the first Next fails. Such a consumer
    // was never connected: the outage goes on (the WORKER role's liveness counts it against --max-outage), the
    // backoff grows, and there is no "consuming" in between.
    MemoryBroker broker;
    TaskRegistry registry;
    ASSERT_TRUE(registry.Add("t.noop", [](TaskContext&) -> Result<nlohmann::json> { return nullptr; }));
    TaskClient client(broker, nullptr);
    Worker worker(broker, registry, nullptr, client, {.poll = 10ms, .reconnect_initial = 10ms, .reconnect_max = 50ms});
    broker.FailNext(1000000);
    ASSERT_TRUE(worker.Start());
    bool seen_connected = false;
    const auto until = std::chrono::steady_clock::now() + 400ms;
    while (std::chrono::steady_clock::now() < until) {
        seen_connected = seen_connected || worker.Stats().connected;
        std::this_thread::sleep_for(1ms);
    }
    const auto s = worker.Stats();
    EXPECT_FALSE(seen_connected);
    EXPECT_FALSE(s.ever_connected);
    EXPECT_GE(s.outage, 300ms);
    EXPECT_FALSE(s.last_error.empty());
    broker.FailNext(0);  // the server is back
    EXPECT_TRUE(WaitFor([&] { return worker.Stats().connected; }));
    EXPECT_EQ(worker.Stats().outage, 0ms);
    EXPECT_EQ(worker.Stats().reconnects, 0U);  // the first connection that worked is not a reconnect
    worker.Stop();
}

TEST(Worker, AFirstNextThatNeverReturnsShowsInTheHeartbeat) {
    MemoryBroker broker;
    TaskRegistry registry;
    ASSERT_TRUE(registry.Add("t.noop", [](TaskContext&) -> Result<nlohmann::json> { return nullptr; }));
    TaskClient client(broker, nullptr);
    Worker worker(broker, registry, nullptr, client, {.poll = 10ms});
    broker.Hang(true);  // opened, then silent from the start
    ASSERT_TRUE(worker.Start());
    EXPECT_TRUE(WaitFor([&] { return worker.Stats().since_round >= 200ms; }));
    EXPECT_FALSE(worker.Stats().connected);
    broker.Hang(false);
    EXPECT_TRUE(WaitFor([&] { return worker.Stats().connected && worker.Stats().since_round < 200ms; }));
    worker.Stop();
}

TEST(Worker, AHangingConsumerShowsInTheHeartbeat) {
    MemoryBroker broker;
    TaskRegistry registry;
    ASSERT_TRUE(registry.Add("t.noop", [](TaskContext&) -> Result<nlohmann::json> { return nullptr; }));
    TaskClient client(broker, nullptr);
    Worker worker(broker, registry, nullptr, client, {.poll = 10ms});
    ASSERT_TRUE(worker.Start());
    ASSERT_TRUE(WaitFor([&] { return worker.Stats().connected; }));
    EXPECT_LT(worker.Stats().since_round, 200ms);  // turning
    broker.Hang(true);                             // connected, delivering nothing, never returning
    std::this_thread::sleep_for(400ms);
    EXPECT_TRUE(worker.Stats().connected);
    EXPECT_GE(worker.Stats().since_round, 300ms);  // what the WORKER role's liveness fails on
    broker.Hang(false);
    EXPECT_TRUE(WaitFor([&] { return worker.Stats().since_round < 200ms; }));
    worker.Stop();
}

TEST(Worker, StopFetchingReturnsUnstartedTasksAndLetsRunningOnesFinish) {
    MemoryBroker broker;
    TaskRegistry registry;
    Gate gate;
    std::atomic<int> started{0}, finished{0};
    ASSERT_TRUE(registry.Add("t.block", [&](TaskContext&) -> Result<nlohmann::json> {
        ++started;
        gate.Wait();
        ++finished;
        return nullptr;
    }));
    TaskClient client(broker, nullptr);
    Worker worker(broker, registry, nullptr, client, {.concurrency = 2, .prefetch_multiplier = 4, .poll = 10ms});
    ASSERT_TRUE(worker.Start());
    for (int i = 0; i < 6; ++i) ASSERT_TRUE(client.Send("t.block"));
    ASSERT_TRUE(client.Send("t.block", {}, {}, {.countdown = 60s}));  // held for its eta
    ASSERT_TRUE(WaitFor([&] { return started.load() == 2 && worker.Stats().prefetched == 5; }));
    worker.StopFetching();
    EXPECT_TRUE(WaitFor([&] { return broker.Ready("celery") == 5; }));  // 4 waiting + 1 held went back
    EXPECT_FALSE(worker.WaitIdle(std::chrono::steady_clock::now() + 100ms));
    gate.Open();
    EXPECT_TRUE(worker.WaitIdle(std::chrono::steady_clock::now() + 5s));
    EXPECT_EQ(finished.load(), 2);
    EXPECT_EQ(broker.acks(), 2U);
    worker.Stop();
    EXPECT_EQ(broker.Ready("celery"), 5U);
    EXPECT_EQ(broker.Unsettled(), 0U);
}

TEST(Worker, StopReturnsWhatIsStillRunningToTheQueue) {
    MemoryBroker broker;
    TaskRegistry registry;
    Gate gate;
    std::atomic<bool> started{false};
    ASSERT_TRUE(registry.Add("t.block", [&](TaskContext&) -> Result<nlohmann::json> {
        started = true;
        gate.Wait();
        return nullptr;
    }));
    TaskClient client(broker, nullptr);
    auto worker = std::make_unique<Worker>(broker, registry, nullptr, client, WorkerOptions{.poll = 10ms});
    ASSERT_TRUE(worker->Start());
    ASSERT_TRUE(client.Send("t.block"));
    ASSERT_TRUE(WaitFor([&] { return started.load(); }));
    worker->StopFetching();
    EXPECT_FALSE(worker->WaitIdle(std::chrono::steady_clock::now() + 50ms));  // the graceful timeout passes
    worker->Stop();
    EXPECT_EQ(broker.Ready("celery"), 1U);  // back in the queue for another worker
    EXPECT_EQ(worker->Stats().abandoned_threads, 1U);
    gate.Open();
    EXPECT_TRUE(WaitFor([&] { return worker->Stats().abandoned_threads == 0; }));
    EXPECT_EQ(broker.acks(), 0U);
}

TEST(Worker, RefusesToStartWithoutTasksOrQueues) {
    MemoryBroker broker;
    TaskRegistry registry;
    TaskClient client(broker, nullptr);
    Worker none(broker, registry, nullptr, client);
    EXPECT_FALSE(none.Start());
    ASSERT_TRUE(registry.Add("t", [](TaskContext&) -> Result<nlohmann::json> { return nullptr; }));
    Worker no_queue(broker, registry, nullptr, client, {.queues = {}});
    EXPECT_FALSE(no_queue.Start());
    Worker zero(broker, registry, nullptr, client, {.concurrency = 0});
    EXPECT_FALSE(zero.Start());
}

}  // namespace
}  // namespace gale::tasks
