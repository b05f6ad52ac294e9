// SPDX-License-Identifier: MIT
// amqps against the shared test broker's TLS listener (a CA and a certificate for 127.0.0.1 made for it).
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <gale/amqp/consumer.hpp>
#include <gale/amqp/publisher.hpp>
#include <gale/amqp/settings.hpp>
#include <gale/config/settings.hpp>

#include "test_broker.hpp"

namespace gale::amqp {
namespace {

using test::Eventually;
using test::Name;
using ::testing::HasSubstr;

ConnectionOptions OverTls(const testing::RabbitMqServer& broker, TlsOptions tls) {
    ConnectionOptions o = broker.connection_options();
    o.port = broker.tls_port();
    o.tls = std::move(tls);
    return o;
}

TEST(AmqpTls, PublishesAndConsumesOverTlsVerifyingTheBrokersCertificate) {
    GALE_SHARED_BROKER(broker);
    ASSERT_NE(broker->tls_port(), 0);
    ConnectionOptions o = OverTls(*broker, {.ca_file = broker->ca_file()});
    auto publisher = Publisher::Connect(o);
    ASSERT_TRUE(publisher) << publisher.error().ToString();
    QueueSpec queue{.name = Name("q")};
    ASSERT_TRUE((*publisher)->DeclareQueue(queue));
    ASSERT_TRUE((*publisher)->Publish("", queue.name, "over tls"));

    std::atomic<int> seen{0};
    std::string body;
    std::mutex mu;
    auto consumer = Consumer::Create(o, {{queue, [&](const Message& m) -> Result<void> {
                                              std::lock_guard lock(mu);
                                              body = m.body;
                                              ++seen;
                                              return {};
                                          }}});
    ASSERT_TRUE(consumer) << consumer.error().ToString();
    (*consumer)->Start();
    EXPECT_TRUE(Eventually([&] { return seen.load() == 1; })) << (*consumer)->last_error();
    EXPECT_TRUE((*consumer)->connected());
    (*consumer)->Stop();
    std::lock_guard lock(mu);
    EXPECT_EQ(body, "over tls");
}

TEST(AmqpTls, ACertificateNotSignedByTheGivenCaIsRefusedClearly) {
    GALE_SHARED_BROKER(broker);
    // The system's CAs do not know the test CA: the handshake must fail, naming TLS, never fall back to plain.
    auto refused = Publisher::Connect(OverTls(*broker, {}));
    ASSERT_FALSE(refused);
    EXPECT_THAT(refused.error().ToString(), HasSubstr("TLS")) << refused.error().ToString();
    // Verification off (documented as insecure) connects.
    auto unverified = Publisher::Connect(OverTls(*broker, {.verify_peer = false}));
    EXPECT_TRUE(unverified) << unverified.error().ToString();
}

TEST(AmqpTls, AmqpsUrlAndCaFileFromTheSettings) {
    GALE_SHARED_BROKER(broker);
    config::Settings s;
    s.Set("AMQP_URL", "amqps://gale:gale-test-Pw-7c2e@127.0.0.1:" + std::to_string(broker->tls_port()) + "/%2F",
          config::Layer::kEnvironment);
    s.Set("AMQP_TLS_CA_FILE", broker->ca_file(), config::Layer::kEnvironment);
    auto options = ConnectionOptionsFromSettings(s);
    ASSERT_TRUE(options) << options.error().ToString();
    ASSERT_TRUE(options->has_value());
    ASSERT_TRUE((*options)->tls.has_value());
    EXPECT_EQ((*options)->tls->ca_file, broker->ca_file());
    auto publisher = Publisher::Connect(**options);
    EXPECT_TRUE(publisher) << publisher.error().ToString();
}

}  // namespace
}  // namespace gale::amqp
