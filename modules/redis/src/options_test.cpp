// SPDX-License-Identifier: MIT
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <gale/redis/connection.hpp>
#include <gale/redis/options.hpp>
#include <gale/redis/reply.hpp>

#include "link.hpp"

namespace gale::redis {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

TEST(RedisUrl, Defaults) {
    auto o = ParseUrl("redis://cache.internal");
    ASSERT_TRUE(o) << o.error().message();
    EXPECT_EQ(o->host, "cache.internal");
    EXPECT_EQ(o->port, 6379);
    EXPECT_EQ(o->db, 0);
    EXPECT_EQ(o->password, "");
    EXPECT_EQ(o->source, "redis URL");
}

TEST(RedisUrl, PasswordPortDb) {
    auto o = ParseUrl("redis://:s3cr%40t/x@10.0.0.7:6380/3", "CELERY_BROKER_URL");
    ASSERT_TRUE(o) << o.error().message();
    EXPECT_EQ(o->host, "10.0.0.7");
    EXPECT_EQ(o->port, 6380);
    EXPECT_EQ(o->db, 3);
    EXPECT_EQ(o->username, "");
    EXPECT_EQ(o->password, "s3cr@t/x");
    EXPECT_EQ(o->source, "CELERY_BROKER_URL");
    EXPECT_EQ(Describe(*o), "redis://10.0.0.7:6380/3");
}

TEST(RedisUrl, AclUserAndLastAtEndsUserinfo) {
    auto o = ParseUrl("redis://app:p@ss@redis:6379/0");
    ASSERT_TRUE(o) << o.error().message();
    EXPECT_EQ(o->username, "app");
    EXPECT_EQ(o->password, "p@ss");
    EXPECT_EQ(o->host, "redis");
    EXPECT_EQ(Describe(*o), "redis://app@redis:6379/0");
}

TEST(RedisUrl, Ipv6AndQuery) {
    auto o = ParseUrl("redis://[::1]:7000/?db=5&socket_connect_timeout=0.25&socket_timeout=3&client_name=w1");
    ASSERT_TRUE(o) << o.error().message();
    EXPECT_EQ(o->host, "::1");
    EXPECT_EQ(o->port, 7000);
    EXPECT_EQ(o->db, 5);
    EXPECT_EQ(o->connect_timeout, std::chrono::milliseconds(250));
    EXPECT_EQ(o->command_timeout, std::chrono::milliseconds(3000));
    EXPECT_EQ(o->client_name, "w1");
    EXPECT_EQ(Describe(*o), "redis://[::1]:7000/5");
}

TEST(RedisUrl, Refusals) {
    const std::pair<const char*, const char*> cases[] = {
        {"http://host", "scheme must be redis://"},
        {"rediss://host:6380/0", "rediss:// (TLS) is not supported"},
        {"redis://", "no host"},
        {"redis://host:0", "port '0'"},
        {"redis://host:70000", "port '70000'"},
        {"redis://host:", "empty port"},
        {"redis://host/x", "database 'x'"},
        {"redis://host/0?timeout=3", "unknown parameter 'timeout'"},
        {"redis://host/0?socket_timeout=-1", "socket_timeout must be seconds"},
        {"redis://:bad%zz@host", "percent-escape"},
        {"redis://user@host", "a user without a password"},
        {"redis://[::1", "unclosed '['"},
    };
    for (const auto& [url, expected] : cases) {
        auto o = ParseUrl(url, "REDIS_URL");
        ASSERT_FALSE(o) << url;
        EXPECT_EQ(o.error().code(), ErrorCode::kInvalidArgument) << url;
        EXPECT_THAT(o.error().message(), HasSubstr(expected)) << url;
        EXPECT_THAT(o.error().message(), HasSubstr("REDIS_URL")) << url;
    }
    auto o = ParseUrl("redis://:hunter2@host:x");
    ASSERT_FALSE(o);
    EXPECT_THAT(o.error().message(), Not(HasSubstr("hunter2")));
}

TEST(RedisScript, Sha1IsRedisOne) {
    // redis-cli SCRIPT LOAD "return 1" -> e0e1f9fabfc9d4800c877a703b823ac0578ff8db
    EXPECT_EQ(Script("return 1").sha1(), "e0e1f9fabfc9d4800c877a703b823ac0578ff8db");
}

TEST(RedisReply, ErrorCodes) {
    EXPECT_EQ(ErrorFromReply("GET", "WRONGTYPE Operation against a key").code(), ErrorCode::kInvalidArgument);
    EXPECT_EQ(ErrorFromReply("GET", "WRONGTYPE Operation against a key").message(),
              "redis GET: WRONGTYPE Operation against a key");
    EXPECT_EQ(ErrorFromReply("GET", "LOADING Redis is loading the dataset in memory").code(), ErrorCode::kUnavailable);
    EXPECT_EQ(ErrorFromReply("SET", "READONLY You can't write against a read only replica.").code(),
              ErrorCode::kUnavailable);
    EXPECT_EQ(ErrorFromReply("AUTH", "WRONGPASS invalid username-password pair").code(), ErrorCode::kInvalidArgument);
}

TEST(RedisReply, Accessors) {
    EXPECT_EQ(*Reply::String("a").AsString("GET"), "a");
    EXPECT_EQ(*Reply::Status("OK").AsString("SET"), "OK");
    EXPECT_EQ(*Reply::Nil().AsOptionalString("GET"), std::nullopt);
    EXPECT_EQ(*Reply::Integer(7).AsInteger("INCR"), 7);
    auto wrong = Reply::Integer(7).AsString("GET");
    ASSERT_FALSE(wrong);
    EXPECT_EQ(wrong.error().message(), "redis GET: expected a string reply, got integer");
}

TEST(RedisWire, CommandsAreRespBulkArrays) {
    std::string out;
    detail::AppendCommand(out, Args{"SET", "k", std::string("a\0\r\nb", 5)});
    EXPECT_EQ(out, std::string("*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$5\r\n") + std::string("a\0\r\nb", 5) + "\r\n");
    EXPECT_EQ(detail::CommandName("brpop"), "BRPOP");
}

}  // namespace
}  // namespace gale::redis
