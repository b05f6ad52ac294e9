// SPDX-License-Identifier: MIT
/// @file gale/app/resource.hpp
/// @brief Resources the runtime owns: a database, a storage, a cache, a client, declared once with
///        App::AddResource and used by every handler, command, consumer and task through a Resource<T> handle.
///
/// @code
///   auto database = app.AddResource(
///       "database", [](gale::app::ResourceContext&) { return gale::db::Database::Connect(options); },
///       {.check = [](gale::db::Database& db) { ... return gale::health::CheckResult::Ok(); }});
///   app.Get("/visits", [database](gale::http::Request&) -> gale::Result<gale::http::Response> {
///       GALE_ASSIGN_OR_RETURN(auto db, database.get());
///       ...
///   });
/// @endcode
/// The runtime creates a resource once (on first use, or when a long-running role starts), registers its health
/// check (readiness by default: the resource can be created and, with ResourceOptions::check, is healthy), exports
/// `gale_resource_up{resource}` and `gale_resource_failures_total{resource}`, and at exit closes the created
/// resources in the reverse order of their creation, after every role has stopped.
/// Thread-safety: get() may be called from any thread; the resource itself must be as thread-safe as its users need.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <type_traits>

#include <gale/base/error.hpp>
#include <gale/health/checks.hpp>

namespace gale::config {
class Settings;
}  // namespace gale::config

namespace gale::metrics {
class Registry;
}  // namespace gale::metrics

namespace gale::app {

/// When the runtime creates a resource.
enum class CreateWhen {
    /// By the first get(): a request, a task, a command or the resource's own health check (so a readiness probe
    /// creates it early). `--help`, `config` and commands that don't use it never touch it.
    kOnFirstUse,
    /// When a long-running role (serve, consume, worker, beat) starts, after the probe server is up and before the
    /// roles take work: a failure stops start-up (exit 1, a startup/failed webhook). Commands create it on first use.
    kAtStart,
};

/// What a resource's factory may use.
struct ResourceContext {
    std::string_view name;             ///< the resource's name, as declared
    const config::Settings& settings;  ///< the loaded settings (App::settings())
    metrics::Registry& metrics;        ///< for the resource's own metrics (a pool's in-use gauge)
};

/// How a resource of type T is created, checked and closed.
template <typename T>
struct ResourceOptions {
    CreateWhen create = CreateWhen::kOnFirstUse;
    /// Checks the created resource (`SELECT 1`); its result is the resource's health check's. Without it, the check
    /// only reports whether the resource could be created. Runs on the health checker's thread.
    std::function<health::CheckResult(T&)> check{};
    /// The tags and level of the resource's health check (named as the resource); tags = 0 registers none.
    health::CheckOptions check_options{.tags = health::kReadiness};
    /// Called at shutdown, before the runtime lets go of the resource (it is destroyed when the last user's
    /// shared_ptr goes). Destruction alone is enough for most resources.
    std::function<void(T&)> close{};
};

namespace detail {

/// The type-erased resource (src/resources.cpp): one creation at a time, the last error, the close.
class ResourceSlot;
/// The created resource, creating it if needed (see Resource<T>::get()).
Result<std::shared_ptr<void>> AcquireResource(ResourceSlot& slot);
const std::string& ResourceName(const ResourceSlot& slot);

template <typename R>
struct ResourceValue;
template <typename X>
struct ResourceValue<Result<X>> {
    using type = X;
};
template <typename X>
struct ResourceValue<Result<std::unique_ptr<X>>> {
    using type = X;
};
template <typename X>
struct ResourceValue<Result<std::shared_ptr<X>>> {
    using type = X;
};
/// The resource type of a factory: X for one returning Result<X>, Result<std::unique_ptr<X>> or
/// Result<std::shared_ptr<X>>.
template <typename F>
using ResourceTypeOf = typename ResourceValue<std::invoke_result_t<F&, ResourceContext&>>::type;

}  // namespace detail

/// A handle to a declared resource: cheap to copy, valid as long as the App. An empty handle (default-constructed)
/// answers every get() with kInternal.
template <typename T>
class Resource {
public:
    Resource() = default;

    /// The resource, created if this is its first use: once, by whichever thread asks first (others wait for it).
    /// After a failed creation, calls in the next second return that error without trying again; the first call
    /// after that tries again. The shared_ptr keeps the resource alive past shutdown's close while it is held.
    /// Errors: kUnavailable when the factory failed or threw, whatever its own code (a setting it refused is the
    /// deployment's fault, not the caller's: a handler returning it answers 503), with the message "resource 'NAME'
    /// failed: " and the factory's text (no "'NAME': ", which Sentry's scrubber would take for a key and its value
    /// when NAME looks secret, as "sessions" does); kInternal before App::Run has loaded the settings; kCancelled
    /// once closed.
    Result<std::shared_ptr<T>> get() const {
        if (!slot_) return MakeError(ErrorCode::kInternal, "resource: an empty handle (not from App::AddResource)");
        auto r = detail::AcquireResource(*slot_);
        if (!r) return tl::unexpected(std::move(r).error());
        return std::static_pointer_cast<T>(std::move(*r));
    }
    /// The name it was declared with ("" for an empty handle).
    std::string_view name() const {
        return slot_ ? std::string_view(detail::ResourceName(*slot_)) : std::string_view();
    }

    /// For App::AddResource, which alone knows the slot holds a T.
    explicit Resource(std::shared_ptr<detail::ResourceSlot> slot) : slot_(std::move(slot)) {}

private:
    std::shared_ptr<detail::ResourceSlot> slot_;
};

}  // namespace gale::app
