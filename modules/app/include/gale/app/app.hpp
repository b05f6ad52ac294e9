// SPDX-License-Identifier: MIT
/// @file gale/app/app.hpp
/// @brief The service declaration: routes, health checks, commands and migrations, and the command line that
///        runs the one binary as `serve`, `check` or any registered command.
///
/// A service's main is a few lines:
/// @code
///   gale::app::App app("hello", "1.0.0");
///   app.Get("/", [](gale::http::Request&) { return gale::http::Response::Text(200, "Hello, world!\n"); },
///           {.inline_handler = true});
///   app.Check("database", [&] { ... }, {.tags = gale::health::kReadiness});
///   app.Command("migrate", "apply database migrations", [&](const gale::app::Args& args) { ...; return 0; });
///   return app.Run(argc, argv);
/// @endcode
/// Ownership: App owns everything registered with it. Thread-safety: register before Run; Run blocks until the
/// process should exit and returns its exit code. Handlers and checks run on gale's threads.
#pragma once

#include <cstddef>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <type_traits>
#include <vector>

#include <gale/amqp/consumer.hpp>
#include <gale/app/resource.hpp>
#include <gale/base/error.hpp>
#include <gale/health/checks.hpp>
#include <gale/http/message.hpp>
#include <gale/http/router.hpp>
#include <gale/tasks/beat.hpp>
#include <gale/tasks/task.hpp>

namespace gale::metrics {
class Registry;
}  // namespace gale::metrics

namespace gale::pipe {
class Consumer;
class ConsumerBackend;
}  // namespace gale::pipe

namespace gale::tasks {
class TaskClient;
}  // namespace gale::tasks

namespace gale::config {
struct GroupSpec;
class Settings;
}  // namespace gale::config

namespace gale::app {

using Args = std::vector<std::string>;
/// A management command: returns the process exit code (0 = success). May throw; that is exit code 1.
using CommandFn = std::function<int(const Args& args)>;
/// Reports the migrations not yet applied (their names), or an error if the database can't be reached.
using MigrationStatusFn = std::function<Result<std::vector<std::string>>()>;

/// The database a service's migrations apply to, for a service that configures it itself instead of through
/// gale's DATABASE_ENGINE / DATABASE_URL (gale-wsgi: Django's DATABASES["default"]). `deploy k8s` reads it to
/// refuse tables in a file of each pod (SQLite) and to name the database the pods wait for.
struct MigrationsDatabase {
    std::string engine;    ///< as the service names it: "django.db.backends.postgresql"
    std::string setting;   ///< where it was read, for messages: "DATABASES['default']['ENGINE']"
    bool is_file = false;  ///< a file in the pod's own filesystem (SQLite), not a server every pod reaches
};

/// A log-pipe consumer run by the `consume` role, with what it needs kept alive. Members are destroyed in reverse
/// order: the consumer before its backend, the backend before `keep_alive` (e.g. the EmbeddedLog it reads).
/// What a library that keeps state of its own in the process (an embedded interpreter) must do around each fork of
/// `serve --processes N` (App::OnFork). Each is optional; all run on the main thread while no other thread exists.
struct ForkHooks {
    std::function<void()> before;        ///< in the parent, just before fork()
    std::function<void()> after_parent;  ///< in the parent, just after
    std::function<void()> after_child;   ///< in the new process, first thing
};

struct ConsumerSpec {
    std::shared_ptr<void> keep_alive{};
    std::unique_ptr<pipe::ConsumerBackend> backend{};
    std::unique_ptr<pipe::Consumer> consumer{};
};
/// Builds a consumer once the settings are loaded (at `consume` start-up). An error stops start-up (exit 1).
using ConsumerFactory = std::function<Result<ConsumerSpec>(const config::Settings& settings)>;

/// A route's handler: a function of the request returning an http::Response, or one returning
/// Result<http::Response>, whose error is answered by http::ErrorResponse (the status its code maps to and a short
/// body with the request id; the error's text goes to the log only, never to the client).
class RouteHandler {
public:
    template <typename F>
    requires std::is_invocable_r_v<http::Response, F&, http::Request&> RouteHandler(F f)
        : handler_(std::move(f)) {}  // NOLINT(google-explicit-constructor): lambdas convert
    template <typename F>
    requires std::is_same_v<std::invoke_result_t<F&, http::Request&>, Result<http::Response>> RouteHandler(F f)
        : handler_(http::HandleErrors(std::move(f))) {}  // NOLINT(google-explicit-constructor)
    http::Handler Take() && { return std::move(handler_); }

private:
    http::Handler handler_;
};

class App {
public:
    explicit App(std::string name, std::string version = "0.0.0");
    ~App();
    App(const App&) = delete;
    App& operator=(const App&) = delete;

    /// Registers a route. An invalid or duplicate pattern is reported by Run (exit 2), not thrown here.
    App& Route(http::Method method, std::string pattern, RouteHandler handler, http::RouteOptions options = {});
    App& Get(std::string pattern, RouteHandler h, http::RouteOptions o = {});
    App& Post(std::string pattern, RouteHandler h, http::RouteOptions o = {});
    App& Put(std::string pattern, RouteHandler h, http::RouteOptions o = {});
    App& Delete(std::string pattern, RouteHandler h, http::RouteOptions o = {});

    /// Handles every request that no route (nor a static mount or an integrated probe) matches, whatever its
    /// method: an app with its own URL dispatch, as gale-wsgi's Python app. Its `route` metrics label is "*".
    App& Fallback(RouteHandler handler, http::RouteOptions options = {});

    /// Declares a resource the runtime owns (gale/app/resource.hpp): `factory(ResourceContext&)` returns Result<T>,
    /// Result<std::unique_ptr<T>> or Result<std::shared_ptr<T>>; the handle's get() gives every handler, command,
    /// consumer and task the one T. The runtime creates it (on first use, or at a role's start with
    /// CreateWhen::kAtStart), registers a health check named `name` (options.check_options), exports
    /// gale_resource_up and gale_resource_failures_total, and closes it after the roles stopped, the last created
    /// first. An empty or duplicate name is reported by Run (exit 2).
    template <typename F, typename T = detail::ResourceTypeOf<F>>
    app::Resource<T> AddResource(std::string name, F factory, ResourceOptions<T> options = {}) {
        ErasedFactory erased =
            [f = std::move(factory)](ResourceContext& context) mutable -> Result<std::shared_ptr<void>> {
            auto made = f(context);
            if (!made) return tl::unexpected(std::move(made).error());
            using Made = std::remove_cvref_t<decltype(*made)>;
            if constexpr (std::is_same_v<Made, std::unique_ptr<T>> || std::is_same_v<Made, std::shared_ptr<T>>) {
                if (!*made) return MakeError(ErrorCode::kInternal, "the factory returned a null pointer");
                return std::shared_ptr<void>(std::shared_ptr<T>(std::move(*made)));
            } else {
                return std::shared_ptr<void>(std::make_shared<T>(std::move(*made)));
            }
        };
        std::function<health::CheckResult(void*)> check;
        if (options.check) {
            check = [c = std::move(options.check)](void* value) { return c(*static_cast<T*>(value)); };
        }
        std::function<void(void*)> close;
        if (options.close) close = [c = std::move(options.close)](void* value) { c(*static_cast<T*>(value)); };
        return app::Resource<T>(AddErasedResource(std::move(name), options.create, std::move(erased), std::move(check),
                                                  options.check_options, std::move(close)));
    }

    /// Registers a health check (see gale/health/checks.hpp for tags and levels).
    App& Check(std::string name, health::CheckFn fn, health::CheckOptions options = {});
    /// Registers a management command, runnable as `<binary> NAME [ARGS…]` and by `serve --command`.
    App& Command(std::string name, std::string help, CommandFn fn);
    /// Declares a group of the service's own environment variables, validated at start-up with gale's groups
    /// (see gale/config/contract.hpp and docs/environment.md).
    App& EnvironmentGroup(config::GroupSpec group);
    /// Registers a log-pipe consumer; `consume` (or APP_RUN_MODE=CONSUME) runs every registered one in one process,
    /// with the probes, metrics, webhooks and SIGTERM drain of `serve`.
    App& Consumer(std::string name, ConsumerFactory factory);
    /// Registers an AMQP consumer (django-hurricane's `consume` handler): `consume` (or APP_RUN_MODE=CONSUME) runs
    /// every registered one, next to the log-pipe consumers, when a broker is configured (AMQP_URL, AMQP_HOST or
    /// RABBITMQ_HOST; see gale/amqp/settings.hpp). It declares the queue's exchange (topic by default), the queue
    /// (durable by default) and a binding per routing key; `handler` is called for each message, which is
    /// acknowledged only when it returns success (failures are retried with backoff, then dead-lettered). An
    /// invalid queue spec is reported by Run (exit 2). Without a broker configured, `consume` logs once that the
    /// AMQP consumers are off and runs the rest.
    App& AmqpConsumer(amqp::QueueSpec queue, amqp::Handler handler);
    /// Registers a task under its Celery name ("proj.tasks.add"; see gale/tasks/task.hpp for the function, the
    /// typed form `gale::tasks::Typed(...)` and the options). `worker` (or APP_RUN_MODE=WORKER) runs the registered
    /// tasks from the broker the settings name (CELERY_BROKER_URL; the embedded SQLite queue when none). An invalid
    /// declaration (a duplicate name, a bad rate limit…) is reported by Run (exit 2).
    App& Task(std::string name, tasks::TaskFn fn, tasks::TaskOptions options = {});
    /// The client that sends tasks (Celery's send_task/apply_async, chains, results), from handlers, commands,
    /// consumers and tasks, in every role. Built on first use from the settings (CELERY_BROKER_URL,
    /// CELERY_RESULT_BACKEND…; see gale/tasks/settings.hpp) and shared by every caller; routes tasks registered
    /// here to their TaskOptions::queue. Thread-safe. Errors: called before Run loaded the settings; a broker that
    /// cannot be built (kInvalidArgument naming the transport this service lacks, kUnavailable, kIo) — tried again
    /// on the next call.
    Result<tasks::TaskClient*> tasks();
    /// Declares a periodic entry that `beat` (or APP_RUN_MODE=BEAT) sends as a Celery message: `schedule` is
    /// "every 30s", a five-field crontab ("30 2 * * mon-fri", in `time_zone`) or "at 2026-12-24T18:00:00Z" (see
    /// gale/tasks/schedule.hpp). GALE_BEAT_SCHEDULE overrides entries by name. A bad schedule or a name declared
    /// twice is reported by Run (exit 2).
    App& Periodic(std::string name, std::string task, std::string_view schedule,
                  nlohmann::json args = nlohmann::json::array(), std::string_view time_zone = "UTC");
    /// The same with every field of the entry (kwargs, queue, expires, priority, enabled).
    App& Periodic(tasks::BeatEntry entry);
    /// Tells `serve --check-migrations` how to find pending migrations. `database`: where they are applied, when
    /// that is not gale's DATABASE_* database (see MigrationsDatabase); `deploy k8s` checks that one instead.
    App& Migrations(MigrationStatusFn fn, std::optional<MigrationsDatabase> database = std::nullopt);

    /// Registers hooks run around the forks of `serve --processes N` (after Run loaded everything and before any
    /// thread started), in the order registered (after_* in reverse). gale-wsgi uses them for CPython's
    /// PyOS_BeforeFork/AfterFork_*.
    App& OnFork(ForkHooks hooks);

    /// The service's metrics registry (exposed on the probe port's metrics path); add your own metrics here.
    metrics::Registry& metrics();
    /// The layered settings (defaults, profile, settings files, dotenv, environment), with typed getters whose
    /// errors name the key and its source. Loaded by Run before any role starts: call it from handlers, checks and
    /// commands, not before Run (it is empty then).
    const config::Settings& settings() const noexcept;
    const std::string& name() const noexcept;
    const std::string& version() const noexcept;

    /// Parses the command line and runs the chosen sub-command. Returns the process exit code.
    int Run(int argc, char** argv);

    struct State;  // internal; defined in src/

private:
    using ErasedFactory = std::function<Result<std::shared_ptr<void>>(ResourceContext&)>;
    std::shared_ptr<detail::ResourceSlot> AddErasedResource(std::string name, CreateWhen when, ErasedFactory factory,
                                                            std::function<health::CheckResult(void*)> check,
                                                            health::CheckOptions check_options,
                                                            std::function<void(void*)> close);

    std::unique_ptr<State> state_;
};

}  // namespace gale::app
