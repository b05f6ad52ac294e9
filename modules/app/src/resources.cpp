// SPDX-License-Identifier: MIT
// Resources the runtime owns (contract in gale/app/resource.hpp, the registry in resources.hpp).
#include "resources.hpp"

#include <algorithm>

#include <fmt/format.h>

#include <gale/log/log.hpp>

namespace gale::app {
namespace detail {
namespace {

constexpr std::chrono::seconds kRetryAfterFailure{1};
constexpr const char* kLogger = "gale.resources";

}  // namespace

ResourceSlot::ResourceSlot(std::string name, CreateWhen when, Factory factory, Close close,
                           std::function<void(ResourceSlot&)> on_created)
    : name_(std::move(name)),
      when_(when),
      factory_(std::move(factory)),
      close_(std::move(close)),
      on_created_(std::move(on_created)) {}

void ResourceSlot::SetEnvironment(Environment env) {
    std::lock_guard lock(mu_);
    env_ = env;
}

Result<std::shared_ptr<void>> ResourceSlot::Acquire() {
    std::lock_guard lock(mu_);
    if (value_) return value_;
    if (closed_) return MakeError(ErrorCode::kCancelled, fmt::format("resource '{}' is closed (shutting down)", name_));
    if (env_.settings == nullptr) {
        return MakeError(ErrorCode::kInternal,
                         fmt::format("resource '{}' was used before App::Run loaded the settings", name_));
    }
    const auto now = std::chrono::steady_clock::now();
    if (last_error_ && now < retry_at_) return tl::unexpected(*last_error_);
    ResourceContext context{name_, *env_.settings, *env_.metrics};
    const auto started = now;
    Result<std::shared_ptr<void>> made = [&]() -> Result<std::shared_ptr<void>> {
        try {
            return factory_(context);
        } catch (const std::exception& e) {
            return MakeError(ErrorCode::kInternal, fmt::format("the factory threw: {}", e.what()));
        }
    }();
    const auto ms =
        std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - started).count();
    if (!made) {
        last_error_ =
            Error(ErrorCode::kUnavailable, fmt::format("resource '{}' failed: {}", name_, made.error().ToString()));
        retry_at_ = std::chrono::steady_clock::now() + kRetryAfterFailure;
        if (env_.failures != nullptr) env_.failures->Inc();
        log::Warning(kLogger, "cannot create a resource; the next use after 1 s tries again",
                     {{"resource", name_}, {"error", made.error().ToString()}, {"duration_ms", ms}});
        return tl::unexpected(*last_error_);
    }
    value_ = std::move(*made);
    last_error_.reset();
    if (env_.up != nullptr) env_.up->Set(1);
    log::Info(kLogger, "resource created", {{"resource", name_}, {"duration_ms", ms}});
    if (on_created_) on_created_(*this);
    return value_;
}

void ResourceSlot::Shut() {
    std::shared_ptr<void> value;
    {
        std::lock_guard lock(mu_);
        if (closed_) return;
        closed_ = true;
        value = std::move(value_);
        if (env_.up != nullptr) env_.up->Set(0);
    }
    if (!value) return;
    if (close_) {
        try {
            close_(value.get());
        } catch (const std::exception& e) {
            log::Error(kLogger, "closing a resource threw", {{"resource", name_}, {"error", e.what()}});
        }
    }
    const long users = value.use_count() - 1;
    value.reset();
    log::Info(kLogger, "resource closed", {{"resource", name_}, {"still_held_by", users}});
}

}  // namespace detail

Result<std::shared_ptr<void>> detail::AcquireResource(ResourceSlot& slot) { return slot.Acquire(); }
const std::string& detail::ResourceName(const ResourceSlot& slot) { return slot.name(); }

Result<std::shared_ptr<detail::ResourceSlot>> ResourceRegistry::Declare(std::string name, CreateWhen when,
                                                                        detail::ResourceSlot::Factory factory,
                                                                        detail::ResourceSlot::Close close) {
    if (name.empty()) return MakeError(ErrorCode::kInvalidArgument, "a resource needs a name");
    for (const auto& s : slots_) {
        if (s->name() == name) {
            return MakeError(ErrorCode::kInvalidArgument, fmt::format("resource '{}' is declared twice", name));
        }
    }
    if (!factory) return MakeError(ErrorCode::kInvalidArgument, fmt::format("resource '{}' has no factory", name));
    auto slot = std::make_shared<detail::ResourceSlot>(std::move(name), when, std::move(factory), std::move(close),
                                                       [this](detail::ResourceSlot& created) {
                                                           std::lock_guard lock(mu_);
                                                           for (const auto& s : slots_) {
                                                               if (s.get() == &created) created_.push_back(s);
                                                           }
                                                       });
    slots_.push_back(slot);
    return slot;
}

void ResourceRegistry::Activate(const config::Settings& settings, metrics::Registry& metrics) {
    auto up = metrics.AddGauge("gale_resource_up", "1 while the resource is created and open, else 0.", {"resource"});
    auto failures = metrics.AddCounter("gale_resource_failures", "Failed creations of the resource.", {"resource"});
    for (const auto& s : slots_) {
        detail::ResourceSlot::Environment env{.settings = &settings, .metrics = &metrics};
        if (up) {
            env.up = &(*up)->WithLabels({s->name()});
            env.up->Set(0);
        }
        if (failures) env.failures = &(*failures)->WithLabels({s->name()});
        s->SetEnvironment(env);
    }
}

Result<void> ResourceRegistry::CreateAtStart() {
    for (const auto& s : slots_) {
        if (s->when() != CreateWhen::kAtStart) continue;
        if (auto r = s->Acquire(); !r) return tl::unexpected(r.error());
    }
    return {};
}

void ResourceRegistry::CloseAll() {
    std::vector<std::shared_ptr<detail::ResourceSlot>> order;
    {
        std::lock_guard lock(mu_);
        for (auto it = created_.rbegin(); it != created_.rend(); ++it) {
            if (auto s = it->lock()) order.push_back(std::move(s));
        }
        created_.clear();
    }
    for (auto& s : order) s->Shut();
    for (auto& s : slots_) s->Shut();  // never created: from now on they answer kCancelled too
}

}  // namespace gale::app
