// SPDX-License-Identifier: MIT
#include <string>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <gale/metrics/merge.hpp>
#include <gale/metrics/registry.hpp>

#include "promtool_test_support.hpp"

namespace gale::metrics {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

std::size_t Count(const std::string& text, const std::string& needle) {
    std::size_t n = 0;
    for (auto at = text.find(needle); at != std::string::npos; at = text.find(needle, at + 1)) ++n;
    return n;
}

TEST(MergeExpositions, EachFamilyOnceWithEverySourcesSamplesLabelled) {
    Registry a, b;
    testing::FillSmallRegistry(a);
    testing::FillSmallRegistry(b);
    b.AddCounter("only_in_second", "Only the second process has it.").value()->WithLabels({}).Inc(4);
    std::string merged = MergeExpositions("process", {{"0", a.Render()}, {"1", b.Render()}}, Format::kPrometheus);
    EXPECT_EQ(Count(merged, "# TYPE http_requests_total counter\n"), 1U) << merged;
    EXPECT_EQ(Count(merged, "# HELP http_requests_total "), 1U) << merged;
    EXPECT_THAT(merged, HasSubstr("http_requests_total{process=\"0\",method=\"GET\",code=\"200\"} 3\n"));
    EXPECT_THAT(merged, HasSubstr("http_requests_total{process=\"1\",method=\"GET\",code=\"200\"} 3\n"));
    EXPECT_THAT(merged, HasSubstr("queue_length{process=\"1\"} 7\n")) << "an unlabelled sample gains the label";
    EXPECT_THAT(merged, HasSubstr("only_in_second_total{process=\"1\"} 4\n"));
    // A histogram's series stay together, source by source.
    auto first_bucket_1 = merged.find("http_request_duration_seconds_bucket{process=\"1\"");
    auto count_0 = merged.find("http_request_duration_seconds_count{process=\"0\"");
    ASSERT_NE(first_bucket_1, std::string::npos);
    ASSERT_NE(count_0, std::string::npos);
    EXPECT_LT(count_0, first_bucket_1) << merged;
    const auto [status, output] = testing::PromtoolCheck(merged);
    ASSERT_NE(status, 127) << testing::kNoPromtool << output;
    EXPECT_EQ(status, 0) << output << "\n--- merged ---\n" << merged;
}

TEST(MergeExpositions, EveryKindOfMetricMergesIntoAValidExpositionInBothFormats) {
    Registry a, b, c;
    testing::FillFullRegistry(a);
    testing::FillFullRegistry(b);
    AddProcessCollector(c);  // the supervisor: only some families
    for (Format format : {Format::kPrometheus, Format::kOpenMetrics}) {
        std::string merged = MergeExpositions(
            "process", {{"supervisor", c.Render(format)}, {"0", a.Render(format)}, {"1", b.Render(format)}}, format);
        if (format == Format::kPrometheus) {
            EXPECT_THAT(merged, Not(HasSubstr("# EOF")));
            const auto [status, output] = testing::PromtoolCheck(merged);
            ASSERT_NE(status, 127) << testing::kNoPromtool << output;
            EXPECT_EQ(status, 0) << output << "\n--- merged ---\n" << merged;
        } else {
            EXPECT_EQ(Count(merged, "# EOF\n"), 1U);
            EXPECT_TRUE(merged.ends_with("# EOF\n"));
            const auto [status, output] = testing::PromtoolParseOpenMetrics(merged);
            ASSERT_NE(status, 127) << testing::kNoPromtool << output;
            EXPECT_EQ(status, 0) << output << "\n--- merged ---\n" << merged;
        }
        EXPECT_THAT(merged, HasSubstr("process_cpu_seconds_total{process=\"supervisor\"}"));
        EXPECT_THAT(merged, HasSubstr("process_cpu_seconds_total{process=\"1\"}"));
        EXPECT_THAT(merged, HasSubstr("escaped_total{process=\"0\",value=\"a\\\\b \\\"c\\\"\\nd\"} 1"));
    }
}

TEST(MergeExpositions, ConflictingTypesAndBrokenLinesAreLeftOut) {
    std::string a = "# HELP x Thing.\n# TYPE x gauge\nx 1\n";
    std::string b =
        "# HELP x Other.\n# TYPE x counter\nx 5\n"  // a different TYPE: not merged into x
        "garbage line without value\n"
        "{broken\n"
        "y{process=\"9\"} 2\n"  // already carries the label: would collide
        "z{} 3\n";
    std::string merged = MergeExpositions("process", {{"0", a}, {"1", b}}, Format::kPrometheus);
    EXPECT_EQ(merged,
              "# HELP x Thing.\n# TYPE x gauge\nx{process=\"0\"} 1\n"
              "z{process=\"1\"} 3\n");
}

TEST(MergeExpositions, NoSourcesGiveAnEmptyExposition) {
    EXPECT_EQ(MergeExpositions("process", {}, Format::kPrometheus), "");
    EXPECT_EQ(MergeExpositions("process", {{"0", ""}}, Format::kOpenMetrics), "# EOF\n");
}

}  // namespace
}  // namespace gale::metrics
