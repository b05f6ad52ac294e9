// SPDX-License-Identifier: MIT
/// @file gale/tasks/settings.hpp
/// @brief Where tasks go and results come from: the module's environment-contract group (Celery's variables), the
///        broker and result-backend URLs parsed into descriptions, and the registry through which the Redis and
///        RabbitMQ adapters build their brokers (this module links neither).
///
/// | Name | Description | Default |
/// |---|---|---|
/// | CELERY_BROKER_URL | `redis://`, `rediss://`, `amqp://`, `amqps://`, or `sqlite:///path` (the embedded queue) |
/// empty: RabbitMQ from `RABBITMQ_*` when `RABBITMQ_HOST` is set, else the embedded queue | | CELERY_RESULT_BACKEND |
/// `redis://`, `rediss://`, `rpc://`, `sqlite:///path`, or `disabled` | empty: the embedded backend with the embedded
/// queue, else disabled (Celery's default) | | CELERY_TASK_DEFAULT_QUEUE | the queue of tasks whose own queue is not
/// set | `celery` | | CELERY_RESULT_EXPIRES | how long results are kept | `24h` | | CELERY_BROKER_VISIBILITY_TIMEOUT |
/// an unsettled delivery returns to its queue after this | embedded 30 s (renewed while the task runs), Redis 1 h
/// (kombu's) |
///
/// Precedence of the broker: CELERY_BROKER_URL > base-python's RABBITMQ_HOST/PORT/VHOST/USERNAME/PASSWORD (the
/// amqp module's group validates those) > the embedded queue. AMQP_URL and django-hurricane's AMQP_* name the
/// broker of `consume`'s AMQP consumers only: a worker never takes its tasks from them.
///
/// URLs: `scheme://[user[:password]@]host[:port][/path][?query]` with percent-decoding; `sqlite:///relative.db` and
/// `sqlite:////absolute.db` as DATABASE_URL writes them; `rpc://` takes no host (the results go back over the AMQP
/// broker). Problems name the variable and its source and never quote the URL (it may hold a password).
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <gale/base/error.hpp>
#include <gale/config/contract.hpp>
#include <gale/config/settings.hpp>
#include <gale/tasks/broker.hpp>
#include <gale/tasks/result_backend.hpp>

namespace gale::tasks {

/// One parsed broker or result-backend URL. Holds the password (in `password` and `url`): never log those; use
/// Describe(). Value type.
struct TransportUrl {
    std::string scheme{};  ///< lower case: "sqlite", "redis", "rediss", "amqp", "amqps", "rpc", "disabled"
    std::string host{};
    int port = 0;  ///< 0: the scheme's default (redis 6379, amqp 5672, amqps 5671)
    std::string username{};
    std::string password{};
    std::string path{};  ///< percent-decoded, without the leading '/': the vhost (amqp), the db index (redis), the file
    std::map<std::string, std::string> query{};  ///< percent-decoded query parameters
    std::string url{};     ///< the whole URL (with the password): for an adapter's own parser, e.g. amqp::ParseUrl
    std::string source{};  ///< where it came from, e.g. "CELERY_BROKER_URL (from environment)", for messages

    /// "redis://user@host:6379/0", "sqlite:///path.db", "rpc://": never the password.
    [[nodiscard]] std::string Describe() const;
};

/// Parses `url` (see the file comment). Errors (kInvalidArgument, naming `what`, never quoting the URL): an empty
/// or unknown scheme (the message lists the known ones), a bad percent-escape, a missing host (redis, amqp), a port
/// outside [1, 65535], a redis database that is not an integer in [0, 1000], a sqlite URL without a path or with a
/// host, a host on rpc://.
[[nodiscard]] Result<TransportUrl> ParseTransportUrl(std::string_view url, std::string_view what);

/// What the settings say about tasks.
struct TasksSettings {
    TransportUrl broker{};                         ///< scheme "sqlite" for the embedded queue
    std::optional<TransportUrl> result_backend{};  ///< nullopt: results are not stored (Celery's DisabledBackend)
    std::string default_queue = "celery";
    std::chrono::milliseconds result_expires{std::chrono::hours(24)};
    std::optional<std::chrono::milliseconds> visibility_timeout{};  ///< unset: each broker's default
};

/// Reads the variables of ContractGroup (and RABBITMQ_* for the broker) from `settings`. `embedded_path` is the
/// embedded queue's file when CELERY_BROKER_URL does not name one (the App passes "<service>-tasks.db"); the
/// embedded result backend, chosen by default with the embedded queue, shares that file. Errors
/// (kInvalidArgument): every problem, joined by "; ", each naming the variable and its source.
[[nodiscard]] Result<TasksSettings> TasksSettingsFromSettings(const config::Settings& settings,
                                                              std::string_view embedded_path = "gale-tasks.db");

/// The "Celery tasks" environment-contract group (always enabled: with nothing set, tasks use the embedded queue).
/// Its rule reports what TasksSettingsFromSettings would, so every problem is found at start-up.
[[nodiscard]] config::GroupSpec ContractGroup();

// ---- the transports of the adapters --------------------------------------------------------------------------

/// What a broker or result backend is built from, besides its URL.
struct TransportOptions {
    std::string service_name{};  ///< for connection names and logs
    std::string default_queue = "celery";
    std::chrono::milliseconds result_expires{std::chrono::hours(24)};
    std::optional<std::chrono::milliseconds> visibility_timeout{};
};

using BrokerFactory =
    std::function<Result<std::unique_ptr<Broker>>(const TransportUrl& url, const TransportOptions& options)>;
/// `broker` is the process's broker (the RPC backend publishes its results through it; others may ignore it). It
/// outlives the backend.
using ResultBackendFactory = std::function<Result<std::unique_ptr<ResultBackend>>(
    const TransportUrl& url, const TransportOptions& options, Broker& broker)>;

/// Registers the factory for the URLs of `scheme` ("redis", "amqp", "rpc"…); the adapters do it from their
/// Install() (modules/tasks/README.md). A second registration for a scheme replaces the first. Thread-safe; call
/// before the role starts.
void RegisterBrokerFactory(std::string scheme, BrokerFactory factory);
void RegisterResultBackendFactory(std::string scheme, ResultBackendFactory factory);

/// What runs beside a worker on a broker that carries Celery's remote control and events: the RabbitMQ and the
/// Redis adapters' remote-control responder (`celery inspect ping`) and event sender (worker-online, heartbeats,
/// worker-offline), gale/tasks/worker_presence.hpp. The WORKER role starts them after the worker and stops them
/// before it. Thread-safety: Start and Stop from one thread.
class WorkerCompanion {
public:
    virtual ~WorkerCompanion() = default;
    virtual void Start() = 0;
    virtual void Stop() = 0;
};

/// What a companion may report about the worker.
struct WorkerInfo {
    /// The worker's node name, the one its results carry (WorkerOptions::hostname): the events' hostname, the name
    /// in ping answers (and of the AMQP pidbox queue). Empty: DefaultNodeName() ("celery@<hostname>",
    /// gale/tasks/worker_presence.hpp).
    std::string nodename{};
    std::function<std::uint64_t()> active{};     ///< tasks running now
    std::function<std::uint64_t()> processed{};  ///< tasks finished since start
};

namespace detail {
/// A WorkerCompanion owning `impl`: anything with Start() and Stop().
template <typename T>
class CompanionOf final : public WorkerCompanion {
public:
    explicit CompanionOf(std::unique_ptr<T> impl) : impl_(std::move(impl)) {}
    void Start() override { impl_->Start(); }
    void Stop() override { impl_->Stop(); }

private:
    std::unique_ptr<T> impl_;
};
}  // namespace detail

/// The companions of a broker that carries Celery's presence, as the adapters' factories build them: a `Control`
/// (remote-control responder) and an `Events` (event sender), in that order, each on a connection of its own —
/// `connect("control")` and `connect("events")`, each a Result of the options Create takes — both under
/// worker.nodename, the events counting worker.active and worker.processed. Errors: connect's and the Creates'.
template <typename Control, typename Events, typename Connect>
[[nodiscard]] Result<std::vector<std::unique_ptr<WorkerCompanion>>> MakePresenceCompanions(const Connect& connect,
                                                                                           const WorkerInfo& worker) {
    GALE_ASSIGN_OR_RETURN(auto control_connection, connect("control"));
    GALE_ASSIGN_OR_RETURN(auto control, Control::Create(std::move(control_connection), {.nodename = worker.nodename}));
    GALE_ASSIGN_OR_RETURN(auto events_connection, connect("events"));
    GALE_ASSIGN_OR_RETURN(auto events, Events::Create(std::move(events_connection), {.nodename = worker.nodename,
                                                                                     .active = worker.active,
                                                                                     .processed = worker.processed}));
    std::vector<std::unique_ptr<WorkerCompanion>> out;
    out.push_back(std::make_unique<detail::CompanionOf<Control>>(std::move(control)));
    out.push_back(std::make_unique<detail::CompanionOf<Events>>(std::move(events)));
    return out;
}

using WorkerCompanionFactory = std::function<Result<std::vector<std::unique_ptr<WorkerCompanion>>>(
    const TransportUrl& broker, const TransportOptions& options, const WorkerInfo& worker)>;
/// Registers the companions of brokers of `scheme` (the adapters' Install() do: the AMQP one for amqp and amqps, the
/// Redis one for redis).
void RegisterWorkerCompanionFactory(std::string scheme, WorkerCompanionFactory factory);
/// The companions of the settings' broker: none for the embedded queue (Celery has no remote control or events
/// there) or a scheme that registered none.
[[nodiscard]] Result<std::vector<std::unique_ptr<WorkerCompanion>>> MakeWorkerCompanions(
    const TasksSettings& settings, const TransportOptions& options, const WorkerInfo& worker);

/// Builds the broker `settings` name: the embedded queue for "sqlite" (built here), else the registered factory.
/// Errors: kInvalidArgument when no factory is registered for the scheme, naming the URL's source, the scheme and
/// the adapter to link and install (never a stand-in that pretends to be the broker); the factory's errors.
[[nodiscard]] Result<std::unique_ptr<Broker>> MakeBroker(const TasksSettings& settings,
                                                         const TransportOptions& options);
/// Builds the result backend `settings` name (nullptr when disabled); as MakeBroker.
[[nodiscard]] Result<std::unique_ptr<ResultBackend>> MakeResultBackend(const TasksSettings& settings,
                                                                       const TransportOptions& options, Broker& broker);

}  // namespace gale::tasks
