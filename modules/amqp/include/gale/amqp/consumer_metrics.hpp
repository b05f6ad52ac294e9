// SPDX-License-Identifier: MIT
/// @file gale/amqp/consumer_metrics.hpp
/// @brief Prometheus metrics of AMQP consumers; a Consumer updates them as it goes (ConsumerOptions::metrics).
///
/// | metric                                   | kind      | labels                  |
/// |------------------------------------------|-----------|-------------------------|
/// | gale_amqp_messages_total                 | counter   | consumer, queue, outcome (acked, retried, dead_lettered,
/// failed) | | gale_amqp_handler_duration_seconds       | histogram | consumer, queue         | |
/// gale_amqp_reconnects_total               | counter   | consumer                | | gale_amqp_connected | gauge     |
/// consumer (1 while consuming, else 0) |
///
/// `retried` counts failed handler calls that were retried; a delivery ends as exactly one of acked, dead_lettered
/// and failed. `reconnects` counts connections that reached consuming after the first one.
///
/// Ownership: the registry must outlive this, and this every Consumer given it. Thread-safety: every member may be
/// called from any thread; the handles it returns are lock-free to update.
#pragma once

#include <array>
#include <string_view>

#include <gale/amqp/consumer.hpp>
#include <gale/metrics/registry.hpp>

namespace gale::amqp {

class ConsumerMetrics {
public:
    /// The children of one queue (null where a family could not be registered).
    struct QueueHandles {
        std::array<metrics::Counter*, 4> outcomes{};  ///< indexed by Outcome
        metrics::Histogram* handler_duration = nullptr;
    };
    /// The children of one consumer's connection.
    struct ConnectionHandles {
        metrics::Counter* reconnects = nullptr;
        metrics::Gauge* connected = nullptr;
    };

    /// Registers the families (one already registered under the same name is left out, as in pipe).
    explicit ConsumerMetrics(metrics::Registry& registry);

    [[nodiscard]] QueueHandles ForQueue(std::string_view consumer, std::string_view queue);
    [[nodiscard]] ConnectionHandles ForConnection(std::string_view consumer);

private:
    metrics::Family<metrics::Counter>* messages_ = nullptr;
    metrics::Family<metrics::Histogram>* duration_ = nullptr;
    metrics::Family<metrics::Counter>* reconnects_ = nullptr;
    metrics::Family<metrics::Gauge>* connected_ = nullptr;
};

}  // namespace gale::amqp
