// SPDX-License-Identifier: MIT
#include <limits>
#include <string>

#include <gtest/gtest.h>

#include <gale/metrics/exposition.hpp>
#include <gale/metrics/family.hpp>

#include "text_writer.hpp"

namespace gale::metrics {
namespace {

TEST(NegotiateFormat, OpenMetricsOnlyWhenAskedFor) {
    // What Prometheus 2.x sends.
    EXPECT_EQ(NegotiateFormat("application/openmetrics-text;version=1.0.0,application/openmetrics-text;"
                              "version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1"),
              Format::kOpenMetrics);
    EXPECT_EQ(NegotiateFormat("application/openmetrics-text; version=1.0.0; charset=utf-8"), Format::kOpenMetrics);
    EXPECT_EQ(NegotiateFormat("Application/OpenMetrics-Text"), Format::kOpenMetrics);
    EXPECT_EQ(NegotiateFormat("text/plain, application/openmetrics-text"), Format::kOpenMetrics);  // tie
    EXPECT_EQ(NegotiateFormat(""), Format::kPrometheus);
    EXPECT_EQ(NegotiateFormat("*/*"), Format::kPrometheus);
    EXPECT_EQ(NegotiateFormat("text/plain;version=0.0.4"), Format::kPrometheus);
    EXPECT_EQ(NegotiateFormat("application/json, text/html"), Format::kPrometheus);
    EXPECT_EQ(NegotiateFormat("application/openmetrics-text;q=0"), Format::kPrometheus);  // explicitly refused
    EXPECT_EQ(NegotiateFormat("text/plain;q=1, application/openmetrics-text;q=0.5"), Format::kPrometheus);
    EXPECT_EQ(NegotiateFormat("application/openmetrics-text;q=abc"), Format::kPrometheus);  // malformed: ignored
    EXPECT_EQ(NegotiateFormat("application/openmetrics-text;q=2"), Format::kPrometheus);
    EXPECT_EQ(NegotiateFormat("application/openmetrics-textile"), Format::kPrometheus);
    EXPECT_EQ(NegotiateFormat(",,;;=,"), Format::kPrometheus);
}

TEST(ContentType, MatchesTheFormat) {
    EXPECT_EQ(ContentType(Format::kPrometheus), "text/plain; version=0.0.4; charset=utf-8");
    EXPECT_EQ(ContentType(Format::kOpenMetrics), "application/openmetrics-text; version=1.0.0; charset=utf-8");
}

std::string Value(double v) {
    std::string out;
    detail::AppendValue(out, v);
    return out;
}

std::string Canonical(double v) {
    std::string out;
    detail::AppendCanonical(out, v);
    return out;
}

TEST(TextWriter, ValuesAreShortestRoundTrip) {
    EXPECT_EQ(Value(0), "0");
    EXPECT_EQ(Value(1), "1");
    EXPECT_EQ(Value(-2.5), "-2.5");
    EXPECT_EQ(Value(0.1), "0.1");
    EXPECT_EQ(Value(1234567), "1234567");
    EXPECT_EQ(Value(1e21), "1e+21");
    EXPECT_EQ(Value(1.7976931348623157e308), "1.7976931348623157e+308");
    EXPECT_EQ(Value(0.1 + 0.2), "0.30000000000000004");
    EXPECT_EQ(Value(std::numeric_limits<double>::infinity()), "+Inf");
    EXPECT_EQ(Value(-std::numeric_limits<double>::infinity()), "-Inf");
    EXPECT_EQ(Value(std::numeric_limits<double>::quiet_NaN()), "NaN");
}

TEST(TextWriter, BucketBoundsAreCanonical) {
    // The examples of the OpenMetrics 1.0 specification, "Canonical Numbers".
    EXPECT_EQ(Canonical(0.0), "0.0");
    EXPECT_EQ(Canonical(0.001), "0.001");
    EXPECT_EQ(Canonical(0.95), "0.95");
    EXPECT_EQ(Canonical(1.0), "1.0");
    EXPECT_EQ(Canonical(1.7), "1.7");
    EXPECT_EQ(Canonical(10.0), "10.0");
    EXPECT_EQ(Canonical(1e-10), "1e-10");
    EXPECT_EQ(Canonical(1e-09), "1e-09");
    EXPECT_EQ(Canonical(1e-05), "1e-05");
    EXPECT_EQ(Canonical(0.0001), "0.0001");
    EXPECT_EQ(Canonical(100000.0), "100000.0");
    EXPECT_EQ(Canonical(1e+06), "1e+06");
    EXPECT_EQ(Canonical(1e+10), "1e+10");
    // And Go's %g beyond them.
    EXPECT_EQ(Canonical(2.5e6), "2.5e+06");
    EXPECT_EQ(Canonical(123456), "123456.0");
    EXPECT_EQ(Canonical(0.00012), "0.00012");
    EXPECT_EQ(Canonical(-10), "-10.0");
    EXPECT_EQ(Canonical(std::numeric_limits<double>::infinity()), "+Inf");
}

TEST(TextWriter, EscapesForLabelsAndHelp) {
    std::string label;
    detail::AppendEscaped(label, "a\\b\"c\nd\te", true);
    EXPECT_EQ(label, "a\\\\b\\\"c\\nd\te");
    std::string help;
    detail::AppendEscaped(help, "a\\b\"c\nd", false);
    EXPECT_EQ(help, "a\\\\b\"c\\nd");
    std::string pairs;
    detail::AppendLabelPairs(pairs, {"a", "b"}, {"x", "\"y\""});
    EXPECT_EQ(pairs, "a=\"x\",b=\"\\\"y\\\"\"");
}

TEST(Utf8, ValidatesAndSanitizes) {
    EXPECT_TRUE(detail::IsValidUtf8(""));
    EXPECT_TRUE(detail::IsValidUtf8("plain /path?q=1"));
    EXPECT_TRUE(detail::IsValidUtf8("caf\xC3\xA9 \xE2\x82\xAC \xF0\x9F\x98\x80"));
    EXPECT_TRUE(detail::IsValidUtf8(std::string("nul\0byte", 8)));
    EXPECT_FALSE(detail::IsValidUtf8("\xFF"));
    EXPECT_FALSE(detail::IsValidUtf8("\xC0\xAF"));          // overlong '/'
    EXPECT_FALSE(detail::IsValidUtf8("\xED\xA0\x80"));      // surrogate
    EXPECT_FALSE(detail::IsValidUtf8("\xF4\x90\x80\x80"));  // above U+10FFFF
    EXPECT_FALSE(detail::IsValidUtf8("\xE2\x82"));          // truncated
    EXPECT_EQ(detail::SanitizeUtf8("a\xFF"
                                   "b\xE2\x82"),
              "a\xEF\xBF\xBD"
              "b\xEF\xBF\xBD\xEF\xBF\xBD");
    EXPECT_EQ(detail::SanitizeUtf8("caf\xC3\xA9"), "caf\xC3\xA9");
}

}  // namespace
}  // namespace gale::metrics
