// SPDX-License-Identifier: MIT
/// @file gale/pipe/consumer_metrics.hpp
/// @brief Prometheus metrics of log-pipe consumers, brought up to date from each consumer's cumulative Stats().
///
/// | metric                                              | kind    | labels                           |
/// |-----------------------------------------------------|---------|----------------------------------|
/// | gale_pipe_messages_total                            | counter | topic, type, version, outcome    |
/// | gale_pipe_consumer_lag (records, where known)       | gauge   | topic                            |
/// | gale_pipe_consumer_lag_seconds (Kinesis)            | gauge   | topic                            |
/// | gale_pipe_backend_errors_total                      | counter | topic                            |
///
/// Counters grow by the delta since the last Update, so they only ever grow. Ownership: the registry must outlive
/// this. Thread-safety: Update from one thread at a time (the consume loop); scraping is safe meanwhile.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <tuple>

#include <gale/metrics/registry.hpp>
#include <gale/pipe/backend.hpp>
#include <gale/pipe/consumer.hpp>

namespace gale::pipe {

class ConsumerMetrics {
public:
    /// Registers the metric families (a family already registered under the same name is an error that leaves
    /// that metric out).
    explicit ConsumerMetrics(metrics::Registry& registry);
    /// Reads `consumer`'s Stats() and `backend`'s lag into the metrics.
    void Update(Consumer& consumer, ConsumerBackend& backend);

private:
    metrics::Family<metrics::Counter>* messages_ = nullptr;
    metrics::Family<metrics::Gauge>* lag_ = nullptr;
    metrics::Family<metrics::Gauge>* lag_seconds_ = nullptr;
    metrics::Family<metrics::Counter>* errors_ = nullptr;
    std::map<std::tuple<std::string, std::string, std::string, Outcome>, std::uint64_t> seen_;
    std::map<std::string, std::uint64_t> seen_errors_;
};

}  // namespace gale::pipe
