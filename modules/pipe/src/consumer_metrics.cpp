// SPDX-License-Identifier: MIT
#include <chrono>

#include <gale/pipe/consumer_metrics.hpp>

namespace gale::pipe {

ConsumerMetrics::ConsumerMetrics(metrics::Registry& registry) {
    if (auto f = registry.AddCounter("gale_pipe_messages", "Log-pipe records by outcome.",
                                     {"topic", "type", "version", "outcome"})) {
        messages_ = *f;
    }
    if (auto f = registry.AddGauge("gale_pipe_consumer_lag", "Records not yet consumed (where the backend knows).",
                                   {"topic"})) {
        lag_ = *f;
    }
    if (auto f = registry.AddGauge("gale_pipe_consumer_lag_seconds",
                                   "How far behind the newest record the consumer is, where the backend reports "
                                   "a time (Kinesis MillisBehindLatest).",
                                   {"topic"})) {
        lag_seconds_ = *f;
    }
    if (auto f = registry.AddCounter("gale_pipe_backend_errors", "Consume rounds that failed.", {"topic"})) {
        errors_ = *f;
    }
}

void ConsumerMetrics::Update(Consumer& consumer, ConsumerBackend& backend) {
    ConsumerStats stats = consumer.Stats();
    for (const auto& c : stats.counters) {
        auto key = std::make_tuple(stats.topic, c.type, c.version, c.outcome);
        std::uint64_t& seen = seen_[key];
        if (messages_ != nullptr && c.count > seen) {
            messages_->WithLabels({stats.topic, c.type, c.version, ToString(c.outcome)})
                .Inc(static_cast<double>(c.count - seen));
        }
        seen = c.count;
    }
    std::uint64_t& seen_errors = seen_errors_[stats.topic];
    if (errors_ != nullptr && stats.backend_errors > seen_errors) {
        errors_->WithLabels({stats.topic}).Inc(static_cast<double>(stats.backend_errors - seen_errors));
    }
    seen_errors = stats.backend_errors;
    if (lag_ != nullptr) {
        if (auto lag = backend.Lag()) lag_->WithLabels({stats.topic}).Set(static_cast<double>(*lag));
    }
    if (lag_seconds_ != nullptr) {
        if (auto lag = backend.LagTime()) {
            lag_seconds_->WithLabels({stats.topic}).Set(std::chrono::duration<double>(*lag).count());
        }
    }
}

}  // namespace gale::pipe
