// SPDX-License-Identifier: MIT
/// @file deploy_k8s.hpp (private)
/// @brief Renders Kubernetes manifests (Deployment/Service for WEB, Job for TASK, a single-replica Deployment for
///        CONSUME, ConfigMap and Secret skeletons for the environment contract) that match a service's `serve`
///        options: ports, probe paths, drain timing.
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
    std::vector<std::string> run_modes;  ///< APP_RUN_MODE values: "WEB", "TASK", "CONSUME" (RenderK8sManifests)
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
    std::string data_dir = "/data";  ///< writable emptyDir (the root filesystem is read-only); the image's WORKDIR
    std::string cpu_request = "100m";
    std::string memory_request = "128Mi";
    std::string cpu_limit = "1";  ///< empty: no CPU limit
    std::string memory_limit = "512Mi";
    std::string profile = "production";  ///< GALE_PROFILE of every workload
};

/// Every problem with `in` that would make the manifests invalid or the pods fail (bad names, ports, paths,
/// quantities, unknown, repeated or not-yet-available run modes: WORKER and BEAT; a drain delay too short for any
/// readiness probe to notice, with WEB; a service with migrations on SQLite, whose file would be per pod), one
/// message each, naming the field or setting and the value. Empty when the inputs are fine. Call it before
/// RenderK8sManifests.
[[nodiscard]] std::vector<std::string> ValidateK8sInputs(const K8sInputs& in);

/// Multi-document YAML ("---"-separated): ConfigMap and Secret (when the contract has such variables), then per
/// run mode in the order given: WEB → Deployment `<service>-web` + Service, TASK → Job, CONSUME → Deployment
/// `<service>-consume` (replicas 1, Recreate, probes on the probe port, no Service). Strings are double-quoted YAML
/// scalars, so no value can change type or break the document. Expects inputs that ValidateK8sInputs accepts; for
/// others the output is well-formed YAML that Kubernetes would reject. Pure; thread-safe.
[[nodiscard]] std::string RenderK8sManifests(const K8sInputs& in);

/// terminationGracePeriodSeconds for the inputs: drain delay + graceful timeout + webhook budget (gale's own
/// shutdown, in that order), rounded up to whole seconds, plus 3 s for the process to exit. Used by every workload
/// (WEB, CONSUME, TASK). Serve's defaults (5 s + 20 s + 2 s) give 30, Kubernetes' default.
[[nodiscard]] std::int64_t TerminationGracePeriodSeconds(const K8sInputs& in);

/// An HTTP probe's timing, in the units of the Kubernetes fields.
struct ProbeTiming {
    int period_seconds;
    int timeout_seconds;
    int failure_threshold;
};

/// The readiness probe's timing (WEB and CONSUME), derived from the drain delay: on SIGTERM gale fails readiness at
/// once and keeps serving for the drain delay, so the kubelet must have seen `failure_threshold` failures by then:
/// period × failures + timeout ≤ drain delay. Timeout 1 s (probes answer within a fixed budget); 2 failures (one slow
/// probe does not take a pod out), 1 when the drain delay is under 3 s; the longest whole-second period that fits,
/// at most 10 s. Below 2 s nothing fits (ValidateK8sInputs refuses it with WEB).
[[nodiscard]] ProbeTiming ReadinessTiming(const K8sInputs& in);

}  // namespace gale::app
