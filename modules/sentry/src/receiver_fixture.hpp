// SPDX-License-Identifier: MIT
/// @file receiver_fixture.hpp (private, tests)
/// @brief A Sentry stand-in over loopback (http_testing's RecordingServer) that records every envelope POSTed to it
///        and answers as told (200, 429 with Retry-After, X-Sentry-Rate-Limits, slowly); ports that hang or refuse;
///        and the envelope parsed back (header line, item header with type/length, payload), checking the framing.
///
/// Thread-safety: the recording is guarded; set the answer before the requests it should apply to.
#pragma once

#include <chrono>
#include <cstdint>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <gale/http/testing/recording_server.hpp>

namespace gale::sentry::testing {

struct Received {
    std::string path;
    std::string auth;
    std::string content_type;
    std::string body;
};

/// The parts of an envelope with one item; the test fails (ADD_FAILURE) when the framing is wrong.
struct ParsedEnvelope {
    nlohmann::json header;
    nlohmann::json item_header;
    nlohmann::json payload;
};

inline std::optional<ParsedEnvelope> ParseEnvelope(const std::string& body) {
    std::size_t nl1 = body.find('\n');
    if (nl1 == std::string::npos) {
        ADD_FAILURE() << "no envelope header line: " << body;
        return std::nullopt;
    }
    std::size_t nl2 = body.find('\n', nl1 + 1);
    if (nl2 == std::string::npos) {
        ADD_FAILURE() << "no item header line";
        return std::nullopt;
    }
    ParsedEnvelope e;
    e.header = nlohmann::json::parse(body.substr(0, nl1), nullptr, false);
    e.item_header = nlohmann::json::parse(body.substr(nl1 + 1, nl2 - nl1 - 1), nullptr, false);
    if (e.header.is_discarded() || e.item_header.is_discarded() || !e.item_header.contains("length")) {
        ADD_FAILURE() << "envelope headers are not JSON or lack length: " << body;
        return std::nullopt;
    }
    std::size_t length = e.item_header["length"].get<std::size_t>();
    if (nl2 + 1 + length > body.size()) {
        ADD_FAILURE() << "item length " << length << " beyond the body";
        return std::nullopt;
    }
    std::string payload = body.substr(nl2 + 1, length);
    std::string rest = body.substr(nl2 + 1 + length);
    if (rest != "\n" && !rest.empty()) ADD_FAILURE() << "bytes after the item: " << rest;
    e.payload = nlohmann::json::parse(payload, nullptr, false);
    if (e.payload.is_discarded()) {
        ADD_FAILURE() << "payload is not JSON: " << payload;
        return std::nullopt;
    }
    return e;
}

/// A Sentry stand-in: gale's RecordingServer (http_testing) answering as SetAnswer says.
class Receiver {
public:
    struct Answer {
        int status = 200;
        std::vector<std::pair<std::string, std::string>> headers;
        std::chrono::milliseconds delay{0};
    };

    Receiver()
        : server_([this](std::size_t, const http::testing::ReceivedRequest&) {
              Answer a;
              {
                  std::lock_guard lock(mu_);
                  a = answer_;
              }
              if (a.delay.count() > 0) std::this_thread::sleep_for(a.delay);
              return http::testing::CannedResponse{a.status, "{}", a.headers};
          }) {
        EXPECT_TRUE(server_.ok());
    }

    std::string Dsn(std::string_view key = "publickey", std::string_view project = "42") const {
        std::string url = server_.Url("/");  // http://127.0.0.1:<port>/
        return "http://" + std::string(key) + "@" + url.substr(7) + std::string(project);
    }
    void SetAnswer(Answer a) {
        std::lock_guard lock(mu_);
        answer_ = std::move(a);
    }
    std::vector<Received> received() const {
        std::vector<Received> out;
        for (const auto& r : server_.requests()) {
            out.push_back(
                {r.target, r.Header("X-Sentry-Auth").value_or(""), r.Header("Content-Type").value_or(""), r.body});
        }
        return out;
    }
    /// Waits (bounded) until at least `n` envelopes arrived.
    bool WaitFor(std::size_t n, std::chrono::milliseconds timeout = std::chrono::seconds(10)) {
        return server_.WaitForRequests(n, timeout);
    }

private:
    mutable std::mutex mu_;
    Answer answer_;
    http::testing::RecordingServer server_;  // last: its thread uses the members above
};

/// A TCP port that accepts connections (the kernel completes them into the backlog) but never answers: a hung
/// Sentry.
class SilentPort : public http::testing::LoopbackPort {
public:
    SilentPort() : LoopbackPort(64) { EXPECT_TRUE(ok()); }
};

/// A loopback port that refuses connections: bound but not listening, for as long as the object lives.
class RefusingPort : public http::testing::LoopbackPort {
public:
    RefusingPort() : LoopbackPort(0) { EXPECT_TRUE(ok()); }
};

}  // namespace gale::sentry::testing
