// SPDX-License-Identifier: MIT
#include <sys/resource.h>
#include <unistd.h>

#include <chrono>
#include <cmath>
#include <cstdlib>
#include <optional>
#include <string>
#include <string_view>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <gale/metrics/process_collector.hpp>
#include <gale/metrics/registry.hpp>

namespace gale::metrics {
namespace {

using ::testing::HasSubstr;

// The value of the unlabelled sample `name` in a Prometheus-format exposition.
std::optional<double> SampleValue(const std::string& text, std::string_view name) {
    std::string prefix = "\n";  // appended piecewise: g++ 12 -O3 warns falsely (-Wrestrict) on "\n" + string
    prefix += name;
    prefix += ' ';
    const std::size_t pos = text.find(prefix);
    if (pos == std::string::npos) return std::nullopt;
    return std::strtod(text.c_str() + pos + prefix.size(), nullptr);
}

double Scrape(const Registry& registry, std::string_view name) {
    const std::optional<double> value = SampleValue(registry.Render(), name);
    EXPECT_TRUE(value.has_value()) << name;
    return value.value_or(std::nan(""));
}

double NowSeconds() {
    return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
}

TEST(ProcessCollector, ExposesTheStandardMetrics) {
    Registry registry;
    AddProcessCollector(registry);
    const std::string text = registry.Render();
    EXPECT_THAT(text, HasSubstr("# HELP process_cpu_seconds_total Total user and system CPU time spent in seconds.\n"
                                "# TYPE process_cpu_seconds_total counter\n"));
    for (const char* gauge : {"process_resident_memory_bytes", "process_virtual_memory_bytes",
                              "process_start_time_seconds", "process_open_fds", "process_max_fds"}) {
        EXPECT_THAT(text, HasSubstr("# TYPE " + std::string(gauge) + " gauge\n"));
    }
    EXPECT_THAT(registry.Render(Format::kOpenMetrics), HasSubstr("# TYPE process_cpu_seconds counter\n"));
}

TEST(ProcessCollector, ValuesArePlausible) {
    Registry registry;
    AddProcessCollector(registry);
    const double rss = Scrape(registry, "process_resident_memory_bytes");
    const double vsize = Scrape(registry, "process_virtual_memory_bytes");
    EXPECT_GT(rss, 1 << 20);  // a gtest binary touches more than 1 MiB
    EXPECT_LT(rss, vsize);
    const double start = Scrape(registry, "process_start_time_seconds");
    EXPECT_LE(start, NowSeconds() + 1);  // clock ticks round down; allow for btime's rounding
    EXPECT_GT(start, NowSeconds() - 24 * 3600);
    rlimit limit{};
    ASSERT_EQ(::getrlimit(RLIMIT_NOFILE, &limit), 0);
    EXPECT_EQ(Scrape(registry, "process_max_fds"), static_cast<double>(limit.rlim_cur));
}

TEST(ProcessCollector, OpenFdsFollowsTheProcess) {
    Registry registry;
    AddProcessCollector(registry);
    const double before = Scrape(registry, "process_open_fds");
    EXPECT_GE(before, 3);
    int first[2];
    int second[2];
    ASSERT_EQ(::pipe(first), 0);
    ASSERT_EQ(::pipe(second), 0);
    EXPECT_EQ(Scrape(registry, "process_open_fds"), before + 4);
    for (int fd : {first[0], first[1], second[0], second[1]}) ::close(fd);
    EXPECT_EQ(Scrape(registry, "process_open_fds"), before);
}

TEST(ProcessCollector, CpuSecondsGrowWithWork) {
    Registry registry;
    AddProcessCollector(registry);
    const double before = Scrape(registry, "process_cpu_seconds_total");
    EXPECT_GE(before, 0);
    // Spin (no sleep) until the kernel's tick-granular accounting moves, for at most 10 s of wall time.
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    volatile double sink = 0;
    double after = before;
    while (after <= before && std::chrono::steady_clock::now() < deadline) {
        for (int i = 0; i < 1'000'000; ++i) sink = sink + std::sqrt(static_cast<double>(i));
        after = Scrape(registry, "process_cpu_seconds_total");
    }
    EXPECT_GT(after, before);
}

TEST(ProcessCollector, RegisteringTwiceIsABug) {
    GTEST_FLAG_SET(death_test_style, "threadsafe");
    Registry registry;
    AddProcessCollector(registry);
    EXPECT_DEATH(AddProcessCollector(registry), "process_cpu_seconds.*already registered");
}

}  // namespace
}  // namespace gale::metrics
