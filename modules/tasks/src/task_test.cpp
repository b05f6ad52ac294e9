// SPDX-License-Identifier: MIT
#include <gtest/gtest.h>

#include <gale/tasks/task.hpp>

namespace gale::tasks {
namespace {

using namespace std::chrono_literals;

TaskRequest Request(nlohmann::json args, nlohmann::json kwargs = nlohmann::json::object()) {
    TaskRequest r;
    r.task = "t.f";
    r.id = "id";
    r.args = std::move(args);
    r.kwargs = std::move(kwargs);
    return r;
}

std::string TypeErrorOf(const TaskFn& fn, const TaskRequest& r) {
    TaskContext ctx(r);
    try {
        (void)fn(ctx);
    } catch (const TaskError& e) {
        EXPECT_EQ(e.exc_type(), "TypeError");
        return e.what();
    }
    return "no error";
}

TEST(Typed, ConvertsArgumentsAndResults) {
    TaskFn add = Typed([](int a, int b) { return a + b; });
    TaskRequest r = Request({2, 3});
    TaskContext ctx(r);
    EXPECT_EQ(*add(ctx), 5);

    TaskFn greet = Typed([](const std::string& name, std::vector<int> xs) {
        return nlohmann::json{{"hello", name}, {"n", xs.size()}};
    });
    TaskRequest g = Request({"ada", {1, 2, 3}});
    TaskContext gctx(g);
    EXPECT_EQ((*greet(gctx))["n"], 3);

    TaskFn with_ctx = Typed([](TaskContext& c, double x) { return c.id() + ":" + std::to_string(x > 1); });
    TaskRequest w = Request({2.5});
    TaskContext wctx(w);
    EXPECT_EQ(*with_ctx(wctx), "id:1");

    TaskFn nothing = Typed([](int) {});
    TaskRequest n = Request({1});
    TaskContext nctx(n);
    EXPECT_TRUE(nothing(nctx)->is_null());

    TaskFn fallible = Typed([](int x) -> Result<int> {
        if (x < 0) return MakeError(ErrorCode::kInvalidArgument, "negative");
        return x * 2;
    });
    TaskRequest ok = Request({4});
    TaskContext okctx(ok);
    EXPECT_EQ(*fallible(okctx), 8);
    TaskRequest bad = Request({-1});
    TaskContext badctx(bad);
    auto e = fallible(badctx);
    ASSERT_FALSE(e);
    EXPECT_EQ(e.error().code(), ErrorCode::kInvalidArgument);
}

TEST(Typed, RefusesWhatPythonWouldWithATypeErrorNamingTheArgument) {
    TaskFn add = Typed([](int a, std::uint8_t b) { return a + b; }, {"a", "b"});
    EXPECT_EQ(TypeErrorOf(add, Request({1, 256})), "t.f() argument 'b': number 256 is out of range for uint8 [0, 255]");
    EXPECT_EQ(TypeErrorOf(add, Request({true, 1})), "t.f() argument 'a': type must be number, but is boolean");
    EXPECT_EQ(TypeErrorOf(add, Request({"1", 1})), "t.f() argument 'a': type must be number, but is string");
    EXPECT_EQ(TypeErrorOf(add, Request({1})), "t.f() missing required argument 'b'");
    EXPECT_EQ(TypeErrorOf(add, Request({1, 2, 3})), "t.f() takes 2 positional arguments but 3 were given");
    EXPECT_EQ(TypeErrorOf(add, Request({1}, {{"x", 2}})), "t.f() got an unexpected keyword argument 'x'");
    EXPECT_EQ(TypeErrorOf(add, Request({1, 2}, {{"a", 2}})), "t.f() got an unexpected keyword argument 'a'");
    TaskFn positional = Typed([](int a) { return a; });
    EXPECT_EQ(TypeErrorOf(positional, Request({}, {{"a", 1}})), "t.f() got an unexpected keyword argument 'a'");
    TaskFn list = Typed([](std::vector<int> xs) { return xs.size(); });
    EXPECT_EQ(TypeErrorOf(list, Request({{1, 2.5}})), "t.f() argument 0: [1]: number 2.5 is not an integer");
}

TEST(TaskRegistry, RegistersAndRefusesBadDeclarations) {
    TaskRegistry reg;
    auto noop = [](TaskContext&) -> Result<nlohmann::json> { return nullptr; };
    ASSERT_TRUE(reg.Add("a", noop, {.rate_limit = "100/m"}));
    EXPECT_DOUBLE_EQ(reg.Find("a")->rate_per_second, 100.0 / 60);
    EXPECT_EQ(reg.Find("missing"), nullptr);
    EXPECT_FALSE(reg.Add("a", noop));
    EXPECT_FALSE(reg.Add("", noop));
    EXPECT_FALSE(reg.Add("b", nullptr));
    EXPECT_FALSE(reg.Add("c", noop, {.rate_limit = "fast"}));
    EXPECT_FALSE(reg.Add("d", noop, {.soft_time_limit = 2s, .time_limit = 1s}));
    EXPECT_FALSE(reg.Add("e", noop, {.time_limit = 0s}));
    EXPECT_FALSE(reg.Add("f", noop, {.retry = {.max_retries = -1}}));
    EXPECT_EQ(reg.Names(), std::vector<std::string>{"a"});
}

TEST(RateLimit, ParsesCelerysSyntax) {
    EXPECT_DOUBLE_EQ(*ParseRateLimit("10/s"), 10);
    EXPECT_DOUBLE_EQ(*ParseRateLimit("120/m"), 2);
    EXPECT_DOUBLE_EQ(*ParseRateLimit("3600/h"), 1);
    EXPECT_DOUBLE_EQ(*ParseRateLimit("2.5"), 2.5);
    for (const char* bad : {"", "0/s", "-1/s", "10/d", "x/s", "10/"}) EXPECT_FALSE(ParseRateLimit(bad)) << bad;
}

TEST(RetryPolicy, DelayDoublesUpToTheCap) {
    RetryPolicy p{.backoff = 1000ms, .max_backoff = 5000ms};
    EXPECT_EQ(p.Delay(0), 1000ms);
    EXPECT_EQ(p.Delay(1), 2000ms);
    EXPECT_EQ(p.Delay(2), 4000ms);
    EXPECT_EQ(p.Delay(3), 5000ms);
    EXPECT_EQ(p.Delay(100), 5000ms);
}

TEST(TaskContext, RetryRecordsTheRequestAndCancelledFollowsTheFlag) {
    TaskRequest r = Request({});
    auto flag = std::make_shared<std::atomic<bool>>(false);
    TaskContext ctx(r, flag);
    EXPECT_FALSE(ctx.cancelled());
    flag->store(true);
    EXPECT_TRUE(ctx.cancelled());
    EXPECT_EQ(ctx.Cancelled().value().code(), ErrorCode::kCancelled);
    EXPECT_FALSE(ctx.retry_request());
    auto e = ctx.Retry({.countdown = 5s, .reason = "busy"});
    EXPECT_EQ(e.value().message(), "retry requested: busy");
    ASSERT_TRUE(ctx.retry_request());
    EXPECT_EQ(ctx.retry_request()->countdown, 5s);
}

}  // namespace
}  // namespace gale::tasks
