// SPDX-License-Identifier: MIT
/// @file gale/metrics/family.hpp
/// @brief Family<T>: the metrics of one name, one per combination of label values.
#pragma once

#include <algorithm>
#include <cstddef>
#include <functional>
#include <initializer_list>
#include <map>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <gale/base/check.hpp>

namespace gale::metrics {

class Registry;

namespace detail {

/// True if `text` is well-formed UTF-8 (no overlong forms, surrogates or code points above U+10FFFF).
bool IsValidUtf8(std::string_view text) noexcept;
/// A copy of `text` with each ill-formed byte sequence replaced by U+FFFD.
std::string SanitizeUtf8(std::string_view text);

/// Orders label-value tuples lexicographically; transparent, so a tuple of string_views finds a stored tuple of
/// strings without allocating.
struct LabelValuesLess {
    using is_transparent = void;
    template <typename A, typename B>
    bool operator()(const A& a, const B& b) const noexcept {
        return std::lexicographical_compare(a.begin(), a.end(), b.begin(), b.end(),
                                            [](std::string_view x, std::string_view y) { return x < y; });
    }
};

}  // namespace detail

/// All metrics of one name: a Counter, Gauge or Histogram per combination of label values ("child"), created on
/// first use. Obtained from Registry::AddCounter / AddGauge / AddHistogram, which own it.
///
/// Children are never removed, so the label values must come from a bounded set (route templates, not raw paths;
/// status codes, not messages): each combination costs memory for the registry's whole life.
///
/// Thread-safety: all members may be called concurrently. WithLabels() takes a mutex to find or create the child;
/// updating the child itself is lock-free. On a hot path, look the child up once and keep the reference.
/// Lifetime: owned by the Registry; the family and every child returned by WithLabels() stay valid (same address)
/// until the Registry is destroyed.
template <typename T>
class Family {
public:
    /// One child as seen by Children().
    struct Child {
        const std::vector<std::string>* label_values;  ///< in the order of LabelNames()
        const T* metric;
    };

    Family(const Family&) = delete;
    Family& operator=(const Family&) = delete;

    /// The child for these label values, given in the order of LabelNames(), created (with value 0) if new.
    /// Passing the wrong number of values is a bug and fails a GALE_CHECK. Ill-formed UTF-8 in a value is replaced
    /// by U+FFFD before lookup, so the exposition stays valid. A family without labels has one child: WithLabels({}).
    T& WithLabels(std::initializer_list<std::string_view> label_values) {
        return WithLabels(std::span<const std::string_view>(label_values.begin(), label_values.size()));
    }

    /// As above, for values assembled at run time.
    T& WithLabels(std::span<const std::string_view> label_values) {
        GALE_CHECK(label_values.size() == label_names_.size());
        const bool valid = std::all_of(label_values.begin(), label_values.end(),
                                       [](std::string_view v) { return detail::IsValidUtf8(v); });
        if (!valid) return FindOrCreateSanitized(label_values);
        std::lock_guard<std::mutex> lock(mu_);
        auto it = children_.find(label_values);
        if (it != children_.end()) return *it->second;
        return Create(std::vector<std::string>(label_values.begin(), label_values.end()));
    }

    /// The metric name as registered (for counters, without the `_total` suffix).
    [[nodiscard]] const std::string& Name() const noexcept { return name_; }
    /// The label names given at registration.
    [[nodiscard]] const std::vector<std::string>& LabelNames() const noexcept { return label_names_; }

    /// The children that exist now, ordered by label values. The pointers stay valid for the registry's life.
    [[nodiscard]] std::vector<Child> Children() const {
        std::lock_guard<std::mutex> lock(mu_);
        std::vector<Child> out;
        out.reserve(children_.size());
        for (const auto& [values, metric] : children_) out.push_back(Child{&values, metric.get()});
        return out;
    }

private:
    friend class Registry;
    using Factory = std::function<std::unique_ptr<T>()>;

    Family(std::string name, std::vector<std::string> label_names, Factory factory)
        : name_(std::move(name)), label_names_(std::move(label_names)), factory_(std::move(factory)) {}

    T& FindOrCreateSanitized(std::span<const std::string_view> label_values) {
        std::vector<std::string> key;
        key.reserve(label_values.size());
        for (std::string_view v : label_values) key.push_back(detail::SanitizeUtf8(v));
        std::lock_guard<std::mutex> lock(mu_);
        auto it = children_.find(key);
        if (it != children_.end()) return *it->second;
        return Create(std::move(key));
    }

    // Requires mu_.
    T& Create(std::vector<std::string> key) { return *children_.emplace(std::move(key), factory_()).first->second; }

    const std::string name_;
    const std::vector<std::string> label_names_;
    const Factory factory_;
    mutable std::mutex mu_;
    std::map<std::vector<std::string>, std::unique_ptr<T>, detail::LabelValuesLess> children_;
};

}  // namespace gale::metrics
