// SPDX-License-Identifier: MIT
#include "http_metrics.hpp"

#include <string>

#include <gale/base/check.hpp>

namespace gale::app {

HttpMetrics::HttpMetrics(metrics::Registry& registry, std::size_t loops) : per_loop_(loops) {
    auto req = registry.AddCounter("gale_http_requests", "HTTP requests answered by the app server.",
                                   {"method", "route", "status"});
    auto dur = registry.AddHistogram(
        "gale_http_request_duration_seconds", "Time from a complete request head to the response being queued.",
        {"method", "route"}, {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10});
    auto size = registry.AddHistogram("gale_http_response_size_bytes", "Response body sizes.", {"route"},
                                      {100, 1000, 10'000, 100'000, 1'000'000, 10'000'000});
    GALE_CHECK(req && dur && size);
    requests_ = *req;
    duration_ = *dur;
    size_ = *size;
}

void HttpMetrics::Observe(const http::RequestRecord& rec) {
    const http::Request& r = rec.request;
    std::string_view route = r.route();
    Key key{route.empty() ? nullptr : route.data(), static_cast<int>(r.method()), rec.status};
    auto& cache = per_loop_[rec.loop_index];
    auto it = cache.find(key);
    if (it == cache.end()) {
        // Bounded label values: unknown methods are OTHER, unmatched paths share one route label.
        std::string method(http::ToString(r.method()));
        std::string route_label = route.empty() ? std::string("<unmatched>") : std::string(route);
        std::string status = std::to_string(rec.status);
        Cells cells{&requests_->WithLabels({method, route_label, status}),
                    &duration_->WithLabels({method, route_label}), &size_->WithLabels({route_label})};
        it = cache.emplace(key, cells).first;
    }
    it->second.requests->Inc();
    it->second.duration->Observe(std::chrono::duration<double>(rec.duration).count());
    it->second.size->Observe(static_cast<double>(rec.response_bytes));
}

}  // namespace gale::app
