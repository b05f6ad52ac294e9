// SPDX-License-Identifier: MIT
/// @file promtool_test_support.hpp (tests only)
/// @brief Registries with every kind of metric, and Prometheus' own parsers (promtool) to check an exposition.
#pragma once

#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <limits>
#include <string>
#include <string_view>
#include <utility>

#include <gtest/gtest.h>

#include <gale/metrics/process_collector.hpp>
#include <gale/metrics/registry.hpp>

namespace gale::metrics::testing {

// A registry with one metric of each kind, for the exact-text tests.
inline void FillSmallRegistry(Registry& registry) {
    Family<Counter>* requests =
        registry.AddCounter("http_requests_total", "Requests served.", {"method", "code"}).value();
    requests->WithLabels({"GET", "200"}).Inc(3);
    requests->WithLabels({"POST", "500"}).Inc();
    registry.AddGauge("http_in_flight_requests", "Requests being served.").value()->WithLabels({}).Set(2.5);
    Family<Histogram>* latency =
        registry.AddHistogram("http_request_duration_seconds", "Latency.", {"route"}, {0.1, 1}).value();
    Histogram& route = latency->WithLabels({"/a"});
    route.Observe(0.0625);
    route.Observe(0.5);
    route.Observe(3);
    ASSERT_TRUE(registry.AddCallbackGauge("queue_length", "Queued requests.", [] { return 7.0; }));
    ASSERT_TRUE(registry.AddInfo("gale_build", "Build information.", {{"version", "1.2.3"}, {"compiler", "g++"}}));
}

// promtool comes from the Debian package `prometheus` (or GALE_PROMTOOL). Without it the tests below fail rather
// than skip, so CI cannot silently stop checking.
inline std::string Promtool() {
    const char* env = std::getenv("GALE_PROMTOOL");
    return env != nullptr ? env : "promtool";
}

// Runs `command` through sh; returns its exit status (-1 if it did not exit) and combined output.
inline std::pair<int, std::string> RunShell(const std::string& command) {
    FILE* pipe = ::popen((command + " 2>&1").c_str(), "r");
    if (pipe == nullptr) return {-1, "popen failed"};
    std::string output;
    char buf[512];
    while (std::fgets(buf, sizeof(buf), pipe) != nullptr) output += buf;
    const int status = ::pclose(pipe);
    return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, output};
}

inline std::string WriteTempFile(std::string_view name, const std::string& content) {
    std::string path = ::testing::TempDir() + "gale_metrics_" + std::to_string(::getpid()) + "_" + std::string(name);
    std::ofstream(path, std::ios::binary) << content;
    return path;
}

// Every kind of metric, and the awkward cases: escapes, labelled families without children, histograms with
// only +Inf, NaN and infinities, the process collector.
inline void FillFullRegistry(Registry& registry) {
    FillSmallRegistry(registry);
    Family<Counter>* escapes = registry.AddCounter("escaped_total", "Escapes \\ \"and\"\nnewlines.", {"value"}).value();
    escapes->WithLabels({"a\\b \"c\"\nd"}).Inc();
    ASSERT_TRUE(registry.AddGauge("unused_labelled", "Labelled, never used.", {"kind"}));
    Family<Gauge>* special = registry.AddGauge("special_values", "Special values.", {"which"}).value();
    special->WithLabels({"nan"}).Set(std::numeric_limits<double>::quiet_NaN());
    special->WithLabels({"minus_inf"}).Set(-std::numeric_limits<double>::infinity());
    ASSERT_TRUE(registry.AddHistogram("only_inf_seconds", "Histogram with only +Inf.", {}, {}));
    registry.AddHistogram("response_size_bytes", "Sizes.", {"route"}, ExponentialBuckets(100, 10, 6))
        .value()
        ->WithLabels({"/"})
        .Observe(12345);
    ASSERT_TRUE(registry.AddCallbackCounter("callback_events_total", "Events.", [] { return 5.0; }));
    AddProcessCollector(registry);
}

/// `promtool check metrics` on a Prometheus text exposition: {exit status, output}. 127: promtool is missing.
inline std::pair<int, std::string> PromtoolCheck(const std::string& text) {
    const std::string path = WriteTempFile("check.prom", text);
    auto result = RunShell(Promtool() + " check metrics < '" + path + "'");
    std::remove(path.c_str());
    return result;
}

/// Prometheus' OpenMetrics parser, reached through `promtool tsdb create-blocks-from openmetrics`: {exit status,
/// output}. Backfilling needs a timestamp on every sample, so one is appended; everything else is parsed as given.
inline std::pair<int, std::string> PromtoolParseOpenMetrics(const std::string& text) {
    std::string stamped;
    std::size_t begin = 0;
    while (begin < text.size()) {
        std::size_t end = text.find('\n', begin);
        if (end == std::string::npos) return {1, "exposition must end with a line feed"};
        stamped.append(text, begin, end - begin);
        if (text[begin] != '#') stamped += " 1700000000";
        stamped += '\n';
        begin = end + 1;
    }
    const std::string path = WriteTempFile("check.om", stamped);
    const std::string blocks = path + ".blocks";
    auto result = RunShell(Promtool() + " tsdb create-blocks-from openmetrics '" + path + "' '" + blocks + "'");
    std::remove(path.c_str());
    std::filesystem::remove_all(blocks);
    return result;
}

inline constexpr const char* kNoPromtool =
    "promtool not found (install the Debian package 'prometheus', or set GALE_PROMTOOL): ";

}  // namespace gale::metrics::testing
