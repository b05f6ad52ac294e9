// SPDX-License-Identifier: MIT
#include <gtest/gtest.h>

#include <gale/tasks/settings.hpp>

#include "test_util.hpp"

namespace gale::tasks {
namespace {

config::Settings From(std::initializer_list<std::pair<const char*, const char*>> vars) {
    config::Settings s;
    for (const auto& [k, v] : vars) s.Set(k, v, config::Layer::kEnvironment);
    return s;
}

std::vector<std::string> Problems(const config::Settings& s) {
    config::Contract c;
    EXPECT_TRUE(c.AddGroup(ContractGroup()));
    return c.Validate(s);
}

TEST(TransportUrl, ParsesEachScheme) {
    auto redis = ParseTransportUrl("redis://:s3cret@cache.internal:6380/2?ssl_cert_reqs=none", "X");
    ASSERT_TRUE(redis) << redis.error().message();
    EXPECT_EQ(redis->scheme, "redis");
    EXPECT_EQ(redis->host, "cache.internal");
    EXPECT_EQ(redis->port, 6380);
    EXPECT_EQ(redis->password, "s3cret");
    EXPECT_EQ(redis->path, "2");
    EXPECT_EQ(redis->query.at("ssl_cert_reqs"), "none");
    EXPECT_EQ(redis->Describe(), "redis://cache.internal:6380/2");  // no password

    auto amqp = ParseTransportUrl("amqp://guest:pa%40ss@[::1]:5672/%2F", "X");
    ASSERT_TRUE(amqp);
    EXPECT_EQ(amqp->host, "::1");
    EXPECT_EQ(amqp->username, "guest");
    EXPECT_EQ(amqp->password, "pa@ss");
    EXPECT_EQ(amqp->path, "/");
    EXPECT_EQ(amqp->Describe(), "amqp://guest@[::1]:5672/%2F");
    EXPECT_EQ(ParseTransportUrl("amqp://rabbit", "X")->path, "/");
    EXPECT_EQ(ParseTransportUrl("amqps://rabbit/prod", "X")->path, "prod");

    auto sqlite = ParseTransportUrl("sqlite:///var/tasks.db", "X");
    ASSERT_TRUE(sqlite);
    EXPECT_EQ(sqlite->path, "var/tasks.db");
    EXPECT_EQ(ParseTransportUrl("sqlite:////abs/tasks.db", "X")->path, "/abs/tasks.db");
    EXPECT_EQ(ParseTransportUrl("rpc://", "X")->scheme, "rpc");
    EXPECT_EQ(ParseTransportUrl("disabled", "X")->scheme, "disabled");
}

TEST(TransportUrl, ErrorsNameTheVariableAndNeverTheUrl) {
    for (const char* bad :
         {"", "kafka://host", "redis://:pw@", "redis://host:0", "redis://host:99999", "redis://host/x", "redis://h/%zz",
          "sqlite://host/file.db", "sqlite:///", "rpc://host", "not a url", "amqp://[::1"}) {
        auto r = ParseTransportUrl(bad, "CELERY_BROKER_URL (from environment)");
        ASSERT_FALSE(r) << bad;
        EXPECT_EQ(r.error().message().rfind("CELERY_BROKER_URL (from environment)", 0), 0U) << r.error().message();
        if (std::string_view(bad).find("pw") != std::string_view::npos) {
            EXPECT_EQ(r.error().message().find("pw"), std::string::npos);
        }
    }
}

TEST(TasksSettings, EmbeddedByDefaultWithTheEmbeddedBackend) {
    auto s = TasksSettingsFromSettings(From({}), "hello-tasks.db");
    ASSERT_TRUE(s);
    EXPECT_EQ(s->broker.scheme, "sqlite");
    EXPECT_EQ(s->broker.path, "hello-tasks.db");
    ASSERT_TRUE(s->result_backend);
    EXPECT_EQ(s->result_backend->scheme, "sqlite");
    EXPECT_EQ(s->default_queue, "celery");
    EXPECT_TRUE(Problems(From({})).empty());
}

TEST(TasksSettings, CeleryUrlsWinAndAnotherBrokerHasNoResultsUnlessSet) {
    auto s = TasksSettingsFromSettings(From({{"CELERY_BROKER_URL", "redis://r:6379/0"},
                                             {"CELERY_TASK_DEFAULT_QUEUE", "jobs"},
                                             {"CELERY_RESULT_EXPIRES", "2h"}}));
    ASSERT_TRUE(s);
    EXPECT_EQ(s->broker.scheme, "redis");
    EXPECT_FALSE(s->result_backend);  // Celery's default: disabled
    EXPECT_EQ(s->default_queue, "jobs");
    EXPECT_EQ(s->result_expires, std::chrono::hours(2));
    auto rpc = TasksSettingsFromSettings(
        From({{"CELERY_BROKER_URL", "amqp://guest:guest@rabbit//"}, {"CELERY_RESULT_BACKEND", "rpc://"}}));
    ASSERT_TRUE(rpc) << rpc.error().message();
    EXPECT_EQ(rpc->result_backend->scheme, "rpc");
    auto off = TasksSettingsFromSettings(From({{"CELERY_RESULT_BACKEND", "disabled"}}));
    ASSERT_TRUE(off);
    EXPECT_FALSE(off->result_backend);
}

TEST(TasksSettings, BasePythonsRabbitMqGroupNamesTheBrokerWhenNoUrlDoes) {
    auto s = TasksSettingsFromSettings(From({{"RABBITMQ_HOST", "mq"},
                                             {"RABBITMQ_PORT", "5673"},
                                             {"RABBITMQ_VHOST", "prod"},
                                             {"RABBITMQ_USERNAME", "app"},
                                             {"RABBITMQ_PASSWORD", "p@ss"}}));
    ASSERT_TRUE(s);
    EXPECT_EQ(s->broker.scheme, "amqp");
    EXPECT_EQ(s->broker.host, "mq");
    EXPECT_EQ(s->broker.port, 5673);
    EXPECT_EQ(s->broker.path, "prod");
    EXPECT_EQ(s->broker.url, "amqp://app:p%40ss@mq:5673/prod");
    EXPECT_EQ(s->broker.source, "RABBITMQ_HOST (from environment)");
    auto url_wins = TasksSettingsFromSettings(From({{"RABBITMQ_HOST", "mq"}, {"CELERY_BROKER_URL", "redis://r"}}));
    EXPECT_EQ(url_wins->broker.scheme, "redis");
}

TEST(TasksSettings, EveryProblemAtOnceNamingTheVariable) {
    auto s = From(
        {{"CELERY_BROKER_URL", "kafka://x"}, {"CELERY_RESULT_BACKEND", "amqp://x"}, {"CELERY_RESULT_EXPIRES", "0s"}});
    auto problems = Problems(s);
    ASSERT_EQ(problems.size(), 3U) << ::testing::PrintToString(problems);
    EXPECT_NE(problems[0].find("CELERY_BROKER_URL (from environment): unknown scheme 'kafka'"), std::string::npos);
    EXPECT_NE(problems[1].find("amqp:// is not a result backend"), std::string::npos);
    EXPECT_NE(problems[2].find("CELERY_RESULT_EXPIRES (from environment): must be above 0"), std::string::npos);
    auto rpc_on_redis = Problems(From({{"CELERY_BROKER_URL", "redis://r"}, {"CELERY_RESULT_BACKEND", "rpc://"}}));
    ASSERT_EQ(rpc_on_redis.size(), 1U);
    EXPECT_NE(rpc_on_redis[0].find("rpc:// sends results back over the AMQP broker"), std::string::npos);
    auto bad_duration = Problems(From({{"CELERY_BROKER_VISIBILITY_TIMEOUT", "soon"}}));
    ASSERT_EQ(bad_duration.size(), 1U);  // reported once, by the type check
    EXPECT_FALSE(TasksSettingsFromSettings(s));
}

TEST(Transports, TheEmbeddedOnesAreBuiltInOthersNeedTheirAdapter) {
    testing::TempDir dir;
    auto s = *TasksSettingsFromSettings(From({}), dir.File("t.db"));
    auto broker = MakeBroker(s, {});
    ASSERT_TRUE(broker) << broker.error().ToString();
    EXPECT_EQ((*broker)->name(), "embedded");
    auto backend = MakeResultBackend(s, {}, **broker);
    ASSERT_TRUE(backend);
    ASSERT_NE(*backend, nullptr);

    auto redis = *TasksSettingsFromSettings(From({{"CELERY_BROKER_URL", "redis://r:6379/0"}}));
    auto missing = MakeBroker(redis, {});
    ASSERT_FALSE(missing);
    EXPECT_NE(missing.error().message().find("CELERY_BROKER_URL (from environment) names a redis:// broker, but this "
                                             "service does not include the Redis transport"),
              std::string::npos)
        << missing.error().message();
    auto none = MakeResultBackend(redis, {}, **broker);
    ASSERT_TRUE(none);
    EXPECT_EQ(*none, nullptr);  // disabled

    bool called = false;
    RegisterBrokerFactory("redis",
                          [&](const TransportUrl& url, const TransportOptions&) -> Result<std::unique_ptr<Broker>> {
                              called = true;
                              EXPECT_EQ(url.host, "r");
                              return MakeError(ErrorCode::kUnavailable, "test factory");
                          });
    auto via = MakeBroker(redis, {});
    EXPECT_TRUE(called);
    ASSERT_FALSE(via);
    EXPECT_EQ(via.error().message(), "test factory");
    RegisterBrokerFactory("redis", nullptr);
}

}  // namespace
}  // namespace gale::tasks
