// SPDX-License-Identifier: MIT
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include <fmt/format.h>

#include <gale/app/app.hpp>
#include <gale/base/strings.hpp>
#include <gale/health/checks.hpp>
#include <gale/lifecycle/shutdown.hpp>
#include <gale/wsgi/django.hpp>
#include <gale/wsgi/interpreter.hpp>
#include <gale/wsgi/python_logging.hpp>
#include <gale/wsgi/service.hpp>
#include <gale/wsgi/wsgi_app.hpp>

namespace gale::wsgi {
namespace {

constexpr const char* kName = "gale-wsgi";
constexpr const char* kDjangoApp = "django.core.wsgi:get_wsgi_application()";

// gale's own sub-commands: a Django command of the same name stays reachable as `manage NAME`.
const std::set<std::string, std::less<>> kGaleCommands = {"serve",  "consume", "worker", "beat",   "check",
                                                          "config", "env",     "deploy", "manage", "help"};

struct WsgiArgs {
    std::string app;
    std::string name;
    std::vector<std::string> python_path;
    std::string script_name;
    std::vector<std::string> rest;  // argv for App::Run, without the options above
    std::vector<std::string> problems;
};

void AddPaths(std::vector<std::string>& out, std::string_view list) {
    while (!list.empty()) {
        auto colon = list.find(':');
        std::string_view item = list.substr(0, colon);
        if (!item.empty()) out.emplace_back(item);
        if (colon == std::string_view::npos) break;
        list.remove_prefix(colon + 1);
    }
}

std::string Env(const char* name) {
    const char* v = std::getenv(name);
    return v != nullptr ? v : "";
}

// Takes gale-wsgi's own options out of argv, wherever they are ("--app x" or "--app=x").
WsgiArgs ParseArgs(int argc, char** argv) {
    WsgiArgs out;
    out.app = Env("GALE_WSGI_APP");
    out.script_name = Env("GALE_SCRIPT_NAME");
    out.name = Env("GALE_WSGI_NAME");
    std::vector<std::string> cli_paths;
    for (int i = 0; i < argc; ++i) {
        std::string_view arg = argv[i];
        std::string_view name = arg.substr(0, arg.find('='));
        bool own = i > 0 && (name == "--app" || name == "--pythonpath" || name == "--script-name" || name == "--name");
        if (!own || arg == "--") {
            out.rest.emplace_back(arg);
            if (arg == "--") {
                for (int j = i + 1; j < argc; ++j) out.rest.emplace_back(argv[j]);
                break;
            }
            continue;
        }
        std::string value;
        if (name.size() < arg.size()) {
            value = std::string(arg.substr(name.size() + 1));
        } else if (i + 1 < argc) {
            value = argv[++i];
        } else {
            out.problems.push_back(fmt::format("{} needs a value", name));
            continue;
        }
        if (name == "--app") {
            out.app = value;
        } else if (name == "--pythonpath") {
            AddPaths(cli_paths, value);
        } else if (name == "--script-name") {
            out.script_name = value;
        } else {
            out.name = value;
        }
    }
    out.python_path = cli_paths;
    AddPaths(out.python_path, Env("GALE_PYTHONPATH"));
    if (!out.script_name.empty() && (out.script_name.front() != '/' || out.script_name.back() == '/')) {
        out.problems.push_back(
            fmt::format("--script-name '{}' must start with '/' and not end with one", out.script_name));
    }
    return out;
}

// The first word that is not an option: the sub-command, or "" (APP_RUN_MODE chooses the role).
std::string SubCommand(const std::vector<std::string>& rest) {
    for (std::size_t i = 1; i < rest.size(); ++i) {
        if (!rest[i].starts_with("-")) return rest[i];
    }
    return {};
}

void RegisterDjango(app::App& app) {
    static constexpr struct {
        const char* tag;
        std::uint8_t bit;
    } kProbes[] = {{"liveness", health::kLiveness}, {"readiness", health::kReadiness}, {"startup", health::kStartup}};
    for (const std::string& tag : django::ProbeTags()) {
        for (const auto& probe : kProbes) {
            if (tag != probe.tag) continue;
            app.Check("django-" + tag, [tag] { return django::RunChecks(tag); },
                      {.tags = probe.bit, .timeout = std::chrono::seconds(5)});
        }
    }
    if (auto engine = django::DatabaseEngine()) {
        // Readiness and startup, not liveness: restarting the pod does not bring a database back.
        app.Check("django-database", [] { return django::CheckDatabase(); },
                  {.tags = health::kReadiness | health::kStartup, .timeout = std::chrono::seconds(5)});
        // Django's migrations are in its own database: `deploy k8s` checks that one, not gale's DATABASE_*.
        // SQLite (and SpatiaLite, its GIS backend) keep it in a file.
        bool is_file = engine->ends_with("sqlite3") || engine->ends_with("spatialite");
        app.Migrations([] { return django::PendingMigrations(); },
                       app::MigrationsDatabase{
                           .engine = *engine, .setting = "DATABASES['default']['ENGINE']", .is_file = is_file});
    }
    app.Command("manage", "run a Django management command: manage NAME [ARGS…]",
                [](const app::Args& args) { return django::RunCommand(args); });
    for (const std::string& name : django::Commands()) {
        if (kGaleCommands.contains(name)) continue;
        app.Command(name, fmt::format("Django's '{}' management command", name), [name](const app::Args& args) {
            std::vector<std::string> argv{name};
            argv.insert(argv.end(), args.begin(), args.end());
            return django::RunCommand(argv);
        });
    }
    // STATIC_*/MEDIA_* as the default --static/--media (the command line and GALE_STATIC/GALE_MEDIA win).
    for (const char* kind : {"static", "media"}) {
        auto files = django::Files(kind);
        std::string env = std::string("GALE_") + (kind[0] == 's' ? "STATIC" : "MEDIA");
        if (!files) continue;
        // Created if missing, so that `--command "collectstatic --noinput"` can fill it before the port opens.
        std::error_code ec;
        std::filesystem::create_directories(files->root, ec);
        if (std::filesystem::is_directory(files->root, ec))
            ::setenv(env.c_str(), (files->root + ":" + files->url).c_str(), 0);
    }
}

}  // namespace

int RunGaleWsgi(int argc, char** argv) {
    WsgiArgs args = ParseArgs(argc, argv);
    if (!args.problems.empty()) {
        for (const std::string& p : args.problems) std::fprintf(stderr, "%s: %s\n", kName, p.c_str());
        return 2;
    }
    std::string sub = SubCommand(args.rest);
    bool help = sub.empty() && args.rest.size() > 1;  // only options: --help, --version
    // `deploy k8s` starts Python for a Django project: its checks read Django's DATABASES (RegisterDjango).
    bool django = !Env("DJANGO_SETTINGS_MODULE").empty();
    bool no_python = sub == "config" || sub == "env" || (sub == "deploy" && !django) || help;
    bool command = !sub.empty() && !kGaleCommands.contains(sub);
    command = command || sub == "manage";
    std::string run_mode = Env("APP_RUN_MODE");
    bool serving = sub == "serve" || (sub.empty() && (run_mode.empty() || EqualsIgnoreCase(run_mode, "WEB")));

    // The service's name (logs, metrics, `deploy k8s`): --name, else the Django project's package, else gale-wsgi.
    std::string service = args.name;
    if (service.empty() && django)
        service = Env("DJANGO_SETTINGS_MODULE").substr(0, Env("DJANGO_SETTINGS_MODULE").find('.'));
    if (service.empty()) service = kName;

    // Its version (--version, the start-up log, the app.kubernetes.io/version label, the TASK Job's name): the
    // project's, not gale's.
    std::string version = Env("GALE_WSGI_VERSION");
    std::shared_ptr<WsgiApp> wsgi;
    app::App app(service, version.empty() ? "0.0.0" : version);
    if (!no_python) {
        // Before Python starts: threads the app's import starts inherit the mask, so SIGTERM reaches only gale's
        // signal watcher.
        if (!command) lifecycle::BlockShutdownSignals();
        InterpreterOptions options{.python_path = args.python_path,
                                   .virtual_env = Env("VIRTUAL_ENV"),
                                   .program = kName,
                                   .python_signal_handlers = command};
        if (auto started = StartInterpreter(options); !started) {
            std::fprintf(stderr, "%s: %s\n", kName, started.error().message().c_str());
            return 2;
        }
        if (django) {
            if (auto ready = django::Setup(); !ready) {
                std::fprintf(stderr, "%s: %s\n", kName, ready.error().message().c_str());
                return 2;
            }
            RegisterDjango(app);
        }
        std::string spec = !args.app.empty() ? args.app : django ? kDjangoApp : "";
        if (!spec.empty() && !command && sub != "deploy") {
            auto loaded = WsgiApp::Import(spec, {.script_name = args.script_name});
            if (!loaded) {
                std::fprintf(stderr, "%s: %s\n", kName, loaded.error().message().c_str());
                return 2;
            }
            wsgi = std::move(*loaded);
            if (auto routed = RoutePythonLogging(); !routed) {
                std::fprintf(stderr, "%s: %s\n", kName, routed.error().message().c_str());
                return 2;
            }
        } else if (spec.empty() && serving) {
            std::fprintf(stderr,
                         "%s: no application: give --app module:callable (or GALE_WSGI_APP), or set "
                         "DJANGO_SETTINGS_MODULE\n",
                         kName);
            return 2;
        }
    }
    if (InterpreterStarted()) {
        // serve --processes forks after the import: CPython's fork protocol around each fork, and the app learns it
        // is one of several processes.
        app.OnFork({.before = BeforeFork, .after_parent = AfterForkParent, .after_child = [wsgi] {
                        AfterForkChild();
                        if (wsgi) wsgi->SetMultiprocess(true);
                    }});
    }
    if (wsgi) {
        // Behind the static and media mounts (and integrated probes): the app gets every other request.
        // The body streams: the app reads wsgi.input as the client sends it.
        app.Fallback([wsgi](http::Request& request) { return wsgi->Handle(request); }, {.stream_body = true});
    }
    // --autoreload watches the Python path (and the working directory) as well as the binary.
    if (std::getenv("GALE_WATCH") == nullptr) {
        std::string watch = ".";
        for (const std::string& dir : args.python_path) watch += ";" + dir;
        ::setenv("GALE_WATCH", watch.c_str(), 0);
        ::setenv("GALE_WATCH_SUFFIX", ".py", 0);  // not the SQLite file or the logs beside the code
    }
    // App::Run sees argv without gale-wsgi's options; --autoreload re-executes with that argv, so the options
    // travel in the environment (where they were read from as well).
    std::string paths;
    for (const std::string& dir : args.python_path) paths += (paths.empty() ? "" : ":") + dir;
    for (const auto& [name, value] : {std::pair<const char*, const std::string*>{"GALE_WSGI_APP", &args.app},
                                      {"GALE_PYTHONPATH", &paths},
                                      {"GALE_SCRIPT_NAME", &args.script_name},
                                      {"GALE_WSGI_NAME", &args.name}}) {
        if (!value->empty()) ::setenv(name, value->c_str(), 1);
    }
    std::vector<char*> rest;
    for (std::string& a : args.rest) rest.push_back(a.data());
    rest.push_back(nullptr);
    return app.Run(static_cast<int>(rest.size() - 1), rest.data());
}

}  // namespace gale::wsgi
