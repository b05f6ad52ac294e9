// SPDX-License-Identifier: MIT
/// @file postgres_fixture.hpp (db's tests)
/// @brief A test suite against a real PostgreSQL: one throwaway cluster per suite (PostgresServer), and every test
///        fails, naming why, when it cannot be started.
#pragma once

#include <memory>
#include <string>

#include <gtest/gtest.h>

#include <gale/db/testing/postgres_server.hpp>

namespace gale::db {

class PostgresFixture : public ::testing::Test {
protected:
    static void SetUpTestSuite() {
        auto s = testing::PostgresServer::Start();
        if (s) {
            server_ = std::move(*s);
        } else {
            start_error_ = s.error().message();
        }
    }
    static void TearDownTestSuite() { server_.reset(); }
    void SetUp() override { ASSERT_TRUE(server_) << "cannot start PostgreSQL: " << start_error_; }

    static inline std::unique_ptr<testing::PostgresServer> server_;
    static inline std::string start_error_;
};

}  // namespace gale::db
