// SPDX-License-Identifier: MIT
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <limits>
#include <stdexcept>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <gale/metrics/process_collector.hpp>
#include <gale/metrics/registry.hpp>

#include "promtool_test_support.hpp"

namespace gale::metrics {
namespace {

using testing::FillFullRegistry;
using testing::FillSmallRegistry;
using ::testing::HasSubstr;

constexpr int kThreads = 8;
constexpr int kIterations = 100'000;

template <typename F>
void RunOnThreads(int threads, F&& body) {
    std::vector<std::thread> pool;
    pool.reserve(static_cast<std::size_t>(threads));
    for (int t = 0; t < threads; ++t) pool.emplace_back([&body, t] { body(t); });
    for (auto& thread : pool) thread.join();
}

TEST(Shard, ThreadsGetDistinctStableSlots) {
    std::size_t first = 0;
    std::size_t second = 0;
    std::thread([&] {
        first = detail::ShardIndex();
        EXPECT_EQ(detail::ShardIndex(), first);
    }).join();
    std::thread([&] { second = detail::ShardIndex(); }).join();
    EXPECT_LT(first, detail::kShardCount);
    EXPECT_LT(second, detail::kShardCount);
    EXPECT_NE(first, second);  // round-robin: consecutive threads never share a slot
}

TEST(Counter, ShardedIncrementsFromManyThreadsSumExactly) {
    Counter counter;
    RunOnThreads(kThreads, [&](int) {
        for (int i = 0; i < kIterations; ++i) {
            counter.Inc();
            counter.Inc(0.25);
        }
    });
    EXPECT_EQ(counter.Value(), kThreads * kIterations * 1.25);
}

TEST(Counter, RejectsNegativeIncrements) {
    GTEST_FLAG_SET(death_test_style, "threadsafe");
    Counter counter;
    counter.Inc(2);
    // Debug builds abort on the bug; release builds ignore it so the counter never goes down.
    EXPECT_DEBUG_DEATH(counter.Inc(-1), "amount >= 0");
    EXPECT_EQ(counter.Value(), 2);
}

TEST(Gauge, SetAndConcurrentAdds) {
    Gauge gauge;
    gauge.Set(10);
    RunOnThreads(kThreads, [&](int t) {
        for (int i = 0; i < kIterations / 10; ++i) gauge.Add(t % 2 == 0 ? 1.0 : -1.0);
    });
    EXPECT_EQ(gauge.Value(), 10);
    gauge.Add(-12.5);
    EXPECT_EQ(gauge.Value(), -2.5);
}

TEST(Family, ReturnsStableChildrenPerLabelValues) {
    Registry registry;
    Family<Counter>* family = registry.AddCounter("requests", "Requests.", {"method", "code"}).value();
    Counter& get_ok = family->WithLabels({"GET", "200"});
    EXPECT_EQ(&family->WithLabels({"GET", "200"}), &get_ok);
    EXPECT_NE(&family->WithLabels({"GET", "404"}), &get_ok);
    for (int i = 0; i < 1000; ++i) family->WithLabels({"POST", std::to_string(i)}).Inc();
    EXPECT_EQ(&family->WithLabels({"GET", "200"}), &get_ok);  // growth never moves a child
    std::vector<std::string_view> runtime_values = {"GET", "200"};
    EXPECT_EQ(&family->WithLabels(std::span<const std::string_view>(runtime_values)), &get_ok);
    EXPECT_EQ(family->Children().size(), 1002U);
    EXPECT_EQ(family->Name(), "requests");
}

TEST(Family, ConcurrentLookupsCreateOneChildPerLabelSet) {
    Registry registry;
    Family<Counter>* family = registry.AddCounter("hits", "Hits.", {"shard"}).value();
    RunOnThreads(kThreads, [&](int) {
        for (int i = 0; i < kIterations / 10; ++i) family->WithLabels({std::to_string(i % 4)}).Inc();
    });
    ASSERT_EQ(family->Children().size(), 4U);
    for (const auto& child : family->Children()) EXPECT_EQ(child.metric->Value(), kThreads * kIterations / 40);
}

TEST(Family, WrongNumberOfLabelValuesIsABug) {
    GTEST_FLAG_SET(death_test_style, "threadsafe");
    Registry registry;
    Family<Gauge>* family = registry.AddGauge("g", "G.", {"a", "b"}).value();
    EXPECT_DEATH(family->WithLabels({"only-one"}), "check failed");
}

TEST(Family, IllFormedUtf8IsReplacedBeforeLookup) {
    Registry registry;
    Family<Counter>* family = registry.AddCounter("paths", "Paths.", {"path"}).value();
    Counter& replaced = family->WithLabels({"/a\xff"});
    EXPECT_EQ(&family->WithLabels({"/a\xEF\xBF\xBD"}), &replaced);
    EXPECT_THAT(registry.Render(), HasSubstr("paths_total{path=\"/a\xEF\xBF\xBD\"} 0\n"));
}

TEST(Registry, ValidatesNames) {
    Registry registry;
    for (const char* bad : {"", "1abc", "a-b", "a b", "__reserved", "é"}) {
        auto result = registry.AddGauge(bad, "h.");
        ASSERT_FALSE(result) << bad;
        EXPECT_EQ(result.error().code(), ErrorCode::kInvalidArgument);
    }
    EXPECT_TRUE(registry.AddGauge("ok:colon_name1", "h."));
    EXPECT_TRUE(registry.AddGauge("_leading_underscore", "h."));
    for (const char* bad : {"a:b", "1a", "__x", "", "a-b"}) {
        EXPECT_FALSE(registry.AddCounter("c", "h.", {bad})) << bad;
    }
    EXPECT_FALSE(registry.AddCounter("c", "h.", {"a", "a"}));
    EXPECT_FALSE(registry.AddHistogram("h", "h.", {"le"}, {1}));
    EXPECT_TRUE(registry.AddCounter("c", "h.", {"le"}));  // only histograms reserve le
    EXPECT_FALSE(registry.AddGauge("g", "bad \xff help"));
    EXPECT_FALSE(registry.AddInfo("i", "h.", {{"bad-name", "x"}}));
}

TEST(Registry, RejectsDuplicatesAndSampleNameCollisions) {
    Registry registry;
    ASSERT_TRUE(registry.AddCounter("jobs_total", "Jobs."));
    auto again = registry.AddCounter("jobs", "Jobs.");  // same family, other spelling
    ASSERT_FALSE(again);
    EXPECT_EQ(again.error().code(), ErrorCode::kAlreadyExists);
    EXPECT_FALSE(registry.AddGauge("jobs", "h."));
    EXPECT_FALSE(registry.AddGauge("jobs_total", "h."));
    EXPECT_FALSE(registry.AddGauge("jobs_created", "h."));
    ASSERT_TRUE(registry.AddHistogram("latency", "h.", {}, {1}));
    EXPECT_FALSE(registry.AddGauge("latency_count", "h."));
    EXPECT_FALSE(registry.AddCallbackGauge("latency_bucket", "h.", [] { return 1.0; }));
    ASSERT_TRUE(registry.AddGauge("size_sum", "h."));
    EXPECT_FALSE(registry.AddHistogram("size", "h.", {}, {1}));
    ASSERT_TRUE(registry.AddInfo("build_info", "h.", {}));
    EXPECT_FALSE(registry.AddInfo("build", "h.", {}));
    // A failed registration leaves nothing behind.
    EXPECT_EQ(registry.Render().find("size_bucket"), std::string::npos);
}

TEST(Registry, ValidatesBuckets) {
    Registry registry;
    const double inf = std::numeric_limits<double>::infinity();
    const double nan = std::numeric_limits<double>::quiet_NaN();
    EXPECT_FALSE(registry.AddHistogram("a", "h.", {}, {1, 1}));
    EXPECT_FALSE(registry.AddHistogram("b", "h.", {}, {2, 1}));
    EXPECT_FALSE(registry.AddHistogram("c", "h.", {}, {1, nan}));
    EXPECT_FALSE(registry.AddHistogram("d", "h.", {}, {-inf, 1}));
    EXPECT_FALSE(registry.AddHistogram("e", "h.", {}, {1, inf, 2}));
    auto with_inf = registry.AddHistogram("f", "h.", {}, {1, inf});
    ASSERT_TRUE(with_inf);
    EXPECT_EQ((*with_inf)->WithLabels({}).UpperBounds().size(), 1U);
    EXPECT_TRUE(registry.AddHistogram("g", "h.", {}, {}));
}

TEST(Registry, EscapesLabelValuesAndHelp) {
    Registry registry;
    Family<Counter>* family =
        registry.AddCounter("escapes", "Back\\slash, \"quotes\" and\nnewline.", {"value"}).value();
    family->WithLabels({"a\\b"}).Inc();
    family->WithLabels({"say \"hi\""}).Inc();
    family->WithLabels({"two\nlines"}).Inc();
    const std::string prometheus = registry.Render(Format::kPrometheus);
    EXPECT_THAT(prometheus, HasSubstr("# HELP escapes_total Back\\\\slash, \"quotes\" and\\nnewline.\n"));
    EXPECT_THAT(prometheus, HasSubstr("escapes_total{value=\"a\\\\b\"} 1\n"));
    EXPECT_THAT(prometheus, HasSubstr("escapes_total{value=\"say \\\"hi\\\"\"} 1\n"));
    EXPECT_THAT(prometheus, HasSubstr("escapes_total{value=\"two\\nlines\"} 1\n"));
    const std::string openmetrics = registry.Render(Format::kOpenMetrics);
    EXPECT_THAT(openmetrics, HasSubstr("# HELP escapes Back\\\\slash, \\\"quotes\\\" and\\nnewline.\n"));
    EXPECT_THAT(openmetrics, HasSubstr("escapes_total{value=\"say \\\"hi\\\"\"} 1\n"));
}

TEST(Registry, RendersPrometheusTextExactly) {
    Registry registry;
    FillSmallRegistry(registry);
    EXPECT_EQ(registry.Render(Format::kPrometheus),
              "# HELP gale_build_info Build information.\n"
              "# TYPE gale_build_info gauge\n"
              "gale_build_info{version=\"1.2.3\",compiler=\"g++\"} 1\n"
              "# HELP http_in_flight_requests Requests being served.\n"
              "# TYPE http_in_flight_requests gauge\n"
              "http_in_flight_requests 2.5\n"
              "# HELP http_request_duration_seconds Latency.\n"
              "# TYPE http_request_duration_seconds histogram\n"
              "http_request_duration_seconds_bucket{route=\"/a\",le=\"0.1\"} 1\n"
              "http_request_duration_seconds_bucket{route=\"/a\",le=\"1.0\"} 2\n"
              "http_request_duration_seconds_bucket{route=\"/a\",le=\"+Inf\"} 3\n"
              "http_request_duration_seconds_sum{route=\"/a\"} 3.5625\n"
              "http_request_duration_seconds_count{route=\"/a\"} 3\n"
              "# HELP http_requests_total Requests served.\n"
              "# TYPE http_requests_total counter\n"
              "http_requests_total{method=\"GET\",code=\"200\"} 3\n"
              "http_requests_total{method=\"POST\",code=\"500\"} 1\n"
              "# HELP queue_length Queued requests.\n"
              "# TYPE queue_length gauge\n"
              "queue_length 7\n");
}

TEST(Registry, RendersOpenMetricsTextExactly) {
    Registry registry;
    FillSmallRegistry(registry);
    EXPECT_EQ(registry.Render(Format::kOpenMetrics),
              "# TYPE gale_build info\n"
              "# HELP gale_build Build information.\n"
              "gale_build_info{version=\"1.2.3\",compiler=\"g++\"} 1\n"
              "# TYPE http_in_flight_requests gauge\n"
              "# HELP http_in_flight_requests Requests being served.\n"
              "http_in_flight_requests 2.5\n"
              "# TYPE http_request_duration_seconds histogram\n"
              "# HELP http_request_duration_seconds Latency.\n"
              "http_request_duration_seconds_bucket{route=\"/a\",le=\"0.1\"} 1\n"
              "http_request_duration_seconds_bucket{route=\"/a\",le=\"1.0\"} 2\n"
              "http_request_duration_seconds_bucket{route=\"/a\",le=\"+Inf\"} 3\n"
              "http_request_duration_seconds_sum{route=\"/a\"} 3.5625\n"
              "http_request_duration_seconds_count{route=\"/a\"} 3\n"
              "# TYPE http_requests counter\n"
              "# HELP http_requests Requests served.\n"
              "http_requests_total{method=\"GET\",code=\"200\"} 3\n"
              "http_requests_total{method=\"POST\",code=\"500\"} 1\n"
              "# TYPE queue_length gauge\n"
              "# HELP queue_length Queued requests.\n"
              "queue_length 7\n"
              "# EOF\n");
}

TEST(Registry, EmptyRegistryAndUnlabelledDefaults) {
    Registry registry;
    EXPECT_EQ(registry.Render(Format::kPrometheus), "");
    EXPECT_EQ(registry.Render(Format::kOpenMetrics), "# EOF\n");
    ASSERT_TRUE(registry.AddCounter("started", ""));  // no HELP line for empty help
    ASSERT_TRUE(registry.AddGauge("labelled", "L.", {"a"}));
    EXPECT_EQ(registry.Render(Format::kPrometheus),
              "# HELP labelled L.\n"
              "# TYPE labelled gauge\n"
              "# TYPE started_total counter\n"
              "started_total 0\n");
}

TEST(Registry, OpenMetricsOmitsSumForNegativeBuckets) {
    Registry registry;
    registry.AddHistogram("temperature_celsius", "T.", {}, {-10, 0, 10}).value()->WithLabels({}).Observe(-20);
    EXPECT_THAT(registry.Render(Format::kPrometheus), HasSubstr("temperature_celsius_sum -20\n"));
    const std::string openmetrics = registry.Render(Format::kOpenMetrics);
    EXPECT_EQ(openmetrics.find("_sum"), std::string::npos);
    EXPECT_THAT(openmetrics, HasSubstr("temperature_celsius_bucket{le=\"-10.0\"} 1\n"));
    EXPECT_THAT(openmetrics, HasSubstr("temperature_celsius_count 1\n"));
}

TEST(Registry, CallbacksRunOnEveryScrape) {
    Registry registry;
    double queue = 1;
    ASSERT_TRUE(registry.AddCallbackGauge("queue", "Q.", [&queue] { return queue; }));
    ASSERT_TRUE(registry.AddCallbackCounter("ticks_total", "T.", [] { return std::nan(""); }));
    ASSERT_TRUE(registry.AddCallbackGauge("broken", "B.", []() -> double { throw std::runtime_error("no"); }));
    EXPECT_THAT(registry.Render(), HasSubstr("\nqueue 1\n"));
    queue = 42;
    const std::string text = registry.Render();
    EXPECT_THAT(text, HasSubstr("\nqueue 42\n"));
    EXPECT_THAT(text, HasSubstr("# TYPE ticks_total counter\n"));
    EXPECT_EQ(text.find("ticks_total NaN"), std::string::npos);         // a NaN total is left out
    EXPECT_THAT(text, HasSubstr("# TYPE broken gauge\n# HELP queue"));  // a throwing callback leaves no sample
}

TEST(Registry, CallbackMayRegisterDuringRender) {
    Registry registry;
    ASSERT_TRUE(registry.AddCallbackGauge("lazy", "L.", [&registry] {
        (void)registry.AddGauge("registered_from_callback", "R.");
        return 1.0;
    }));
    (void)registry.Render();  // would deadlock if Render held the registry mutex while calling back
    EXPECT_THAT(registry.Render(), HasSubstr("registered_from_callback 0\n"));
}

TEST(Registry, ScrapesWhileThreadsUpdateAndCreateChildren) {
    Registry registry;
    Family<Counter>* counter = registry.AddCounter("ops", "Ops.", {"worker"}).value();
    Family<Histogram>* latency = registry.AddHistogram("op_seconds", "Latency.", {"worker"}, DefaultBuckets()).value();
    RunOnThreads(4, [&](int t) {
        if (t == 0) {
            for (int i = 0; i < 50; ++i) EXPECT_THAT(registry.Render(Format::kOpenMetrics), HasSubstr("# EOF\n"));
            return;
        }
        for (int i = 0; i < kIterations / 10; ++i) {
            const std::string worker = std::to_string((t * 7 + i) % 16);
            counter->WithLabels({worker}).Inc();
            latency->WithLabels({worker}).Observe(0.01 * (i % 100));
        }
    });
    double total = 0;
    for (const auto& child : counter->Children()) total += child.metric->Value();
    EXPECT_EQ(total, 3 * kIterations / 10);
}

// Prometheus' own text parser and linter (`promtool check metrics`, which exits non-zero on lint problems too).
TEST(Registry, PromtoolChecksThePrometheusExposition) {
    Registry registry;
    FillFullRegistry(registry);
    const std::string text = registry.Render(Format::kPrometheus);
    const auto [status, output] = testing::PromtoolCheck(text);
    ASSERT_NE(status, 127) << testing::kNoPromtool << output;
    EXPECT_EQ(status, 0) << output << "\n--- exposition ---\n" << text;
}

TEST(Registry, PromtoolParsesTheOpenMetricsExposition) {
    Registry registry;
    FillFullRegistry(registry);
    const std::string text = registry.Render(Format::kOpenMetrics);
    const auto [status, output] = testing::PromtoolParseOpenMetrics(text);
    ASSERT_NE(status, 127) << testing::kNoPromtool << output;
    EXPECT_EQ(status, 0) << output << "\n--- exposition ---\n" << text;
}

}  // namespace
}  // namespace gale::metrics
