// SPDX-License-Identifier: MIT
/// @file wsgi_test_util.hpp
/// @brief The unit tests' interpreter (started once per test process, with testing/ on sys.path) and requests.
#pragma once

#include <deque>
#include <string>
#include <utility>
#include <vector>

#include <gtest/gtest.h>

#include <gale/http/message.hpp>
#include <gale/wsgi/interpreter.hpp>

namespace gale::wsgi::testing {

class PythonEnvironment : public ::testing::Environment {
public:
    void SetUp() override {
        InterpreterOptions options;
        options.python_path = {GALE_WSGI_TESTING_DIR};
        auto started = StartInterpreter(options);
        ASSERT_TRUE(started) << started.error().message();
    }
};

/// A request whose views point into storage it owns.
class TestRequest {
public:
    TestRequest(http::Method method, std::string target, std::vector<std::pair<std::string, std::string>> headers = {},
                std::string body = {})
        : method_name_(http::ToString(method)), target_(std::move(target)), headers_(std::move(headers)) {
        request_.SetLine(method, method_name_, target_, 1);
        for (const auto& [n, v] : headers_) request_.AddHeader(n, v);
        request_.mutable_body() = std::move(body);
        request_.SetRequestId("test-request-1");
        request_.SetRemoteAddress("127.0.0.1");
    }
    TestRequest(const TestRequest&) = delete;
    TestRequest& operator=(const TestRequest&) = delete;
    http::Request& get() { return request_; }

private:
    std::string method_name_;
    std::string target_;
    std::vector<std::pair<std::string, std::string>> headers_;
    http::Request request_;
};

}  // namespace gale::wsgi::testing
