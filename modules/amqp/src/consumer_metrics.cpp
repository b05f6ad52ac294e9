// SPDX-License-Identifier: MIT
#include <gale/amqp/consumer_metrics.hpp>

namespace gale::amqp {

ConsumerMetrics::ConsumerMetrics(metrics::Registry& registry) {
    if (auto f =
            registry.AddCounter("gale_amqp_messages", "AMQP deliveries by outcome (retried: failed calls retried).",
                                {"consumer", "queue", "outcome"})) {
        messages_ = *f;
    }
    if (auto f = registry.AddHistogram("gale_amqp_handler_duration_seconds", "AMQP handler call duration.",
                                       {"consumer", "queue"}, metrics::DefaultBuckets())) {
        duration_ = *f;
    }
    if (auto f = registry.AddCounter("gale_amqp_reconnects", "AMQP connections re-established after a loss.",
                                     {"consumer"})) {
        reconnects_ = *f;
    }
    if (auto f =
            registry.AddGauge("gale_amqp_connected", "1 while the AMQP consumer is consuming, else 0.", {"consumer"})) {
        connected_ = *f;
    }
}

ConsumerMetrics::QueueHandles ConsumerMetrics::ForQueue(std::string_view consumer, std::string_view queue) {
    QueueHandles h;
    if (messages_ != nullptr) {
        for (int o = 0; o < 4; ++o) {
            h.outcomes[static_cast<std::size_t>(o)] =
                &messages_->WithLabels({consumer, queue, ToString(static_cast<Outcome>(o))});
        }
    }
    if (duration_ != nullptr) h.handler_duration = &duration_->WithLabels({consumer, queue});
    return h;
}

ConsumerMetrics::ConnectionHandles ConsumerMetrics::ForConnection(std::string_view consumer) {
    ConnectionHandles h;
    if (reconnects_ != nullptr) h.reconnects = &reconnects_->WithLabels({consumer});
    if (connected_ != nullptr) {
        h.connected = &connected_->WithLabels({consumer});
        h.connected->Set(0);
    }
    return h;
}

}  // namespace gale::amqp
