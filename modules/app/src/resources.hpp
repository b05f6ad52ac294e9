// SPDX-License-Identifier: MIT
/// @file resources.hpp (private)
/// @brief The resources an App declared (gale/app/resource.hpp): their slots, creation at start, the close.
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include <gale/app/resource.hpp>
#include <gale/metrics/registry.hpp>

namespace gale::app {

namespace detail {

/// One declared resource. Invariants: created at most once at a time (mu_ is held while the factory runs, so
/// concurrent get()s wait for that one creation); once closed, never created again.
class ResourceSlot {
public:
    using Factory = std::function<Result<std::shared_ptr<void>>(ResourceContext&)>;
    using Close = std::function<void(void*)>;
    /// Where the factory's context comes from: the settings once loaded (null before), the metrics registry.
    struct Environment {
        const config::Settings* settings = nullptr;
        metrics::Registry* metrics = nullptr;
        metrics::Gauge* up = nullptr;          // gale_resource_up{resource}
        metrics::Counter* failures = nullptr;  // gale_resource_failures_total{resource}
    };

    ResourceSlot(std::string name, CreateWhen when, Factory factory, Close close,
                 std::function<void(ResourceSlot&)> on_created);

    Result<std::shared_ptr<void>> Acquire();
    /// Calls the close hook and lets go (the object goes with its last user). Idempotent.
    void Shut();
    const std::string& name() const noexcept { return name_; }
    CreateWhen when() const noexcept { return when_; }
    void SetEnvironment(Environment env);

private:
    std::string name_;
    CreateWhen when_;
    Factory factory_;
    Close close_;
    std::function<void(ResourceSlot&)> on_created_;  // tells the registry the creation order
    std::mutex mu_;
    Environment env_;
    std::shared_ptr<void> value_;
    std::optional<Error> last_error_;
    std::chrono::steady_clock::time_point retry_at_{};
    bool closed_ = false;
};

}  // namespace detail

/// The App's resources, in declaration order; closes the created ones in reverse order of creation.
/// Thread-safety: Declare before Run; the rest may be called from any thread.
class ResourceRegistry {
public:
    ResourceRegistry() = default;
    ~ResourceRegistry() { CloseAll(); }
    ResourceRegistry(const ResourceRegistry&) = delete;
    ResourceRegistry& operator=(const ResourceRegistry&) = delete;

    /// Errors: an empty or duplicate name (kInvalidArgument, reported by Run).
    Result<std::shared_ptr<detail::ResourceSlot>> Declare(std::string name, CreateWhen when,
                                                          detail::ResourceSlot::Factory factory,
                                                          detail::ResourceSlot::Close close);
    /// Run loaded the settings: from now on resources can be created. Registers the metrics in `metrics`.
    void Activate(const config::Settings& settings, metrics::Registry& metrics);
    /// Creates every CreateWhen::kAtStart resource, in declaration order; the first failure, naming the resource.
    Result<void> CreateAtStart();
    /// Closes the created resources, the last created first; then every get() answers kCancelled.
    void CloseAll();

private:
    std::vector<std::shared_ptr<detail::ResourceSlot>> slots_;  // declaration order
    std::mutex mu_;
    std::vector<std::weak_ptr<detail::ResourceSlot>> created_;  // creation order
};

}  // namespace gale::app
