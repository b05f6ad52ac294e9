// SPDX-License-Identifier: MIT
/// @file gale/metrics/registry.hpp
/// @brief Registry: owns the metrics of a process and renders them in Prometheus or OpenMetrics text format.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <gale/base/error.hpp>
#include <gale/metrics/counter.hpp>
#include <gale/metrics/exposition.hpp>
#include <gale/metrics/family.hpp>
#include <gale/metrics/gauge.hpp>
#include <gale/metrics/histogram.hpp>

namespace gale::metrics {

namespace detail {
struct RegistryEntry;
}  // namespace detail

/// The set of metrics a process exposes, and their text exposition.
///
/// Registration (Add*) validates and returns an error rather than aborting, so start-up code can report every
/// problem; an Add* that fails leaves the registry unchanged. Errors:
/// - kInvalidArgument: a metric name not matching `[a-zA-Z_:][a-zA-Z0-9_:]*`, or starting with `__`; a label name
///   not matching `[a-zA-Z_][a-zA-Z0-9_]*` (Prometheus allows no colon in label names), starting with `__`, or
///   repeated; `le` as a histogram label; bucket bounds that are not strictly increasing or are NaN / -Inf; help
///   text that is not valid UTF-8.
/// - kAlreadyExists: a name already registered, or one whose samples would collide with another metric's: a
///   counter `x` writes `x_total` (and reserves `x_created`), a histogram `x` writes `x_bucket`, `x_sum`, `x_count`,
///   an info `x` writes `x_info`; so a gauge `x_total` next to a counter `x` is rejected.
///
/// Output is ordered by metric name, then by label values. A family without labels renders one sample from the
/// start (value 0); a labelled family renders only its HELP/TYPE lines until WithLabels() creates a child.
///
/// Thread-safety: all members may be called concurrently; registration and scrapes take a mutex, metric updates
/// never do. Render() calls the callbacks of callback metrics on the calling thread, without holding the
/// registry's mutex (they may register metrics), and concurrently if Render() is called concurrently.
/// Lifetime: neither copyable nor movable. Every Family and metric it hands out lives as long as the registry.
class Registry {
public:
    Registry();
    ~Registry();
    Registry(const Registry&) = delete;
    Registry& operator=(const Registry&) = delete;

    /// Registers a counter family. `name` may be given with or without the `_total` suffix: "http_requests" and
    /// "http_requests_total" both expose samples named `http_requests_total`. The pointer is never null.
    [[nodiscard]] Result<Family<Counter>*> AddCounter(std::string_view name, std::string_view help,
                                                      std::vector<std::string> label_names = {});

    /// Registers a gauge family.
    [[nodiscard]] Result<Family<Gauge>*> AddGauge(std::string_view name, std::string_view help,
                                                  std::vector<std::string> label_names = {});

    /// Registers a histogram family whose children share `upper_bounds` (strictly increasing; a trailing +Inf is
    /// allowed and implied anyway; empty means only +Inf).
    [[nodiscard]] Result<Family<Histogram>*> AddHistogram(std::string_view name, std::string_view help,
                                                          std::vector<std::string> label_names,
                                                          std::vector<double> upper_bounds);

    /// Registers a gauge without labels whose value `callback` computes on each scrape (a queue length, a pool
    /// size). The callback must be thread-safe and fast, and must not call Render(). If it throws, the sample is
    /// left out of that scrape.
    [[nodiscard]] Result<void> AddCallbackGauge(std::string_view name, std::string_view help,
                                                std::function<double()> callback);

    /// As AddCallbackGauge, for a counter kept elsewhere (CPU time, kernel statistics). The callback must return
    /// a non-decreasing value; a NaN result is left out of the scrape.
    [[nodiscard]] Result<void> AddCallbackCounter(std::string_view name, std::string_view help,
                                                  std::function<double()> callback);

    /// Registers an info metric: constant labels with the value 1, e.g.
    /// `AddInfo("gale_build", "Build information.", {{"version", "0.1.0"}, {"commit", "abc123"}})` exposes
    /// `gale_build_info{version="0.1.0",commit="abc123"} 1`. `name` may be given with or without the `_info`
    /// suffix. Prometheus format declares it a gauge; OpenMetrics an info. Labels keep the order given.
    [[nodiscard]] Result<void> AddInfo(std::string_view name, std::string_view help,
                                       std::vector<std::pair<std::string, std::string>> labels);

    /// The exposition of every registered metric in `format`, ending with `# EOF` for OpenMetrics.
    [[nodiscard]] std::string Render(Format format = Format::kPrometheus) const;

private:
    [[nodiscard]] Result<void> Insert(std::unique_ptr<detail::RegistryEntry> entry);

    mutable std::mutex mu_;
    std::map<std::string, std::unique_ptr<detail::RegistryEntry>, std::less<>> entries_;  // by metric name
    std::set<std::string, std::less<>> sample_names_;  // every name the entries write or reserve
};

}  // namespace gale::metrics
