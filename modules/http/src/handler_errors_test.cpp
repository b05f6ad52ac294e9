// SPDX-License-Identifier: MIT
#include <string>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <gale/http/router.hpp>
#include <gale/log/testing/captured_log.hpp>

namespace gale::http {
namespace {

Request MakeRequest() {
    Request r;
    r.SetLine(Method::kPost, "POST", "/visits/ann?x=1", 1);
    r.SetRequestId("req-42");
    return r;
}

TEST(ErrorResponse, MapsEachCodeToItsStatus) {
    const std::pair<ErrorCode, int> cases[] = {
        {ErrorCode::kInvalidArgument, 400},
        {ErrorCode::kNotFound, 404},
        {ErrorCode::kAlreadyExists, 409},
        {ErrorCode::kUnavailable, 503},
        {ErrorCode::kTimeout, 503},
        {ErrorCode::kCancelled, 503},
        {ErrorCode::kIo, 500},
        {ErrorCode::kInternal, 500},
    };
    Request request = MakeRequest();
    for (const auto& [code, status] : cases) {
        EXPECT_EQ(ErrorResponse(Error(code, "x"), request).status(), status) << ToString(code);
    }
}

TEST(ErrorResponse, SendsOnlyTheStatusAndTheRequestIdAndLogsTheDetail) {
    log::testing::CapturedLog captured;
    Request request = MakeRequest();
    Response r = ErrorResponse(
        Error(ErrorCode::kInternal, "sqlite step: no such table: visits (in: SELECT secret FROM visits)"), request);
    EXPECT_EQ(r.status(), 500);
    EXPECT_EQ(r.header("Content-Type").value_or(""), "application/json");
    EXPECT_EQ(r.body(), "{\"error\":\"internal server error\",\"request_id\":\"req-42\"}\n");

    auto lines = captured.Lines();
    ASSERT_EQ(lines.size(), 1u) << captured.Text();
    EXPECT_EQ(lines[0]["level"], "error");
    EXPECT_EQ(lines[0]["logger"], "gale.handler");
    EXPECT_EQ(lines[0]["request_id"], "req-42");
    EXPECT_EQ(lines[0]["method"], "POST");
    EXPECT_EQ(lines[0]["path"], "/visits/ann");
    EXPECT_EQ(lines[0]["status"], 500);
    EXPECT_EQ(lines[0]["code"], "internal");
    EXPECT_NE(lines[0]["error"].get<std::string>().find("no such table: visits"), std::string::npos);
}

TEST(ErrorResponse, AClientErrorIsLoggedAsAWarning) {
    log::testing::CapturedLog captured;
    Request request = MakeRequest();
    Response r = ErrorResponse(Error(ErrorCode::kNotFound, "row 7 of visits"), request);
    EXPECT_EQ(r.body(), "{\"error\":\"not found\",\"request_id\":\"req-42\"}\n");
    auto lines = captured.Lines();
    ASSERT_EQ(lines.size(), 1u);
    EXPECT_EQ(lines[0]["level"], "warning");
}

TEST(HandleErrors, PassesResponsesThroughAndAnswersErrors) {
    log::testing::CapturedLog captured;  // keeps the error's record out of the test output
    Handler h = HandleErrors([](Request& req) -> Result<Response> {
        if (req.path() == "/ok") return Response::Text(201, "made\n");
        return MakeError(ErrorCode::kUnavailable, "database: connection refused");
    });
    Request ok;
    ok.SetLine(Method::kGet, "GET", "/ok", 1);
    Response a = h(ok);
    EXPECT_EQ(a.status(), 201);
    EXPECT_EQ(a.body(), "made\n");
    Request bad = MakeRequest();
    Response b = h(bad);
    EXPECT_EQ(b.status(), 503);
    EXPECT_EQ(nlohmann::json::parse(b.body())["error"], "service unavailable");
    EXPECT_EQ(b.body().find("refused"), std::string::npos);
}

TEST(ResponseJson, TakesAJsonValue) {
    Response r = Response::Json(200, nlohmann::json{{"b", 1}, {"a", "x"}});
    EXPECT_EQ(r.header("Content-Type").value_or(""), "application/json");
    EXPECT_EQ(r.body(), "{\"a\":\"x\",\"b\":1}\n");
    // An ordered_json keeps the order it was built in.
    EXPECT_EQ(Response::Json(200, nlohmann::ordered_json{{"b", 1}, {"a", 2}}).body(), "{\"b\":1,\"a\":2}\n");
    // Text that is not UTF-8 (a client's bytes) is replaced, not thrown on.
    EXPECT_EQ(Response::Json(200, nlohmann::json{{"name", std::string("a\xff")}}).body(),
              "{\"name\":\"a\xef\xbf\xbd\"}\n");
    // The string overloads send the text as it is (no newline added).
    EXPECT_EQ(Response::Json(201, "{\"id\":1}").body(), "{\"id\":1}");
    EXPECT_EQ(Response::Json(201, std::string("[1]")).body(), "[1]");
}

}  // namespace
}  // namespace gale::http
