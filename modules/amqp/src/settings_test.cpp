// SPDX-License-Identifier: MIT
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <gale/amqp/settings.hpp>

namespace gale::amqp {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

config::Settings Env(std::initializer_list<std::pair<const char*, const char*>> vars) {
    config::Settings s;
    for (const auto& [k, v] : vars) s.Set(k, v, config::Layer::kEnvironment);
    return s;
}

std::string Problems(const config::Settings& s) {
    auto r = ConnectionOptionsFromSettings(s);
    return r ? std::string() : r.error().message();
}

TEST(AmqpUrl, FullForm) {
    auto o = ParseUrl("amqp://ada:s3cr%40t@broker.internal:5673/orders?heartbeat=15&connection_timeout=2500");
    ASSERT_TRUE(o) << o.error().message();
    EXPECT_EQ(o->host, "broker.internal");
    EXPECT_EQ(o->port, 5673);
    EXPECT_EQ(o->username, "ada");
    EXPECT_EQ(o->password, "s3cr@t");
    EXPECT_EQ(o->vhost, "orders");
    EXPECT_EQ(o->heartbeat, std::chrono::seconds(15));
    EXPECT_EQ(o->connect_timeout, std::chrono::milliseconds(2500));
    EXPECT_FALSE(o->tls);
}

TEST(AmqpUrl, DefaultsAndTheSlashVhost) {
    for (const char* url : {"amqp://localhost", "amqp://localhost/", "amqp://localhost/%2F", "amqp://localhost/%2f"}) {
        auto o = ParseUrl(url);
        ASSERT_TRUE(o) << url;
        EXPECT_EQ(o->vhost, "/") << url;
        EXPECT_EQ(o->port, 5672) << url;
        EXPECT_EQ(o->username, "guest") << url;
        EXPECT_EQ(o->password, "guest") << url;
    }
    auto v = ParseUrl("amqp://h/a%2Fb");
    ASSERT_TRUE(v);
    EXPECT_EQ(v->vhost, "a/b");
}

TEST(AmqpUrl, AmqpsIpv6UserOnlyAndTlsParameters) {
    auto o = ParseUrl("amqps://[::1]/vh?cacertfile=%2Fetc%2Fca.pem&verify=verify_none&name=worker-1");
    ASSERT_TRUE(o) << o.error().message();
    EXPECT_EQ(o->host, "::1");
    EXPECT_EQ(o->port, 5671);
    ASSERT_TRUE(o->tls);
    EXPECT_EQ(o->tls->ca_file, "/etc/ca.pem");
    EXPECT_FALSE(o->tls->verify_peer);
    EXPECT_EQ(o->connection_name, "worker-1");
    EXPECT_EQ(o->Describe(), "amqps://guest@[::1]:5671/vh");
    auto u = ParseUrl("amqp://bob@[fe80::1]:7000");
    ASSERT_TRUE(u);
    EXPECT_EQ(u->username, "bob");
    EXPECT_EQ(u->password, "");
    EXPECT_EQ(u->port, 7000);
}

TEST(AmqpUrl, PikaParametersAreAcceptedUnknownOnesAreNot) {
    EXPECT_TRUE(ParseUrl("amqp://h/?connection_attempts=3&retry_delay=5&socket_timeout=10"));
    auto bad = ParseUrl("amqp://h/?hearbeat=5");
    ASSERT_FALSE(bad);
    EXPECT_THAT(bad.error().message(), HasSubstr("unknown query parameter 'hearbeat'"));
}

TEST(AmqpUrl, Errors) {
    struct Case {
        const char* url;
        const char* says;
    };
    for (const Case& c :
         {Case{"http://h/", "amqp:// or amqps://"}, Case{"amqp://", "no host"},
          Case{"amqp://u:p%zz@h/", "the password has a bad percent-escape"}, Case{"amqp://h:0/", "port"},
          Case{"amqp://h:99999/", "port"}, Case{"amqp://h:/", "empty port"}, Case{"amqp://h/a/b", "unescaped '/'"},
          Case{"amqp://[::1/", "unclosed '['"}, Case{"amqp://h/?heartbeat=x", "heartbeat"},
          Case{"amqp://h/?verify=verify_none", "amqps"}}) {
        auto r = ParseUrl(c.url, "AMQP_URL (from environment)");
        ASSERT_FALSE(r) << c.url;
        EXPECT_THAT(r.error().message(), HasSubstr(c.says)) << c.url;
        EXPECT_THAT(r.error().message(), HasSubstr("AMQP_URL (from environment)")) << c.url;
    }
    auto secret = ParseUrl("amqp://u:hunter2%zz@h/");
    ASSERT_FALSE(secret);
    EXPECT_THAT(secret.error().message(), Not(HasSubstr("hunter2")));
}

TEST(AmqpSettings, NothingConfiguredIsNullopt) {
    auto r = ConnectionOptionsFromSettings(Env({{"PATH", "/bin"}}));
    ASSERT_TRUE(r);
    EXPECT_FALSE(r->has_value());
}

TEST(AmqpSettings, HurricaneVariables) {
    auto r = ConnectionOptionsFromSettings(Env({{"AMQP_HOST", "rabbit"},
                                                {"AMQP_PORT", "5673"},
                                                {"AMQP_VHOST", "jobs"},
                                                {"AMQP_USER", "svc"},
                                                {"AMQP_PASSWORD", "pw"}}));
    ASSERT_TRUE(r) << r.error().message();
    ASSERT_TRUE(r->has_value());
    const auto& o = **r;
    EXPECT_EQ(o.host, "rabbit");
    EXPECT_EQ(o.port, 5673);
    EXPECT_EQ(o.vhost, "jobs");
    EXPECT_EQ(o.username, "svc");
    EXPECT_EQ(o.password, "pw");
    EXPECT_EQ(o.source, "AMQP_HOST (from environment)");
    EXPECT_EQ(o.heartbeat, std::chrono::seconds(30));
}

TEST(AmqpSettings, BasePythonVariablesAndTuning) {
    auto r = ConnectionOptionsFromSettings(Env({{"RABBITMQ_HOST", "mq"},
                                                {"RABBITMQ_PORT", "5671"},
                                                {"RABBITMQ_USERNAME", "svc"},
                                                {"RABBITMQ_PASSWORD", "pw"},
                                                {"AMQP_TLS", "true"},
                                                {"AMQP_TLS_VERIFY", "false"},
                                                {"AMQP_HEARTBEAT", "10s"},
                                                {"AMQP_CONNECT_TIMEOUT", "1500ms"},
                                                {"AMQP_CONNECTION_NAME", "blog-consume"}}));
    ASSERT_TRUE(r) << r.error().message();
    const auto& o = **r;
    EXPECT_EQ(o.host, "mq");
    EXPECT_EQ(o.port, 5671);
    EXPECT_EQ(o.vhost, "/");
    ASSERT_TRUE(o.tls);
    EXPECT_FALSE(o.tls->verify_peer);
    EXPECT_EQ(o.heartbeat, std::chrono::seconds(10));
    EXPECT_EQ(o.connect_timeout, std::chrono::milliseconds(1500));
    EXPECT_EQ(o.connection_name, "blog-consume");
    EXPECT_EQ(o.source, "RABBITMQ_HOST (from environment)");
}

TEST(AmqpSettings, UrlWinsAndAgreeingFamiliesAreFine) {
    auto r = ConnectionOptionsFromSettings(Env({{"AMQP_URL", "amqp://svc:pw@mq:5672/%2F"},
                                                {"RABBITMQ_HOST", "mq"},
                                                {"RABBITMQ_USERNAME", "svc"},
                                                {"RABBITMQ_PASSWORD", "pw"}}));
    ASSERT_TRUE(r) << r.error().message();
    EXPECT_EQ((*r)->source, "AMQP_URL (from environment)");
    EXPECT_EQ((*r)->host, "mq");
}

TEST(AmqpSettings, DisagreeingFamiliesAreEachReportedWithoutSecrets) {
    auto p = Problems(Env({{"AMQP_URL", "amqp://svc:pw@mq/%2F"},
                           {"AMQP_HOST", "other"},
                           {"RABBITMQ_PORT", "5673"},
                           {"RABBITMQ_PASSWORD", "hunter2"}}));
    EXPECT_THAT(p, HasSubstr("AMQP_HOST (from environment) is 'other' but AMQP_URL (from environment) says 'mq'"));
    EXPECT_THAT(p, HasSubstr("RABBITMQ_PORT (from environment) is '5673'"));
    EXPECT_THAT(p, HasSubstr("RABBITMQ_PASSWORD (from environment) differs from the password of AMQP_URL"));
    EXPECT_THAT(p, Not(HasSubstr("hunter2")));
}

TEST(AmqpSettings, EveryProblemAtOnce) {
    auto p = Problems(Env({{"AMQP_HOST", "mq"},
                           {"AMQP_PORT", "x"},
                           {"AMQP_PASSWORD", "pw"},
                           {"AMQP_HEARTBEAT", "500ms"},
                           {"AMQP_CONNECT_TIMEOUT", "0s"},
                           {"AMQP_TLS_CA_FILE", "/nonexistent/ca.pem"}}));
    EXPECT_THAT(p, HasSubstr("AMQP_PORT (from environment): 'x' is not an integer"));
    EXPECT_THAT(p, HasSubstr("AMQP_PASSWORD (from environment) is set without AMQP_USER"));
    EXPECT_THAT(p, HasSubstr("AMQP_HEARTBEAT (from environment): '500ms' is not a whole number of seconds"));
    EXPECT_THAT(p, HasSubstr("AMQP_CONNECT_TIMEOUT (from environment): must be above 0"));
    EXPECT_THAT(p, HasSubstr("AMQP_TLS_CA_FILE (from environment) is set but TLS is off"));
}

TEST(AmqpSettings, VariablesWithoutABroker) {
    auto p = Problems(Env({{"AMQP_PORT", "5672"}, {"RABBITMQ_VHOST", "x"}}));
    EXPECT_THAT(p, HasSubstr("AMQP_PORT (from environment) is set but no broker is"));
    EXPECT_THAT(p, HasSubstr("RABBITMQ_VHOST (from environment) is set but no broker is"));
}

TEST(AmqpSettings, UnreadableCaFileAndTlsContradiction) {
    auto p =
        Problems(Env({{"AMQP_URL", "amqps://mq/"}, {"AMQP_TLS_CA_FILE", "/nonexistent/ca.pem"}, {"AMQP_TLS", "0"}}));
    EXPECT_THAT(p, HasSubstr("AMQP_TLS_CA_FILE (from environment): cannot read the TLS CA file '/nonexistent/ca.pem'"));
    EXPECT_THAT(p, HasSubstr("AMQP_TLS (from environment) contradicts the scheme"));
}

TEST(AmqpContract, GroupValidatesLikeTheReaderWithoutDuplicates) {
    config::Contract contract;
    ASSERT_TRUE(contract.AddGroup(ContractGroup()));
    auto problems = contract.Validate(Env({{"AMQP_HOST", "mq"}, {"AMQP_PORT", "x"}, {"RABBITMQ_HOST", "other"}}));
    ASSERT_EQ(problems.size(), 2u) << ::testing::PrintToString(problems);
    EXPECT_THAT(problems[0], HasSubstr("AMQP_PORT (from environment): 'x' is not an integer"));
    EXPECT_THAT(problems[1], HasSubstr("RABBITMQ_HOST (from environment) is 'other'"));
    // Enabled by each family's host; disabled otherwise, when nothing is set.
    EXPECT_TRUE(contract.Validate(Env({{"RABBITMQ_HOST", "mq"}})).empty());
    EXPECT_TRUE(contract.Validate(Env({{"AMQP_URL", "amqp://mq/"}})).empty());
    EXPECT_TRUE(contract.Validate(Env({})).empty());
    EXPECT_FALSE(contract.Validate(Env({{"AMQP_PORT", "5672"}})).empty());
    // Secrets.
    for (const char* k : {"AMQP_URL", "AMQP_PASSWORD", "RABBITMQ_PASSWORD"}) {
        const auto* v = contract.FindVariable(k);
        ASSERT_NE(v, nullptr) << k;
        EXPECT_TRUE(v->secret) << k;
    }
    auto url_problem = contract.Validate(Env({{"AMQP_URL", "amqp://u:hunter2@h/a/b"}}));
    ASSERT_EQ(url_problem.size(), 1u);
    EXPECT_THAT(url_problem[0], HasSubstr("AMQP_URL (from environment)"));
}

}  // namespace
}  // namespace gale::amqp
