// SPDX-License-Identifier: MIT
// Connection against a real redis-server (label `redis`): typed replies, error replies, pipelines, MULTI/EXEC and
// WATCH, BRPOP, EVAL, AUTH/SELECT from a URL, reconnect after a restart, and bounded waits on unreachable, silent
// and dying servers.
#include <thread>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <gale/redis/connection.hpp>
#include <gale/redis/options.hpp>

#include "test_server.hpp"

namespace gale::redis {
namespace {

using test::Ms;
using test::Since;
using ::testing::HasSubstr;
using ::testing::Not;
using Clock = std::chrono::steady_clock;

std::unique_ptr<Connection> Fresh(const testing::RedisServer& server, int db = 1) {
    auto c = Connection::Connect(server.connection_options(db));
    EXPECT_TRUE(c) << c.error().ToString();
    if (!c) return nullptr;
    auto flushed = (*c)->Command({"FLUSHDB"});
    EXPECT_TRUE(flushed) << flushed.error().ToString();
    return std::move(*c);
}

TEST(RedisConnection, TypedReplies) {
    GALE_SHARED_REDIS(server);
    auto c = Fresh(*server);
    ASSERT_TRUE(c);
    EXPECT_EQ(*c->Command({"PING"}), Reply::Status("PONG"));
    EXPECT_EQ(*c->Command({"SET", "k", "v"}), Reply::Status("OK"));
    EXPECT_EQ(*c->Command({"GET", "k"}), Reply::String("v"));
    EXPECT_EQ(*c->Command({"GET", "missing"}), Reply::Nil());
    EXPECT_EQ(*c->Command({"INCRBY", "n", "41"}), Reply::Integer(41));
    EXPECT_EQ(*c->Command({"RPUSH", "l", "a", "b"}), Reply::Integer(2));
    EXPECT_EQ(*c->Command({"LRANGE", "l", "0", "-1"}), Reply::Array({Reply::String("a"), Reply::String("b")}));
    const std::string binary("a\0b\r\n\x06\x16", 7);
    ASSERT_TRUE(c->Command(Args{"SET", binary, binary}));
    EXPECT_EQ(*c->Command(Args{"GET", binary}), Reply::String(binary));
    const std::string big(1 << 20, 'x');
    ASSERT_TRUE(c->Command(Args{"SET", "big", big}));
    EXPECT_EQ(c->Command({"GET", "big"})->str.size(), big.size());
    EXPECT_EQ(c->reconnects(), 0U);
}

TEST(RedisConnection, ErrorRepliesNameTheCommandAndKeepTheConnection) {
    GALE_SHARED_REDIS(server);
    auto c = Fresh(*server);
    ASSERT_TRUE(c);
    ASSERT_TRUE(c->Command({"SET", "s", "text"}));
    auto incr = c->Command({"incr", "s"});
    ASSERT_FALSE(incr);
    EXPECT_EQ(incr.error().code(), ErrorCode::kInvalidArgument);
    EXPECT_EQ(incr.error().message(), "redis INCR: ERR value is not an integer or out of range");
    auto wrong = c->Command({"LPUSH", "s", "x"});
    ASSERT_FALSE(wrong);
    EXPECT_THAT(wrong.error().message(), HasSubstr("redis LPUSH: WRONGTYPE"));
    auto unknown = c->Command({"NOSUCHCOMMAND", "secret-arg"});
    ASSERT_FALSE(unknown);
    EXPECT_THAT(unknown.error().message(), HasSubstr("redis NOSUCHCOMMAND: ERR unknown command"));
    EXPECT_TRUE(c->connected());
    EXPECT_EQ(*c->Command({"GET", "s"}), Reply::String("text"));
    EXPECT_EQ(c->reconnects(), 0U);
    auto empty = c->Command(Args{});
    ASSERT_FALSE(empty);
    EXPECT_EQ(empty.error().code(), ErrorCode::kInvalidArgument);
}

TEST(RedisConnection, PipelineIsOneRoundTripAndKeepsErrorReplies) {
    GALE_SHARED_REDIS(server);
    auto c = Fresh(*server);
    ASSERT_TRUE(c);
    std::vector<Args> commands;
    for (int i = 0; i < 1000; ++i) commands.push_back({"RPUSH", "q", std::to_string(i)});
    commands.push_back({"SET", "q", "x", "NX"});  // q exists: nil
    commands.push_back({"INCR", "q"});            // WRONGTYPE
    commands.push_back({"LLEN", "q"});
    auto replies = c->Pipeline(commands);
    ASSERT_TRUE(replies) << replies.error().ToString();
    ASSERT_EQ(replies->size(), 1003U);
    EXPECT_EQ((*replies)[999], Reply::Integer(1000));
    EXPECT_TRUE((*replies)[1000].is_nil());
    EXPECT_TRUE((*replies)[1001].is_error());
    EXPECT_THAT((*replies)[1001].str, HasSubstr("WRONGTYPE"));
    EXPECT_EQ((*replies)[1002], Reply::Integer(1000));
}

TEST(RedisConnection, TransactionWatchAndExecAbort) {
    GALE_SHARED_REDIS(server);
    auto c = Fresh(*server);
    auto other = Fresh(*server);
    ASSERT_TRUE(c && other);
    auto done = c->Transaction({{"ZADD", "idx", "1.5", "tag"}, {"HSET", "h", "tag", "payload"}, {"INCR", "h"}});
    ASSERT_TRUE(done) << done.error().ToString();
    ASSERT_TRUE(done->has_value());
    ASSERT_EQ((*done)->size(), 3U);
    EXPECT_EQ((**done)[0], Reply::Integer(1));
    EXPECT_EQ((**done)[1], Reply::Integer(1));
    EXPECT_TRUE((**done)[2].is_error());  // run-time error inside EXEC: the others still ran

    // A WATCHed key changed by someone else: EXEC is aborted, nothing ran.
    ASSERT_TRUE(c->Command({"WATCH", "h"}));
    ASSERT_TRUE(other->Command({"HSET", "h", "tag", "changed"}));
    auto aborted = c->Transaction({{"HDEL", "h", "tag"}});
    ASSERT_TRUE(aborted) << aborted.error().ToString();
    EXPECT_FALSE(aborted->has_value());
    EXPECT_EQ(*c->Command({"HGET", "h", "tag"}), Reply::String("changed"));

    // A command refused while queueing discards the whole transaction.
    auto refused = c->Transaction({{"SET", "a", "1"}, {"SET", "b"}});
    ASSERT_FALSE(refused);
    EXPECT_THAT(refused.error().message(), HasSubstr("redis EXEC: EXECABORT"));
    EXPECT_THAT(refused.error().message(), HasSubstr("(SET: ERR wrong number of arguments"));
    EXPECT_EQ(*c->Command({"EXISTS", "a"}), Reply::Integer(0));
    EXPECT_TRUE(c->connected());
}

TEST(RedisConnection, BlockingPopTakesKeysInOrderAndTimesOut) {
    GALE_SHARED_REDIS(server);
    auto c = Fresh(*server);
    ASSERT_TRUE(c);
    ASSERT_TRUE(c->Command({"LPUSH",
                            "q\x06\x16"
                            "6",
                            "low"}));
    ASSERT_TRUE(c->Command({"LPUSH", "q", "first", "second"}));
    const std::vector<std::string> keys{"q",
                                        "q\x06\x16"
                                        "3",
                                        "q\x06\x16"
                                        "6",
                                        "q\x06\x16"
                                        "9"};
    auto a = c->BlockingPop(keys, Ms(1000));
    ASSERT_TRUE(a && *a) << (a ? "timeout" : a.error().ToString());
    EXPECT_EQ((*a)->key, "q");
    EXPECT_EQ((*a)->value, "first");  // LPUSH + BRPOP = FIFO
    EXPECT_EQ((*c->BlockingPop(keys, Ms(1000)))->value, "second");
    auto low = c->BlockingPop(keys, Ms(1000));
    EXPECT_EQ((*low)->key,
              "q\x06\x16"
              "6");

    const auto start = Clock::now();
    auto none = c->BlockingPop(keys, Ms(200));
    ASSERT_TRUE(none) << none.error().ToString();
    EXPECT_FALSE(none->has_value());
    EXPECT_GE(Since(start), Ms(150));
    EXPECT_LT(Since(start), Ms(2000));

    // Woken by a push from elsewhere.
    auto other = Fresh(*server);
    std::thread pusher([&] {
        std::this_thread::sleep_for(Ms(100));
        (void)other->Command({"LPUSH",
                              "q\x06\x16"
                              "9",
                              "late"});
    });
    auto late = c->BlockingPop(keys, Ms(5000));
    pusher.join();
    ASSERT_TRUE(late && *late);
    EXPECT_EQ((*late)->value, "late");
    EXPECT_FALSE(c->BlockingPop(keys, Ms(0)));
}

TEST(RedisConnection, EvalLoadsTheScriptOnceAndNamesScriptErrors) {
    GALE_SHARED_REDIS(server);
    auto c = Fresh(*server);
    ASSERT_TRUE(c);
    ASSERT_TRUE(c->Command({"SCRIPT", "FLUSH"}));
    const Script cas(
        "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) else return 0 end");
    ASSERT_TRUE(c->Command({"SET", "lock", "me"}));
    EXPECT_EQ(*c->Eval(cas, {"lock"}, {"you"}), Reply::Integer(0));  // NOSCRIPT -> EVAL
    EXPECT_EQ(*c->Command({"SCRIPT", "EXISTS", cas.sha1()}), Reply::Array({Reply::Integer(1)}));
    EXPECT_EQ(*c->Eval(cas, {"lock"}, {"me"}), Reply::Integer(1));  // EVALSHA
    const Script bad("return redis.call('incr', KEYS[1])");
    ASSERT_TRUE(c->Command({"SET", "s", "text"}));
    auto e = c->Eval(bad, {"s"}, {});
    ASSERT_FALSE(e);
    EXPECT_THAT(e.error().message(), HasSubstr("redis EVAL: ERR"));
    EXPECT_THAT(e.error().message(), HasSubstr("not an integer"));
    const Script multi("return {KEYS[1], ARGV[1], 3, false}");
    EXPECT_EQ(*c->Eval(multi, {"k"}, {"a"}),
              Reply::Array({Reply::String("k"), Reply::String("a"), Reply::Integer(3), Reply::Nil()}));
}

TEST(RedisConnection, AuthAndSelectFromTheUrl) {
    auto server = testing::RedisServer::Start({.password = "pw-s3cret"});
    ASSERT_TRUE(server) << server.error().ToString();
    auto url = ParseUrl((*server)->url(4), "REDIS_URL");
    ASSERT_TRUE(url) << url.error().ToString();
    auto c = Connection::Connect(*url);
    ASSERT_TRUE(c) << c.error().ToString();
    ASSERT_TRUE((*c)->Command({"SET", "where", "db4"}));
    auto zero = Connection::Connect((*server)->connection_options(0));
    ASSERT_TRUE(zero);
    EXPECT_TRUE((*(*zero)->Command({"GET", "where"})).is_nil());
    EXPECT_THAT((*c)->Command({"CLIENT", "INFO"})->str, HasSubstr("db=4"));

    ConnectionOptions wrong = *url;
    wrong.password = "not-the-password";
    auto refused = Connection::Connect(wrong);
    ASSERT_FALSE(refused);
    EXPECT_EQ(refused.error().code(), ErrorCode::kInvalidArgument);
    EXPECT_THAT(refused.error().ToString(), HasSubstr("AUTH refused (from REDIS_URL)"));
    EXPECT_THAT(refused.error().ToString(), Not(HasSubstr("not-the-password")));

    ConnectionOptions none = *url;
    none.password.clear();
    auto noauth = Connection::Connect(none);  // SELECT 4 without AUTH: NOAUTH
    ASSERT_FALSE(noauth);
    EXPECT_THAT(noauth.error().ToString(), HasSubstr("SELECT refused"));
    EXPECT_THAT(noauth.error().ToString(), HasSubstr("NOAUTH"));

    ConnectionOptions far = *url;
    far.db = 99;
    auto select = Connection::Connect(far);
    ASSERT_FALSE(select);
    EXPECT_EQ(select.error().code(), ErrorCode::kInvalidArgument);
    EXPECT_THAT(select.error().ToString(), HasSubstr("SELECT refused"));
}

TEST(RedisConnection, ReconnectsAfterARestartAndTheCallerRetries) {
    auto server = testing::RedisServer::Start();
    ASSERT_TRUE(server) << server.error().ToString();
    auto c = Connection::Connect((*server)->connection_options());
    ASSERT_TRUE(c) << c.error().ToString();
    ASSERT_TRUE((*c)->Command({"SET", "k", "1"}));
    ASSERT_TRUE((*server)->Restart());
    auto lost = (*c)->Command({"GET", "k"});
    ASSERT_FALSE(lost);
    EXPECT_EQ(lost.error().code(), ErrorCode::kUnavailable);
    EXPECT_THAT(lost.error().ToString(), HasSubstr("redis GET"));
    EXPECT_THAT(lost.error().ToString(), HasSubstr("connection lost"));
    EXPECT_FALSE((*c)->connected());
    auto again = (*c)->Command({"GET", "k"});  // save "": the data did not survive
    ASSERT_TRUE(again) << again.error().ToString();
    EXPECT_TRUE(again->is_nil());
    EXPECT_EQ((*c)->reconnects(), 1U);

    // While the server is down every call fails fast with kUnavailable; then it works again.
    ASSERT_TRUE((*server)->Stop());
    const auto start = Clock::now();
    auto down = (*c)->Command({"PING"});
    ASSERT_FALSE(down);
    EXPECT_EQ(down.error().code(), ErrorCode::kUnavailable);
    auto still = (*c)->Command({"PING"});
    ASSERT_FALSE(still);
    EXPECT_EQ(still.error().code(), ErrorCode::kUnavailable);
    EXPECT_THAT(still.error().ToString(), HasSubstr("Connection refused"));
    EXPECT_LT(Since(start), Ms(1000));
    ASSERT_TRUE((*server)->StartAgain());
    EXPECT_TRUE((*c)->Command({"PING"}));
    EXPECT_EQ((*c)->reconnects(), 2U);
}

TEST(RedisConnection, ServerKilledDuringBlockingPop) {
    auto server = testing::RedisServer::Start();
    ASSERT_TRUE(server) << server.error().ToString();
    auto c = Connection::Connect((*server)->connection_options());
    ASSERT_TRUE(c);
    std::thread killer([&] {
        std::this_thread::sleep_for(Ms(200));
        (void)(*server)->Kill();
    });
    const auto start = Clock::now();
    auto popped = (*c)->BlockingPop({"q"}, Ms(10000));
    killer.join();
    ASSERT_FALSE(popped);
    EXPECT_EQ(popped.error().code(), ErrorCode::kUnavailable);
    EXPECT_LT(Since(start), Ms(5000));
}

TEST(RedisConnection, UnreachableServerFailsFastWithAClearError) {
    ConnectionOptions o;
    o.host = "127.0.0.1";
    o.port = testing::RedisServer::FreePort();
    o.connect_timeout = Ms(500);
    const auto start = Clock::now();
    auto c = Connection::Connect(o);
    ASSERT_FALSE(c);
    EXPECT_EQ(c.error().code(), ErrorCode::kUnavailable);
    EXPECT_THAT(c.error().ToString(), HasSubstr("redis://127.0.0.1:" + std::to_string(o.port) + "/0: connect: "));
    EXPECT_THAT(c.error().ToString(), HasSubstr("Connection refused"));
    EXPECT_LT(Since(start), Ms(1000));

    auto lazy = Connection::Lazy(o);
    auto get = lazy->Command({"GET", "k"});
    ASSERT_FALSE(get);
    EXPECT_EQ(get.error().code(), ErrorCode::kUnavailable);

    ConnectionOptions bad_name = o;
    bad_name.host = "no-such-host.invalid";
    auto unresolved = Connection::Connect(bad_name);
    ASSERT_FALSE(unresolved);
    EXPECT_EQ(unresolved.error().code(), ErrorCode::kUnavailable);
    EXPECT_THAT(unresolved.error().ToString(), HasSubstr("cannot resolve 'no-such-host.invalid'"));
}

TEST(RedisConnection, SilentServerTimesOutInsteadOfHanging) {
    test::SilentListener silent;
    ASSERT_NE(silent.port(), 0);
    ConnectionOptions o;
    o.port = silent.port();
    o.connect_timeout = Ms(300);
    o.command_timeout = Ms(300);
    // TCP connects (the kernel accepts), the command gets no answer: kTimeout after command_timeout.
    auto c = Connection::Connect(o);
    ASSERT_TRUE(c) << c.error().ToString();
    auto start = Clock::now();
    auto ping = (*c)->Command({"PING"});
    ASSERT_FALSE(ping);
    EXPECT_EQ(ping.error().code(), ErrorCode::kTimeout);
    EXPECT_THAT(ping.error().ToString(), HasSubstr("redis PING"));
    EXPECT_GE(Since(start), Ms(250));
    EXPECT_LT(Since(start), Ms(2000));
    EXPECT_FALSE((*c)->connected());
    // A BRPOP waits its own timeout plus command_timeout, no longer.
    start = Clock::now();
    auto pop = (*c)->BlockingPop({"q"}, Ms(200));
    ASSERT_FALSE(pop);
    EXPECT_EQ(pop.error().code(), ErrorCode::kTimeout);
    EXPECT_LT(Since(start), Ms(2500));
    // With a password, the handshake itself waits at most connect_timeout.
    o.password = "pw";
    start = Clock::now();
    auto handshake = Connection::Connect(o);
    ASSERT_FALSE(handshake);
    EXPECT_EQ(handshake.error().code(), ErrorCode::kTimeout);
    EXPECT_THAT(handshake.error().ToString(), HasSubstr("handshake failed"));
    EXPECT_LT(Since(start), Ms(2000));
}

}  // namespace
}  // namespace gale::redis
