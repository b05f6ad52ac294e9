// SPDX-License-Identifier: MIT
/// @file http_metrics.hpp (private)
/// @brief Per-request metrics for the app server, without contention on the hot path.
///
/// The server calls Observe on the event loop that handled the request. Each loop has its own cache from
/// (route, method, status) to the metric cells, so after the first request of a kind an observation is a hash
/// lookup and three relaxed atomic adds on shards no other thread writes.
#pragma once

#include <cstdint>
#include <string_view>
#include <unordered_map>
#include <vector>

#include <gale/http/server.hpp>
#include <gale/metrics/registry.hpp>

namespace gale::app {

class HttpMetrics {
public:
    HttpMetrics(metrics::Registry& registry, std::size_t loops);
    void Observe(const http::RequestRecord& record);

private:
    struct Cells {
        metrics::Counter* requests;
        metrics::Histogram* duration;
        metrics::Histogram* size;
    };
    struct Key {
        const void* route;
        int method;
        int status;
        bool operator==(const Key&) const = default;
    };
    struct KeyHash {
        std::size_t operator()(const Key& k) const noexcept {
            return std::hash<const void*>{}(k.route) ^ (static_cast<std::size_t>(k.method) << 20) ^
                   static_cast<std::size_t>(k.status) * 0x9e3779b97f4a7c15ULL;
        }
    };
    metrics::Family<metrics::Counter>* requests_ = nullptr;
    metrics::Family<metrics::Histogram>* duration_ = nullptr;
    metrics::Family<metrics::Histogram>* size_ = nullptr;
    std::vector<std::unordered_map<Key, Cells, KeyHash>> per_loop_;
};

}  // namespace gale::app
