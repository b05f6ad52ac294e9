// SPDX-License-Identifier: MIT
#include "deploy_k8s.hpp"

#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <sstream>
#include <string>
#include <vector>

#include <fmt/format.h>
#include <gtest/gtest.h>

#include "runtime/runner.hpp"
#include "serve_options.hpp"

namespace gale::app {
namespace {

using namespace std::chrono_literals;

K8sInputs Hello() {
    K8sInputs in;
    in.service = "hello";
    in.version = "0.1.0";
    in.image = "registry.example.com/hello:0.1.0";
    in.run_modes = {"WEB", "TASK"};
    in.env_vars = {
        {"DATABASE_ENGINE", false}, {"DATABASE_HOST", false}, {"DATABASE_PASSWORD", true}, {"APP_SECRET_KEY", true}};
    in.database_engine = "postgresql";  // hello's DATABASE_* on a database server
    in.declares_migrations = true;      // hello's App::Migrations
    return in;
}

std::vector<std::string> Documents(const std::string& yaml) {
    std::vector<std::string> docs;
    std::size_t pos = yaml.find("---\n");
    while (pos != std::string::npos) {
        std::size_t next = yaml.find("\n---\n", pos);
        docs.push_back(yaml.substr(pos + 4, next == std::string::npos ? std::string::npos : next + 1 - pos - 4));
        pos = next == std::string::npos ? next : next + 1;
    }
    return docs;
}

std::vector<std::string> OfKind(const std::string& yaml, const std::string& kind) {
    std::vector<std::string> out;
    for (auto& d : Documents(yaml)) {
        if (d.find("\nkind: \"" + kind + "\"\n") != std::string::npos) out.push_back(d);
    }
    return out;
}

/// The lines under the first "KEY:" line (the more-indented block that follows it), without that line.
std::string Block(const std::string& doc, const std::string& key) {
    std::istringstream lines(doc);
    std::string line;
    std::string out;
    std::size_t indent = std::string::npos;
    while (std::getline(lines, line)) {
        std::size_t first = line.find_first_not_of(' ');
        if (indent == std::string::npos) {
            if (first != std::string::npos && line.compare(first, std::string::npos, key + ":") == 0) indent = first;
            continue;
        }
        if (first == std::string::npos || first <= indent) break;
        out += line.substr(indent) + "\n";
    }
    return out;
}

std::size_t Count(const std::string& s, const std::string& what) {
    std::size_t n = 0;
    for (auto p = s.find(what); p != std::string::npos; p = s.find(what, p + 1)) ++n;
    return n;
}

bool Has(const std::string& s, const std::string& what) { return s.find(what) != std::string::npos; }

std::string GraceLine(const K8sInputs& in) {
    return "terminationGracePeriodSeconds: " + std::to_string(TerminationGracePeriodSeconds(in)) + "\n";
}

/// The Deployment named `name` among the documents of `yaml`.
std::string DeploymentNamed(const std::string& yaml, const std::string& name) {
    for (auto& d : OfKind(yaml, "Deployment")) {
        if (Has(d, "metadata:\n  name: \"" + name + "\"\n")) return d;
    }
    return {};
}

TEST(DeployK8s, ValidInputsHaveNoProblems) { EXPECT_TRUE(ValidateK8sInputs(Hello()).empty()); }

TEST(DeployK8s, ProblemsNameTheFieldAndValue) {
    K8sInputs in = Hello();
    in.service = "Hello_World";
    in.run_modes = {"WEB", "WORKER", "nope", "web"};
    in.readiness_path = "ready";
    in.port = 0;
    in.memory_limit = "lots";
    in.env_vars.push_back({"BAD-NAME", false});
    std::string all;
    for (const auto& p : ValidateK8sInputs(in)) all += p + "\n";
    EXPECT_TRUE(Has(all, "service: 'Hello_World'")) << all;
    EXPECT_TRUE(Has(all, "CELERY_BROKER_URL: the embedded queue (sqlite)")) << all;
    EXPECT_TRUE(Has(all, "run mode 'nope': unknown")) << all;
    EXPECT_TRUE(Has(all, "run mode WEB: given twice")) << all;
    EXPECT_TRUE(Has(all, "readiness path: 'ready'")) << all;
    EXPECT_TRUE(Has(all, "port: 0")) << all;
    EXPECT_TRUE(Has(all, "memory limit: 'lots'")) << all;
    EXPECT_TRUE(Has(all, "'BAD-NAME'")) << all;
}

TEST(DeployK8s, RunModesAreValidatedOneByOne) {
    K8sInputs in = Hello();
    in.run_modes = {"WEB", "TASK", "consume"};
    EXPECT_TRUE(ValidateK8sInputs(in).empty());
    in.run_modes = {"CONSUME"};
    EXPECT_TRUE(ValidateK8sInputs(in).empty());

    in.broker_scheme = "redis";
    in.broker_host = "redis";
    in.run_modes = {"CONSUME", "WORKER", "beat", "web", "task"};
    EXPECT_TRUE(ValidateK8sInputs(in).empty());

    in.run_modes = {"CONSUME", "WORKER", "beat", "Consume", "worker", "cron"};
    std::string all;
    for (const auto& p : ValidateK8sInputs(in)) all += p + "\n";
    EXPECT_TRUE(Has(all, "run mode CONSUME: given twice\n")) << all;
    EXPECT_TRUE(Has(all, "run mode WORKER: given twice\n")) << all;
    EXPECT_TRUE(Has(all, "run mode 'cron': unknown (WEB, TASK, CONSUME, WORKER, BEAT)\n")) << all;
    EXPECT_FALSE(Has(all, "not available")) << all;
    EXPECT_EQ(Count(all, "run mode"), 3U) << all;

    in.run_modes.clear();
    std::vector<std::string> none = ValidateK8sInputs(in);
    ASSERT_EQ(none.size(), 1U);
    EXPECT_EQ(none[0], "run modes: none given (WEB, TASK, CONSUME, WORKER, BEAT)");
}

/// `name: "NAME"` followed by `value: "VALUE"` in a container's env list (at the pod template's indentation).
std::string EnvLine(const std::string& name, const std::string& value) {
    return "name: \"" + name + "\"\n              value: \"" + value + "\"\n";
}

TEST(DeployK8s, DefaultsAreServesAndFitKubernetesDefaultGracePeriod) {
    K8sInputs in;  // serve's defaults: --drain-delay 5s, --graceful-timeout 20s; shutdown waits 2 s for webhooks
    EXPECT_EQ(in.drain_delay, 5s);
    EXPECT_EQ(in.graceful_timeout, 20s);
    EXPECT_EQ(in.webhook_budget, 2s);
    // The same as what `deploy k8s` reads from the runtime (ServeOptions' defaults, the runner's webhook budget).
    EXPECT_EQ(in.drain_delay, ServeOptions{}.drain_delay);
    EXPECT_EQ(in.graceful_timeout, ServeOptions{}.graceful_timeout);
    EXPECT_EQ(in.webhook_budget, kWebhookBudget);
    EXPECT_EQ(in.port, ServeOptions{}.port);
    EXPECT_EQ(TerminationGracePeriodSeconds(in), 30) << "5 + 20 + 2, + 3 s for exit: Kubernetes' default grace";
    ProbeTiming ready = ReadinessTiming(in);
    EXPECT_EQ(ready.period_seconds, 2);
    EXPECT_EQ(ready.timeout_seconds, 1);
    EXPECT_EQ(ready.failure_threshold, 2);
}

TEST(DeployK8s, GracePeriodCoversDrainGracefulWebhooksAndExit) {
    K8sInputs in = Hello();
    in.run_modes = {"WEB", "TASK", "CONSUME"};
    in.drain_delay = 2500ms;
    in.graceful_timeout = 2001ms;  // 6.501 s rounds up: the pod must never be killed inside gale's own timeout
    EXPECT_EQ(TerminationGracePeriodSeconds(in), 7 + 3);
    in.webhook_budget = 0ms;
    EXPECT_EQ(TerminationGracePeriodSeconds(in), 5 + 3);
    in.webhook_budget = 2s;
    in.drain_delay = 12s;
    in.graceful_timeout = 45s;
    EXPECT_EQ(TerminationGracePeriodSeconds(in), 12 + 45 + 2 + 3);
    ASSERT_TRUE(ValidateK8sInputs(in).empty());
    std::string yaml = RenderK8sManifests(in);
    // Every workload: WEB drains, CONSUME finishes its round, a TASK command is stopped like any process.
    EXPECT_EQ(Count(yaml, "terminationGracePeriodSeconds: 62\n"), 3U) << yaml;
    const std::string web = OfKind(yaml, "Deployment").at(0);
    EXPECT_TRUE(Has(web,
                    "# terminationGracePeriodSeconds 62 = drain delay 12s + graceful timeout 45s + shutdown "
                    "webhooks 2s, rounded up, + 3 s for exit."))
        << web;
    EXPECT_TRUE(Has(web, EnvLine("GALE_DRAIN_DELAY", "12000ms")));
    EXPECT_TRUE(Has(web, EnvLine("GALE_GRACEFUL_TIMEOUT", "45000ms")));
    EXPECT_FALSE(Has(web, "preStop:")) << "gale drains itself: no preStop sleep";
    EXPECT_TRUE(Has(web, "# No preStop hook: gale drains itself."));
}

/// After SIGTERM gale fails readiness at once and serves for the drain delay: the kubelet must have seen
/// failureThreshold failed probes (each up to periodSeconds apart, the last taking up to timeoutSeconds) by then.
TEST(DeployK8s, ReadinessSeesTheFailureWithinTheDrainDelay) {
    struct Case {
        std::chrono::milliseconds drain;
        int period, timeout, failures;
    };
    const std::vector<Case> cases = {
        {5s, 2, 1, 2},      // the default: 2 x 2 + 1 = 5
        {2s, 1, 1, 1},      // the shortest drain delay that can be seen at all
        {2999ms, 1, 1, 1},  // two failures would need 3 s
        {3s, 1, 1, 2},      //
        {5500ms, 2, 1, 2},  // whole seconds, rounded down
        {12s, 5, 1, 2},     //
        {60s, 10, 1, 2},    // periods stay short enough to notice overload quickly
    };
    for (const Case& c : cases) {
        K8sInputs in = Hello();
        in.run_modes = {"WEB", "CONSUME"};
        in.drain_delay = c.drain;
        ASSERT_TRUE(ValidateK8sInputs(in).empty()) << c.drain.count();
        ProbeTiming t = ReadinessTiming(in);
        EXPECT_EQ(t.period_seconds, c.period) << c.drain.count();
        EXPECT_EQ(t.timeout_seconds, c.timeout) << c.drain.count();
        EXPECT_EQ(t.failure_threshold, c.failures) << c.drain.count();
        EXPECT_LE((t.period_seconds * t.failure_threshold + t.timeout_seconds) * 1000, c.drain.count());
        std::string yaml = RenderK8sManifests(in);
        const std::string expected = fmt::format("  periodSeconds: {}\n  timeoutSeconds: {}\n  failureThreshold: {}\n",
                                                 c.period, c.timeout, c.failures);
        const std::string web = DeploymentNamed(yaml, "hello-web");
        EXPECT_TRUE(Has(Block(web, "readinessProbe"), expected)) << c.drain.count() << "\n" << web;
        EXPECT_TRUE(Has(Block(DeploymentNamed(yaml, "hello-consume"), "readinessProbe"), expected));
        EXPECT_TRUE(Has(web, fmt::format("# Readiness: {} s x {} + {} s = {} s <= the drain delay", c.period,
                                         c.failures, c.timeout, c.period * c.failures + c.timeout)))
            << web;
    }
}

TEST(DeployK8s, DrainDelayTooShortToBeSeenIsRefused) {
    K8sInputs in = Hello();
    in.drain_delay = 1999ms;
    std::vector<std::string> problems = ValidateK8sInputs(in);
    ASSERT_EQ(problems.size(), 1U);
    EXPECT_EQ(problems[0],
              "drain delay: 1999ms is shorter than the quickest readiness failure Kubernetes can see (periodSeconds 1 "
              "x failureThreshold 1 + timeoutSeconds 1 = 2 s), so endpoints would still route to the pod after it "
              "stops accepting; set --drain-delay (GALE_DRAIN_DELAY) to at least 2s");
    in.run_modes = {"TASK", "CONSUME"};  // no Service routes to them: the drain delay does not matter
    EXPECT_TRUE(ValidateK8sInputs(in).empty());
}

/// Per-pod SQLite (emptyDir) cannot hold a service's tables on Kubernetes: refused, naming the setting.
TEST(DeployK8s, SqliteForAServiceWithMigrationsIsRefused) {
    const std::string expected =
        "DATABASE_ENGINE: sqlite, but the service keeps tables (it declares migrations) and a SQLite database is a "
        "file in each pod's own emptyDir volume (/data): a TASK Job would migrate only its own copy while WEB and "
        "CONSUME pods wait for it forever, and no two pods would share data, all of it lost with the pod; render "
        "for a database server: DATABASE_ENGINE=postgresql (or DATABASE_URL=postgresql://...)";
    for (const std::vector<std::string>& modes : std::vector<std::vector<std::string>>{
             {"WEB", "TASK"}, {"WEB"}, {"TASK"}, {"CONSUME"}, {"WEB", "TASK", "CONSUME"}}) {
        K8sInputs in = Hello();
        in.run_modes = modes;
        in.database_engine = "sqlite";
        std::vector<std::string> problems = ValidateK8sInputs(in);
        ASSERT_EQ(problems.size(), 1U) << modes.size();
        EXPECT_EQ(problems[0], expected);
    }
    // A service without migrations keeps no tables that gale knows of: SQLite (the default) is no obstacle.
    K8sInputs stateless = Hello();
    stateless.database_engine = "sqlite";
    stateless.declares_migrations = false;
    EXPECT_TRUE(ValidateK8sInputs(stateless).empty());

    K8sInputs unknown = Hello();
    unknown.database_engine = "mysql";
    std::vector<std::string> problems = ValidateK8sInputs(unknown);
    ASSERT_EQ(problems.size(), 1U);
    EXPECT_EQ(problems[0], "database engine: 'mysql' is not sqlite or postgresql");
}

/// The manifests are rendered for one engine: every workload is pinned to it, so an unfilled ConfigMap placeholder
/// cannot silently put the pods back on per-pod SQLite.
TEST(DeployK8s, DatabaseEngineIsPinnedInEveryWorkload) {
    K8sInputs in = Hello();
    in.run_modes = {"WEB", "TASK", "CONSUME"};
    std::string yaml = RenderK8sManifests(in);
    for (const auto& workload :
         {DeploymentNamed(yaml, "hello-web"), DeploymentNamed(yaml, "hello-consume"), OfKind(yaml, "Job").at(0)}) {
        EXPECT_EQ(Count(workload, "DATABASE_ENGINE"), 1U) << workload;
        EXPECT_TRUE(Has(workload, EnvLine("DATABASE_ENGINE", "postgresql"))) << workload;
    }
    std::string data = Block(OfKind(yaml, "ConfigMap").at(0), "data");
    EXPECT_FALSE(Has(data, "DATABASE_ENGINE")) << data;
    EXPECT_TRUE(Has(data, "DATABASE_HOST: \"\"")) << data;  // the server's address is still a placeholder

    K8sInputs stateless = Hello();
    stateless.database_engine = "sqlite";
    stateless.declares_migrations = false;
    EXPECT_TRUE(Has(OfKind(RenderK8sManifests(stateless), "Deployment").at(0), EnvLine("DATABASE_ENGINE", "sqlite")));
}

/// `serve --check-migrations` exits 2 for a service that declares no migrations: such pods must not be told to wait.
TEST(DeployK8s, OnlyAServiceWithMigrationsWaitsForTheJob) {
    K8sInputs in = Hello();
    in.run_modes = {"WEB", "TASK", "CONSUME"};
    std::string yaml = RenderK8sManifests(in);
    EXPECT_TRUE(Has(DeploymentNamed(yaml, "hello-web"), EnvLine("GALE_CHECK_MIGRATIONS", "true")));
    EXPECT_TRUE(Has(DeploymentNamed(yaml, "hello-consume"), EnvLine("GALE_CHECK_MIGRATIONS", "true")));
    in.declares_migrations = false;
    EXPECT_FALSE(Has(RenderK8sManifests(in), "GALE_CHECK_MIGRATIONS"));
}

/// gale-wsgi: the migrations are Django's, in the database of DATABASES, not in gale's DATABASE_* one. A file there
/// is refused naming the setting; a server is fine whatever DATABASE_ENGINE says, and the waiting pods name it.
TEST(DeployK8s, AServiceWithItsOwnDatabaseIsCheckedOnThatOne) {
    K8sInputs in = Hello();
    in.run_modes = {"WEB", "TASK"};
    in.database_engine = "sqlite";  // gale's own: no DATABASE_* given
    in.migrations_database = "django.db.backends.sqlite3";
    in.migrations_database_setting = "DATABASES['default']['ENGINE']";
    in.migrations_database_is_file = true;
    std::vector<std::string> problems = ValidateK8sInputs(in);
    ASSERT_EQ(problems.size(), 1U);
    EXPECT_TRUE(
        problems[0].starts_with("DATABASES['default']['ENGINE']: django.db.backends.sqlite3, but the service "
                                "keeps tables"))
        << problems[0];
    EXPECT_NE(problems[0].find("(/data)"), std::string::npos) << problems[0];

    in.migrations_database = "django.db.backends.postgresql";
    in.migrations_database_is_file = false;
    EXPECT_TRUE(ValidateK8sInputs(in).empty());
    std::string yaml = RenderK8sManifests(in);
    const std::string web = DeploymentNamed(yaml, "hello-web");
    EXPECT_TRUE(Has(web, EnvLine("GALE_CHECK_MIGRATIONS", "true"))) << web;
    EXPECT_TRUE(Has(web, "gale.dev/migrations-database: \"django.db.backends.postgresql\"")) << web;
    EXPECT_TRUE(Has(web, EnvLine("DATABASE_ENGINE", "sqlite"))) << web;  // gale's, as rendered
    EXPECT_FALSE(Has(OfKind(yaml, "Job").at(0), "gale.dev/migrations-database")) << "the Job waits for nothing";

    // Told not to wait, the pods do not name a database they do not wait for.
    in.wait_for_migrations = false;
    EXPECT_FALSE(Has(RenderK8sManifests(in), "gale.dev/migrations-database"));
}

TEST(DeployK8s, WebDeploymentProbesThePortsAndPathsItServes) {
    K8sInputs in = Hello();
    in.port = 9000;
    in.probe_port = 9100;
    in.startup_path = "/healthz/startup";
    in.readiness_path = "/healthz/ready";
    in.liveness_path = "/healthz/alive";
    in.metrics_path = "/prom";
    std::string yaml = RenderK8sManifests(in);
    auto deployments = OfKind(yaml, "Deployment");
    ASSERT_EQ(deployments.size(), 1U);
    const std::string& d = deployments[0];
    EXPECT_TRUE(Has(d, "name: \"hello-web\""));
    EXPECT_TRUE(Has(Block(d, "ports"), "  - name: \"http\"\n    containerPort: 9000\n"));
    EXPECT_TRUE(Has(Block(d, "ports"), "  - name: \"metrics\"\n    containerPort: 9100\n"));
    for (auto [probe, path] :
         {std::pair{"startupProbe", "/healthz/startup"}, std::pair{"readinessProbe", "/healthz/ready"},
          std::pair{"livenessProbe", "/healthz/alive"}}) {
        std::string block = Block(d, probe);
        EXPECT_TRUE(Has(block, std::string("  path: \"") + path + "\"\n")) << probe << "\n" << block;
        EXPECT_TRUE(Has(block, "  port: \"metrics\"\n")) << probe << "\n" << block;
        EXPECT_TRUE(Has(block, "periodSeconds: ")) << probe;
        EXPECT_TRUE(Has(block, "failureThreshold: ")) << probe;
    }
    std::string annotations = Block(d, "annotations");
    EXPECT_TRUE(Has(annotations, "prometheus.io/scrape: \"true\""));
    EXPECT_TRUE(Has(annotations, "prometheus.io/port: \"9100\""));
    EXPECT_TRUE(Has(annotations, "prometheus.io/path: \"/prom\""));
    // The process is told the same ports and paths the probes use.
    EXPECT_TRUE(Has(d, "name: \"GALE_PORT\"\n              value: \"9000\""));
    EXPECT_TRUE(Has(d, "name: \"GALE_PROBE_PORT\"\n              value: \"9100\""));
    EXPECT_TRUE(Has(d, "name: \"GALE_READINESS_PROBE\"\n              value: \"/healthz/ready\""));
    EXPECT_TRUE(Has(d, "name: \"GALE_METRICS_PATH\"\n              value: \"/prom\""));
    EXPECT_TRUE(Has(d, "name: \"GALE_CHECK_MIGRATIONS\"\n              value: \"true\""));
    EXPECT_TRUE(Has(d, "replicas: 2\n"));
    // Hardening.
    EXPECT_TRUE(Has(d, "runAsNonRoot: true"));
    EXPECT_TRUE(Has(d, "readOnlyRootFilesystem: true"));
    EXPECT_TRUE(Has(d, "allowPrivilegeEscalation: false"));
    EXPECT_TRUE(Has(Block(d, "capabilities"), "drop:\n    - \"ALL\"\n"));
    // Labels.
    EXPECT_TRUE(Has(d, "app.kubernetes.io/name: \"hello\""));
    EXPECT_TRUE(Has(d, "app.kubernetes.io/version: \"0.1.0\""));
    EXPECT_TRUE(Has(d, "app.kubernetes.io/component: \"web\""));

    auto services = OfKind(yaml, "Service");
    ASSERT_EQ(services.size(), 1U);
    std::string ports = Block(services[0], "ports");
    EXPECT_TRUE(Has(ports, "  - name: \"http\"\n    port: 80\n    targetPort: \"http\"\n")) << ports;
    EXPECT_TRUE(Has(ports, "  - name: \"metrics\"\n    port: 9100\n    targetPort: \"metrics\"\n")) << ports;
    EXPECT_TRUE(Has(Block(services[0], "selector"), "app.kubernetes.io/component: \"web\""));
}

TEST(DeployK8s, IntegratedProbesUseTheHttpPort) {
    K8sInputs in = Hello();
    in.probe_port = in.port;
    std::string yaml = RenderK8sManifests(in);
    const std::string d = OfKind(yaml, "Deployment").at(0);
    EXPECT_FALSE(Has(d, "\"metrics\""));
    EXPECT_TRUE(Has(Block(d, "readinessProbe"), "  port: \"http\"\n"));
    EXPECT_EQ(Count(Block(OfKind(yaml, "Service").at(0), "ports"), "- name:"), 1U);
}

TEST(DeployK8s, RunModeIsSetPerWorkload) {
    std::string yaml = RenderK8sManifests(Hello());
    const std::string d = OfKind(yaml, "Deployment").at(0);
    auto jobs = OfKind(yaml, "Job");
    ASSERT_EQ(jobs.size(), 1U);
    const std::string& job = jobs[0];
    EXPECT_EQ(Count(d, "name: \"APP_RUN_MODE\""), 1U);
    EXPECT_TRUE(Has(d, "name: \"APP_RUN_MODE\"\n              value: \"WEB\""));
    EXPECT_EQ(Count(job, "name: \"APP_RUN_MODE\""), 1U);
    EXPECT_TRUE(Has(job, "name: \"APP_RUN_MODE\"\n              value: \"TASK\""));
    EXPECT_TRUE(Has(d, "name: \"GALE_PROFILE\"\n              value: \"production\""));
    EXPECT_TRUE(Has(job, "name: \"GALE_PROFILE\"\n              value: \"production\""));
    EXPECT_TRUE(Has(job, "name: \"APP_TASK_COMMANDS\"\n              value: \"migrate\""));
    EXPECT_TRUE(Has(job, "name: \"hello-task-0-1-0\""));
    EXPECT_TRUE(Has(job, "restartPolicy: \"Never\""));
    EXPECT_TRUE(Has(job, "backoffLimit: 3"));
    EXPECT_TRUE(Has(job, "app.kubernetes.io/component: \"task\""));
    EXPECT_FALSE(Has(job, "Probe:")) << "a Job has no probes";
    EXPECT_FALSE(Has(job, "containerPort"));
    EXPECT_TRUE(OfKind(RenderK8sManifests([] {
                           K8sInputs only_task = Hello();
                           only_task.run_modes = {"task"};
                           return only_task;
                       }()),
                       "Deployment")
                    .empty());
}

TEST(DeployK8s, ConsumeIsOneRecreatedDeploymentProbedOnTheProbePort) {
    K8sInputs in = Hello();
    in.run_modes = {"WEB", "TASK", "CONSUME"};
    in.port = 9000;
    in.probe_port = 9100;
    in.startup_path = "/healthz/startup";
    in.readiness_path = "/healthz/ready";
    in.liveness_path = "/healthz/alive";
    in.metrics_path = "/prom";
    in.replicas = 5;  // WEB only
    in.workers = 8;   // WEB only
    ASSERT_TRUE(ValidateK8sInputs(in).empty());
    std::string yaml = RenderK8sManifests(in);
    ASSERT_EQ(OfKind(yaml, "Deployment").size(), 2U);
    const std::string web = DeploymentNamed(yaml, "hello-web");
    const std::string d = DeploymentNamed(yaml, "hello-consume");
    ASSERT_FALSE(web.empty()) << yaml;
    ASSERT_FALSE(d.empty()) << yaml;
    EXPECT_TRUE(Has(web, "replicas: 5\n"));

    // One pod, never two: replicas 1 whatever --replicas says, and Recreate instead of a rolling overlap.
    EXPECT_TRUE(Has(d, "\n  replicas: 1\n")) << d;
    EXPECT_EQ(Block(d, "strategy"), "  type: \"Recreate\"\n") << d;
    EXPECT_FALSE(Has(d, "rollingUpdate")) << d;
    EXPECT_TRUE(Has(d, "assigns every partition of its")) << "the YAML says why";
    EXPECT_TRUE(Has(d, "Recreate stops the old pod (which drains on")) << "the YAML says why";
    EXPECT_TRUE(Has(Block(d, "matchLabels"), "app.kubernetes.io/component: \"consume\"\n"));
    EXPECT_TRUE(Has(Block(d, "template"), "    app.kubernetes.io/component: \"consume\"\n"));

    // The consume role, by APP_RUN_MODE as WEB and TASK are, in a container named after it.
    EXPECT_EQ(Count(d, "name: \"APP_RUN_MODE\""), 1U);
    EXPECT_TRUE(Has(d, "name: \"APP_RUN_MODE\"\n              value: \"CONSUME\""));
    EXPECT_TRUE(Has(d, "- name: \"consume\"\n          image: \"registry.example.com/hello:0.1.0\""));
    EXPECT_TRUE(Has(d, "name: \"GALE_PROFILE\"\n              value: \"production\""));

    // The probe port is the only port, and the probes use it with the configured paths.
    EXPECT_EQ(Block(d, "ports"), "  - name: \"metrics\"\n    containerPort: 9100\n    protocol: \"TCP\"\n");
    for (auto [probe, path] :
         {std::pair{"startupProbe", "/healthz/startup"}, std::pair{"readinessProbe", "/healthz/ready"},
          std::pair{"livenessProbe", "/healthz/alive"}}) {
        std::string block = Block(d, probe);
        EXPECT_TRUE(Has(block, std::string("  path: \"") + path + "\"\n")) << probe << "\n" << block;
        EXPECT_TRUE(Has(block, "  port: \"metrics\"\n")) << probe << "\n" << block;
        EXPECT_EQ(block, Block(web, probe)) << "the same timing as WEB: " << probe;
    }
    EXPECT_TRUE(Has(d, "name: \"GALE_PROBE_PORT\"\n              value: \"9100\""));
    EXPECT_TRUE(Has(d, "name: \"GALE_READINESS_PROBE\"\n              value: \"/healthz/ready\""));
    EXPECT_TRUE(Has(d, "name: \"GALE_METRICS_PATH\"\n              value: \"/prom\""));
    EXPECT_EQ(Block(d, "annotations"), Block(web, "annotations"));
    // Nothing that `consume` does not read, nor the app port it does not serve.
    for (const char* absent : {"GALE_PORT\"", "APP_WORKER_COUNT", "APP_TASK_COMMANDS", "GALE_DRAIN_DELAY", "9000"}) {
        EXPECT_FALSE(Has(d, absent)) << absent;
    }
    // With a TASK Job in the release, consumers wait for its migrations as WEB pods do.
    EXPECT_TRUE(Has(d, "name: \"GALE_CHECK_MIGRATIONS\"\n              value: \"true\""));
    in.wait_for_migrations = false;
    EXPECT_FALSE(Has(DeploymentNamed(RenderK8sManifests(in), "hello-consume"), "GALE_CHECK_MIGRATIONS"));

    // Same grace period, envFrom, resources, security context and volumes as WEB.
    EXPECT_TRUE(Has(d, GraceLine(in)));
    EXPECT_EQ(Block(d, "envFrom"), Block(web, "envFrom"));
    EXPECT_EQ(Block(d, "securityContext"), Block(web, "securityContext"));  // the pod's
    EXPECT_EQ(d.substr(d.find("\n          resources:")), web.substr(web.find("\n          resources:")));
    EXPECT_TRUE(Has(d, "# No preStop hook: on SIGTERM the consumer fails readiness"));

    // No Service selects the consumer.
    auto services = OfKind(yaml, "Service");
    ASSERT_EQ(services.size(), 1U);
    EXPECT_TRUE(Has(Block(services[0], "selector"), "app.kubernetes.io/component: \"web\""));
    K8sInputs only = in;
    only.run_modes = {"consume"};
    std::string alone = RenderK8sManifests(only);
    EXPECT_TRUE(OfKind(alone, "Service").empty());
    EXPECT_TRUE(OfKind(alone, "Job").empty());
    EXPECT_EQ(OfKind(alone, "Deployment").size(), 1U);
    EXPECT_FALSE(DeploymentNamed(alone, "hello-consume").empty());
}

TEST(DeployK8s, ConsumeWithIntegratedProbesStillNamesThePortMetrics) {
    K8sInputs in = Hello();
    in.run_modes = {"CONSUME"};
    in.probe_port = in.port;  // WEB would probe "http"; a consumer has no app port
    const std::string d = OfKind(RenderK8sManifests(in), "Deployment").at(0);
    EXPECT_EQ(Block(d, "ports"), "  - name: \"metrics\"\n    containerPort: 8000\n    protocol: \"TCP\"\n");
    EXPECT_TRUE(Has(Block(d, "livenessProbe"), "  port: \"metrics\"\n"));
    EXPECT_FALSE(Has(d, "\"http\""));
}

// --- WORKER, BEAT, KEDA ------------------------------------------------------------------------------------------

/// hello with its tasks on a RabbitMQ broker named by CELERY_BROKER_URL (a secret of the contract).
K8sInputs HelloWithTasks() {
    K8sInputs in = Hello();
    in.run_modes = {"WEB", "TASK", "WORKER", "BEAT"};
    in.env_vars.push_back({"CELERY_BROKER_URL", true});
    in.env_vars.push_back({"CELERY_TASK_DEFAULT_QUEUE", false});
    in.env_vars.push_back({"GALE_WORKER_QUEUES", false});
    in.broker_scheme = "amqp";
    in.worker_queues = {"celery", "io"};
    return in;
}

K8sInputs OnRedis(K8sInputs in, std::string scheme = "redis") {
    in.broker_scheme = std::move(scheme);
    in.broker_host = "redis.tasks.svc";
    in.broker_port = 6380;
    in.broker_database = "2";
    return in;
}

std::string Problems(const K8sInputs& in) {
    std::string all;
    for (const auto& p : ValidateK8sInputs(in)) all += p + "\n";
    return all;
}

/// The first document of `kind` named `name`.
std::string Named(const std::string& yaml, const std::string& kind, const std::string& name) {
    for (auto& d : OfKind(yaml, kind)) {
        if (Has(d, "metadata:\n  name: \"" + name + "\"\n")) return d;
    }
    return {};
}

TEST(DeployK8s, WorkerIsARollingDeploymentProbedOnTheProbePort) {
    K8sInputs in = HelloWithTasks();
    in.probe_port = 9100;
    in.readiness_path = "/healthz/ready";
    in.worker_replicas = 4;
    in.replicas = 3;  // WEB's
    in.workers = 8;
    ASSERT_EQ(Problems(in), "");
    const std::string yaml = RenderK8sManifests(in);
    const std::string web = DeploymentNamed(yaml, "hello-web");
    const std::string d = DeploymentNamed(yaml, "hello-worker");
    ASSERT_FALSE(d.empty()) << yaml;
    EXPECT_TRUE(Has(d, "\n  replicas: 4\n")) << d;
    EXPECT_TRUE(Has(web, "\n  replicas: 3\n"));
    EXPECT_EQ(Block(d, "strategy"), Block(web, "strategy")) << "competing consumers roll like WEB";
    EXPECT_TRUE(Has(Block(d, "matchLabels"), "app.kubernetes.io/component: \"worker\"\n"));
    EXPECT_TRUE(Has(d, "- name: \"worker\"\n          image: \"registry.example.com/hello:0.1.0\""));
    EXPECT_TRUE(Has(d, EnvLine("APP_RUN_MODE", "WORKER")));
    EXPECT_TRUE(Has(d, EnvLine("APP_WORKER_COUNT", "8"))) << "concurrency";
    EXPECT_TRUE(Has(d, EnvLine("GALE_WORKER_QUEUES", "celery,io")));
    EXPECT_TRUE(Has(d, EnvLine("GALE_GRACEFUL_TIMEOUT", "20000ms"))) << "what running tasks get on SIGTERM";
    EXPECT_TRUE(Has(d, EnvLine("GALE_PROBE_PORT", "9100")));
    EXPECT_TRUE(Has(d, EnvLine("GALE_CHECK_MIGRATIONS", "true"))) << "tasks write to the service's tables";
    EXPECT_FALSE(Has(d, "GALE_PORT\"")) << "no app port";

    // The probe port is its only port; readiness as WEB's (within the drain delay), liveness more patient.
    EXPECT_EQ(Block(d, "ports"), "  - name: \"metrics\"\n    containerPort: 9100\n    protocol: \"TCP\"\n");
    EXPECT_EQ(Block(d, "startupProbe"), Block(web, "startupProbe"));
    EXPECT_EQ(Block(d, "readinessProbe"), Block(web, "readinessProbe"));
    EXPECT_TRUE(Has(Block(d, "readinessProbe"), "    path: \"/healthz/ready\"\n    port: \"metrics\"\n"));
    EXPECT_EQ(Block(d, "livenessProbe"),
              "  httpGet:\n    path: \"/alive\"\n    port: \"metrics\"\n  periodSeconds: 10\n  timeoutSeconds: 5\n"
              "  failureThreshold: 6\n");
    const ProbeTiming live = WorkerLivenessTiming();
    EXPECT_GT(live.period_seconds * live.failure_threshold, 10 * 3) << "more tolerant than WEB's liveness";
    EXPECT_TRUE(Has(d, GraceLine(in)));
    EXPECT_TRUE(Has(d, "# No preStop hook: on SIGTERM the worker fails readiness and stops fetching"));
    EXPECT_EQ(Block(d, "annotations"), Block(web, "annotations")) << "scraped: gale_task_queue_length";
    EXPECT_EQ(Block(d, "envFrom"), Block(web, "envFrom"));

    // No Service selects it; the pinned queue list stays out of the ConfigMap.
    for (const auto& svc : OfKind(yaml, "Service")) EXPECT_FALSE(Has(svc, "\"worker\"")) << svc;
    EXPECT_FALSE(Has(Block(OfKind(yaml, "ConfigMap").at(0), "data"), "GALE_WORKER_QUEUES"));
    EXPECT_TRUE(OfKind(yaml, "ScaledObject").empty()) << "KEDA only when asked for";
}

TEST(DeployK8s, WorkerGracePeriodIsTheGracefulTimeoutForRunningTasks) {
    K8sInputs in = HelloWithTasks();
    in.graceful_timeout = 120s;  // long tasks: raise --graceful-timeout, and the grace period follows
    EXPECT_EQ(TerminationGracePeriodSeconds(in), 5 + 120 + 2 + 3);
    const std::string d = DeploymentNamed(RenderK8sManifests(in), "hello-worker");
    EXPECT_TRUE(Has(d, "terminationGracePeriodSeconds: 130\n")) << d;
    EXPECT_TRUE(Has(d, EnvLine("GALE_GRACEFUL_TIMEOUT", "120000ms")));
    EXPECT_TRUE(Has(d, "graceful timeout 120s")) << "the comment shows the sum";
}

TEST(DeployK8s, WorkerAndBeatOnTheEmbeddedQueueAreRefused) {
    for (const char* mode : {"WORKER", "BEAT"}) {
        K8sInputs in = HelloWithTasks();
        in.run_modes = {mode};
        in.broker_scheme = "sqlite";  // CELERY_BROKER_URL unset, or sqlite:///…
        std::string all = Problems(in);
        EXPECT_TRUE(Has(all,
                        "CELERY_BROKER_URL: the embedded queue (sqlite), but it is a file in each pod's own "
                        "emptyDir volume (/data)"))
            << all;
        EXPECT_TRUE(Has(all, std::string("never reach a ") + mode + " pod")) << all;
        EXPECT_EQ(ValidateK8sInputs(in).size(), 1U) << all;
    }
    K8sInputs web = Hello();  // WEB and TASK on the embedded queue: nothing consumes across pods
    EXPECT_EQ(Problems(web), "");
    K8sInputs bad = HelloWithTasks();
    bad.broker_scheme = "kafka";
    EXPECT_TRUE(Has(Problems(bad), "broker scheme: 'kafka' is not")) << Problems(bad);
    bad = HelloWithTasks();
    bad.worker_replicas = -1;
    bad.worker_queues = {"celery", "a b"};
    EXPECT_TRUE(Has(Problems(bad), "worker replicas: -1 is negative")) << Problems(bad);
    EXPECT_TRUE(Has(Problems(bad), "worker queue 'a b'")) << Problems(bad);
}

TEST(DeployK8s, BeatOnPostgresqlIsTwoReplicasWithTheLease) {
    K8sInputs in = HelloWithTasks();
    ASSERT_EQ(in.database_engine, "postgresql");
    ASSERT_EQ(Problems(in), "");
    EXPECT_EQ(BeatReplicas(in), 2);
    const std::string yaml = RenderK8sManifests(in);
    const std::string d = DeploymentNamed(yaml, "hello-beat");
    ASSERT_FALSE(d.empty()) << yaml;
    EXPECT_TRUE(Has(d, "\n  replicas: 2\n")) << d;
    EXPECT_EQ(Block(d, "strategy"),
              "  type: \"RollingUpdate\"\n  rollingUpdate:\n    maxSurge: 1\n    maxUnavailable: 0\n");
    EXPECT_TRUE(Has(d, "the lease in the PostgreSQL database lets exactly one pod send")) << "the YAML says why";
    EXPECT_TRUE(Has(d, EnvLine("APP_RUN_MODE", "BEAT")));
    EXPECT_TRUE(Has(d, EnvLine("DATABASE_ENGINE", "postgresql")));
    EXPECT_TRUE(Has(d, "- name: \"beat\"\n"));
    EXPECT_TRUE(Has(Block(d, "readinessProbe"), "port: \"metrics\""));
    EXPECT_TRUE(Has(d, GraceLine(in)));
    for (const char* absent : {"GALE_WORKER_QUEUES", "APP_WORKER_COUNT", "GALE_CHECK_MIGRATIONS", "GALE_PORT\""}) {
        EXPECT_FALSE(Has(d, absent)) << absent;
    }
    in.replicas = 7;
    in.worker_replicas = 9;
    EXPECT_TRUE(Has(DeploymentNamed(RenderK8sManifests(in), "hello-beat"), "\n  replicas: 2\n"))
        << "neither --replicas nor --worker-replicas";
}

TEST(DeployK8s, BeatOnSqliteIsOneRecreatedPod) {
    K8sInputs in = HelloWithTasks();
    in.run_modes = {"BEAT"};
    in.database_engine = "sqlite";  // a service without migrations on the default database
    in.declares_migrations = false;
    ASSERT_EQ(Problems(in), "");
    EXPECT_EQ(BeatReplicas(in), 1);
    const std::string d = DeploymentNamed(RenderK8sManifests(in), "hello-beat");
    EXPECT_TRUE(Has(d, "\n  replicas: 1\n")) << d;
    EXPECT_EQ(Block(d, "strategy"), "  type: \"Recreate\"\n") << d;
    EXPECT_TRUE(Has(d, "two pods would both lead and send every periodic task twice")) << "the YAML says why";
}

TEST(DeployK8s, KedaScalesTheWorkerOnRabbitmqQueues) {
    K8sInputs in = HelloWithTasks();
    in.keda = true;
    in.keda_min_replicas = 0;
    in.keda_max_replicas = 12;
    in.keda_queue_length = 50;
    in.namespace_name = "prod";
    ASSERT_EQ(Problems(in), "");
    const std::string yaml = RenderK8sManifests(in);
    const std::string d = DeploymentNamed(yaml, "hello-worker");
    EXPECT_FALSE(Has(d, "\n  replicas:")) << "KEDA owns the count: " << d;
    EXPECT_TRUE(Has(d, "# No replicas: the ScaledObject below sets them"));

    const std::string auth = Named(yaml, "TriggerAuthentication", "hello-worker");
    ASSERT_FALSE(auth.empty()) << yaml;
    EXPECT_TRUE(Has(auth, "apiVersion: \"keda.sh/v1alpha1\"\n"));
    EXPECT_TRUE(Has(auth, "namespace: \"prod\""));
    EXPECT_EQ(Block(auth, "secretTargetRef"),
              "  - parameter: \"host\"\n    name: \"hello-secrets\"\n    key: \"CELERY_BROKER_URL\"\n");
    EXPECT_TRUE(Named(yaml, "Secret", "hello-keda").empty()) << "the URL is in the service's Secret already";

    const std::string so = Named(yaml, "ScaledObject", "hello-worker");
    ASSERT_FALSE(so.empty()) << yaml;
    EXPECT_EQ(Block(so, "scaleTargetRef"),
              "  apiVersion: \"apps/v1\"\n  kind: \"Deployment\"\n  name: \"hello-worker\"\n");
    EXPECT_TRUE(Has(so, "\n  minReplicaCount: 0\n  maxReplicaCount: 12\n")) << so;
    EXPECT_EQ(Count(so, "- type: \"rabbitmq\""), 2U) << "one trigger per consumed queue";
    EXPECT_TRUE(Has(so,
                    "      metadata:\n        protocol: \"amqp\"\n        mode: \"QueueLength\"\n        "
                    "queueName: \"celery\"\n        value: \"50\"\n      authenticationRef:\n        name: "
                    "\"hello-worker\"\n"))
        << so;
    EXPECT_TRUE(Has(so, "queueName: \"io\""));
    // The worker consumes exactly what KEDA watches.
    EXPECT_TRUE(Has(d, EnvLine("GALE_WORKER_QUEUES", "celery,io")));
}

TEST(DeployK8s, KedaScalesTheWorkerOnRedisLists) {
    K8sInputs in = OnRedis(HelloWithTasks());
    in.keda = true;
    in.worker_queues = {"celery"};
    ASSERT_EQ(Problems(in), "");
    const std::string yaml = RenderK8sManifests(in);
    const std::string so = Named(yaml, "ScaledObject", "hello-worker");
    EXPECT_EQ(Block(so, "triggers"),
              "  - type: \"redis\"\n    metadata:\n      address: \"redis.tasks.svc:6380\"\n      databaseIndex: "
              "\"2\"\n      listName: \"celery\"\n      listLength: \"20\"\n    authenticationRef:\n      name: "
              "\"hello-worker\"\n")
        << so;
    EXPECT_TRUE(Has(so, "\n  minReplicaCount: 1\n  maxReplicaCount: 10\n")) << "the defaults";
    const std::string secret = Named(yaml, "Secret", "hello-keda");
    EXPECT_EQ(Block(secret, "stringData"), "  redis-username: \"\"\n  redis-password: \"\"\n") << secret;
    EXPECT_EQ(Block(Named(yaml, "TriggerAuthentication", "hello-worker"), "secretTargetRef"),
              "  - parameter: \"username\"\n    name: \"hello-keda\"\n    key: \"redis-username\"\n"
              "  - parameter: \"password\"\n    name: \"hello-keda\"\n    key: \"redis-password\"\n");
    // Not in any pod's envFrom: its keys are not variable names.
    for (const auto& dep : OfKind(yaml, "Deployment")) EXPECT_FALSE(Has(dep, "hello-keda")) << dep;

    // rediss:// is refused: gale's Redis adapter has no TLS (Debian's hiredis), so the pods would exit at start.
    K8sInputs tls = OnRedis(HelloWithTasks(), "rediss");
    EXPECT_TRUE(Has(Problems(tls), "CELERY_BROKER_URL: rediss:// (TLS), but gale's Redis adapter refuses it"))
        << Problems(tls);
    tls.keda = true;
    EXPECT_TRUE(Has(RenderK8sManifests(tls), "enableTLS: \"true\"")) << "KEDA would connect with TLS";

    in.broker_scheme = "redis";
    in.broker_port = 0;
    in.broker_database = "";
    const std::string plain = Block(Named(RenderK8sManifests(in), "ScaledObject", "hello-worker"), "triggers");
    EXPECT_TRUE(Has(plain, "address: \"redis.tasks.svc:6379\"\n      databaseIndex: \"0\"\n      listName")) << plain;
    in.broker_host = "fd00::7";
    EXPECT_TRUE(Has(RenderK8sManifests(in), "address: \"[fd00::7]:6379\""));
}

TEST(DeployK8s, KedaRefusalsNameTheSetting) {
    struct Case {
        std::function<void(K8sInputs&)> change;
        std::string expected;
    };
    const std::vector<Case> cases = {
        {[](K8sInputs& in) { in.run_modes = {"WEB"}; }, "keda: there is no WORKER to scale"},
        {[](K8sInputs& in) { in.broker_scheme = "sqlite"; }, "keda: KEDA has no trigger for the embedded queue"},
        {[](K8sInputs& in) { in.broker_from_rabbitmq_vars = true; },
         "keda: the broker comes from RABBITMQ_HOST (base-python's RABBITMQ_* variables)"},
        {[](K8sInputs& in) {
             in.env_vars.erase(std::remove_if(in.env_vars.begin(), in.env_vars.end(),
                                              [](const auto& v) { return v.first == "CELERY_BROKER_URL"; }),
                               in.env_vars.end());
         },
         "keda: CELERY_BROKER_URL is not a secret variable of the contract"},
        {[](K8sInputs& in) {
             in.keda_min_replicas = 5;
             in.keda_max_replicas = 3;
         },
         "keda max replicas: 3 must be at least 1 and at least the min replicas (5)"},
        {[](K8sInputs& in) { in.keda_min_replicas = -1; }, "keda min replicas: -1 is negative"},
        {[](K8sInputs& in) { in.keda_queue_length = 0; }, "keda queue length: 0 must be at least 1"},
        {[](K8sInputs& in) {
             in = OnRedis(in);
             in.broker_host = "localhost";
         },
         "CELERY_BROKER_URL: host 'localhost' is a loopback address"},
        {[](K8sInputs& in) {
             in = OnRedis(in);
             in.broker_host = "127.0.0.1";
         },
         "host '127.0.0.1' is a loopback"},
        {[](K8sInputs& in) {
             in = OnRedis(in);
             in.broker_host.clear();
         },
         "keda: the Redis broker has no host"},
        {[](K8sInputs& in) {
             in = OnRedis(in);
             in.broker_database = "x";
         },
         "broker database: 'x' is not a Redis database index"},
    };
    for (const auto& c : cases) {
        K8sInputs in = HelloWithTasks();
        in.keda = true;
        c.change(in);
        std::string all = Problems(in);
        EXPECT_TRUE(Has(all, c.expected)) << "expected: " << c.expected << "\ngot:\n" << all;
    }
    K8sInputs rabbit_vars = HelloWithTasks();  // RABBITMQ_* without KEDA: fine
    rabbit_vars.broker_from_rabbitmq_vars = true;
    EXPECT_EQ(Problems(rabbit_vars), "");
}

TEST(DeployK8s, SecretVariablesOnlyInTheSecret) {
    std::string yaml = RenderK8sManifests(Hello());
    auto secrets = OfKind(yaml, "Secret");
    auto config_maps = OfKind(yaml, "ConfigMap");
    ASSERT_EQ(secrets.size(), 1U);
    ASSERT_EQ(config_maps.size(), 1U);
    for (const char* secret : {"DATABASE_PASSWORD", "APP_SECRET_KEY"}) {
        EXPECT_EQ(Count(yaml, secret), 1U) << secret;
        EXPECT_TRUE(Has(Block(secrets[0], "stringData"), std::string(secret) + ": \"\"")) << secret;
    }
    for (const char* plain : {"DATABASE_HOST"}) {  // DATABASE_ENGINE is pinned per workload instead
        EXPECT_EQ(Count(yaml, plain), 1U) << plain;
        EXPECT_TRUE(Has(Block(config_maps[0], "data"), std::string(plain) + ": \"\"")) << plain;
    }
    for (const auto& workload : {OfKind(yaml, "Deployment").at(0), OfKind(yaml, "Job").at(0)}) {
        std::string env_from = Block(workload, "envFrom");
        EXPECT_TRUE(Has(env_from, "configMapRef:\n      name: \"hello-env\"")) << env_from;
        EXPECT_TRUE(Has(env_from, "secretRef:\n      name: \"hello-secrets\"")) << env_from;
    }
    K8sInputs none = Hello();
    none.env_vars.clear();
    std::string bare = RenderK8sManifests(none);
    EXPECT_TRUE(OfKind(bare, "Secret").empty());
    EXPECT_TRUE(OfKind(bare, "ConfigMap").empty());
    EXPECT_FALSE(Has(bare, "envFrom"));
}

TEST(DeployK8s, PerWorkloadVariablesStayOutOfTheConfigMap) {
    K8sInputs in = Hello();
    in.env_vars.push_back({"APP_RUN_MODE", false});
    in.env_vars.push_back({"APP_TASK_COMMANDS", false});
    in.env_vars.push_back({"APP_WORKER_COUNT", false});  // "" would stop the process: non-numeric
    ASSERT_TRUE(ValidateK8sInputs(in).empty());
    std::string yaml = RenderK8sManifests(in);
    std::string data = Block(OfKind(yaml, "ConfigMap").at(0), "data");
    EXPECT_FALSE(Has(data, "APP_")) << data;
    EXPECT_FALSE(Has(yaml, "APP_WORKER_COUNT"));
    EXPECT_EQ(Count(yaml, "APP_RUN_MODE"), 2U);  // the Deployment's and the Job's
}

TEST(DeployK8s, StringsAreQuotedSoNoValueChangesType) {
    K8sInputs in = Hello();
    in.version = "1.0";                                   // would be a float unquoted
    in.task_commands = "migrate; seed --name \"on\"\\x";  // quotes and backslashes survive
    in.namespace_name = "prod";
    std::string yaml = RenderK8sManifests(in);
    EXPECT_TRUE(Has(yaml, "app.kubernetes.io/version: \"1.0\""));
    EXPECT_TRUE(Has(yaml, "value: \"migrate; seed --name \\\"on\\\"\\\\x\""));
    EXPECT_EQ(Count(yaml, "namespace: \"prod\""), Documents(yaml).size());
}

// --- the schema check: deploy/check_manifests.py against python3-kubernetes' typed models ----------------------

std::string EnvOr(const char* name, std::string fallback) {
    const char* v = std::getenv(name);
    return v != nullptr && *v != '\0' ? std::string(v) : fallback;
}

std::string CheckerPath() {
    // modules/app/src/deploy_k8s_test.cpp → deploy/check_manifests.py; GALE_DEPLOY_CHECKER overrides.
    std::filesystem::path here(__FILE__);
    return EnvOr("GALE_DEPLOY_CHECKER",
                 (here.parent_path() / ".." / ".." / ".." / "deploy" / "check_manifests.py").lexically_normal());
}

struct CheckResult {
    int exit_code;
    std::string output;
};

/// Runs the checker on `yaml` (written to a temporary file). Debian's python3-kubernetes lives in
/// /usr/bin/python3's path, not in a pyenv/venv python3 that may come first on PATH; GALE_DEPLOY_PYTHON overrides.
CheckResult RunChecker(const std::string& yaml) {
    static std::atomic<int> counter{0};
    auto file = std::filesystem::temp_directory_path() /
                ("gale-deploy-k8s-" + std::to_string(::getpid()) + "-" + std::to_string(counter++) + ".yaml");
    std::ofstream(file) << yaml;
    std::string python = EnvOr("GALE_DEPLOY_PYTHON", "/usr/bin/python3");
    std::string command = "'" + python + "' '" + CheckerPath() + "' < '" + file.string() + "' 2>&1";
    CheckResult result{-1, ""};
    if (FILE* pipe = ::popen(command.c_str(), "r")) {
        char buffer[4096];
        std::size_t n = 0;
        while ((n = std::fread(buffer, 1, sizeof buffer, pipe)) > 0) result.output.append(buffer, n);
        int status = ::pclose(pipe);
        result.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    }
    std::filesystem::remove(file);
    return result;
}

class DeployK8sSchema : public ::testing::Test {
protected:
    void SetUp() override {
        // Fail, not skip: without the check the manifests are untested.
        CheckResult probe = RunChecker("");
        ASSERT_TRUE(probe.exit_code == 1 && Has(probe.output, "no documents"))
            << "the schema check cannot run: needs /usr/bin/python3 with the Debian packages python3-kubernetes "
               "and python3-yaml, and "
            << CheckerPath() << "\n"
            << probe.output;
    }
};

TEST_F(DeployK8sSchema, RenderedManifestsAreValid) {
    std::vector<K8sInputs> variants(14, Hello());
    variants[1].run_modes = {"WEB"};
    variants[1].env_vars.clear();
    variants[2].probe_port = variants[2].port;  // integrated probes
    variants[2].namespace_name = "prod";
    variants[2].cpu_limit.clear();
    variants[2].workers = 8;
    variants[3].run_modes = {"TASK"};
    variants[3].version = "2.0.0-rc.1";
    variants[4].env_vars = {{"APP_SECRET_KEY", true}};
    variants[5].run_modes = {"WEB", "TASK", "CONSUME"};
    variants[6].run_modes = {"CONSUME"};
    variants[6].probe_port = variants[6].port;  // integrated: the consumer's one port is still "metrics"
    variants[6].env_vars.clear();
    variants[7].run_modes = {"WEB", "TASK", "CONSUME"};  // non-default drain timing
    variants[7].drain_delay = 12s;
    variants[7].graceful_timeout = 45s;
    variants[8].database_engine = "sqlite";  // a service without migrations on the default database
    variants[8].declares_migrations = false;
    variants[9] = HelloWithTasks();  // WORKER + BEAT on RabbitMQ, fixed replicas
    variants[10] = HelloWithTasks();
    variants[10].keda = true;
    variants[11] = OnRedis(HelloWithTasks());
    variants[11].keda = true;
    variants[11].probe_port = variants[11].port;  // integrated: still "metrics"
    variants[11].graceful_timeout = 300s;
    variants[12] = HelloWithTasks();  // BEAT alone on SQLite: one Recreated pod
    variants[12].run_modes = {"BEAT"};
    variants[12].database_engine = "sqlite";
    variants[12].declares_migrations = false;
    variants[13] = OnRedis(HelloWithTasks());
    variants[13].run_modes = {"WEB", "TASK", "CONSUME", "WORKER", "BEAT"};
    variants[13].keda = true;
    variants[13].namespace_name = "prod";
    for (std::size_t i = 0; i < variants.size(); ++i) {
        ASSERT_TRUE(ValidateK8sInputs(variants[i]).empty()) << i;
        CheckResult r = RunChecker(RenderK8sManifests(variants[i]));
        EXPECT_EQ(r.exit_code, 0) << "variant " << i << ":\n" << r.output << RenderK8sManifests(variants[i]);
        EXPECT_TRUE(Has(r.output, "ok: ")) << r.output;
    }
}

/// The consumer's probes name its one port; a probe on the app port it does not declare is caught.
TEST_F(DeployK8sSchema, ConsumeProbeOnAnUndeclaredPortIsRejected) {
    K8sInputs in = Hello();
    in.run_modes = {"CONSUME"};
    std::string yaml = RenderK8sManifests(in);
    const std::string probe_port = "port: \"metrics\"\n";
    auto at = yaml.find(probe_port);
    ASSERT_NE(at, std::string::npos);
    yaml.replace(at, probe_port.size(), "port: \"http\"\n");
    CheckResult r = RunChecker(yaml);
    EXPECT_EQ(r.exit_code, 1) << r.output;
    EXPECT_TRUE(Has(r.output, "(Deployment hello-consume)")) << r.output;
    EXPECT_TRUE(Has(r.output, "names no port of the container: 'http'")) << r.output;
}

/// KEDA's objects are custom resources the client has no models for: the checker holds their schema, and checks
/// what they point at.
TEST_F(DeployK8sSchema, BrokenKedaObjectsAreRejected) {
    K8sInputs in = OnRedis(HelloWithTasks());
    in.keda = true;
    const std::string good = RenderK8sManifests(in);
    ASSERT_EQ(RunChecker(good).exit_code, 0) << RunChecker(good).output;
    struct Case {
        std::string from, to, expected;
    };
    const std::vector<Case> cases = {
        {"minReplicaCount:", "minReplicas:", "unknown field \"minReplicas\" in ScaledObjectSpec"},
        {"maxReplicaCount: 10", "maxReplicaCount: \"10\"", "maxReplicaCount: expected an integer, got str '10'"},
        {"listLength: \"20\"", "listLength: 20", "listLength: expected a string, got int 20"},
        {"  name: \"hello-worker\"\n  minReplicaCount", "  name: \"hello-workers\"\n  minReplicaCount",
         "scaleTargetRef: no Deployment named 'hello-workers' in these manifests"},
        {"authenticationRef:\n        name: \"hello-worker\"", "authenticationRef:\n        name: \"hello-auth\"",
         "no TriggerAuthentication named 'hello-auth'"},
        {"key: \"redis-password\"", "key: \"password\"", "Secret 'hello-keda' has no key 'password'"},
        {"        listName: \"celery\"\n", "", "redis trigger needs listName"},
        {"- type: \"redis\"", "- type: \"redis-streams\"", "trigger type 'redis-streams'"},
        {"# No replicas: the ScaledObject below sets them", "replicas: 2\n  # the ScaledObject",
         "spec.replicas: set on a Deployment that ScaledObject hello-worker scales"},
        {"\"keda.sh/v1alpha1\"\nkind: \"ScaledObject\"", "\"keda.sh/v1\"\nkind: \"ScaledObject\"",
         "keda.sh/v1 ScaledObject is not a kind"},
    };
    for (const auto& c : cases) {
        std::string s = good;
        auto at = s.find(c.from);
        ASSERT_NE(at, std::string::npos) << c.from;
        s.replace(at, c.from.size(), c.to);
        CheckResult r = RunChecker(s);
        EXPECT_EQ(r.exit_code, 1) << c.to << "\n" << r.output;
        EXPECT_TRUE(Has(r.output, c.expected)) << "expected: " << c.expected << "\ngot:\n" << r.output;
    }
}

/// The checker must catch what the API server would reject, naming the document and field.
TEST_F(DeployK8sSchema, BrokenManifestsAreRejected) {
    const std::string good = RenderK8sManifests(Hello());
    auto broken = [&](const std::string& from, const std::string& to) {
        std::string s = good;
        auto at = s.find(from);
        EXPECT_NE(at, std::string::npos) << from;
        if (at != std::string::npos) s.replace(at, from.size(), to);
        return RunChecker(s);
    };
    struct Case {
        std::string from, to, expected;
    };
    const std::vector<Case> cases = {
        // A misspelt field (ignored by kubectl < 1.25 and by the client's own deserializer: a silent no-probe).
        {"readinessProbe:", "readynessProbe:", "unknown field \"readynessProbe\" in V1Container"},
        // A string where the schema wants an integer.
        {"containerPort: 8000", "containerPort: \"8000\"", "containerPort: expected an integer, got str '8000'"},
        // An unquoted annotation value: YAML makes it an int, annotations are map<string,string>.
        {"prometheus.io/port: \"8001\"", "prometheus.io/port: 8001",
         "annotations.prometheus.io/port: expected a string, got int 8001"},
        // A required field missing (V1Container.name).
        {"- name: \"web\"\n          image:", "- image:", "Invalid value for `name`, must not be `None`"},
        // A kind in the wrong API group.
        {"apiVersion: \"batch/v1\"", "apiVersion: \"apps/v1\"", "apps/v1 Job is not a kind the Kubernetes client"},
        // A Job that would restart forever.
        {"restartPolicy: \"Never\"", "restartPolicy: \"Always\"", "a Job needs Never or OnFailure"},
        // A probe on a port the container does not declare.
        {"port: \"metrics\"\n", "port: \"metric\"\n", "names no port of the container: 'metric'"},
        // An envFrom reference to nothing.
        {"name: \"hello-secrets\"\n  labels", "name: \"hello-secret\"\n  labels", "no Secret named 'hello-secrets'"},
        // A bad quantity.
        {"memory: \"512Mi\"", "memory: \"512MB\"", "'512MB' is not a quantity"},
        // Readiness too slow for the drain delay: the old 5 s x 2 (+ 3 s timeout).
        {"path: \"/ready\"\n              port: \"metrics\"\n            periodSeconds: 2\n            timeoutSeconds: "
         "1",
         "path: \"/ready\"\n              port: \"metrics\"\n            periodSeconds: 5\n            timeoutSeconds: "
         "3",
         "readinessProbe: periodSeconds 5 x failureThreshold 2 + timeoutSeconds 3 = 13 s exceeds the drain delay "
         "(GALE_DRAIN_DELAY 5000ms)"},
        // A grace period that kills the pod inside gale's own shutdown.
        {"terminationGracePeriodSeconds: 30", "terminationGracePeriodSeconds: 25",
         "terminationGracePeriodSeconds: 25 is shorter than GALE_DRAIN_DELAY 5000ms + GALE_GRACEFUL_TIMEOUT 20000ms "
         "+ 2 s for shutdown webhooks"},
        // Pods that wait for a migration the Job runs in its own emptyDir.
        {"value: \"postgresql\"", "value: \"sqlite\"",
         "GALE_CHECK_MIGRATIONS waits for migrations in DATABASE_ENGINE=sqlite"},
    };
    for (const auto& c : cases) {
        CheckResult r = broken(c.from, c.to);
        EXPECT_EQ(r.exit_code, 1) << c.to << "\n" << r.output;
        EXPECT_TRUE(Has(r.output, c.expected)) << "expected: " << c.expected << "\ngot:\n" << r.output;
        EXPECT_TRUE(Has(r.output, "document ")) << r.output;
    }
    EXPECT_EQ(RunChecker("a: [unclosed\n").exit_code, 2);
}

}  // namespace
}  // namespace gale::app
