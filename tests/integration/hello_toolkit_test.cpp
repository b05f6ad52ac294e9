// SPDX-License-Identifier: MIT
//
// The example service's toolkit resources (issue 12). The cache (§4): `hello serve` with CACHE_REDIS_HOST on a real
// redis-server the test starts, then without it (the in-process cache). GET /visits is computed once and shared through
// the cache, a visit invalidates it, Redis going away fails readiness through the cache resource's PING check (and the
// route that needs the cache answers 503, while visits are still recorded), and Redis coming back brings readiness
// back. The files (§3): PUT and GET /files/{name} on local disk under MEDIA_ROOT, names the storage refuses answered
// 400, a root that cannot be written failing readiness. (S3 itself is tested in modules/storage against moto.)
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <gale/redis/connection.hpp>
#include <gale/redis/testing/redis_server.hpp>

#include "harness.hpp"

namespace {

using namespace std::chrono_literals;
using gale::testing::integration::Eventually;
using gale::testing::integration::Get;
using gale::testing::integration::Post;
using gale::testing::integration::Process;
using gale::testing::integration::ReadFile;
using gale::testing::integration::Request;
using gale::testing::integration::SpawnOptions;
using gale::testing::integration::StatusOf;
using gale::testing::integration::TempDirTest;
using Json = nlohmann::json;

#ifndef GALE_HELLO_PATH
#error "GALE_HELLO_PATH must name the hello binary"
#endif
constexpr const char* kHello = GALE_HELLO_PATH;

class HelloToolkitTest : public TempDirTest {
protected:
    HelloToolkitTest() : TempDirTest("hello-toolkit") {}

    void TearDown() override {
        serve_.reset();
        TempDirTest::TearDown();
    }

    std::unique_ptr<Process> Hello(std::vector<std::string> args, const std::string& name,
                                   std::map<std::string, std::string> env) const {
        args.insert(args.begin(), kHello);
        SpawnOptions options;
        options.unset_prefixes = {"GALE_", "APP_", "DATABASE_", "CACHE_", "MEDIA_", "ENABLE_"};
        options.working_dir = dir_;
        options.env = std::move(env);
        return std::make_unique<Process>(std::move(args), dir_ + "/" + name + ".log", options);
    }

    void Serve(std::map<std::string, std::string> env) {
        auto migrate = Hello({"migrate"}, "migrate", env);
        auto code = migrate->WaitExit(10s);
        ASSERT_TRUE(code) << "migrate still running after 10 s";
        ASSERT_EQ(*code, 0);
        serve_ = Hello({"serve", "--bind", "127.0.0.1", "--port", "0", "--probe-port", "0", "--drain-delay", "0s"},
                       "serve", env);
        ASSERT_TRUE(serve_->started());
        app_port_ = serve_->WaitForPort("app server listening", 10s);
        probe_port_ = serve_->WaitForPort("probe server listening", 10s);
        ASSERT_NE(app_port_, 0);
        ASSERT_NE(probe_port_, 0);
    }

    /// GET /visits as JSON; a null value when it does not answer 200.
    Json Summary() {
        auto r = Get(app_port_, "/visits");
        if (!r || r->status != 200) return Json();
        return Json::parse(r->body, nullptr, false);
    }

    /// The readiness report's entry for `check`, or null.
    Json ReadyCheck(const std::string& check) {
        auto r = Get(probe_port_, "/ready");
        if (!r) return Json();
        Json j = Json::parse(r->body, nullptr, false);
        if (!j.is_object() || !j.contains("checks")) return Json();
        for (const auto& c : j["checks"]) {
            if (c.value("name", "") == check) return c;
        }
        return Json();
    }

    std::unique_ptr<Process> serve_;
    std::uint16_t app_port_ = 0;
    std::uint16_t probe_port_ = 0;
};

TEST_F(HelloToolkitTest, RedisCacheIsSharedInvalidatedAndDrivesReadiness) {
    auto redis = gale::redis::testing::RedisServer::Start();
    ASSERT_TRUE(redis) << redis.error().message();
    ASSERT_NO_FATAL_FAILURE(
        Serve({{"CACHE_REDIS_HOST", "127.0.0.1"}, {"CACHE_REDIS_PORT", std::to_string((*redis)->port())}}));
    ASSERT_TRUE(Eventually([&] { return StatusOf(probe_port_, "/ready") == 200; }, 10s)) << "never ready";
    Json check = ReadyCheck("cache");
    ASSERT_TRUE(check.is_object()) << "no readiness check named cache";
    EXPECT_EQ(check.value("status", ""), "ok");

    ASSERT_EQ(Post(app_port_, "/visits/ada", "")->status, 201);
    EXPECT_EQ(Summary(), Json::parse(R"({"visits":1,"names":1})"));
    // The summary lives in Redis, under the service's prefix, with its time to live.
    auto conn = gale::redis::Connection::Connect((*redis)->connection_options());
    ASSERT_TRUE(conn) << conn.error().message();
    auto stored = (*conn)->Command({"GET", "hello:visits-summary"});
    ASSERT_TRUE(stored) << stored.error().message();
    EXPECT_EQ(stored->str, "{\"visits\":1,\"names\":1}\n");
    auto ttl = (*conn)->Command({"PTTL", "hello:visits-summary"});
    ASSERT_TRUE(ttl);
    EXPECT_GT(ttl->integer, 0);
    EXPECT_LE(ttl->integer, 10000);
    // A value another pod put there is what this one serves: the cache is shared.
    ASSERT_TRUE((*conn)->Command({"SET", "hello:visits-summary", "{\"visits\":42,\"names\":7}\n", "PX", "10000"}));
    EXPECT_EQ(Summary(), Json::parse(R"({"visits":42,"names":7})"));
    // A visit invalidates it.
    ASSERT_EQ(Post(app_port_, "/visits/bob", "")->status, 201);
    EXPECT_EQ(Summary(), Json::parse(R"({"visits":2,"names":2})"));

    // Redis goes away: readiness fails naming the cache, the summary is a 503, a visit is still recorded.
    conn->reset();
    ASSERT_TRUE((*redis)->Kill());
    ASSERT_TRUE(Eventually([&] { return StatusOf(probe_port_, "/ready") == 503; }, 10s))
        << "readiness still passes with Redis down";
    check = ReadyCheck("cache");
    ASSERT_TRUE(check.is_object());
    EXPECT_EQ(check.value("status", ""), "error");
    EXPECT_NE(check.value("message", "").find("127.0.0.1:" + std::to_string((*redis)->port())), std::string::npos)
        << check.dump();
    auto summary = Get(app_port_, "/visits");
    ASSERT_TRUE(summary);
    EXPECT_EQ(summary->status, 503) << summary->body;
    EXPECT_EQ(summary->body.find("127.0.0.1"), std::string::npos) << "the detail reached the client";
    auto t = std::chrono::steady_clock::now();
    ASSERT_EQ(Post(app_port_, "/visits/cy", "")->status, 201);
    EXPECT_LT(std::chrono::steady_clock::now() - t, 5s) << "a visit waited for the dead cache";

    // Redis is back (empty: `save ""`): readiness passes again and the summary is fresh.
    ASSERT_TRUE((*redis)->StartAgain());
    ASSERT_TRUE(Eventually([&] { return StatusOf(probe_port_, "/ready") == 200; }, 15s)) << "never ready again";
    EXPECT_EQ(Summary(), Json::parse(R"({"visits":3,"names":3})"));
}

TEST_F(HelloToolkitTest, WithoutRedisTheCacheIsInProcessAndNotAReadinessCheck) {
    ASSERT_NO_FATAL_FAILURE(Serve({}));
    ASSERT_TRUE(Eventually([&] { return StatusOf(probe_port_, "/ready") == 200; }, 10s)) << "never ready";
    EXPECT_TRUE(ReadyCheck("cache").is_null()) << "the memory cache needs no check";
    ASSERT_EQ(Post(app_port_, "/visits/ada", "")->status, 201);
    EXPECT_EQ(Summary(), Json::parse(R"({"visits":1,"names":1})"));
    EXPECT_EQ(Summary(), Json::parse(R"({"visits":1,"names":1})"));
    auto metrics = Get(probe_port_, "/metrics");
    ASSERT_TRUE(metrics);
    EXPECT_NE(metrics->body.find("gale_cache_hits_total{cache=\"default\"} 1"), std::string::npos) << metrics->body;
}

TEST_F(HelloToolkitTest, FilesAreKeptUnderMediaRootAndBadNamesAreRefused) {
    ASSERT_NO_FATAL_FAILURE(Serve({{"MEDIA_ROOT", dir_ + "/media"}}));
    ASSERT_TRUE(Eventually([&] { return StatusOf(probe_port_, "/ready") == 200; }, 10s)) << "never ready";
    EXPECT_EQ(ReadyCheck("files").value("status", ""), "ok") << ReadyCheck("files").dump();

    auto put = Request(app_port_, "PUT", "/files/notes/today.txt", "Content-Type: text/plain\r\n", "remember the milk");
    ASSERT_TRUE(put);
    ASSERT_EQ(put->status, 201) << put->body;
    EXPECT_EQ(Json::parse(put->body, nullptr, false),
              Json::parse(R"({"name":"notes/today.txt","url":"/media/notes/today.txt"})"));
    EXPECT_EQ(ReadFile(dir_ + "/media/notes/today.txt"), "remember the milk");
    auto got = Get(app_port_, "/files/notes/today.txt");
    ASSERT_TRUE(got);
    EXPECT_EQ(got->status, 200);
    EXPECT_EQ(got->body, "remember the milk");

    EXPECT_EQ(StatusOf(app_port_, "/files/notes/missing.txt"), 404);
    auto escape = Request(app_port_, "PUT", "/files/a/%2E%2E/%2E%2E/escape.txt", "", "x");
    ASSERT_TRUE(escape);
    EXPECT_EQ(escape->status, 400) << escape->body;
    EXPECT_FALSE(std::filesystem::exists(dir_ + "/escape.txt"));
}

TEST_F(HelloToolkitTest, AMediaRootThatCannotBeWrittenFailsReadiness) {
    { std::ofstream(dir_ + "/not-a-dir") << "a file where the directory should be"; }
    ASSERT_NO_FATAL_FAILURE(Serve({{"MEDIA_ROOT", dir_ + "/not-a-dir"}}));
    ASSERT_TRUE(Eventually([&] { return StatusOf(probe_port_, "/ready") == 503; }, 10s));
    const Json files = ReadyCheck("files");
    EXPECT_NE(files.value("status", ""), "ok") << files.dump();
    EXPECT_NE(files.dump().find("not-a-dir"), std::string::npos) << files.dump();
    EXPECT_EQ(StatusOf(app_port_, "/files/x.txt"), 503);
}

}  // namespace
