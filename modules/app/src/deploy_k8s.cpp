// SPDX-License-Identifier: MIT
// Kubernetes manifests for a gale service, written as YAML text.
//
// Every string value goes out as a double-quoted scalar (Quote): YAML 1.1 readers turn bare `on`, `yes`, `8001`
// or `1e3` into booleans and numbers, and an annotation or env value of the wrong type is rejected by the API
// server. Numbers that the schema wants as integers (ports, replicas, thresholds) are written bare. Keys are
// fixed identifiers or contract variable names (validated), so they need no quoting except label keys with '/'.
//
// The timing follows gale's own shutdown (README, Lifecycle): on SIGTERM readiness fails at once and the app
// keeps serving for the drain delay, then waits up to the graceful timeout for in-flight requests, then up to the
// webhook budget for the last lifecycle webhooks. So the pods need no preStop sleep; the readiness probe is timed
// so that the kubelet sees it fail within the drain delay (ReadinessTiming), and terminationGracePeriodSeconds
// covers all three phases plus a margin for the exit itself.
//
// The database: the pods' only writable places are per-pod emptyDir volumes, so a service that keeps tables
// (declares migrations) must use a database server; on SQLite each pod would have its own file, and a TASK Job's
// migrations would never reach the WEB pods waiting for them. ValidateK8sInputs refuses that, and every workload
// is pinned to the engine it was rendered for (DATABASE_ENGINE), so an unfilled ConfigMap placeholder cannot put
// the pods back on SQLite.
//
// CONSUME (consume.cpp) is a single-replica Deployment with the Recreate strategy: every gale consumer reads its
// whole topic or stream (Kafka: rd_kafka_assign of every partition, no group rebalancing, as django-logpipe;
// the embedded log and Kinesis: every partition/shard), so a second pod, even the overlap of a rolling update,
// would process every record twice. Its only port is the probe server's; on SIGTERM it fails readiness, finishes
// the round in flight and exits, so the WEB grace period is ample.
//
// WORKER (roles/worker.cpp) competes with its replicas for the broker's messages, so it scales and rolls like WEB,
// without a Service. On SIGTERM it stops fetching at once (no drain delay: nothing routes to it), the tasks running
// get the graceful timeout to finish, and what is unsettled then returns to the queue; so GALE_GRACEFUL_TIMEOUT is
// pinned (it is what the grace period was computed from). Its readiness is timed as WEB's (a rollout waits on it);
// its liveness is more patient (WorkerLivenessTiming). BEAT: see the header. Both need a broker that every pod
// reaches: the embedded queue is a SQLite file in the pod's own emptyDir, so it is refused for them.
//
// KEDA: the rabbitmq trigger takes the broker as one URL, so its TriggerAuthentication reads CELERY_BROKER_URL
// from the service's Secret; the redis trigger takes host:port (the render-time broker's: it names no secret) and
// the password separately, which the URL in the Secret cannot give, so a Secret `<service>-keda` holds it. Neither
// is put into the pods' envFrom (its keys are not variable names).
#include "deploy_k8s.hpp"

#include <algorithm>
#include <cctype>
#include <regex>
#include <set>

#include <fmt/format.h>

#include <gale/config/run_mode.hpp>

namespace gale::app {
namespace {

constexpr std::int64_t kExitMarginSeconds = 3;  // after gale's last shutdown step: destructors, log flush, exit
constexpr int kReadinessTimeoutSeconds = 1;     // kubelet's default; gale answers probes within a fixed budget
constexpr int kReadinessFailures = 2;           // one slow probe does not take a pod out of its Service
constexpr int kMaxReadinessPeriodSeconds = 10;  // readiness also reports overload: notice it within seconds
constexpr std::uint32_t kRunAsUser = 10001;     // the image's non-root user (deploy/Dockerfile)
constexpr int kBeatReplicasWithLease = 2;       // one leader and one standby; more only contend for the lease

std::string Quote(std::string_view s) {
    std::string out = "\"";
    for (char ch : s) {
        auto c = static_cast<unsigned char>(ch);
        switch (c) {
            case '"':
                out += "\\\"";
                break;
            case '\\':
                out += "\\\\";
                break;
            case '\n':
                out += "\\n";
                break;
            case '\t':
                out += "\\t";
                break;
            case '\r':
                out += "\\r";
                break;
            default:
                if (c < 0x20 || c == 0x7f) {
                    out += fmt::format("\\x{:02x}", c);
                } else {
                    out += ch;
                }
        }
    }
    out += '"';
    return out;
}

std::string Lower(std::string_view s) {
    std::string out(s);
    std::transform(out.begin(), out.end(), out.begin(), [](unsigned char c) { return std::tolower(c); });
    return out;
}

/// "0.1.0+build.7" → "0-1-0-build-7": a DNS-1123 label fragment for the per-release Job name.
std::string NameFragment(std::string_view s) {
    std::string out;
    for (char ch : Lower(s)) {
        bool alnum = std::isalnum(static_cast<unsigned char>(ch)) != 0;
        if (alnum) {
            out += ch;
        } else if (!out.empty() && out.back() != '-') {
            out += '-';
        }
    }
    while (!out.empty() && out.back() == '-') out.pop_back();
    return out;
}

std::string Seconds(std::chrono::milliseconds d) { return fmt::format("{}ms", d.count()); }

/// For comments and messages: "5s", "1500ms".
std::string Human(std::chrono::milliseconds d) {
    return d.count() % 1000 == 0 ? fmt::format("{}s", d.count() / 1000) : fmt::format("{}ms", d.count());
}

bool HasMode(const K8sInputs& in, config::RunMode mode) {
    return std::any_of(in.run_modes.begin(), in.run_modes.end(), [&](const std::string& m) {
        auto parsed = config::ParseRunMode(m);
        return parsed && *parsed == mode;
    });
}

bool Integrated(const K8sInputs& in) { return in.probe_port == in.port; }

bool IsRedis(const K8sInputs& in) { return in.broker_scheme == "redis" || in.broker_scheme == "rediss"; }
bool IsAmqp(const K8sInputs& in) { return in.broker_scheme == "amqp" || in.broker_scheme == "amqps"; }
/// KEDA's objects are rendered: asked for, with a worker to scale.
bool RendersKeda(const K8sInputs& in) { return in.keda && HasMode(in, config::RunMode::kWorker); }
bool BeatHasLease(const K8sInputs& in) { return in.database_engine == "postgresql"; }

std::string Join(const std::vector<std::string>& items, std::string_view sep) {
    std::string out;
    for (const auto& item : items) {
        if (!out.empty()) out += sep;
        out += item;
    }
    return out;
}

std::string ConfigMapName(const K8sInputs& in) { return in.service + "-env"; }
std::string SecretName(const K8sInputs& in) { return in.service + "-secrets"; }
/// Contract variables that the manifests set per workload (env wins over envFrom, but an empty placeholder for
/// APP_WORKER_COUNT would still stop the process as non-numeric), so they stay out of the ConfigMap and Secret.
/// DATABASE_ENGINE is the engine the manifests were rendered for; GALE_WORKER_QUEUES the queues they scale on.
bool IsWorkloadVar(std::string_view name) {
    return name == "APP_RUN_MODE" || name == "APP_TASK_COMMANDS" || name == "APP_WORKER_COUNT" ||
           name == "DATABASE_ENGINE" || name == "GALE_WORKER_QUEUES";
}

/// WEB, CONSUME and WORKER pods wait (--check-migrations) for the TASK Job's migrations.
bool WaitsForMigrations(const K8sInputs& in) {
    return in.wait_for_migrations && in.declares_migrations && HasMode(in, config::RunMode::kTask);
}

bool InStore(const std::pair<std::string, bool>& var, bool secret) {
    return var.second == secret && !IsWorkloadVar(var.first);
}

bool HasVars(const K8sInputs& in, bool secret) {
    return std::any_of(in.env_vars.begin(), in.env_vars.end(), [&](const auto& v) { return InStore(v, secret); });
}

/// Appends YAML lines with a fixed indentation prefix.
class Writer {
public:
    explicit Writer(std::string& out) : out_(out) {}
    void Line(int indent, std::string_view text) {
        out_.append(static_cast<std::size_t>(indent), ' ');
        out_ += text;
        out_ += '\n';
    }
    void Document() { out_ += "---\n"; }

private:
    std::string& out_;
};

void Metadata(Writer& w, int indent, const K8sInputs& in, const std::string& name, std::string_view component) {
    w.Line(indent, "metadata:");
    w.Line(indent + 2, "name: " + Quote(name));
    if (!in.namespace_name.empty()) w.Line(indent + 2, "namespace: " + Quote(in.namespace_name));
    w.Line(indent + 2, "labels:");
    w.Line(indent + 4, "app.kubernetes.io/name: " + Quote(in.service));
    w.Line(indent + 4, "app.kubernetes.io/version: " + Quote(in.version));
    if (!component.empty()) w.Line(indent + 4, "app.kubernetes.io/component: " + Quote(component));
    w.Line(indent + 4, "app.kubernetes.io/managed-by: \"gale\"");
}

void PodLabels(Writer& w, int indent, const K8sInputs& in, std::string_view component) {
    w.Line(indent, "labels:");
    w.Line(indent + 2, "app.kubernetes.io/name: " + Quote(in.service));
    w.Line(indent + 2, "app.kubernetes.io/version: " + Quote(in.version));
    w.Line(indent + 2, "app.kubernetes.io/component: " + Quote(component));
}

void Env(Writer& w, int indent, std::string_view name, std::string_view value) {
    w.Line(indent, "- name: " + Quote(name));
    w.Line(indent + 2, "value: " + Quote(value));
}

void HttpProbe(Writer& w, int indent, std::string_view probe, std::string_view path, std::string_view port,
               ProbeTiming t) {
    w.Line(indent, std::string(probe) + ":");
    w.Line(indent + 2, "httpGet:");
    w.Line(indent + 4, "path: " + Quote(path));
    w.Line(indent + 4, "port: " + Quote(port));
    w.Line(indent + 2, fmt::format("periodSeconds: {}", t.period_seconds));
    w.Line(indent + 2, fmt::format("timeoutSeconds: {}", t.timeout_seconds));
    w.Line(indent + 2, fmt::format("failureThreshold: {}", t.failure_threshold));
}

/// The pod spec shared by the WEB, CONSUME, WORKER and BEAT Deployments and the TASK Job (from "spec:" of the
/// template, at `indent`).
void PodSpec(Writer& w, int indent, const K8sInputs& in, config::RunMode mode) {
    const bool web = mode == config::RunMode::kWeb;
    const bool consume = mode == config::RunMode::kConsume;
    const bool worker = mode == config::RunMode::kWorker;
    const bool beat = mode == config::RunMode::kBeat;
    const bool probe_only = consume || worker || beat;  // the probe server is all that listens
    const bool probed = web || probe_only;              // long-running roles with the probe server
    // CONSUME, WORKER and BEAT serve no app port: their only port is the probe server's, always named "metrics".
    const std::string probe_port_name = web && Integrated(in) ? "http" : "metrics";
    w.Line(indent, "spec:");
    const int s = indent + 2;
    if (mode == config::RunMode::kTask) w.Line(s, "restartPolicy: \"Never\"");
    if (web) {
        w.Line(s, "# No preStop hook: gale drains itself. On SIGTERM readiness fails at once (so endpoints drop the");
        w.Line(s, "# pod) while the app keeps serving for the drain delay, then waits for in-flight requests up to");
        w.Line(s, "# the graceful timeout, then sends its last webhooks.");
    }
    if (consume) {
        w.Line(s, "# No preStop hook: on SIGTERM the consumer fails readiness, finishes the round in flight (the");
        w.Line(s, "# record being saved is saved and committed, or not at all) and exits 0. It does not wait the");
        w.Line(s, "# drain delay; the grace period is WEB's, room for a slow Save and its retries before SIGKILL.");
    }
    if (worker) {
        w.Line(s, "# No preStop hook: on SIGTERM the worker fails readiness and stops fetching at once (unstarted");
        w.Line(s, "# messages go back to the queue), the running tasks get the graceful timeout to finish, and any");
        w.Line(s,
               "# still running then are not acknowledged, so the broker redelivers them. The drain delay is slack.");
    }
    if (beat) {
        w.Line(s, "# No preStop hook: on SIGTERM the scheduler stops sending and exits; a standby (with the lease)");
        w.Line(s, "# takes over.");
    }
    w.Line(s, fmt::format("# terminationGracePeriodSeconds {} = drain delay {} + graceful timeout {} + shutdown "
                          "webhooks {}, rounded up, + {} s for exit.",
                          TerminationGracePeriodSeconds(in), Human(in.drain_delay), Human(in.graceful_timeout),
                          Human(in.webhook_budget), kExitMarginSeconds));
    w.Line(s, fmt::format("terminationGracePeriodSeconds: {}", TerminationGracePeriodSeconds(in)));
    w.Line(s, "automountServiceAccountToken: false");
    w.Line(s, "securityContext:");
    w.Line(s + 2, "runAsNonRoot: true");
    w.Line(s + 2, fmt::format("runAsUser: {}", kRunAsUser));
    w.Line(s + 2, fmt::format("runAsGroup: {}", kRunAsUser));
    w.Line(s + 2, fmt::format("fsGroup: {}", kRunAsUser));
    w.Line(s + 2, "seccompProfile:");
    w.Line(s + 4, "type: \"RuntimeDefault\"");
    w.Line(s, "containers:");
    const int c = s + 2;
    w.Line(c, "- name: " + Quote(Lower(config::ToString(mode))));
    const int k = c + 2;
    w.Line(k, "image: " + Quote(in.image));
    w.Line(k, "imagePullPolicy: \"IfNotPresent\"");
    if (web) {
        w.Line(k, "ports:");
        w.Line(k + 2, "- name: \"http\"");
        w.Line(k + 4, fmt::format("containerPort: {}", in.port));
        w.Line(k + 4, "protocol: \"TCP\"");
        if (!Integrated(in)) {
            w.Line(k + 2, "- name: \"metrics\"");
            w.Line(k + 4, fmt::format("containerPort: {}", in.probe_port));
            w.Line(k + 4, "protocol: \"TCP\"");
        }
    }
    if (probe_only) {
        w.Line(k, "ports:");
        w.Line(k + 2, "- name: \"metrics\"");
        w.Line(k + 4, fmt::format("containerPort: {}", in.probe_port));
        w.Line(k + 4, "protocol: \"TCP\"");
    }
    w.Line(k, "env:");
    Env(w, k + 2, "APP_RUN_MODE", std::string(config::ToString(mode)));
    Env(w, k + 2, "GALE_PROFILE", in.profile);  // production: debug off, secret key required, security headers
    Env(w, k + 2, "DATABASE_ENGINE", in.database_engine);  // what the manifests were rendered (and checked) for
    if (mode == config::RunMode::kTask) Env(w, k + 2, "APP_TASK_COMMANDS", in.task_commands);
    if (web) {
        // Pinned so the process serves exactly what the probes and the Service point at.
        Env(w, k + 2, "GALE_PORT", std::to_string(in.port));
        Env(w, k + 2, "GALE_PROBE_PORT", std::to_string(in.probe_port));
        Env(w, k + 2, "GALE_STARTUP_PROBE", in.startup_path);
        Env(w, k + 2, "GALE_READINESS_PROBE", in.readiness_path);
        Env(w, k + 2, "GALE_LIVENESS_PROBE", in.liveness_path);
        Env(w, k + 2, "GALE_METRICS_PATH", in.metrics_path);
        Env(w, k + 2, "GALE_DRAIN_DELAY", Seconds(in.drain_delay));
        Env(w, k + 2, "GALE_GRACEFUL_TIMEOUT", Seconds(in.graceful_timeout));
        if (in.workers > 0) Env(w, k + 2, "APP_WORKER_COUNT", std::to_string(in.workers));
        if (WaitsForMigrations(in)) Env(w, k + 2, "GALE_CHECK_MIGRATIONS", "true");
    }
    if (consume) {
        // The probe server is all that listens; pinned so it serves what the probes point at. The drain delay,
        // graceful timeout and workers are not read by `consume`, so they are not set.
        Env(w, k + 2, "GALE_PROBE_PORT", std::to_string(in.probe_port));
        Env(w, k + 2, "GALE_STARTUP_PROBE", in.startup_path);
        Env(w, k + 2, "GALE_READINESS_PROBE", in.readiness_path);
        Env(w, k + 2, "GALE_LIVENESS_PROBE", in.liveness_path);
        Env(w, k + 2, "GALE_METRICS_PATH", in.metrics_path);
        // Consumers save into the service's tables: wait for the TASK Job's migrations as WEB does.
        if (WaitsForMigrations(in)) Env(w, k + 2, "GALE_CHECK_MIGRATIONS", "true");
    }
    if (worker || beat) {
        // The probe server is all that listens; pinned so it serves what the probes point at.
        Env(w, k + 2, "GALE_PROBE_PORT", std::to_string(in.probe_port));
        Env(w, k + 2, "GALE_STARTUP_PROBE", in.startup_path);
        Env(w, k + 2, "GALE_READINESS_PROBE", in.readiness_path);
        Env(w, k + 2, "GALE_LIVENESS_PROBE", in.liveness_path);
        Env(w, k + 2, "GALE_METRICS_PATH", in.metrics_path);
    }
    if (worker) {
        // The worker reads serve's timing: the graceful timeout is what running tasks get, and the grace period
        // above was computed from both.
        Env(w, k + 2, "GALE_DRAIN_DELAY", Seconds(in.drain_delay));
        Env(w, k + 2, "GALE_GRACEFUL_TIMEOUT", Seconds(in.graceful_timeout));
        // The queues it consumes, pinned: the ones the ScaledObject watches (with KEDA) and the YAML names.
        Env(w, k + 2, "GALE_WORKER_QUEUES", Join(in.worker_queues, ","));
        if (in.workers > 0) Env(w, k + 2, "APP_WORKER_COUNT", std::to_string(in.workers));  // task threads
        // Tasks write to the service's tables: wait for the TASK Job's migrations as WEB does.
        if (WaitsForMigrations(in)) Env(w, k + 2, "GALE_CHECK_MIGRATIONS", "true");
    }
    if (HasVars(in, false) || HasVars(in, true)) {
        w.Line(k, "envFrom:");
        if (HasVars(in, false)) {
            w.Line(k + 2, "- configMapRef:");
            w.Line(k + 6, "name: " + Quote(ConfigMapName(in)));
        }
        if (HasVars(in, true)) {
            w.Line(k + 2, "- secretRef:");
            w.Line(k + 6, "name: " + Quote(SecretName(in)));
        }
    }
    if (probed) {
        // Startup: generous, since --check-migrations and start-up commands hold it (5 min at 2 s). Readiness:
        // derived from the drain delay (ReadinessTiming). Liveness: gale's watchdog already waits
        // --watchdog-timeout (10 s) before failing, so 3 misses at 10 s is a hung process, not a slow one (for
        // CONSUME: the consume loop has not turned, e.g. a Save stuck).
        const ProbeTiming ready = ReadinessTiming(in);
        HttpProbe(w, k, "startupProbe", in.startup_path, probe_port_name, {2, 2, 150});
        if (web) {
            w.Line(k, fmt::format("# Readiness: {} s x {} + {} s = {} s <= the drain delay ({}): the endpoints drop "
                                  "the pod while it still serves.",
                                  ready.period_seconds, ready.failure_threshold, ready.timeout_seconds,
                                  ready.period_seconds * ready.failure_threshold + ready.timeout_seconds,
                                  Human(in.drain_delay)));
        }
        HttpProbe(w, k, "readinessProbe", in.readiness_path, probe_port_name, ready);
        if (worker) {
            const ProbeTiming live = WorkerLivenessTiming();
            w.Line(k, fmt::format("# Liveness: {} s x {} (timeout {} s): task threads share the CPU limit with the "
                                  "probe server, and a restart loses every running task.",
                                  live.period_seconds, live.failure_threshold, live.timeout_seconds));
            HttpProbe(w, k, "livenessProbe", in.liveness_path, probe_port_name, live);
        } else {
            HttpProbe(w, k, "livenessProbe", in.liveness_path, probe_port_name, {10, 3, 3});
        }
    }
    w.Line(k, "resources:");
    w.Line(k + 2, "requests:");
    w.Line(k + 4, "cpu: " + Quote(in.cpu_request));
    w.Line(k + 4, "memory: " + Quote(in.memory_request));
    w.Line(k + 2, "limits:");
    if (!in.cpu_limit.empty()) w.Line(k + 4, "cpu: " + Quote(in.cpu_limit));
    w.Line(k + 4, "memory: " + Quote(in.memory_limit));
    w.Line(k, "securityContext:");
    w.Line(k + 2, "allowPrivilegeEscalation: false");
    w.Line(k + 2, "readOnlyRootFilesystem: true");
    w.Line(k + 2, "runAsNonRoot: true");
    w.Line(k + 2, "capabilities:");
    w.Line(k + 4, "drop:");
    w.Line(k + 6, "- \"ALL\"");
    w.Line(k, "volumeMounts:");
    w.Line(k + 2, "- name: \"data\"");
    w.Line(k + 4, "mountPath: " + Quote(in.data_dir));
    w.Line(k + 2, "- name: \"tmp\"");
    w.Line(k + 4, "mountPath: \"/tmp\"");
    w.Line(s, "# The root filesystem is read-only: SQLite files and temporary files go to these per-pod volumes");
    w.Line(s, "# (emptyDir: gone with the pod; use a PersistentVolumeClaim or a database server for shared state).");
    w.Line(s, "volumes:");
    w.Line(s + 2, "- name: \"data\"");
    w.Line(s + 4, "emptyDir: {}");
    w.Line(s + 2, "- name: \"tmp\"");
    w.Line(s + 4, "emptyDir: {}");
}

void RenderConfigMap(Writer& w, const K8sInputs& in) {
    w.Document();
    w.Line(0, "# The non-secret variables of the environment contract; empty values are placeholders to fill in.");
    w.Line(0, "apiVersion: \"v1\"");
    w.Line(0, "kind: \"ConfigMap\"");
    Metadata(w, 0, in, ConfigMapName(in), "");
    w.Line(0, "data:");
    for (const auto& var : in.env_vars) {
        if (InStore(var, false)) w.Line(2, var.first + ": \"\"");
    }
}

void RenderSecret(Writer& w, const K8sInputs& in) {
    w.Document();
    w.Line(0, "# The secret variables of the environment contract: a skeleton. Fill the values in at deploy time");
    w.Line(0, "# (or manage this Secret with your secret store's operator); never commit real values.");
    w.Line(0, "apiVersion: \"v1\"");
    w.Line(0, "kind: \"Secret\"");
    Metadata(w, 0, in, SecretName(in), "");
    w.Line(0, "type: \"Opaque\"");
    w.Line(0, "stringData:");
    for (const auto& var : in.env_vars) {
        if (InStore(var, true)) w.Line(2, var.first + ": \"\"");
    }
}

/// A Deployment's selector (`spec.selector`, at indent 2): no version, since a selector is immutable and the version
/// changes every release.
void Selector(Writer& w, const K8sInputs& in, std::string_view component) {
    w.Line(2, "selector:");
    w.Line(4, "matchLabels:");
    w.Line(6, "app.kubernetes.io/name: " + Quote(in.service));
    w.Line(6, fmt::format("app.kubernetes.io/component: \"{}\"", component));
}

/// `spec.template.metadata` of a long-running pod: its labels and the Prometheus scrape annotations.
void TemplateMetadata(Writer& w, const K8sInputs& in, std::string_view component) {
    w.Line(2, "template:");
    w.Line(4, "metadata:");
    PodLabels(w, 6, in, component);
    w.Line(6, "annotations:");
    w.Line(8, "prometheus.io/scrape: \"true\"");
    w.Line(8, "prometheus.io/port: " + Quote(std::to_string(in.probe_port)));
    w.Line(8, "prometheus.io/path: " + Quote(in.metrics_path));
    // The database that --check-migrations waits on, when it is not gale's DATABASE_* one (deploy/check_manifests.py
    // reads it: DATABASE_ENGINE=sqlite is then only where gale's own tables would be).
    if (WaitsForMigrations(in) && !in.migrations_database.empty()) {
        w.Line(8, "gale.dev/migrations-database: " + Quote(in.migrations_database));
    }
}

void RenderWeb(Writer& w, const K8sInputs& in) {
    const std::string name = in.service + "-web";
    w.Document();
    w.Line(0, "apiVersion: \"apps/v1\"");
    w.Line(0, "kind: \"Deployment\"");
    Metadata(w, 0, in, name, "web");
    w.Line(0, "spec:");
    w.Line(2, fmt::format("replicas: {}", in.replicas));
    Selector(w, in, "web");
    w.Line(2, "strategy:");
    w.Line(4, "type: \"RollingUpdate\"");
    w.Line(4, "rollingUpdate:");
    w.Line(6, "maxSurge: \"25%\"");
    w.Line(6, "maxUnavailable: 0");
    TemplateMetadata(w, in, "web");
    PodSpec(w, 4, in, config::RunMode::kWeb);

    w.Document();
    w.Line(0, "apiVersion: \"v1\"");
    w.Line(0, "kind: \"Service\"");
    Metadata(w, 0, in, in.service, "web");
    w.Line(0, "spec:");
    w.Line(2, "type: \"ClusterIP\"");
    w.Line(2, "selector:");
    w.Line(4, "app.kubernetes.io/name: " + Quote(in.service));
    w.Line(4, "app.kubernetes.io/component: \"web\"");
    w.Line(2, "ports:");
    w.Line(4, "- name: \"http\"");
    w.Line(6, "port: 80");
    w.Line(6, "targetPort: \"http\"");
    w.Line(6, "protocol: \"TCP\"");
    if (!Integrated(in)) {
        w.Line(4, "- name: \"metrics\"");
        w.Line(6, fmt::format("port: {}", in.probe_port));
        w.Line(6, "targetPort: \"metrics\"");
        w.Line(6, "protocol: \"TCP\"");
    }
}

void RenderConsume(Writer& w, const K8sInputs& in) {
    w.Document();
    w.Line(0, "apiVersion: \"apps/v1\"");
    w.Line(0, "kind: \"Deployment\"");
    Metadata(w, 0, in, in.service + "-consume", "consume");
    w.Line(0, "spec:");
    w.Line(2, "# Exactly one consumer pod: do not scale it. gale's Kafka consumer assigns every partition of its");
    w.Line(2, "# topic to itself (as django-logpipe does: no consumer-group rebalancing), and the embedded-log and");
    w.Line(2, "# Kinesis consumers likewise read the whole topic or stream, so two pods, including the overlap of a");
    w.Line(2, "# RollingUpdate, would process the same records twice. Recreate stops the old pod (which drains on");
    w.Line(2, "# SIGTERM) before the new one starts. No Service: nothing connects to a consumer.");
    w.Line(2, "replicas: 1");
    Selector(w, in, "consume");
    w.Line(2, "strategy:");
    w.Line(4, "type: \"Recreate\"");
    TemplateMetadata(w, in, "consume");
    PodSpec(w, 4, in, config::RunMode::kConsume);
}

void RenderWorker(Writer& w, const K8sInputs& in) {
    w.Document();
    w.Line(0, "apiVersion: \"apps/v1\"");
    w.Line(0, "kind: \"Deployment\"");
    Metadata(w, 0, in, in.service + "-worker", "worker");
    w.Line(0, "spec:");
    w.Line(2, "# Celery workers compete for the queue's messages, so replicas share the work and a rolling update");
    w.Line(2, "# may overlap. No Service: nothing connects to a worker.");
    if (RendersKeda(in)) {
        w.Line(2, "# No replicas: the ScaledObject below sets them (between its min and max), and a count here would");
        w.Line(2, "# be reset by every `kubectl apply`.");
    } else {
        w.Line(2, fmt::format("replicas: {}", in.worker_replicas));
    }
    Selector(w, in, "worker");
    w.Line(2, "strategy:");
    w.Line(4, "type: \"RollingUpdate\"");
    w.Line(4, "rollingUpdate:");
    w.Line(6, "maxSurge: \"25%\"");
    w.Line(6, "maxUnavailable: 0");
    TemplateMetadata(w, in, "worker");
    PodSpec(w, 4, in, config::RunMode::kWorker);
}

void RenderBeat(Writer& w, const K8sInputs& in) {
    const bool lease = BeatHasLease(in);
    w.Document();
    w.Line(0, "apiVersion: \"apps/v1\"");
    w.Line(0, "kind: \"Deployment\"");
    Metadata(w, 0, in, in.service + "-beat", "beat");
    w.Line(0, "spec:");
    if (lease) {
        w.Line(2, "# Two schedulers, one sender: the lease in the PostgreSQL database lets exactly one pod send the");
        w.Line(2,
               "# periodic tasks, and the standby takes over within the lease (about 30 s) when the leader's pod or");
        w.Line(2, "# node dies (one pod would be replaced only once the node is declared lost, minutes later). The");
        w.Line(2, "# rollout adds a pod before it removes one, so there is always a standby.");
        w.Line(2, fmt::format("replicas: {}", kBeatReplicasWithLease));
    } else {
        w.Line(2, "# Exactly one scheduler pod: do not scale it. On SQLite the lease is a file in each pod's own");
        w.Line(2, "# emptyDir, so two pods would both lead and send every periodic task twice. Recreate stops the old");
        w.Line(2, "# pod before the new one starts. Render with DATABASE_ENGINE=postgresql for a standby.");
        w.Line(2, "replicas: 1");
    }
    Selector(w, in, "beat");
    w.Line(2, "strategy:");
    if (lease) {
        w.Line(4, "type: \"RollingUpdate\"");
        w.Line(4, "rollingUpdate:");
        w.Line(6, "maxSurge: 1");
        w.Line(6, "maxUnavailable: 0");
    } else {
        w.Line(4, "type: \"Recreate\"");
    }
    TemplateMetadata(w, in, "beat");
    PodSpec(w, 4, in, config::RunMode::kBeat);
}

std::string RedisAddress(const K8sInputs& in) {
    const bool ipv6 = in.broker_host.find(':') != std::string::npos;
    return fmt::format("{}{}{}:{}", ipv6 ? "[" : "", in.broker_host, ipv6 ? "]" : "",
                       in.broker_port != 0 ? in.broker_port : 6379);
}

std::string KedaSecretName(const K8sInputs& in) { return in.service + "-keda"; }

void RenderKeda(Writer& w, const K8sInputs& in) {
    const std::string name = in.service + "-worker";
    if (IsRedis(in)) {
        w.Document();
        w.Line(0, "# For KEDA's redis trigger: the user and password of the broker in CELERY_BROKER_URL (the trigger");
        w.Line(0, "# takes them apart from the address). Fill them in at deploy time; empty: none.");
        w.Line(0, "apiVersion: \"v1\"");
        w.Line(0, "kind: \"Secret\"");
        Metadata(w, 0, in, KedaSecretName(in), "worker");
        w.Line(0, "type: \"Opaque\"");
        w.Line(0, "stringData:");
        w.Line(2, "redis-username: \"\"");
        w.Line(2, "redis-password: \"\"");
    }
    w.Document();
    w.Line(0, "# KEDA (keda.sh) reads the broker with these credentials to scale the worker.");
    w.Line(0, "apiVersion: \"keda.sh/v1alpha1\"");
    w.Line(0, "kind: \"TriggerAuthentication\"");
    Metadata(w, 0, in, name, "worker");
    w.Line(0, "spec:");
    w.Line(2, "secretTargetRef:");
    auto ref = [&](std::string_view parameter, const std::string& secret, std::string_view key) {
        w.Line(4, "- parameter: " + Quote(parameter));
        w.Line(6, "name: " + Quote(secret));
        w.Line(6, "key: " + Quote(key));
    };
    if (IsRedis(in)) {
        ref("username", KedaSecretName(in), "redis-username");
        ref("password", KedaSecretName(in), "redis-password");
    } else {
        ref("host", SecretName(in), "CELERY_BROKER_URL");  // amqp://user:password@host:port/vhost, as the pods use
    }

    w.Document();
    w.Line(0,
           "# The worker's replicas follow the length of its queues: KEDA makes (and owns) a HorizontalPodAutoscaler");
    w.Line(0, fmt::format("# for {}, aiming at {} waiting messages per pod on the longest queue. A pod removed by a "
                          "scale-down drains",
                          Quote(name), in.keda_queue_length));
    w.Line(0, "# as on any SIGTERM: running tasks get the graceful timeout, the rest go back to the queue.");
    w.Line(0, "apiVersion: \"keda.sh/v1alpha1\"");
    w.Line(0, "kind: \"ScaledObject\"");
    Metadata(w, 0, in, name, "worker");
    w.Line(0, "spec:");
    w.Line(2, "scaleTargetRef:");
    w.Line(4, "apiVersion: \"apps/v1\"");
    w.Line(4, "kind: \"Deployment\"");
    w.Line(4, "name: " + Quote(name));
    w.Line(2, fmt::format("minReplicaCount: {}", in.keda_min_replicas));
    w.Line(2, fmt::format("maxReplicaCount: {}", in.keda_max_replicas));
    w.Line(2, "triggers:");
    const std::string target = std::to_string(in.keda_queue_length);
    for (const auto& queue : in.worker_queues) {
        if (IsRedis(in)) {
            // kombu's list for the queue (priority 0; tasks sent with a priority wait in "<queue>\x06\x16<n>").
            w.Line(4, "- type: \"redis\"");
            w.Line(6, "metadata:");
            w.Line(8, "address: " + Quote(RedisAddress(in)));
            w.Line(8, "databaseIndex: " + Quote(in.broker_database.empty() ? "0" : in.broker_database));
            if (in.broker_scheme == "rediss") w.Line(8, "enableTLS: \"true\"");
            w.Line(8, "listName: " + Quote(queue));
            w.Line(8, "listLength: " + Quote(target));
        } else {
            w.Line(4, "- type: \"rabbitmq\"");
            w.Line(6, "metadata:");
            w.Line(8, "protocol: \"amqp\"");
            w.Line(8, "mode: \"QueueLength\"");
            w.Line(8, "queueName: " + Quote(queue));
            w.Line(8, "value: " + Quote(target));
        }
        w.Line(6, "authenticationRef:");
        w.Line(8, "name: " + Quote(name));
    }
}

void RenderTask(Writer& w, const K8sInputs& in) {
    w.Document();
    w.Line(0, "# One Job per release (its name carries the version): a Job's pod template cannot be changed, and");
    w.Line(0, "# the finished Job is cleaned up after a day.");
    w.Line(0, "apiVersion: \"batch/v1\"");
    w.Line(0, "kind: \"Job\"");
    Metadata(w, 0, in, in.service + "-task-" + NameFragment(in.version), "task");
    w.Line(0, "spec:");
    w.Line(2, "backoffLimit: 3");
    w.Line(2, "ttlSecondsAfterFinished: 86400");
    w.Line(2, "template:");
    w.Line(4, "metadata:");
    PodLabels(w, 6, in, "task");
    PodSpec(w, 4, in, config::RunMode::kTask);
}

bool IsDns1035Label(const std::string& s) {
    static const std::regex re("[a-z]([-a-z0-9]*[a-z0-9])?");
    return s.size() <= 63 && std::regex_match(s, re);
}

bool IsLabelValue(const std::string& s) {
    static const std::regex re("(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?");
    return s.size() <= 63 && std::regex_match(s, re);
}

bool IsQuantity(const std::string& s) {
    static const std::regex re(R"([0-9]+(\.[0-9]+)?(m|k|M|G|T|Ki|Mi|Gi|Ti)?)");
    return std::regex_match(s, re);
}

bool IsProbePath(const std::string& s) {
    return !s.empty() && s.front() == '/' && s.find_first_of(" \t?#\"\\") == std::string::npos;
}

bool IsEnvName(const std::string& s) {
    static const std::regex re("[A-Za-z_][A-Za-z0-9_]*");
    return std::regex_match(s, re);
}

bool IsLoopback(const std::string& host) {
    return host == "localhost" || host == "::1" || host.rfind("127.", 0) == 0 || host.ends_with(".localhost");
}

/// WORKER, BEAT and KEDA: the broker every pod must reach, replica counts, queues.
void ValidateTasks(const K8sInputs& in, std::vector<std::string>& problems) {
    const bool worker = HasMode(in, config::RunMode::kWorker);
    const bool beat = HasMode(in, config::RunMode::kBeat);
    const bool known_scheme = in.broker_scheme == "sqlite" || IsRedis(in) || IsAmqp(in);
    if (!known_scheme) {
        problems.push_back(
            fmt::format("broker scheme: '{}' is not sqlite, redis, rediss, amqp or amqps", in.broker_scheme));
    } else if ((worker || beat) && in.broker_scheme == "sqlite") {
        problems.push_back(fmt::format(
            "CELERY_BROKER_URL: the embedded queue (sqlite), but it is a file in each pod's own emptyDir volume "
            "({}): the tasks that WEB and BEAT pods send would stay in their own files and never reach a {} pod; "
            "render for a broker server: CELERY_BROKER_URL=redis://... or amqp://... (or RABBITMQ_HOST)",
            in.data_dir, worker ? "WORKER" : "BEAT"));
    } else if ((worker || beat) && in.broker_scheme == "rediss") {
        problems.emplace_back(
            "CELERY_BROKER_URL: rediss:// (TLS), but gale's Redis adapter refuses it (Debian's hiredis has no TLS), so "
            "the pods would exit at start; use redis:// on a private network, or amqps://");
    }
    if (in.worker_replicas < 0) {
        problems.push_back(fmt::format("worker replicas: {} is negative", in.worker_replicas));
    }
    if (worker) {
        if (in.worker_queues.empty()) problems.emplace_back("worker queues: none (GALE_WORKER_QUEUES)");
        for (const auto& q : in.worker_queues) {
            if (q.empty() || q.find_first_of(", \t\n") != std::string::npos) {
                problems.push_back(fmt::format("worker queue '{}': empty or with a comma or a space", q));
            }
        }
    }
    if (!in.keda) return;
    if (!worker) {
        problems.emplace_back("keda: there is no WORKER to scale (add WORKER to the run modes)");
        return;
    }
    if (in.keda_min_replicas < 0) {
        problems.push_back(fmt::format("keda min replicas: {} is negative", in.keda_min_replicas));
    }
    if (in.keda_max_replicas < 1 || in.keda_max_replicas < in.keda_min_replicas) {
        problems.push_back(fmt::format("keda max replicas: {} must be at least 1 and at least the min replicas ({})",
                                       in.keda_max_replicas, in.keda_min_replicas));
    }
    if (in.keda_queue_length < 1) {
        problems.push_back(
            fmt::format("keda queue length: {} must be at least 1 message per pod", in.keda_queue_length));
    }
    if (!known_scheme || in.broker_scheme == "sqlite") {
        if (known_scheme) {
            problems.emplace_back(
                "keda: KEDA has no trigger for the embedded queue (sqlite); use a Redis or RabbitMQ broker");
        }
        return;
    }
    if (IsAmqp(in)) {
        const bool url_in_secret = std::any_of(in.env_vars.begin(), in.env_vars.end(), [](const auto& v) {
            return v.first == "CELERY_BROKER_URL" && v.second;
        });
        if (in.broker_from_rabbitmq_vars) {
            problems.emplace_back(
                "keda: the broker comes from RABBITMQ_HOST (base-python's RABBITMQ_* variables), but KEDA's rabbitmq "
                "trigger reads one URL from the Secret; set CELERY_BROKER_URL=amqp://user:password@host:5672/vhost "
                "instead");
        } else if (!url_in_secret) {
            problems.emplace_back(
                "keda: CELERY_BROKER_URL is not a secret variable of the contract, so the Secret has no key for the "
                "TriggerAuthentication to read");
        }
    }
    if (IsRedis(in)) {
        if (in.broker_host.empty()) {
            problems.emplace_back("keda: the Redis broker has no host (CELERY_BROKER_URL=redis://host:6379/0)");
        } else if (IsLoopback(in.broker_host)) {
            problems.push_back(fmt::format(
                "CELERY_BROKER_URL: host '{}' is a loopback address, but KEDA's redis trigger connects from KEDA's own "
                "pod; render with the cluster's Redis (e.g. redis://redis.<namespace>.svc:6379/0)",
                in.broker_host));
        }
        if (in.broker_port < 0 || in.broker_port > 65535) {
            problems.push_back(fmt::format("broker port: {} is not a port", in.broker_port));
        }
        if (!in.broker_database.empty() && in.broker_database.find_first_not_of("0123456789") != std::string::npos) {
            problems.push_back(fmt::format("broker database: '{}' is not a Redis database index", in.broker_database));
        }
    }
}

/// Why a service that keeps tables cannot have its database in a file of each pod: the problem for ValidateK8sInputs.
/// `what`: the setting and its value; `database`: how to name that database; `fix`: what to render with instead.
std::string PerPodDatabase(std::string_view what, std::string_view database, std::string_view data_dir,
                           std::string_view fix) {
    return fmt::format(
        "{}, but the service keeps tables (it declares migrations) and {} is a file in each pod's own emptyDir "
        "volume ({}): a TASK Job would migrate only its own copy while WEB and CONSUME pods wait for it forever, and "
        "no two pods would share data, all of it lost with the pod; render {}",
        what, database, data_dir, fix);
}

}  // namespace

std::int64_t TerminationGracePeriodSeconds(const K8sInputs& in) {
    const auto total = in.drain_delay + in.graceful_timeout + in.webhook_budget;
    return std::chrono::ceil<std::chrono::seconds>(total).count() + kExitMarginSeconds;
}

ProbeTiming WorkerLivenessTiming() { return {10, 5, 6}; }

int BeatReplicas(const K8sInputs& in) { return BeatHasLease(in) ? kBeatReplicasWithLease : 1; }

ProbeTiming ReadinessTiming(const K8sInputs& in) {
    // Whole seconds left for the periods once the last probe's timeout is taken off the drain delay.
    const std::int64_t room =
        std::chrono::floor<std::chrono::seconds>(in.drain_delay).count() - kReadinessTimeoutSeconds;
    const int failures = room >= kReadinessFailures ? kReadinessFailures : 1;
    const auto period = std::clamp<std::int64_t>(room / failures, 1, kMaxReadinessPeriodSeconds);
    return {static_cast<int>(period), kReadinessTimeoutSeconds, failures};
}

std::vector<std::string> ValidateK8sInputs(const K8sInputs& in) {
    std::vector<std::string> problems;
    // "-task-" + version fragment must still fit a 63-character name; keep service names short.
    if (!IsDns1035Label(in.service) || in.service.size() > 40) {
        problems.push_back(fmt::format(
            "service: '{}' must be a DNS-1035 label of at most 40 characters (lower-case letters, digits, '-')",
            in.service));
    }
    if (in.version.empty() || !IsLabelValue(in.version)) {
        problems.push_back(fmt::format("version: '{}' must be a Kubernetes label value (e.g. 0.1.0)", in.version));
    }
    if (in.image.empty() || in.image.find_first_of(" \t\n") != std::string::npos) {
        problems.push_back(fmt::format("image: '{}' is not an image reference", in.image));
    }
    if (in.run_modes.empty()) problems.emplace_back("run modes: none given (WEB, TASK, CONSUME, WORKER, BEAT)");
    std::set<config::RunMode> seen;
    for (const auto& mode : in.run_modes) {
        auto m = config::ParseRunMode(mode);
        if (!m) {
            problems.push_back(fmt::format("run mode '{}': unknown (WEB, TASK, CONSUME, WORKER, BEAT)", mode));
        } else if (!seen.insert(*m).second) {
            problems.push_back(fmt::format("run mode {}: given twice", config::ToString(*m)));
        }
    }
    if (in.port == 0) problems.emplace_back("port: 0 (any free port) cannot be probed; give a fixed port");
    if (in.probe_port == 0) problems.emplace_back("probe port: 0 cannot be probed; give a fixed port");
    for (const auto& [what, path] : {std::pair<const char*, const std::string&>{"startup path", in.startup_path},
                                     {"readiness path", in.readiness_path},
                                     {"liveness path", in.liveness_path},
                                     {"metrics path", in.metrics_path}}) {
        if (!IsProbePath(path)) {
            problems.push_back(
                fmt::format("{}: '{}' must start with '/', without spaces, quotes, '?' or '#'", what, path));
        }
    }
    if (in.drain_delay.count() < 0 || in.graceful_timeout.count() < 0 || in.webhook_budget.count() < 0) {
        problems.emplace_back("drain delay, graceful timeout and webhook budget must not be negative");
    } else if (HasMode(in, config::RunMode::kWeb)) {
        const ProbeTiming t = ReadinessTiming(in);
        const auto noticed = std::chrono::seconds(t.period_seconds * t.failure_threshold + t.timeout_seconds);
        if (noticed > in.drain_delay) {
            const int quickest = 1 * 1 + kReadinessTimeoutSeconds;
            problems.push_back(fmt::format(
                "drain delay: {} is shorter than the quickest readiness failure Kubernetes can see (periodSeconds 1 "
                "x failureThreshold 1 + timeoutSeconds {} = {} s), so endpoints would still route to the pod after "
                "it stops accepting; set --drain-delay (GALE_DRAIN_DELAY) to at least {}s",
                Human(in.drain_delay), kReadinessTimeoutSeconds, quickest, quickest));
        }
    }
    const bool own_database = !in.migrations_database.empty();
    if (in.database_engine != "sqlite" && in.database_engine != "postgresql") {
        problems.push_back(fmt::format("database engine: '{}' is not sqlite or postgresql", in.database_engine));
    } else if (own_database && in.declares_migrations && in.migrations_database_is_file) {
        problems.push_back(PerPodDatabase(
            fmt::format("{}: {}", in.migrations_database_setting, in.migrations_database), "that database", in.data_dir,
            "with settings that point it at a database server (e.g. django.db.backends.postgresql)"));
    } else if (!own_database && in.database_engine == "sqlite" && in.declares_migrations) {
        problems.push_back(
            PerPodDatabase("DATABASE_ENGINE: sqlite", "a SQLite database", in.data_dir,
                           "for a database server: DATABASE_ENGINE=postgresql (or DATABASE_URL=postgresql://...)"));
    }
    if (in.replicas < 0) problems.push_back(fmt::format("replicas: {} is negative", in.replicas));
    if (!in.namespace_name.empty() && !IsDns1035Label(in.namespace_name)) {
        problems.push_back(fmt::format("namespace: '{}' must be a DNS label", in.namespace_name));
    }
    for (const auto& [name, secret] : in.env_vars) {
        if (!IsEnvName(name)) problems.push_back(fmt::format("environment variable '{}': not a valid name", name));
    }
    for (const auto& [what, q] : {std::pair<const char*, const std::string&>{"cpu request", in.cpu_request},
                                  {"memory request", in.memory_request},
                                  {"memory limit", in.memory_limit}}) {
        if (!IsQuantity(q)) problems.push_back(fmt::format("{}: '{}' is not a Kubernetes quantity", what, q));
    }
    if (!in.cpu_limit.empty() && !IsQuantity(in.cpu_limit)) {
        problems.push_back(fmt::format("cpu limit: '{}' is not a Kubernetes quantity", in.cpu_limit));
    }
    if (in.data_dir.empty() || in.data_dir.front() != '/') {
        problems.push_back(fmt::format("data dir: '{}' must be an absolute path", in.data_dir));
    }
    if (HasMode(in, config::RunMode::kTask) && in.task_commands.find_first_not_of(" ;\t") == std::string::npos) {
        problems.emplace_back("task commands: empty (APP_TASK_COMMANDS, e.g. \"migrate\")");
    }
    ValidateTasks(in, problems);
    return problems;
}

std::string RenderK8sManifests(const K8sInputs& in) {
    std::string out = fmt::format("# Kubernetes manifests for {} {}, rendered by gale (`deploy k8s`).\n",
                                  Quote(in.service), Quote(in.version));
    Writer w(out);
    if (HasVars(in, false)) RenderConfigMap(w, in);
    if (HasVars(in, true)) RenderSecret(w, in);
    for (const auto& mode : in.run_modes) {
        auto m = config::ParseRunMode(mode);
        if (!m) continue;  // ValidateK8sInputs refuses it
        if (*m == config::RunMode::kWeb) RenderWeb(w, in);
        if (*m == config::RunMode::kTask) RenderTask(w, in);
        if (*m == config::RunMode::kConsume) RenderConsume(w, in);
        if (*m == config::RunMode::kWorker) {
            RenderWorker(w, in);
            if (RendersKeda(in)) RenderKeda(w, in);
        }
        if (*m == config::RunMode::kBeat) RenderBeat(w, in);
    }
    return out;
}

}  // namespace gale::app
