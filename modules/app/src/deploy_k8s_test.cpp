// SPDX-License-Identifier: MIT
#include "deploy_k8s.hpp"

#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>

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
    EXPECT_TRUE(Has(all, "run mode WORKER: not available")) << all;
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

    in.run_modes = {"CONSUME", "WORKER", "beat", "Consume", "cron"};
    std::string all;
    for (const auto& p : ValidateK8sInputs(in)) all += p + "\n";
    EXPECT_TRUE(Has(all, "run mode CONSUME: given twice\n")) << all;
    EXPECT_TRUE(Has(all, "run mode WORKER: not available in gale yet (the process would exit 2)\n")) << all;
    EXPECT_TRUE(Has(all, "run mode BEAT: not available in gale yet (the process would exit 2)\n")) << all;
    EXPECT_TRUE(Has(all, "run mode 'cron': unknown (WEB, TASK, CONSUME)\n")) << all;
    EXPECT_FALSE(Has(all, "run mode CONSUME: not available")) << all;
    EXPECT_EQ(Count(all, "run mode"), 4U) << all;

    in.run_modes.clear();
    std::vector<std::string> none = ValidateK8sInputs(in);
    ASSERT_EQ(none.size(), 1U);
    EXPECT_EQ(none[0], "run modes: none given (WEB, TASK, CONSUME)");
}

TEST(DeployK8s, GracePeriodIsDrainPlusGracefulPlusMargin) {
    K8sInputs in = Hello();
    EXPECT_EQ(TerminationGracePeriodSeconds(in), 5 + 30 + 5);
    in.drain_delay = 1500ms;
    in.graceful_timeout = 2001ms;  // 3.501 s rounds up: the pod must never be killed inside gale's own timeout
    EXPECT_EQ(TerminationGracePeriodSeconds(in), 4 + 5);
    auto deployment = OfKind(RenderK8sManifests(in), "Deployment").at(0);
    EXPECT_TRUE(Has(deployment, "terminationGracePeriodSeconds: 9\n"));
    EXPECT_TRUE(Has(deployment, "name: \"GALE_DRAIN_DELAY\"\n              value: \"1500ms\""));
    EXPECT_TRUE(Has(deployment, "name: \"GALE_GRACEFUL_TIMEOUT\"\n              value: \"2001ms\""));
    EXPECT_FALSE(Has(deployment, "preStop:")) << "gale drains itself: no preStop sleep";
    EXPECT_TRUE(Has(deployment, "# No preStop hook: gale drains itself."));
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

/// The Deployment named `name` among the documents of `yaml`.
std::string DeploymentNamed(const std::string& yaml, const std::string& name) {
    for (auto& d : OfKind(yaml, "Deployment")) {
        if (Has(d, "metadata:\n  name: \"" + name + "\"\n")) return d;
    }
    return {};
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
    for (const char* plain : {"DATABASE_ENGINE", "DATABASE_HOST"}) {
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
    std::vector<K8sInputs> variants(7, Hello());
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
