// SPDX-License-Identifier: MIT

#include <chrono>
#include <cstdlib>
#include <optional>
#include <string>
#include <string_view>

#include <gtest/gtest.h>

#include <gale/base/strings.hpp>
#include <gale/http/client.hpp>
#include <gale/http/testing/recording_server.hpp>

namespace gale::http {
namespace {

using std::chrono::milliseconds;
using testing::CannedResponse;
using testing::LoopbackPort;
using testing::ReceivedRequest;
using testing::RecordingServer;

// Everything here talks to 127.0.0.1; keep a proxy named in the environment out of the way. Runs during static
// initialisation, before any thread exists.
[[maybe_unused]] const int kNoProxyForLoopback = setenv("no_proxy", "127.0.0.1", 1);

std::optional<std::string> FindHeader(const ClientResponse& response, std::string_view name) {
    for (const auto& [n, v] : response.headers) {
        if (EqualsIgnoreCase(n, name)) return v;
    }
    return std::nullopt;
}

TEST(Client, GetReturnsStatusHeadersAndBody) {
    RecordingServer server([](std::size_t, const ReceivedRequest&) {
        return CannedResponse{200, "hello", {{"X-Test", "yes"}}};
    });
    ASSERT_TRUE(server.ok());
    Client client;
    auto response = client.Send({.url = server.Url("/path?q=1")});
    ASSERT_TRUE(response) << response.error().ToString();
    EXPECT_EQ(response->status, 200);
    EXPECT_EQ(response->body, "hello");
    EXPECT_EQ(FindHeader(*response, "x-test"), "yes");
    EXPECT_EQ(FindHeader(*response, "Content-Length"), "5");

    auto requests = server.requests();
    ASSERT_EQ(requests.size(), 1U);
    EXPECT_EQ(requests[0].method, "GET");
    EXPECT_EQ(requests[0].target, "/path?q=1");
    EXPECT_TRUE(requests[0].body.empty());
}

TEST(Client, PostSendsBodyAndHeaders) {
    RecordingServer server([](std::size_t, const ReceivedRequest&) { return CannedResponse{201, "created", {}}; });
    ASSERT_TRUE(server.ok());
    Client client;
    auto response =
        client.Send({.method = "POST",
                     .url = server.Url("/items"),
                     .headers = {{"Content-Type", "application/json"}, {"X-Custom", "v 1"}, {"X-Empty", ""}},
                     .body = R"({"a":1})"});
    ASSERT_TRUE(response) << response.error().ToString();
    EXPECT_EQ(response->status, 201);
    EXPECT_EQ(response->body, "created");

    auto requests = server.requests();
    ASSERT_EQ(requests.size(), 1U);
    EXPECT_EQ(requests[0].method, "POST");
    EXPECT_EQ(requests[0].target, "/items");
    EXPECT_EQ(requests[0].body, R"({"a":1})");
    EXPECT_EQ(requests[0].Header("Content-Type"), "application/json");
    EXPECT_EQ(requests[0].Header("X-Custom"), "v 1");
    EXPECT_EQ(requests[0].Header("X-Empty"), "");
    EXPECT_EQ(requests[0].Header("Content-Length"), "7");
}

TEST(Client, LargePostWithoutContentTypeSendsNeitherDefaultContentTypeNorExpect) {
    RecordingServer server;
    ASSERT_TRUE(server.ok());
    Client client;
    std::string body(100000, 'x');
    auto started = std::chrono::steady_clock::now();
    auto response = client.Send({.method = "POST", .url = server.Url("/big"), .body = body});
    ASSERT_TRUE(response) << response.error().ToString();
    // With Expect: 100-continue curl would wait a second for an interim response this server never sends.
    EXPECT_LT(std::chrono::steady_clock::now() - started, milliseconds(900));
    auto requests = server.requests();
    ASSERT_EQ(requests.size(), 1U);
    EXPECT_EQ(requests[0].body, body);
    EXPECT_FALSE(requests[0].Header("Content-Type"));
    EXPECT_FALSE(requests[0].Header("Expect"));
}

TEST(Client, OtherMethodsCarryTheirBody) {
    RecordingServer server;
    ASSERT_TRUE(server.ok());
    Client client;
    ASSERT_TRUE(client.Send({.method = "PUT", .url = server.Url("/p"), .body = "put-body"}));
    ASSERT_TRUE(client.Send({.method = "DELETE", .url = server.Url("/d")}));
    auto requests = server.requests();
    ASSERT_EQ(requests.size(), 2U);
    EXPECT_EQ(requests[0].method, "PUT");
    EXPECT_EQ(requests[0].body, "put-body");
    EXPECT_EQ(requests[1].method, "DELETE");
    EXPECT_TRUE(requests[1].body.empty());
}

TEST(Client, ErrorStatusIsAValueNotAnError) {
    RecordingServer server([](std::size_t, const ReceivedRequest& r) {
        return r.target == "/missing" ? CannedResponse{404, "no such thing", {}} : CannedResponse{503, "busy", {}};
    });
    ASSERT_TRUE(server.ok());
    Client client;
    auto missing = client.Send({.url = server.Url("/missing")});
    ASSERT_TRUE(missing) << missing.error().ToString();
    EXPECT_EQ(missing->status, 404);
    EXPECT_EQ(missing->body, "no such thing");
    auto busy = client.Send({.method = "POST", .url = server.Url("/x"), .body = "b"});
    ASSERT_TRUE(busy) << busy.error().ToString();
    EXPECT_EQ(busy->status, 503);
    EXPECT_EQ(busy->body, "busy");
}

TEST(Client, ConnectionRefusedIsUnavailable) {
    const LoopbackPort refusing(0);  // bound, not listening: connections are refused
    ASSERT_TRUE(refusing.ok());
    std::string url = "http://127.0.0.1:" + std::to_string(refusing.port()) + "/hook";
    Client client;
    auto response = client.Send({.url = url});
    ASSERT_FALSE(response);
    EXPECT_EQ(response.error().code(), ErrorCode::kUnavailable);
    EXPECT_NE(response.error().message().find("GET " + url + ": "), std::string::npos) << response.error().message();
}

TEST(Client, SilentServerTimesOutWithinTheTimeout) {
    const LoopbackPort silent(4);  // listening but never accepting: connects, then silence
    ASSERT_TRUE(silent.ok());
    std::string url = "http://127.0.0.1:" + std::to_string(silent.port()) + "/slow";
    Client client;
    auto started = std::chrono::steady_clock::now();
    auto response = client.Send({.url = url, .timeout = milliseconds(300)});
    auto elapsed = std::chrono::steady_clock::now() - started;
    ASSERT_FALSE(response);
    EXPECT_EQ(response.error().code(), ErrorCode::kTimeout) << response.error().message();
    EXPECT_NE(response.error().message().find(url), std::string::npos) << response.error().message();
    EXPECT_GE(elapsed, milliseconds(250));
    EXPECT_LT(elapsed, milliseconds(2000));
}

TEST(Client, BadRequestsAreInvalidArgument) {
    Client client;
    for (const char* url : {"", "not a url", "http://[::1", "ftp://127.0.0.1/file", "file:///etc/passwd"}) {
        auto response = client.Send({.url = url});
        ASSERT_FALSE(response) << url;
        EXPECT_EQ(response.error().code(), ErrorCode::kInvalidArgument) << url << ": " << response.error().message();
    }
    auto bad_method = client.Send({.method = "GE T", .url = "http://127.0.0.1:1/"});
    ASSERT_FALSE(bad_method);
    EXPECT_EQ(bad_method.error().code(), ErrorCode::kInvalidArgument);
    auto injected = client.Send({.url = "http://127.0.0.1:1/", .headers = {{"X-A", "1\r\nX-Injected: 1"}}});
    ASSERT_FALSE(injected);
    EXPECT_EQ(injected.error().code(), ErrorCode::kInvalidArgument);
    auto bad_name = client.Send({.url = "http://127.0.0.1:1/", .headers = {{"X A", "1"}}});
    ASSERT_FALSE(bad_name);
    EXPECT_EQ(bad_name.error().code(), ErrorCode::kInvalidArgument);
    auto no_timeout = client.Send({.url = "http://127.0.0.1:1/", .timeout = milliseconds(0)});
    ASSERT_FALSE(no_timeout);
    EXPECT_EQ(no_timeout.error().code(), ErrorCode::kInvalidArgument);
}

TEST(Client, HandleIsReusableAfterSuccessAndFailure) {
    RecordingServer server([](std::size_t, const ReceivedRequest& r) { return CannedResponse{200, r.target, {}}; });
    ASSERT_TRUE(server.ok());
    Client client;
    for (int i = 0; i < 3; ++i) {
        auto response = client.Send({.url = server.Url("/n" + std::to_string(i))});
        ASSERT_TRUE(response) << response.error().ToString();
        EXPECT_EQ(response->body, "/n" + std::to_string(i));
    }
    ASSERT_FALSE(client.Send({.url = "ftp://127.0.0.1/"}));
    // A POST body and custom header from one request must not leak into the next.
    ASSERT_TRUE(client.Send({.method = "POST", .url = server.Url("/post"), .headers = {{"X-Once", "1"}}, .body = "b"}));
    auto last = client.Send({.url = server.Url("/after")});
    ASSERT_TRUE(last) << last.error().ToString();
    EXPECT_EQ(last->body, "/after");
    auto requests = server.requests();
    ASSERT_EQ(requests.size(), 5U);
    EXPECT_EQ(requests[4].method, "GET");
    EXPECT_TRUE(requests[4].body.empty());
    EXPECT_FALSE(requests[4].Header("X-Once"));
}

TEST(Client, MovedClientKeepsWorking) {
    RecordingServer server;
    ASSERT_TRUE(server.ok());
    Client first;
    Client second(std::move(first));
    auto response = second.Send({.url = server.Url("/")});
    ASSERT_TRUE(response) << response.error().ToString();
    EXPECT_EQ(response->status, 200);
}

TEST(RedactUrl, RemovesUserInfoQueryAndFragment) {
    EXPECT_EQ(RedactUrl("https://user:secret@hooks.example:8443/a/b?token=x#frag"),
              "https://hooks.example:8443/a/b?<redacted>");
    EXPECT_EQ(RedactUrl("http://127.0.0.1:8080/hook"), "http://127.0.0.1:8080/hook");
    EXPECT_EQ(RedactUrl("http://h/p#f"), "http://h/p");
    EXPECT_EQ(RedactUrl("http://h?q=a@b"), "http://h?<redacted>");
    EXPECT_EQ(RedactUrl("http://u@h/p@q"), "http://h/p@q");
    EXPECT_EQ(RedactUrl(""), "");
}

}  // namespace
}  // namespace gale::http
