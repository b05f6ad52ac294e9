// SPDX-License-Identifier: MIT
/// @file redis_fixture.hpp (cache's tests)
/// @brief A test suite against a real redis-server: one per suite (RedisServer), every test failing, naming why,
///        when it cannot be started.
#pragma once

#include <memory>
#include <string>

#include <gtest/gtest.h>

#include <gale/redis/testing/redis_server.hpp>

namespace gale::cache {

class RedisFixture : public ::testing::Test {
protected:
    static void SetUpTestSuite() {
        auto s = redis::testing::RedisServer::Start();
        if (s) {
            server_ = std::move(*s);
        } else {
            start_error_ = s.error().message();
        }
    }
    static void TearDownTestSuite() { server_.reset(); }
    void SetUp() override { ASSERT_TRUE(server_) << "cannot start redis-server: " << start_error_; }
    /// The running test's name, for keys of its own.
    static std::string TestName() { return ::testing::UnitTest::GetInstance()->current_test_info()->name(); }

    static inline std::unique_ptr<redis::testing::RedisServer> server_;
    static inline std::string start_error_;
};

}  // namespace gale::cache
