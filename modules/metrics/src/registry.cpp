// SPDX-License-Identifier: MIT
// Design: the registry is a name-ordered map of entries, each a metric family plus its HELP text and kind. Entries
// are created under mu_, never modified or removed afterwards, and owned through unique_ptr, so Render() copies the
// entry pointers under the lock and formats without it: a slow callback or a large family never blocks
// registration, and a callback may itself register metrics. Families guard their own children (see family.hpp).
//
// sample_names_ holds every sample name an entry writes or reserves (x_total, x_bucket, …), so that no two
// families can ever produce the same series name, in either format.
#include <cmath>
#include <limits>
#include <span>
#include <type_traits>
#include <variant>

#include <fmt/format.h>

#include <gale/metrics/registry.hpp>

#include "text_writer.hpp"

namespace gale::metrics {
namespace detail {

enum class Kind { kCounter, kGauge, kHistogram, kInfo };

struct InfoLabels {
    std::vector<std::string> names;
    std::vector<std::string> values;
};

struct RegistryEntry {
    std::string name;  // without the _total / _info suffix
    std::string help;
    Kind kind;
    std::variant<std::unique_ptr<Family<Counter>>, std::unique_ptr<Family<Gauge>>, std::unique_ptr<Family<Histogram>>,
                 std::function<double()>, InfoLabels>
        source;
};

}  // namespace detail

namespace {

using detail::Kind;
using detail::RegistryEntry;

bool IsAlpha(char c) noexcept { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_'; }
bool IsDigit(char c) noexcept { return c >= '0' && c <= '9'; }

Result<void> ValidateMetricName(std::string_view name) {
    bool ok = !name.empty() && (IsAlpha(name[0]) || name[0] == ':') && !name.starts_with("__");
    for (char c : name) ok = ok && (IsAlpha(c) || IsDigit(c) || c == ':');
    if (!ok) {
        return MakeError(ErrorCode::kInvalidArgument,
                         fmt::format("metrics: '{}' is not a valid metric name ([a-zA-Z_:][a-zA-Z0-9_:]*, not "
                                     "starting with __)",
                                     name));
    }
    return {};
}

Result<void> ValidateLabelNames(std::string_view metric, const std::vector<std::string>& names, bool histogram) {
    for (std::size_t i = 0; i < names.size(); ++i) {
        const std::string& name = names[i];
        bool ok = !name.empty() && IsAlpha(name[0]) && !name.starts_with("__");
        for (char c : name) ok = ok && (IsAlpha(c) || IsDigit(c));
        if (!ok) {
            return MakeError(ErrorCode::kInvalidArgument,
                             fmt::format("metrics: {}: '{}' is not a valid label name ([a-zA-Z_][a-zA-Z0-9_]*, not "
                                         "starting with __)",
                                         metric, name));
        }
        if (histogram && name == "le") {
            return MakeError(ErrorCode::kInvalidArgument,
                             fmt::format("metrics: {}: 'le' is reserved for histogram buckets", metric));
        }
        for (std::size_t j = 0; j < i; ++j) {
            if (names[j] == name) {
                return MakeError(ErrorCode::kInvalidArgument,
                                 fmt::format("metrics: {}: label '{}' is repeated", metric, name));
            }
        }
    }
    return {};
}

Result<void> ValidateHelp(std::string_view metric, std::string_view help) {
    if (!detail::IsValidUtf8(help)) {
        return MakeError(ErrorCode::kInvalidArgument, fmt::format("metrics: {}: help text is not valid UTF-8", metric));
    }
    return {};
}

std::string_view StripSuffix(std::string_view name, std::string_view suffix) noexcept {
    if (name.size() > suffix.size() && name.ends_with(suffix)) name.remove_suffix(suffix.size());
    return name;
}

// Names an entry writes, or could write in a later version (_created), in either format.
std::vector<std::string> SampleNames(const RegistryEntry& entry) {
    const std::string& n = entry.name;
    switch (entry.kind) {
        case Kind::kCounter:
            return {n, n + "_total", n + "_created"};
        case Kind::kGauge:
            return {n};
        case Kind::kHistogram:
            return {n, n + "_bucket", n + "_sum", n + "_count", n + "_created"};
        case Kind::kInfo:
            return {n, n + "_info"};
    }
    return {n};
}

// ---- Rendering ----------------------------------------------------------------------------------------------------

// `name suffix{pairs,extra} ` (braces only when there are labels), ready for the value.
void AppendSampleStart(std::string& out, std::string_view name, std::string_view suffix, std::string_view pairs,
                       std::string_view extra = {}) {
    out += name;
    out += suffix;
    if (!pairs.empty() || !extra.empty()) {
        out += '{';
        out += pairs;
        if (!pairs.empty() && !extra.empty()) out += ',';
        out += extra;
        out += '}';
    }
    out += ' ';
}

void AppendMetadata(std::string& out, const RegistryEntry& entry, Format format) {
    const bool om = format == Format::kOpenMetrics;
    // Prometheus 0.0.4 names the family after its samples (x_total, x_info); OpenMetrics after the MetricFamily.
    std::string_view suffix;
    if (!om && entry.kind == Kind::kCounter) suffix = "_total";
    if (!om && entry.kind == Kind::kInfo) suffix = "_info";
    std::string_view type;
    switch (entry.kind) {
        case Kind::kCounter:
            type = "counter";
            break;
        case Kind::kGauge:
            type = "gauge";
            break;
        case Kind::kHistogram:
            type = "histogram";
            break;
        case Kind::kInfo:
            type = om ? "info" : "gauge";
            break;
    }
    auto append_help = [&] {
        if (entry.help.empty()) return;  // an empty HELP means "no HELP" in both formats
        out += "# HELP ";
        out += entry.name;
        out += suffix;
        out += ' ';
        detail::AppendEscaped(out, entry.help, om);
        out += '\n';
    };
    // Prometheus' own order is HELP then TYPE; OpenMetrics recommends TYPE, UNIT, HELP.
    if (!om) append_help();
    out += "# TYPE ";
    out += entry.name;
    out += suffix;
    out += ' ';
    out += type;
    out += '\n';
    if (om) append_help();
}

template <typename T>
void AppendFamily(std::string& out, const RegistryEntry& entry, const Family<T>& family, std::string_view suffix) {
    std::string pairs;
    for (const auto& child : family.Children()) {
        pairs.clear();
        detail::AppendLabelPairs(pairs, family.LabelNames(), *child.label_values);
        AppendSampleStart(out, entry.name, suffix, pairs);
        detail::AppendValue(out, child.metric->Value());
        out += '\n';
    }
}

void AppendHistogramFamily(std::string& out, const RegistryEntry& entry, const Family<Histogram>& family,
                           Format format) {
    const auto children = family.Children();
    if (children.empty()) return;
    const std::span<const double> bounds = children.front().metric->UpperBounds();
    std::vector<std::string> le;  // `le="…"` for each bucket, +Inf last
    le.reserve(bounds.size() + 1);
    for (double bound : bounds) {
        std::string label = "le=\"";
        detail::AppendCanonical(label, bound);
        label += '"';
        le.push_back(std::move(label));
    }
    le.emplace_back("le=\"+Inf\"");
    // OpenMetrics: a histogram with negative buckets must not expose a sum, which would not be a counter.
    const bool with_sum = format == Format::kPrometheus || bounds.empty() || bounds.front() >= 0.0;
    std::string pairs;
    for (const auto& child : children) {
        pairs.clear();
        detail::AppendLabelPairs(pairs, family.LabelNames(), *child.label_values);
        const Histogram::Snapshot snapshot = child.metric->Collect();
        for (std::size_t i = 0; i < le.size(); ++i) {
            AppendSampleStart(out, entry.name, "_bucket", pairs, le[i]);
            detail::AppendInteger(out, snapshot.cumulative_counts[i]);
            out += '\n';
        }
        if (with_sum) {
            AppendSampleStart(out, entry.name, "_sum", pairs);
            detail::AppendValue(out, snapshot.sum);
            out += '\n';
        }
        AppendSampleStart(out, entry.name, "_count", pairs);
        detail::AppendInteger(out, snapshot.count);
        out += '\n';
    }
}

void AppendCallback(std::string& out, const RegistryEntry& entry, const std::function<double()>& callback) {
    double value = 0.0;
    try {
        value = callback();
    } catch (...) {
        return;  // documented: the sample is left out of this scrape; no exception leaves Render()
    }
    const bool counter = entry.kind == Kind::kCounter;
    if (counter && std::isnan(value)) return;  // a counter's total must not be NaN
    AppendSampleStart(out, entry.name, counter ? "_total" : "", {});
    detail::AppendValue(out, value);
    out += '\n';
}

void AppendEntry(std::string& out, const RegistryEntry& entry, Format format) {
    AppendMetadata(out, entry, format);
    std::visit(
        [&](const auto& source) {
            using S = std::decay_t<decltype(source)>;
            if constexpr (std::is_same_v<S, std::unique_ptr<Family<Counter>>>) {
                AppendFamily(out, entry, *source, "_total");
            } else if constexpr (std::is_same_v<S, std::unique_ptr<Family<Gauge>>>) {
                AppendFamily(out, entry, *source, "");
            } else if constexpr (std::is_same_v<S, std::unique_ptr<Family<Histogram>>>) {
                AppendHistogramFamily(out, entry, *source, format);
            } else if constexpr (std::is_same_v<S, std::function<double()>>) {
                AppendCallback(out, entry, source);
            } else {
                std::string pairs;
                detail::AppendLabelPairs(pairs, source.names, source.values);
                AppendSampleStart(out, entry.name, "_info", pairs);
                out += "1\n";
            }
        },
        entry.source);
}

}  // namespace

Registry::Registry() = default;
Registry::~Registry() = default;

Result<void> Registry::Insert(std::unique_ptr<RegistryEntry> entry) {
    const std::vector<std::string> names = SampleNames(*entry);
    std::lock_guard<std::mutex> lock(mu_);
    for (const std::string& name : names) {
        if (sample_names_.contains(name)) {
            return MakeError(ErrorCode::kAlreadyExists,
                             fmt::format("metrics: '{}' is already registered, or its samples would collide with those "
                                         "of another metric ('{}')",
                                         entry->name, name));
        }
    }
    sample_names_.insert(names.begin(), names.end());
    std::string key = entry->name;
    entries_.emplace(std::move(key), std::move(entry));
    return {};
}

Result<Family<Counter>*> Registry::AddCounter(std::string_view name, std::string_view help,
                                              std::vector<std::string> label_names) {
    const std::string_view base = StripSuffix(name, "_total");
    GALE_RETURN_IF_ERROR(ValidateMetricName(base));
    GALE_RETURN_IF_ERROR(ValidateLabelNames(base, label_names, false));
    GALE_RETURN_IF_ERROR(ValidateHelp(base, help));
    std::unique_ptr<Family<Counter>> family(
        new Family<Counter>(std::string(base), std::move(label_names), [] { return std::make_unique<Counter>(); }));
    Family<Counter>* result = family.get();
    // The one child of a family without labels is created before Insert, so no scrape sees the family without it.
    if (result->LabelNames().empty()) result->WithLabels({});
    GALE_RETURN_IF_ERROR(Insert(std::make_unique<RegistryEntry>(
        RegistryEntry{std::string(base), std::string(help), Kind::kCounter, std::move(family)})));
    return result;
}

Result<Family<Gauge>*> Registry::AddGauge(std::string_view name, std::string_view help,
                                          std::vector<std::string> label_names) {
    GALE_RETURN_IF_ERROR(ValidateMetricName(name));
    GALE_RETURN_IF_ERROR(ValidateLabelNames(name, label_names, false));
    GALE_RETURN_IF_ERROR(ValidateHelp(name, help));
    std::unique_ptr<Family<Gauge>> family(
        new Family<Gauge>(std::string(name), std::move(label_names), [] { return std::make_unique<Gauge>(); }));
    Family<Gauge>* result = family.get();
    if (result->LabelNames().empty()) result->WithLabels({});
    GALE_RETURN_IF_ERROR(Insert(std::make_unique<RegistryEntry>(
        RegistryEntry{std::string(name), std::string(help), Kind::kGauge, std::move(family)})));
    return result;
}

Result<Family<Histogram>*> Registry::AddHistogram(std::string_view name, std::string_view help,
                                                  std::vector<std::string> label_names,
                                                  std::vector<double> upper_bounds) {
    GALE_RETURN_IF_ERROR(ValidateMetricName(name));
    GALE_RETURN_IF_ERROR(ValidateLabelNames(name, label_names, true));
    GALE_RETURN_IF_ERROR(ValidateHelp(name, help));
    if (!upper_bounds.empty() && upper_bounds.back() == std::numeric_limits<double>::infinity())
        upper_bounds.pop_back();
    for (std::size_t i = 0; i < upper_bounds.size(); ++i) {
        if (!std::isfinite(upper_bounds[i]) || (i > 0 && !(upper_bounds[i - 1] < upper_bounds[i]))) {
            return MakeError(ErrorCode::kInvalidArgument,
                             fmt::format("metrics: {}: bucket bounds must be finite and strictly increasing (bound "
                                         "{} is {})",
                                         name, i, upper_bounds[i]));
        }
    }
    std::unique_ptr<Family<Histogram>> family(
        new Family<Histogram>(std::string(name), std::move(label_names),
                              [bounds = std::move(upper_bounds)] { return std::make_unique<Histogram>(bounds); }));
    Family<Histogram>* result = family.get();
    if (result->LabelNames().empty()) result->WithLabels({});
    GALE_RETURN_IF_ERROR(Insert(std::make_unique<RegistryEntry>(
        RegistryEntry{std::string(name), std::string(help), Kind::kHistogram, std::move(family)})));
    return result;
}

Result<void> Registry::AddCallbackGauge(std::string_view name, std::string_view help,
                                        std::function<double()> callback) {
    GALE_RETURN_IF_ERROR(ValidateMetricName(name));
    GALE_RETURN_IF_ERROR(ValidateHelp(name, help));
    GALE_CHECK(callback != nullptr);
    return Insert(std::make_unique<RegistryEntry>(
        RegistryEntry{std::string(name), std::string(help), Kind::kGauge, std::move(callback)}));
}

Result<void> Registry::AddCallbackCounter(std::string_view name, std::string_view help,
                                          std::function<double()> callback) {
    const std::string_view base = StripSuffix(name, "_total");
    GALE_RETURN_IF_ERROR(ValidateMetricName(base));
    GALE_RETURN_IF_ERROR(ValidateHelp(base, help));
    GALE_CHECK(callback != nullptr);
    return Insert(std::make_unique<RegistryEntry>(
        RegistryEntry{std::string(base), std::string(help), Kind::kCounter, std::move(callback)}));
}

Result<void> Registry::AddInfo(std::string_view name, std::string_view help,
                               std::vector<std::pair<std::string, std::string>> labels) {
    const std::string_view base = StripSuffix(name, "_info");
    GALE_RETURN_IF_ERROR(ValidateMetricName(base));
    GALE_RETURN_IF_ERROR(ValidateHelp(base, help));
    detail::InfoLabels info;
    info.names.reserve(labels.size());
    info.values.reserve(labels.size());
    for (auto& label : labels) {
        info.names.push_back(std::move(label.first));
        info.values.push_back(detail::SanitizeUtf8(label.second));
    }
    GALE_RETURN_IF_ERROR(ValidateLabelNames(base, info.names, false));
    return Insert(std::make_unique<RegistryEntry>(
        RegistryEntry{std::string(base), std::string(help), Kind::kInfo, std::move(info)}));
}

std::string Registry::Render(Format format) const {
    std::vector<const RegistryEntry*> entries;
    {
        std::lock_guard<std::mutex> lock(mu_);
        entries.reserve(entries_.size());
        for (const auto& [name, entry] : entries_) entries.push_back(entry.get());
    }
    std::string out;
    out.reserve(256 * entries.size() + 16);
    for (const RegistryEntry* entry : entries) AppendEntry(out, *entry, format);
    if (format == Format::kOpenMetrics) out += "# EOF\n";
    return out;
}

}  // namespace gale::metrics
