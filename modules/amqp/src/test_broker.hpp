// SPDX-License-Identifier: MIT
// The broker tests' shared pieces: one RabbitMQ per test binary (started on first use, ~5 s), Eventually, and
// unique names per test.
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <thread>

#include <gtest/gtest.h>

#include <gale/amqp/testing/rabbitmq_server.hpp>

namespace gale::amqp::test {

inline Result<std::unique_ptr<testing::RabbitMqServer>>& SharedBrokerResult() {
    // With TLS too (amqps on tls_port()), so the TLS tests need no second broker.
    static Result<std::unique_ptr<testing::RabbitMqServer>> broker = testing::RabbitMqServer::Start({.tls = true});
    return broker;
}

/// The shared broker, or nullptr (the caller ASSERTs; the error says why).
inline testing::RabbitMqServer* SharedBroker() {
    auto& r = SharedBrokerResult();
    return r ? r->get() : nullptr;
}
inline std::string SharedBrokerError() {
    auto& r = SharedBrokerResult();
    return r ? std::string() : r.error().ToString();
}

#define GALE_SHARED_BROKER(var)                     \
    auto* var = ::gale::amqp::test::SharedBroker(); \
    ASSERT_NE(var, nullptr) << ::gale::amqp::test::SharedBrokerError()

/// Polls `pred` every 10 ms until it holds or `timeout` passes.
inline bool Eventually(const std::function<bool()>& pred,
                       std::chrono::milliseconds timeout = std::chrono::seconds(20)) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < deadline) {
        if (pred()) return true;
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    return pred();
}

/// "<suite>.<test>.<suffix>", unique per test.
inline std::string Name(const std::string& suffix) {
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    return std::string(info->test_suite_name()) + "." + info->name() + "." + suffix;
}

}  // namespace gale::amqp::test
