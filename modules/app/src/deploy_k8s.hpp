// SPDX-License-Identifier: MIT
/// @file deploy_k8s.hpp (private)
/// @brief Renders Kubernetes manifests (Deployment/Service for WEB, Job for TASK, a single-replica Deployment for
///        CONSUME, Deployments for WORKER and BEAT, a KEDA ScaledObject for the worker, ConfigMap and Secret
///        skeletons for the environment contract) that match a service's `serve` options: ports, probe paths, drain
///        timing.
///
/// WORKER is a Deployment `<service>-worker` of `worker_replicas` pods (RollingUpdate: Celery workers are competing
/// consumers, so an overlap is harmless), probed on the probe port like CONSUME. Its broker must be a server
/// (Redis or RabbitMQ): the embedded queue is a SQLite file in each pod's own emptyDir, which the tasks sent by
/// WEB or BEAT pods never reach, so ValidateK8sInputs refuses WORKER and BEAT on it. With `keda`, a KEDA
/// ScaledObject (keda.sh/v1alpha1) scales the worker on the length of each consumed queue (trigger rabbitmq,
/// QueueLength, or redis, listName) through a TriggerAuthentication that reads the broker's credentials from a
/// Secret; the Deployment then leaves `replicas` out, so that `kubectl apply` does not fight the autoscaler.
/// KEDA is opt-in (a CRD: on a cluster without it the ScaledObject is refused).
///
/// BEAT is a Deployment `<service>-beat`. On PostgreSQL: 2 replicas, RollingUpdate (maxSurge 1, maxUnavailable 0):
/// the lease in the database lets exactly one of them send, and the standby takes over within the lease (about
/// 30 s) when the leader's pod or node dies, which one pod cannot do (a replacement is scheduled only once the node
/// is declared lost, minutes later); a rollout never has fewer than two. On SQLite (a service without migrations
/// on the default database): 1 replica, Recreate, since each pod's lease would be a file in its own emptyDir and
/// two pods would both lead, sending every periodic task twice; Recreate stops the old pod before the new one
/// starts, so rollouts never overlap.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace gale::app {

/// What the manifests are rendered from. Plain data; defaults match `serve`'s defaults (ServeOptions), so a
/// service that does not change its options gets probes on the ports and paths it really serves.
struct K8sInputs {
    std::string service;                 ///< DNS-1035 label: names every object ("hello", "hello-web", …)
    std::string version;                 ///< label value (app.kubernetes.io/version); also names the TASK Job
    std::string image;                   ///< "registry.example.com/hello:0.1.0"
    std::vector<std::string> run_modes;  ///< APP_RUN_MODE values: WEB, TASK, CONSUME, WORKER, BEAT
    std::uint16_t port = 8000;           ///< --port
    std::uint16_t probe_port = 8001;     ///< --probe-port; equal to port = integrated probes on the app port
    std::string startup_path = "/startup";
    std::string readiness_path = "/ready";
    std::string liveness_path = "/alive";
    std::string metrics_path = "/metrics";
    std::chrono::milliseconds drain_delay{5000};        ///< --drain-delay: serving on with readiness failing
    std::chrono::milliseconds graceful_timeout{20000};  ///< --graceful-timeout: then waiting for in-flight requests
    /// How long shutdown waits, at most, for the last lifecycle webhooks once the graceful timeout is over (the
    /// runner's kWebhookBudget).
    std::chrono::milliseconds webhook_budget{2000};
    std::size_t workers = 0;  ///< 0: gale's default (min(32, cores+4)); otherwise APP_WORKER_COUNT
    /// Variables of the environment contract: name, and whether it is a secret (→ Secret, else → ConfigMap).
    std::vector<std::pair<std::string, bool>> env_vars;
    std::string namespace_name;             ///< empty: no metadata.namespace (kubectl -n decides)
    int replicas = 2;                       ///< of the WEB Deployment only; CONSUME always runs 1
    std::string task_commands = "migrate";  ///< APP_TASK_COMMANDS of the TASK Job
    /// With a TASK Job and declared migrations: WEB and CONSUME pods start with GALE_CHECK_MIGRATIONS=true, so the
    /// startup probe holds them back until the Job has migrated (instead of serving against an old schema).
    bool wait_for_migrations = true;
    /// The service declares migrations (App::Migrations), i.e. keeps tables in its database.
    bool declares_migrations = false;
    /// The database engine of the effective settings (db::EngineFromEnvironment): "sqlite" or "postgresql". Every
    /// workload is pinned to it (DATABASE_ENGINE); with declared migrations, "sqlite" is refused (ValidateK8sInputs).
    std::string database_engine = "sqlite";
    /// The database the migrations apply to when the service configures it itself (App::Migrations'
    /// MigrationsDatabase, e.g. Django's DATABASES): its engine as the service names it (empty: gale's
    /// database_engine above), where that was read, and whether it is a file in each pod. One in a file is refused;
    /// WEB, CONSUME and WORKER pods name it in the annotation gale.dev/migrations-database.
    std::string migrations_database;
    std::string migrations_database_setting;
    bool migrations_database_is_file = false;
    std::string data_dir = "/data";  ///< writable emptyDir (the root filesystem is read-only); the image's WORKDIR
    std::string cpu_request = "100m";
    std::string memory_request = "128Mi";
    std::string cpu_limit = "1";  ///< empty: no CPU limit
    std::string memory_limit = "512Mi";
    std::string profile = "production";  ///< GALE_PROFILE of every workload

    // --- tasks: WORKER, BEAT and the worker's autoscaling ---
    int worker_replicas = 2;  ///< of the WORKER Deployment, without `keda` (KEDA owns the count with it)
    /// The scheme of the effective broker (TasksSettings::broker): "sqlite" (the embedded queue), "redis",
    /// "rediss", "amqp", "amqps".
    std::string broker_scheme = "sqlite";
    /// The broker came from base-python's RABBITMQ_* variables, not CELERY_BROKER_URL: no URL in the Secret for
    /// KEDA's rabbitmq trigger to read.
    bool broker_from_rabbitmq_vars = false;
    std::string broker_host;            ///< Redis: the address of KEDA's redis trigger (render-time settings)
    int broker_port = 0;                ///< 0: the scheme's default (6379)
    std::string broker_database = "0";  ///< Redis database index (the URL's path)
    /// The queues the worker consumes: pinned as GALE_WORKER_QUEUES and watched by KEDA, one trigger each
    /// (DeployK8s: GALE_WORKER_QUEUES, else the default queue and every queue a registered task names).
    std::vector<std::string> worker_queues = {"celery"};
    bool keda = false;           ///< render a KEDA ScaledObject (+ TriggerAuthentication) for the worker
    int keda_min_replicas = 1;   ///< minReplicaCount; 0 lets KEDA scale the worker away when the queues are empty
    int keda_max_replicas = 10;  ///< maxReplicaCount
    int keda_queue_length = 20;  ///< target of messages waiting per worker pod (rabbitmq `value`, redis `listLength`)
};

/// Every problem with `in` that would make the manifests invalid or the pods fail (bad names, ports, paths,
/// quantities, unknown or repeated run modes; a drain delay too short for any readiness probe to notice, with WEB;
/// a service with migrations on SQLite, whose file would be per pod; WORKER or BEAT on the embedded queue, a file
/// per pod; `keda` without WORKER, on the embedded queue or on RABBITMQ_* without a URL; replica counts out of
/// range), one message each, naming the field or setting and the value. Empty when the inputs are fine. Call it
/// before RenderK8sManifests.
[[nodiscard]] std::vector<std::string> ValidateK8sInputs(const K8sInputs& in);

/// Multi-document YAML ("---"-separated): ConfigMap and Secret (when the contract has such variables), then per
/// run mode in the order given: WEB → Deployment `<service>-web` + Service, TASK → Job, CONSUME → Deployment
/// `<service>-consume` (replicas 1, Recreate, probes on the probe port, no Service), WORKER → Deployment
/// `<service>-worker` (+ with `keda`: Secret `<service>-keda` for Redis, TriggerAuthentication and ScaledObject
/// `<service>-worker`), BEAT → Deployment `<service>-beat` (see the file comment). Strings are double-quoted YAML
/// scalars, so no value can change type or break the document. Expects inputs that ValidateK8sInputs accepts; for
/// others the output is well-formed YAML that Kubernetes would reject. Pure; thread-safe.
[[nodiscard]] std::string RenderK8sManifests(const K8sInputs& in);

/// terminationGracePeriodSeconds for the inputs: drain delay + graceful timeout + webhook budget (gale's own
/// shutdown, in that order), rounded up to whole seconds, plus 3 s for the process to exit. Used by every workload
/// (WEB, CONSUME, TASK, WORKER, BEAT). Serve's defaults (5 s + 20 s + 2 s) give 30, Kubernetes' default. For
/// WORKER the graceful timeout is the time running tasks get to finish (it stops fetching at once, without the
/// drain delay), so the drain delay is slack there; tasks still running when it ends go back to the queue.
[[nodiscard]] std::int64_t TerminationGracePeriodSeconds(const K8sInputs& in);

/// An HTTP probe's timing, in the units of the Kubernetes fields.
struct ProbeTiming {
    int period_seconds;
    int timeout_seconds;
    int failure_threshold;
};

/// The readiness probe's timing (WEB, CONSUME, WORKER, BEAT), derived from the drain delay: on SIGTERM gale fails
/// readiness at once and keeps serving for the drain delay, so the kubelet must have seen `failure_threshold` failures
/// by then: period × failures + timeout ≤ drain delay. Timeout 1 s (probes answer within a fixed budget); 2 failures
/// (one slow probe does not take a pod out), 1 when the drain delay is under 3 s; the longest whole-second period that
/// fits, at most 10 s. Below 2 s nothing fits (ValidateK8sInputs refuses it with WEB).
[[nodiscard]] ProbeTiming ReadinessTiming(const K8sInputs& in);

/// The worker's liveness probe: 10 s × 6, timeout 5 s. Its task threads share the pod's CPU limit with the probe
/// server, so a busy pod answers late, and a restart loses every running task: gale's own checks (the fetch-loop
/// watchdog, GALE_WORKER_MAX_OUTAGE, stuck threads) already wait before failing, so a minute of failures on top is a
/// hung worker, not a busy one.
[[nodiscard]] ProbeTiming WorkerLivenessTiming();

/// BEAT's replica count: 2 on PostgreSQL (the lease elects one sender), 1 on SQLite (the file would be per pod).
[[nodiscard]] int BeatReplicas(const K8sInputs& in);

}  // namespace gale::app
