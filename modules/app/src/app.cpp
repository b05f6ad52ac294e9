// SPDX-License-Identifier: MIT
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <filesystem>
#include <map>
#include <optional>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <gale/app/app.hpp>
#include <gale/base/strings.hpp>
#include <gale/config/run_mode.hpp>
#include <gale/db/database.hpp>
#include <gale/log/log.hpp>
#include <gale/metrics/registry.hpp>
#include <gale/tasks/settings.hpp>
#include <gale/tasks/worker_presence.hpp>

#include "commands/collectstatic.hpp"
#include "contract_check.hpp"
#include "deploy_k8s.hpp"
#include "roles/amqp_consumers.hpp"
#include "roles/beat.hpp"
#include "roles/pipe_consumers.hpp"
#include "roles/web.hpp"
#include "roles/worker.hpp"
#include "runtime/processes.hpp"
#include "runtime/runner.hpp"
#include "serve_options.hpp"
#include "settings_loader.hpp"
#include "state.hpp"

namespace gale::app {
namespace {

constexpr const char* kLogger = "gale.app";

/// Logging from the environment: GALE_LOG_LEVEL (debug, info, warning, error, off), GALE_LOG_FORMAT (json, text).
Result<void> ConfigureLogging(bool debug) {
    auto env = GaleEnvironment();
    log::SetFormat(debug ? log::Format::kText : log::Format::kJson);
    log::SetLevel(debug ? log::Level::kDebug : log::Level::kInfo);
    if (auto it = env.find("GALE_LOG_FORMAT"); it != env.end()) {
        if (it->second == "json") {
            log::SetFormat(log::Format::kJson);
        } else if (it->second == "text") {
            log::SetFormat(log::Format::kText);
        } else {
            return MakeError(ErrorCode::kInvalidArgument,
                             fmt::format("GALE_LOG_FORMAT: '{}' is not one of json, text", it->second));
        }
    }
    if (auto it = env.find("GALE_LOG_LEVEL"); it != env.end()) {
        auto level = log::ParseLevel(it->second);
        if (!level) return MakeError(ErrorCode::kInvalidArgument, "GALE_LOG_LEVEL: " + level.error().message());
        log::SetLevel(*level);
    }
    return {};
}

int RunChecks(App::State& state, bool json) {
    auto outcomes = state.checks.Run(0, /*use_cache=*/false);
    bool failed = !state.registration_errors.empty();
    if (json) {
        nlohmann::ordered_json j = nlohmann::ordered_json::array();
        for (const auto& e : state.registration_errors)
            j.push_back({{"name", "declaration"}, {"status", "error"}, {"message", e}});
        for (const auto& o : outcomes) {
            j.push_back({{"name", o.name},
                         {"status", health::ToString(o.status)},
                         {"message", o.message},
                         {"duration_ms", o.duration_ms}});
            failed = failed || o.failing;
        }
        std::puts(j.dump(2).c_str());
    } else {
        for (const auto& e : state.registration_errors)
            std::printf("%-24s %-8s %s\n", "declaration", "ERROR", e.c_str());
        for (const auto& o : outcomes) {
            std::string status(health::ToString(o.status));
            for (char& c : status) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
            std::printf("%-24s %-8s %8.1f ms  %s\n", o.name.c_str(), status.c_str(), o.duration_ms, o.message.c_str());
            failed = failed || o.failing;
        }
        std::printf("%zu checks, %s\n", outcomes.size(), failed ? "FAILED" : "all passed");
    }
    return failed ? 1 : 0;
}

struct RunModeSetting {
    config::RunMode mode = config::RunMode::kWeb;
    std::size_t worker_count = 0;  // 0: not set
};

/// APP_WORKER_COUNT; 0 when it is not set.
Result<std::size_t> ReadWorkerCount() {
    const char* v = std::getenv("APP_WORKER_COUNT");
    if (v == nullptr || *v == '\0') return std::size_t{0};
    GALE_ASSIGN_OR_RETURN(auto n, ParseInt("APP_WORKER_COUNT", v, 1, 4096));
    return static_cast<std::size_t>(n);
}

/// A role's own options (beyond the serve options): each from its flag, or, when the flag was not given, from its
/// GALE_* variable, as the serve options are read. Every problem names whichever of the two was used; Report prints
/// them all at once.
class RoleFlags {
public:
    explicit RoleFlags(std::map<std::string, std::string> env) : env_(std::move(env)) {}

    /// The flag's text, else the variable's ("" when neither is set); `what` becomes the name to quote.
    std::string Text(std::string text, const char* variable, std::string& what) const {
        if (text.empty()) {
            if (auto it = env_.find(variable); it != env_.end()) {
                what = variable;
                return it->second;
            }
        }
        return text;
    }
    void Duration(std::string text, std::string what, const char* variable, std::chrono::milliseconds& into) {
        text = Text(std::move(text), variable, what);
        if (text.empty()) return;
        if (auto d = ParseDuration(what, text)) {
            into = *d;
        } else {
            problems_.push_back(d.error().message());
        }
    }
    void Count(std::string text, std::string what, const char* variable, std::int64_t max, std::size_t& into) {
        text = Text(std::move(text), variable, what);
        if (text.empty()) return;
        if (auto n = ParseInt(what, text, 1, max)) {
            into = static_cast<std::size_t>(*n);
        } else {
            problems_.push_back(n.error().message());
        }
    }
    /// A Celery worker node name (`-n w1@%h`): tasks::WorkerNodeName of the text, which is Celery's default when
    /// empty.
    void NodeName(std::string text, std::string what, const char* variable, std::string& into) {
        text = Text(std::move(text), variable, what);
        if (auto n = tasks::WorkerNodeName(text, what)) {
            into = std::move(*n);
        } else {
            problems_.push_back(n.error().message());
        }
    }
    /// Prints every problem to stderr; true when there was none.
    bool Report(const std::string& service) const {
        for (const auto& p : problems_) std::fprintf(stderr, "%s: %s\n", service.c_str(), p.c_str());
        return problems_.empty();
    }

private:
    std::map<std::string, std::string> env_;
    std::vector<std::string> problems_;
};

/// APP_RUN_MODE (see gale/config/run_mode.hpp; case-insensitive; default WEB) and APP_WORKER_COUNT.
Result<RunModeSetting> ReadRunMode() {
    RunModeSetting m;
    if (const char* v = std::getenv("APP_RUN_MODE"); v != nullptr && *v != '\0') {
        GALE_ASSIGN_OR_RETURN(m.mode, config::ParseRunMode(v, "APP_RUN_MODE"));
    }
    GALE_ASSIGN_OR_RETURN(m.worker_count, ReadWorkerCount());
    return m;
}

/// TASK mode: runs the commands in APP_TASK_COMMANDS (";"-separated, each "NAME [ARGS]") in order; the first
/// failure's exit code ends the run.
int RunTaskMode(App::State& s) {
    const char* list = std::getenv("APP_TASK_COMMANDS");
    if (list == nullptr || SplitWhitespace(list).empty()) {
        log::Error(kLogger, "APP_RUN_MODE=TASK needs APP_TASK_COMMANDS, e.g. \"migrate; collectstatic --noinput\"");
        return 2;
    }
    std::vector<Args> commands;
    std::string_view rest(list);
    while (true) {
        std::size_t semi = rest.find(';');
        auto words = SplitWhitespace(rest.substr(0, semi));
        if (!words.empty()) {
            if (s.FindCommand(words.front()) == nullptr) {
                log::Error(kLogger, "APP_TASK_COMMANDS names an unknown command", {{"command", words.front()}});
                return 2;
            }
            commands.push_back(std::move(words));
        }
        if (semi == std::string_view::npos) break;
        rest.remove_prefix(semi + 1);
    }
    for (const Args& c : commands) {
        int code = RunCommand(*s.FindCommand(c.front()), Args(c.begin() + 1, c.end()));
        if (code != 0) return code;
    }
    return 0;
}

/// `deploy k8s`: manifests wired to the effective serve settings (ports, probe paths, drain timing) and the
/// environment contract (ConfigMap for plain variables, Secret for secret ones).
int DeployK8s(App::State& s, const ServeOptionParser& serve_parser, K8sInputs k8s, const std::string& modes) {
    auto o = serve_parser.Resolve(GaleEnvironment(), PathCheck::kSyntaxOnly);  // the image's paths, not ours
    if (!o) {
        std::fprintf(stderr, "%s: %s\n", s.name.c_str(), o.error().message().c_str());
        return 2;
    }
    k8s.service = s.name;
    k8s.version = s.version;
    k8s.port = o->port;
    k8s.probe_port = o->probe_port;
    k8s.startup_path = o->startup_probe;
    k8s.readiness_path = o->readiness_probe;
    k8s.liveness_path = o->liveness_probe;
    k8s.metrics_path = o->metrics_path;
    k8s.drain_delay = o->drain_delay;
    k8s.graceful_timeout = o->graceful_timeout;
    k8s.workers = o->workers;
    auto engine = db::EngineFromEnvironment();  // the layered settings are in the environment by now
    if (!engine) {
        std::fprintf(stderr, "%s: %s\n", s.name.c_str(), engine.error().message().c_str());
        return 2;
    }
    k8s.database_engine = db::ToString(*engine);
    k8s.declares_migrations = static_cast<bool>(s.migrations);
    if (s.migrations_database) {
        k8s.migrations_database = s.migrations_database->engine;
        k8s.migrations_database_setting = s.migrations_database->setting;
        k8s.migrations_database_is_file = s.migrations_database->is_file;
    }
    // The broker and queues of WORKER, BEAT and KEDA: the effective tasks settings (never printed: the URL may
    // hold a password; only the scheme, and a Redis broker's address for KEDA's trigger, go into the manifests).
    auto tasks_settings = tasks::TasksSettingsFromSettings(s.settings, s.name + "-tasks.db");
    if (!tasks_settings) {
        std::fprintf(stderr, "%s: %s\n", s.name.c_str(), tasks_settings.error().message().c_str());
        return 2;
    }
    const tasks::TransportUrl& broker = tasks_settings->broker;
    k8s.broker_scheme = broker.scheme;
    k8s.broker_from_rabbitmq_vars = broker.scheme == "amqp" && !config::IsSet(s.settings, "CELERY_BROKER_URL");
    k8s.broker_host = broker.host;
    k8s.broker_port = broker.port;
    k8s.broker_database = broker.path.empty() ? "0" : broker.path;
    // The worker's queues as `worker` chooses them: GALE_WORKER_QUEUES, else the default queue and every queue a
    // registered task names.
    const auto explicit_queues = s.settings.Find("GALE_WORKER_QUEUES");
    k8s.worker_queues = WorkerQueues(s, explicit_queues.value_or(""), tasks_settings->default_queue);
    k8s.webhook_budget = kWebhookBudget;  // what shutdown waits for the last webhooks
    for (auto& w : SplitList(modes)) {
        for (char& c : w) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
        k8s.run_modes.push_back(w);
    }
    auto add_vars = [&](const config::GroupSpec& g) {
        for (const auto& v : g.vars) k8s.env_vars.emplace_back(v.name, v.secret || config::Settings().IsSecret(v.name));
    };
    for (const auto& g : GaleContract().groups()) add_vars(g);
    for (const auto& g : s.contract_groups) add_vars(g);
    auto problems = ValidateK8sInputs(k8s);
    if (!problems.empty()) {
        std::fprintf(stderr, "%s: cannot render manifests:\n", s.name.c_str());
        for (const auto& p : problems) std::fprintf(stderr, "  %s\n", p.c_str());
        return 2;
    }
    std::fputs(RenderK8sManifests(k8s).c_str(), stdout);
    return 0;
}

/// GALE_RUNTIME_DIRS (";"-separated): directories the service writes to (uploads, sockets, caches), created at
/// start-up with mode 0750 if missing, so a fresh container or volume needs no extra step.
Result<void> CreateRuntimeDirectories(const config::Settings& settings) {
    auto dirs = settings.Find("GALE_RUNTIME_DIRS");
    if (!dirs) return {};
    std::string_view rest(*dirs);
    while (!rest.empty()) {
        std::size_t semi = rest.find(';');
        std::string dir(rest.substr(0, semi));
        rest = semi == std::string_view::npos ? std::string_view() : rest.substr(semi + 1);
        while (!dir.empty() && dir.back() == ' ') dir.pop_back();
        while (!dir.empty() && dir.front() == ' ') dir.erase(0, 1);
        if (dir.empty()) continue;
        std::error_code ec;
        bool created = std::filesystem::create_directories(dir, ec);
        if (ec) {
            return MakeError(ErrorCode::kIo,
                             fmt::format("GALE_RUNTIME_DIRS: cannot create '{}': {}", dir, ec.message()));
        }
        if (created) {
            std::filesystem::permissions(dir, std::filesystem::perms(0750), ec);
            if (ec) {
                return MakeError(ErrorCode::kIo, fmt::format("GALE_RUNTIME_DIRS: cannot set permissions of '{}': {}",
                                                             dir, ec.message()));
            }
        } else if (!std::filesystem::is_directory(dir, ec)) {
            return MakeError(ErrorCode::kIo, fmt::format("GALE_RUNTIME_DIRS: '{}' exists and is not a directory", dir));
        }
    }
    return {};
}

/// `config check`: every problem with the settings at once (the serve options and the environment contract).
int CheckConfiguration(App::State& s, const LoadedSettings& loaded, const ServeOptionParser& serve_parser) {
    std::vector<std::string> problems;
    for (const auto& e : s.registration_errors) problems.push_back(e);
    if (auto mode = ReadRunMode(); !mode) problems.push_back(mode.error().message());
    if (auto o = serve_parser.Resolve(GaleEnvironment()); !o) {
        std::string_view msg = o.error().message();
        // One problem per line after the heading.
        std::size_t nl = msg.find('\n');
        while (nl != std::string_view::npos) {
            std::size_t next = msg.find('\n', nl + 1);
            std::string_view line = msg.substr(nl + 1, next == std::string_view::npos ? next : next - nl - 1);
            while (!line.empty() && line.front() == ' ') line.remove_prefix(1);
            problems.emplace_back(line);
            nl = next;
        }
    }
    for (auto& p : ValidateContract(s, loaded.settings)) problems.push_back(std::move(p));
    if (problems.empty()) {
        std::printf("configuration ok (profile %s)\n", loaded.profile.c_str());
        return 0;
    }
    std::printf("%zu problem(s) with the configuration (profile %s):\n", problems.size(), loaded.profile.c_str());
    for (const auto& p : problems) std::printf("  %s\n", p.c_str());
    return 1;
}

}  // namespace

int RunCommand(const CommandEntry& command, const Args& args) {
    auto start = std::chrono::steady_clock::now();
    log::Info(kLogger, "command started", {{"command", command.name}, {"args", fmt::format("{}", args.size())}});
    int code = 0;
    try {
        code = command.fn(args);
    } catch (const std::exception& e) {
        log::Error(kLogger, "command threw", {{"command", command.name}, {"error", e.what()}});
        code = 1;
    } catch (...) {
        log::Error(kLogger, "command threw a non-standard exception", {{"command", command.name}});
        code = 1;
    }
    double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
    log::Write(code == 0 ? log::Level::kInfo : log::Level::kError, kLogger, "command finished",
               {{"command", command.name}, {"exit_code", code}, {"duration_ms", ms}});
    return code;
}

App::App(std::string name, std::string version) : state_(std::make_unique<State>()) {
    state_->name = std::move(name);
    state_->version = std::move(version);
}

App::~App() = default;

App& App::Route(http::Method method, std::string pattern, RouteHandler handler, http::RouteOptions options) {
    auto r = state_->router.Add(method, std::move(pattern), std::move(handler).Take(), options);
    if (!r) state_->registration_errors.push_back(r.error().message());
    return *this;
}
App& App::OnFork(ForkHooks hooks) {
    state_->fork_hooks.push_back(std::move(hooks));
    return *this;
}
App& App::Fallback(RouteHandler handler, http::RouteOptions options) {
    state_->router.SetFallback(std::move(handler).Take(), options);
    return *this;
}
App& App::Get(std::string p, RouteHandler h, http::RouteOptions o) {
    return Route(http::Method::kGet, std::move(p), std::move(h), o);
}
App& App::Post(std::string p, RouteHandler h, http::RouteOptions o) {
    return Route(http::Method::kPost, std::move(p), std::move(h), o);
}
App& App::Put(std::string p, RouteHandler h, http::RouteOptions o) {
    return Route(http::Method::kPut, std::move(p), std::move(h), o);
}
App& App::Delete(std::string p, RouteHandler h, http::RouteOptions o) {
    return Route(http::Method::kDelete, std::move(p), std::move(h), o);
}

std::shared_ptr<detail::ResourceSlot> App::AddErasedResource(std::string name, CreateWhen when, ErasedFactory factory,
                                                             std::function<health::CheckResult(void*)> check,
                                                             health::CheckOptions check_options,
                                                             std::function<void(void*)> close) {
    auto slot = state_->resources.Declare(name, when, std::move(factory), std::move(close));
    if (!slot) {
        state_->registration_errors.push_back(slot.error().message());
        return nullptr;
    }
    if (check_options.tags != 0) {
        // The resource's health: it can be created (a probe creates a lazy one early) and, with a check, is well.
        Check(
            name,
            [s = *slot, check = std::move(check)] {
                auto value = detail::AcquireResource(*s);
                if (!value) return health::CheckResult::Error(value.error().message());
                if (check) return check(value->get());
                return health::CheckResult::Ok("created");
            },
            check_options);
    }
    return *slot;
}

App& App::Check(std::string name, health::CheckFn fn, health::CheckOptions options) {
    auto r = state_->checks.Add(std::move(name), std::move(fn), options);
    if (!r) state_->registration_errors.push_back(r.error().message());
    return *this;
}

App& App::Command(std::string name, std::string help, CommandFn fn) {
    static const std::vector<std::string> kReserved = {"serve", "check", "help", "worker", "beat"};
    if (name.empty() || name.front() == '-' || std::find(kReserved.begin(), kReserved.end(), name) != kReserved.end()) {
        state_->registration_errors.push_back(
            fmt::format("command name '{}' is empty, reserved or starts with '-'", name));
    } else if (state_->FindCommand(name) != nullptr) {
        state_->registration_errors.push_back(fmt::format("command '{}' is already registered", name));
    } else {
        state_->commands.push_back({std::move(name), std::move(help), std::move(fn)});
    }
    return *this;
}

App& App::EnvironmentGroup(config::GroupSpec group) {
    state_->contract_groups.push_back(std::move(group));
    return *this;
}

App& App::Consumer(std::string name, ConsumerFactory factory) {
    for (const auto& [n, f] : state_->consumers) {
        if (n == name) {
            state_->registration_errors.push_back(fmt::format("consumer '{}' is already registered", name));
            return *this;
        }
    }
    state_->consumers.emplace_back(std::move(name), std::move(factory));
    return *this;
}

App& App::AmqpConsumer(amqp::QueueSpec queue, amqp::Handler handler) {
    if (auto valid = amqp::Validate(queue); !valid) {
        state_->registration_errors.push_back(valid.error().message());
        return *this;
    }
    if (!handler) {
        state_->registration_errors.push_back(fmt::format("AMQP consumer of queue '{}': no handler", queue.name));
        return *this;
    }
    for (const auto& sub : state_->amqp_consumers) {
        if (sub.queue.name == queue.name) {
            state_->registration_errors.push_back(
                fmt::format("AMQP consumer of queue '{}' is already registered", queue.name));
            return *this;
        }
    }
    state_->amqp_consumers.push_back({std::move(queue), std::move(handler)});
    return *this;
}

App& App::Task(std::string name, tasks::TaskFn fn, tasks::TaskOptions options) {
    if (auto r = state_->tasks.Add(std::move(name), std::move(fn), std::move(options)); !r) {
        state_->registration_errors.push_back(r.error().message());
    }
    return *this;
}

Result<tasks::TaskClient*> App::tasks() { return EnsureTasks(*state_); }

App& App::Periodic(std::string name, std::string task, std::string_view schedule, nlohmann::json args,
                   std::string_view time_zone) {
    auto parsed = tasks::Schedule::Parse(schedule, time_zone);
    if (!parsed) {
        state_->registration_errors.push_back(fmt::format("periodic entry '{}': {}", name, parsed.error().message()));
        return *this;
    }
    return Periodic(tasks::BeatEntry{
        .name = std::move(name), .task = std::move(task), .schedule = std::move(*parsed), .args = std::move(args)});
}

App& App::Periodic(tasks::BeatEntry entry) {
    for (const auto& e : state_->periodic) {
        if (e.name == entry.name) {
            state_->registration_errors.push_back(fmt::format("periodic entry '{}' is declared twice", entry.name));
            return *this;
        }
    }
    state_->periodic.push_back(std::move(entry));
    return *this;
}

App& App::Migrations(MigrationStatusFn fn, std::optional<MigrationsDatabase> database) {
    state_->migrations = std::move(fn);
    state_->migrations_database = std::move(database);
    return *this;
}

metrics::Registry& App::metrics() { return state_->registry; }
const config::Settings& App::settings() const noexcept { return state_->settings; }
const std::string& App::name() const noexcept { return state_->name; }
const std::string& App::version() const noexcept { return state_->version; }

namespace {
/// Run's command line: parses it and runs the chosen sub-command (below).
int RunCommandLine(App::State& s, int argc, char** argv);
}  // namespace

int App::Run(int argc, char** argv) {
    // Built-in commands, unless the service declared its own of the same name.
    if (state_->FindCommand("collectstatic") == nullptr) state_->commands.push_back(detail::CollectStaticCommand());
    const int code = RunCommandLine(*state_, argc, argv);
    state_->resources.CloseAll();  // the roles have stopped, the command has returned: nobody uses them now
    return code;
}

namespace {

int RunCommandLine(App::State& s, int argc, char** argv) {
    CLI::App cli(fmt::format("{} {} — built with gale", s.name, s.version), s.name);
    cli.set_version_flag("--version", s.version);
    cli.require_subcommand(0, 1);
    cli.footer(
        "With no sub-command, runs `serve`. Every serve option is also read from GALE_<OPTION> (e.g. "
        "GALE_PORT); the command line wins over the environment.");

    CLI::App* serve = cli.add_subcommand("serve", "run the HTTP app server with probes and metrics");
    std::vector<std::string> command_names;  // what --command may name
    for (const CommandEntry& c : s.commands) command_names.push_back(c.name);
    ServeOptionParser serve_parser(*serve, command_names);

    CLI::App* consume = cli.add_subcommand("consume",
                                           "run every registered log-pipe and AMQP consumer, with probes and metrics "
                                           "(takes the serve options)");
    ServeOptionParser consume_parser(*consume, command_names);
    // A service without consumers does not list `consume` (running it still explains why it cannot start).
    if (s.consumers.empty() && s.amqp_consumers.empty()) consume->group("");
    // django-hurricane's `consume` options, as it documents them.
    AmqpRoleOptions amqp_options;
    std::string amqp_max_outage;
    consume->add_option("--queue", amqp_options.queue, "AMQP: the queue of the (one) registered AMQP consumer");
    consume->add_option("--exchange", amqp_options.exchange, "AMQP: its exchange");
    consume->add_option("--amqp-host", amqp_options.host, "AMQP: broker host (wins over AMQP_HOST, AMQP_URL…)");
    consume->add_option("--amqp-port", amqp_options.port, "AMQP: broker port")->check(CLI::Range(1, 65535));
    consume->add_option("--amqp-vhost", amqp_options.vhost, "AMQP: virtual host");
    bool reconnect = true;  // always: hurricane's flag is accepted and changes nothing
    consume->add_flag("--reconnect", reconnect,
                      "AMQP: reconnect after a broker loss (always on; accepted for hurricane)");
    consume->add_option("--amqp-max-outage", amqp_max_outage,
                        "AMQP: liveness fails after this long without the broker (default 5m; GALE_AMQP_MAX_OUTAGE)");

    CLI::App* worker = cli.add_subcommand(
        "worker", "run the registered tasks from the task queue, with probes and metrics (takes the serve options)");
    ServeOptionParser worker_parser(*worker, command_names);
    if (s.tasks.empty()) worker->group("");  // listed only by services that have tasks
    std::string worker_queues;
    std::size_t worker_concurrency = 0;
    std::string worker_prefetch;
    std::string worker_max_outage;
    std::string worker_hostname;
    worker->add_option("-Q,--queues", worker_queues,
                       "comma-separated queues to consume (default: the default queue and every queue a task names; "
                       "GALE_WORKER_QUEUES)");
    worker
        ->add_option("-c,--concurrency", worker_concurrency,
                     "task threads (default: APP_WORKER_COUNT, else the number of cores)")
        ->check(CLI::Range(1, 4096));
    worker->add_option("--prefetch-multiplier", worker_prefetch,
                       "prefetch = multiplier x concurrency, as Celery's worker_prefetch_multiplier (default 4; "
                       "GALE_WORKER_PREFETCH_MULTIPLIER)");
    worker->add_option("--max-outage", worker_max_outage,
                       "liveness fails after this long without the broker (default 5m; GALE_WORKER_MAX_OUTAGE)");
    worker->add_option("-n,--hostname", worker_hostname,
                       "the node name of the worker's results, events and ping answers, as Celery's: name@host, "
                       "%h (host name), %n (its first label), %d (its domain) expanded (default celery@%h; "
                       "GALE_WORKER_HOSTNAME)");

    CLI::App* beat = cli.add_subcommand("beat",
                                        "send the periodic entries on schedule (one replica leads, by a lease in the "
                                        "database), with probes and metrics (takes the serve options)");
    ServeOptionParser beat_parser(*beat, command_names);
    if (s.periodic.empty()) beat->group("");  // listed only by services that declare periodic entries
    std::string beat_lease;
    std::string beat_max_tick;
    beat->add_option("--lease", beat_lease,
                     "how long a leader holds the lease without renewing it; a standby takes over within it (default "
                     "30s; GALE_BEAT_LEASE)");
    beat->add_option("--max-tick", beat_max_tick, "the longest sleep between turns (default 5s; GALE_BEAT_MAX_TICK)");

    CLI::App* check = cli.add_subcommand("check", "run every health check once; exit 1 if any fails");
    bool check_json = false;
    check->add_flag("--json", check_json, "print the results as JSON");

    CLI::App* config_cmd =
        cli.add_subcommand("config", "print every effective setting with its source (secrets hidden)");
    CLI::App* config_check = config_cmd->add_subcommand("check", "validate every setting; list all problems; exit 1");

    CLI::App* env_cmd = cli.add_subcommand("env", "the layered environment");
    CLI::App* env_exec =
        env_cmd->add_subcommand("exec", "run a command with the layered environment: env exec -- CMD…");
    std::vector<std::string> exec_args;
    env_exec->add_option("command", exec_args, "the command and its arguments")->required()->allow_extra_args();
    env_cmd->require_subcommand(1);

    CLI::App* deploy_cmd = cli.add_subcommand("deploy", "deployment descriptions generated from this service");
    CLI::App* deploy_k8s = deploy_cmd->add_subcommand(
        "k8s",
        "print Kubernetes manifests (Deployment, Service, Job, ConfigMap, Secret, KEDA ScaledObject) for the effective "
        "settings");
    deploy_cmd->require_subcommand(1);
    K8sInputs k8s;
    std::string k8s_modes = "WEB";
    deploy_k8s->add_option("--image", k8s.image, "container image, e.g. registry.example.com/hello:0.1.0")->required();
    deploy_k8s
        ->add_option("--modes", k8s_modes,
                     "comma-separated run modes: WEB (Deployment + Service), TASK (Job), CONSUME (Deployment "
                     "with 1 replica, Recreate), WORKER (Deployment), BEAT (Deployment: 2 replicas on PostgreSQL, "
                     "1 on SQLite)")
        ->capture_default_str();
    deploy_k8s->add_option("--namespace", k8s.namespace_name, "metadata.namespace (default: none)");
    deploy_k8s->add_option("--replicas", k8s.replicas, "replicas of the WEB Deployment (not CONSUME: always 1)")
        ->capture_default_str();
    deploy_k8s->add_option("--task-commands", k8s.task_commands, "APP_TASK_COMMANDS of the TASK Job")
        ->capture_default_str();
    deploy_k8s->add_flag("--no-wait-for-migrations{false}", k8s.wait_for_migrations,
                         "WEB pods do not wait (--check-migrations) for the TASK Job");
    deploy_k8s->add_option("--cpu-request", k8s.cpu_request)->capture_default_str();
    deploy_k8s->add_option("--memory-request", k8s.memory_request)->capture_default_str();
    deploy_k8s->add_option("--cpu-limit", k8s.cpu_limit, "empty for none")->capture_default_str();
    deploy_k8s->add_option("--memory-limit", k8s.memory_limit)->capture_default_str();
    deploy_k8s
        ->add_option("--worker-replicas", k8s.worker_replicas, "replicas of the WORKER Deployment (without --keda)")
        ->capture_default_str();
    deploy_k8s->add_flag("--keda", k8s.keda,
                         "a KEDA ScaledObject scales the WORKER Deployment on its queues' length (Redis or RabbitMQ)");
    deploy_k8s->add_option("--keda-min-replicas", k8s.keda_min_replicas, "minReplicaCount (0: scale to zero)")
        ->capture_default_str();
    deploy_k8s->add_option("--keda-max-replicas", k8s.keda_max_replicas, "maxReplicaCount")->capture_default_str();
    deploy_k8s->add_option("--keda-queue-length", k8s.keda_queue_length, "target of messages waiting per worker pod")
        ->capture_default_str();

    std::vector<std::pair<CLI::App*, const CommandEntry*>> command_subs;
    for (const CommandEntry& c : s.commands) {
        CLI::App* sub = cli.add_subcommand(c.name, c.help);
        sub->prefix_command();
        command_subs.emplace_back(sub, &c);
    }

    try {
        cli.parse(argc, argv);
    } catch (const CLI::ParseError& e) {
        int code = cli.exit(e);
        return code == 0 ? 0 : 2;
    }

    // Layered settings, exported to the environment before any thread starts; every role reads them from there.
    config::Environment process_env = config::CurrentEnvironment();
    auto loaded = LoadSettings(process_env);
    if (!loaded) {
        std::fprintf(stderr, "%s: %s\n", s.name.c_str(), loaded.error().ToString().c_str());
        return 2;
    }
    ExportToEnvironment(*loaded, process_env);
    // What the contract marks secret (DATABASE_URL, AMQP_URL, the service's own) is redacted like names with
    // PASSWORD in them: `config` and errors never show it. The contract's defaults (of enabled groups, the service's
    // own too) are what app.settings() and `config` see for a variable nobody set.
    GaleContract().DeclareSecrets(loaded->settings);
    GaleContract().ApplyDefaults(loaded->settings);
    {
        config::Contract own;
        for (const config::GroupSpec& g : s.contract_groups) (void)own.AddGroup(g);  // clashes: ValidateContract
        own.DeclareSecrets(loaded->settings);
        own.ApplyDefaults(loaded->settings);
    }
    s.settings = loaded->settings;
    s.settings_loaded = true;
    s.resources.Activate(s.settings, s.registry);
    if (auto r = CreateRuntimeDirectories(loaded->settings); !r) {
        std::fprintf(stderr, "%s: %s\n", s.name.c_str(), r.error().message().c_str());
        return 2;
    }

    if (config_cmd->parsed()) {
        if (config_check->parsed()) return CheckConfiguration(s, *loaded, serve_parser);
        std::printf("# profile: %s\n%s", loaded->profile.c_str(), loaded->settings.Describe().c_str());
        return 0;
    }
    if (deploy_k8s->parsed()) return DeployK8s(s, serve_parser, std::move(k8s), k8s_modes);
    if (env_exec->parsed()) {
        std::vector<char*> args;
        for (auto& a : exec_args) args.push_back(a.data());
        args.push_back(nullptr);
        ::execvp(args[0], args.data());
        std::fprintf(stderr, "%s: env exec: cannot run '%s': %s\n", s.name.c_str(), args[0], std::strerror(errno));
        return errno == ENOENT ? 127 : 126;
    }

    for (auto& [sub, entry] : command_subs) {
        if (sub->parsed()) {
            if (auto r = ConfigureLogging(false); !r) {
                std::fprintf(stderr, "%s: %s\n", s.name.c_str(), r.error().message().c_str());
                return 2;
            }
            if (!s.registration_errors.empty()) {
                for (const auto& e : s.registration_errors) std::fprintf(stderr, "%s: %s\n", s.name.c_str(), e.c_str());
                return 2;
            }
            return RunCommand(*entry, sub->remaining());
        }
    }
    if (check->parsed()) {
        if (auto r = ConfigureLogging(false); !r) {
            std::fprintf(stderr, "%s: %s\n", s.name.c_str(), r.error().message().c_str());
            return 2;
        }
        log::SetLevel(log::Level::kWarning);
        return RunChecks(s, check_json);
    }

    // The environment contract is checked before any role starts: every problem at once, exit 2.
    if (auto problems = ValidateContract(s, loaded->settings); !problems.empty()) {
        std::fprintf(stderr, "%s: invalid configuration (profile %s):\n", s.name.c_str(), loaded->profile.c_str());
        for (const auto& p : problems) std::fprintf(stderr, "  %s\n", p.c_str());
        return 2;
    }

    // No sub-command: APP_RUN_MODE chooses the role (base-python's contract); `serve` always means WEB.
    auto mode = serve->parsed() || consume->parsed() || worker->parsed() || beat->parsed()
                    ? Result<RunModeSetting>(RunModeSetting{})
                    : ReadRunMode();
    if (!mode) {
        std::fprintf(stderr, "%s: %s\n", s.name.c_str(), mode.error().message().c_str());
        return 2;
    }
    if (mode->mode == config::RunMode::kTask) {
        if (auto r = ConfigureLogging(false); !r) {
            std::fprintf(stderr, "%s: %s\n", s.name.c_str(), r.error().message().c_str());
            return 2;
        }
        return RunTaskMode(s);
    }
    // The options of a long-running role, with logging configured from them; errors print and exit 2.
    auto role_options = [&](const ServeOptionParser& parser, const auto& env) -> std::optional<ServeOptions> {
        auto options = parser.Resolve(env);
        if (!options) {
            std::fprintf(stderr, "%s: %s\n", s.name.c_str(), options.error().message().c_str());
            return std::nullopt;
        }
        if (auto r = ConfigureLogging(options->debug); !r) {
            std::fprintf(stderr, "%s: %s\n", s.name.c_str(), r.error().message().c_str());
            return std::nullopt;
        }
        return std::move(*options);
    };
    // Only serve forks: the other roles scale by replicas (and worker's own -c).
    auto one_process = [&](const ServeOptions& o, const char* role) {
        if (o.processes <= 1) return true;
        std::fprintf(stderr, "%s: --processes (GALE_PROCESSES) is for serve; %s runs in one process\n", s.name.c_str(),
                     role);
        return false;
    };
    if (consume->parsed() || mode->mode == config::RunMode::kConsume) {
        auto options = role_options(consume->parsed() ? consume_parser : serve_parser, GaleEnvironment());
        if (!options || !one_process(*options, "consume")) return 2;
        if (s.consumers.empty() && s.amqp_consumers.empty()) {
            log::Error("gale.consume", "no consumers registered: declare them with App::Consumer or App::AmqpConsumer");
            return 2;
        }
        RoleFlags flags(GaleEnvironment());
        flags.Duration(amqp_max_outage, "--amqp-max-outage", "GALE_AMQP_MAX_OUTAGE", amqp_options.max_outage);
        if (!flags.Report(s.name)) return 2;
        if (s.amqp_consumers.empty() && (amqp_options.queue || amqp_options.exchange || amqp_options.host ||
                                         amqp_options.port || amqp_options.vhost)) {
            std::fprintf(stderr, "%s: --queue, --exchange and --amqp-*: this service registers no AMQP consumer\n",
                         s.name.c_str());
            return 2;
        }
        std::vector<std::unique_ptr<Role>> roles;
        if (!s.consumers.empty()) roles.push_back(MakePipeConsumersRole());
        if (!s.amqp_consumers.empty()) roles.push_back(MakeAmqpConsumersRole(std::move(amqp_options)));
        return RunRoles(s, *options, std::move(roles), argv, "gale.consume");
    }
    if (worker->parsed() || mode->mode == config::RunMode::kWorker) {
        auto options = role_options(worker->parsed() ? worker_parser : serve_parser, GaleEnvironment());
        if (!options || !one_process(*options, "worker")) return 2;
        // `worker` names the role, so APP_RUN_MODE was not read, but its -c still defaults to APP_WORKER_COUNT.
        if (worker->parsed()) {
            auto count = ReadWorkerCount();
            if (!count) {
                std::fprintf(stderr, "%s: %s\n", s.name.c_str(), count.error().message().c_str());
                return 2;
            }
            mode->worker_count = *count;
        }
        if (s.tasks.empty()) {
            log::Error("gale.worker",
                       "no tasks are registered: declare them with App::Task (APP_RUN_MODE=WORKER or "
                       "`worker` runs them)");
            return 2;
        }
        RoleFlags flags(GaleEnvironment());
        WorkerRoleOptions wo;
        std::string queues_from = "--queues";
        wo.queues = SplitList(flags.Text(worker_queues, "GALE_WORKER_QUEUES", queues_from));
        wo.concurrency = worker_concurrency != 0 ? worker_concurrency : mode->worker_count;
        flags.Count(worker_prefetch, "--prefetch-multiplier", "GALE_WORKER_PREFETCH_MULTIPLIER", 100000,
                    wo.prefetch_multiplier);
        flags.Duration(worker_max_outage, "--max-outage", "GALE_WORKER_MAX_OUTAGE", wo.max_outage);
        flags.NodeName(worker_hostname, "--hostname", "GALE_WORKER_HOSTNAME", wo.nodename);
        if (!flags.Report(s.name)) return 2;
        std::vector<std::unique_ptr<Role>> roles;
        roles.push_back(MakeWorkerRole(std::move(wo)));
        return RunRoles(s, *options, std::move(roles), argv, "gale.worker");
    }
    if (beat->parsed() || mode->mode == config::RunMode::kBeat) {
        auto options = role_options(beat->parsed() ? beat_parser : serve_parser, GaleEnvironment());
        if (!options || !one_process(*options, "beat")) return 2;
        RoleFlags flags(GaleEnvironment());
        BeatRoleOptions bo;
        bo.entries = s.periodic;  // GALE_BEAT_SCHEDULE may add entries: an empty list is refused by the role
        flags.Duration(beat_lease, "--lease", "GALE_BEAT_LEASE", bo.lease);
        flags.Duration(beat_max_tick, "--max-tick", "GALE_BEAT_MAX_TICK", bo.max_tick);
        if (!flags.Report(s.name)) return 2;
        std::vector<std::unique_ptr<Role>> roles;
        roles.push_back(MakeBeatRole(std::move(bo)));
        return RunRoles(s, *options, std::move(roles), argv, "gale.beat");
    }
    if (mode->mode != config::RunMode::kWeb) {
        std::fprintf(stderr,
                     "%s: APP_RUN_MODE=%s has no role in this build of gale; refusing to start rather than run the "
                     "wrong role\n",
                     s.name.c_str(), std::string(config::ToString(mode->mode)).c_str());
        return 2;
    }
    auto env = GaleEnvironment();
    if (mode->worker_count != 0 && env.find("GALE_WORKERS") == env.end()) {
        env["GALE_WORKERS"] = std::to_string(mode->worker_count);
    }
    auto options = role_options(serve_parser, env);
    if (!options) return 2;
    if (options->processes > 1) {
        return RunProcesses(
            s, *options,
            [] {
                std::vector<std::unique_ptr<Role>> roles;
                roles.push_back(MakeWebRole());
                return roles;
            },
            argv, "gale.serve");
    }
    std::vector<std::unique_ptr<Role>> roles;
    roles.push_back(MakeWebRole());
    return RunRoles(s, *options, std::move(roles), argv, "gale.serve");
}

}  // namespace

}  // namespace gale::app
