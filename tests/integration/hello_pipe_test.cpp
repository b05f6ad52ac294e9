// SPDX-License-Identifier: MIT
//
// The example service's log pipe end to end, as a newcomer runs it from the README: `hello serve` and
// `hello consume` as real processes, in a fresh directory (so the embedded log is the default ./hello-pipe.db),
// talked to over loopback only. A state is POSTed to `serve` (a message in the log), `consume` applies it, and GET
// on `serve` reads it back; then an update, invalid input, and a graceful SIGTERM of both.
//
// Harness rules (harness.hpp, shared with serve_test.cpp): every wait has a deadline, every socket read is bounded,
// ports are chosen by the kernel (`--port 0`) and read from the "… server listening" log lines, and a child still
// running when its Process dies gets SIGKILL (and dies with the test process anyway, through PR_SET_PDEATHSIG).
#include <signal.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "harness.hpp"

namespace {

using namespace std::chrono_literals;
using gale::testing::integration::Eventually;
using gale::testing::integration::Get;
using gale::testing::integration::Post;
using gale::testing::integration::Process;
using gale::testing::integration::SpawnOptions;
using gale::testing::integration::TempDirTest;
using Json = nlohmann::json;
namespace fs = std::filesystem;

#ifndef GALE_HELLO_PATH
#error "GALE_HELLO_PATH must name the hello binary"
#endif
constexpr const char* kHello = GALE_HELLO_PATH;

class HelloPipeTest : public TempDirTest {
protected:
    HelloPipeTest() : TempDirTest("hello-pipe") {}

    void TearDown() override {
        serve_.reset();  // kill first, then remove their files
        consume_.reset();
        TempDirTest::TearDown();
    }

    /// `hello ARGS…` in dir_, stdout and stderr in dir_/<name>.log. The environment is the test's, minus what
    /// would change hello's behaviour (GALE_*, APP_*, DATABASE_*).
    std::unique_ptr<Process> Hello(std::vector<std::string> args, const std::string& name) const {
        args.insert(args.begin(), kHello);
        SpawnOptions options;
        options.unset_prefixes = {"GALE_", "APP_", "DATABASE_"};
        options.working_dir = dir_;
        return std::make_unique<Process>(std::move(args), dir_ + "/" + name + ".log", options);
    }

    /// The name in GET /states/{code}, or "" while it answers anything but 200.
    std::string StateName(const std::string& code) {
        auto r = Get(app_port_, "/states/" + code);
        if (!r || r->status != 200) return "";
        Json j = Json::parse(r->body, nullptr, false);
        return j.is_object() && j.value("code", "") == code ? j.value("name", "") : "";
    }

    std::unique_ptr<Process> serve_;
    std::unique_ptr<Process> consume_;
    std::uint16_t app_port_ = 0;
};

TEST_F(HelloPipeTest, ServeProducesConsumeAppliesServeReadsBack) {
    // As the quick start does (the app database's readiness check wants the visits table, in both roles).
    {
        auto migrate = Hello({"migrate"}, "migrate");
        auto code = migrate->WaitExit(10s);
        ASSERT_TRUE(code) << "migrate still running after 10 s";
        ASSERT_EQ(*code, 0);
    }
    serve_ = Hello({"serve", "--bind", "127.0.0.1", "--port", "0", "--drain-delay", "0s"}, "serve");
    ASSERT_TRUE(serve_->started());
    app_port_ = serve_->WaitForPort("app server listening", 10s);
    ASSERT_NE(app_port_, 0) << "no 'app server listening' line with a port";

    // Produced: 202 and where the record went. Not applied yet: no consumer runs.
    auto sent = Post(app_port_, "/states/NY", "New York");
    ASSERT_TRUE(sent);
    ASSERT_EQ(sent->status, 202) << sent->body;
    EXPECT_EQ(Json::parse(sent->body, nullptr, false),
              Json({{"topic", "us-states"}, {"partition", "0"}, {"offset", "0"}}))
        << sent->body;
    auto missing = Get(app_port_, "/states/NY");
    ASSERT_TRUE(missing);
    EXPECT_EQ(missing->status, 404) << missing->body;
    EXPECT_TRUE(fs::exists(dir_ + "/hello-pipe.db")) << "the embedded log is not in the working directory";

    // Consumed: `consume` applies the message; serve reads the consumer's table.
    consume_ = Hello({"consume", "--bind", "127.0.0.1", "--port", "0"}, "consume");
    ASSERT_TRUE(consume_->started());
    const std::uint16_t probe_port = consume_->WaitForPort("probe server listening", 10s);
    ASSERT_NE(probe_port, 0) << "no 'probe server listening' line with a port";
    ASSERT_TRUE(Eventually([&] { return StateName("NY") == "New York"; }, 10s)) << "NY was not applied";

    // An update (lower-case code accepted, stored upper-case) is applied by the running consumer.
    auto update = Post(app_port_, "/states/ny", "New York State");
    ASSERT_TRUE(update);
    ASSERT_EQ(update->status, 202) << update->body;
    ASSERT_TRUE(Eventually([&] { return StateName("NY") == "New York State"; }, 10s)) << "the update was not applied";

    // Invalid input is refused before it reaches the log: the next record's offset is 2.
    for (const auto& [path, body] :
         std::vector<std::pair<std::string, std::string>>{{"/states/N1", "Nowhere"},
                                                          {"/states/NYC", "New York City"},
                                                          {"/states/CA", ""},
                                                          {"/states/CA", "Cali\nfornia"},
                                                          {"/states/CA", "\xff\xfe"},
                                                          {"/states/CA", std::string(101, 'a')}}) {
        SCOPED_TRACE(::testing::Message() << path << " " << body);
        auto bad = Post(app_port_, path, body);
        ASSERT_TRUE(bad);
        EXPECT_EQ(bad->status, 400) << bad->body;
        EXPECT_FALSE(bad->body.empty());
    }
    auto bad_get = Get(app_port_, "/states/N1");
    ASSERT_TRUE(bad_get);
    EXPECT_EQ(bad_get->status, 400);
    auto next = Post(app_port_, "/states/CA", "California");
    ASSERT_TRUE(next);
    ASSERT_EQ(next->status, 202) << next->body;
    EXPECT_EQ(Json::parse(next->body, nullptr, false).value("offset", ""), "2") << next->body;
    ASSERT_TRUE(Eventually([&] { return StateName("CA") == "California"; }, 10s));
    EXPECT_EQ(StateName("NY"), "New York State");

    // The consumer's probes answer on its own port.
    auto ready = Get(probe_port, "/ready");
    ASSERT_TRUE(ready);
    EXPECT_EQ(ready->status, 200) << ready->body;

    // SIGTERM: both drain and exit 0.
    serve_->Signal(SIGTERM);
    consume_->Signal(SIGTERM);
    auto serve_code = serve_->WaitExit(5s);
    auto consume_code = consume_->WaitExit(5s);
    ASSERT_TRUE(serve_code) << "serve still running 5 s after SIGTERM";
    ASSERT_TRUE(consume_code) << "consume still running 5 s after SIGTERM";
    EXPECT_EQ(*serve_code, 0);
    EXPECT_EQ(*consume_code, 0);
}

// Issue 8: GET /visits/%ff%fe put invalid UTF-8 into an application/json body; JSON gale writes is valid whatever
// the input (invalid bytes become U+FFFD).
TEST_F(HelloPipeTest, VisitsJsonIsValidForANameThatIsNotUtf8) {
    {
        auto migrate = Hello({"migrate"}, "migrate");
        auto code = migrate->WaitExit(10s);
        ASSERT_TRUE(code);
        ASSERT_EQ(*code, 0);
    }
    serve_ = Hello({"serve", "--bind", "127.0.0.1", "--port", "0", "--drain-delay", "0s"}, "serve");
    app_port_ = serve_->WaitForPort("app server listening", 10s);
    ASSERT_NE(app_port_, 0);
    auto posted = Post(app_port_, "/visits/%ff%fe", "");
    ASSERT_TRUE(posted);
    auto got = Get(app_port_, "/visits/%ff%fe");
    ASSERT_TRUE(got);
    ASSERT_EQ(got->status, 200) << got->body;
    Json j;
    ASSERT_NO_THROW(j = Json::parse(got->body)) << "not valid JSON: " << got->body;  // strict: invalid UTF-8 throws
    EXPECT_EQ(j.value("name", ""), "\xEF\xBF\xBD\xEF\xBF\xBD");
    EXPECT_EQ(j.value("visits", 0), 1);
    serve_->Signal(SIGTERM);
    auto code = serve_->WaitExit(5s);
    ASSERT_TRUE(code);
    EXPECT_EQ(*code, 0);
}

// Issue 12: hello's database is a pooled resource, and its handlers return Result<Response>: a database error is
// answered with a status and the request id, its text only logged (before, the client got SQLite's message).
TEST_F(HelloPipeTest, TheDatabaseIsAPooledResourceWhoseErrorsStayInTheLog) {
    // No migrate: the visits table is missing, so the view's query fails.
    serve_ = Hello({"serve", "--bind", "127.0.0.1", "--port", "0", "--drain-delay", "0s"}, "serve");
    const std::uint16_t probe_port = serve_->WaitForPort("probe server listening", 10s);
    app_port_ = serve_->WaitForPort("app server listening", 10s);
    ASSERT_NE(app_port_, 0);
    auto failed = Get(app_port_, "/visits/ada", "X-Request-ID: no-table-1\r\n");
    ASSERT_TRUE(failed);
    EXPECT_EQ(failed->status, 500);
    EXPECT_EQ(failed->body, "{\"error\":\"internal server error\",\"request_id\":\"no-table-1\"}\n");
    auto logged = serve_->WaitForRecord("the handler returned an error; answering with its status", 2s);
    ASSERT_TRUE(logged) << serve_->Log();
    EXPECT_EQ(logged->value("request_id", ""), "no-table-1");
    EXPECT_NE(logged->value("error", "").find("no such table: visits"), std::string::npos) << logged->dump();

    // Migrated (by the command, on its own pool), the same views work on serve's pool.
    {
        auto migrate = Hello({"migrate"}, "migrate");
        auto code = migrate->WaitExit(10s);
        ASSERT_TRUE(code);
        ASSERT_EQ(*code, 0);
    }
    auto posted = Post(app_port_, "/visits/ada", "");
    ASSERT_TRUE(posted);
    EXPECT_EQ(posted->status, 201) << posted->body;
    auto got = Get(app_port_, "/visits/ada");
    ASSERT_TRUE(got);
    EXPECT_EQ(got->body, "{\"name\":\"ada\",\"visits\":1}\n");
    auto metrics = Get(probe_port, "/metrics");
    ASSERT_TRUE(metrics);
    for (const char* sample :
         {R"(gale_resource_up{resource="database"} 1)", R"(gale_db_pool_connections{pool="default",state="in_use"} 0)",
          R"(gale_db_pool_wait_seconds_count{pool="default"})"}) {
        EXPECT_NE(metrics->body.find(sample), std::string::npos) << sample << "\n" << metrics->body;
    }
    serve_->Signal(SIGTERM);
    auto code = serve_->WaitExit(5s);
    ASSERT_TRUE(code);
    EXPECT_EQ(*code, 0);
    // Only what was created is closed: the states producer never was (files: created for its readiness check;
    // cache: by the visit, which invalidates the summary). The order is the resources' unit tests' concern.
    std::vector<std::string> closed;
    for (const auto& r : serve_->Records("resource closed")) closed.push_back(r.value("resource", ""));
    std::sort(closed.begin(), closed.end());
    EXPECT_EQ(closed, (std::vector<std::string>{"cache", "database", "files"})) << serve_->Log();
}

}  // namespace
