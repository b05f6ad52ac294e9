// SPDX-License-Identifier: MIT
// Shared pieces of the tasks_redis tests: one redis-server per test binary, flushed per test.
#pragma once

#include <chrono>
#include <memory>
#include <string>

#include <gtest/gtest.h>

#include <gale/redis/connection.hpp>
#include <gale/redis/testing/redis_server.hpp>

namespace gale::tasks::redis::test {

inline Result<std::unique_ptr<gale::redis::testing::RedisServer>>& SharedServerResult() {
    static Result<std::unique_ptr<gale::redis::testing::RedisServer>> server =
        gale::redis::testing::RedisServer::Start();
    return server;
}

/// The shared server, flushed (FLUSHALL), or nullptr with the reason in `error`.
inline gale::redis::testing::RedisServer* FreshServer(std::string& error) {
    auto& r = SharedServerResult();
    if (!r) {
        error = r.error().ToString();
        return nullptr;
    }
    auto c = gale::redis::Connection::Connect((*r)->connection_options());
    if (!c || !(*c)->Command({"FLUSHALL"})) {
        error = "FLUSHALL failed";
        return nullptr;
    }
    return r->get();
}

#define GALE_FRESH_REDIS(var)                                         \
    std::string var##_error;                                          \
    auto* var = ::gale::tasks::redis::test::FreshServer(var##_error); \
    ASSERT_NE(var, nullptr) << var##_error

using Ms = std::chrono::milliseconds;
inline Ms Since(std::chrono::steady_clock::time_point start) {
    return std::chrono::duration_cast<Ms>(std::chrono::steady_clock::now() - start);
}

}  // namespace gale::tasks::redis::test
