// SPDX-License-Identifier: MIT
//
// Black-box tests of what a deployer meets before anything serves: bad option values, the `config` output, the
// profile's place among the sources, dotenv files that try to exhaust memory, the database variables. Each test
// starts tests/integration/testsvc as a child process and judges it as a shell or an orchestrator would: its exit
// code, its stdout, its stderr (kept apart: the child runs under `sh -c 'exec … 2>FILE'`), and whether it ever
// listened.
#include <cctype>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <optional>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "harness.hpp"

namespace {

using namespace std::chrono_literals;
using gale::testing::integration::Process;
using gale::testing::integration::ReadFile;
using gale::testing::integration::SpawnOptions;
using gale::testing::integration::TempDirTest;
namespace fs = std::filesystem;

#ifndef GALE_TESTSVC_PATH
#error "GALE_TESTSVC_PATH must name the testsvc binary"
#endif

void WriteFile(const std::string& path, std::string_view content) {
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out << content;
}

bool Contains(std::string_view haystack, std::string_view needle) {
    return haystack.find(needle) != std::string_view::npos;
}

/// The lines of `text` that start with `prefix`.
std::vector<std::string> LinesStartingWith(const std::string& text, std::string_view prefix) {
    std::vector<std::string> out;
    std::istringstream in(text);
    for (std::string line; std::getline(in, line);) {
        if (line.starts_with(prefix)) out.push_back(line);
    }
    return out;
}

/// One finished run of testsvc: exit code, stdout, stderr.
struct Outcome {
    std::optional<int> code;  ///< nullopt: still running at the deadline (then killed)
    std::string out;
    std::string err;
    bool listened = false;  ///< a "… server listening" line appeared
};

class ConfigTest : public TempDirTest {
protected:
    ConfigTest() : TempDirTest("config-test") {}

    /// Runs `testsvc ARGS…` in dir_ with only `env` of the GALE_/APP_/DATABASE_ variables, and waits for it.
    Outcome Start(std::vector<std::string> args, std::map<std::string, std::string> env = {},
                  std::chrono::milliseconds timeout = 10s) {
        const std::string n = std::to_string(runs_++);
        const std::string out_path = dir_ + "/run" + n + ".out";
        const std::string err_path = dir_ + "/run" + n + ".err";
        // argv: sh -c 'exec "$0" "$@" 2>"$ERR"' testsvc ARGS…, so stderr gets its own file.
        std::vector<std::string> argv = {"/bin/sh", "-c", "exec \"$0\" \"$@\" 2>\"$TESTSVC_STDERR\"",
                                         GALE_TESTSVC_PATH};
        argv.insert(argv.end(), args.begin(), args.end());
        SpawnOptions options;
        options.env = std::move(env);
        options.env["TESTSVC_STDERR"] = err_path;
        options.env.emplace("GALE_DOTENV_DIR", dir_);
        options.unset_prefixes = {"GALE_", "TESTSVC_", "APP_", "DATABASE_", "STATIC_"};
        options.working_dir = dir_;
        Process p(std::move(argv), out_path, options);
        Outcome r;
        r.code = p.WaitExit(timeout);
        r.out = ReadFile(out_path);
        r.err = ReadFile(err_path);
        r.listened = Contains(r.out, "server listening") || Contains(r.err, "server listening");
        return r;
    }

    int runs_ = 0;
};

// ------------------------------------------------------------------------------------------------------------------
// Item 1: ${VAR} expansion is bounded

// The doubling file of issue 8, made long enough to need 4 MiB for one value (so that, without the bound, the test
// fails on the exit code instead of exhausting the machine). The bound stops it at line 9 (A8 would be 256 KiB).
TEST_F(ConfigTest, DotenvExpansionBombStopsAtTheLineThatExceedsTheBound) {
    std::string text = "Z=" + std::string(1024, 'z') + "\n";
    std::string previous = "Z";
    for (int i = 1; i <= 12; ++i) {
        const std::string name = "A" + std::to_string(i);
        text += name;
        text += "=${" + previous;
        text += "}${" + previous;
        text += "}\n";
        previous = name;
    }
    WriteFile(dir_ + "/.env.local", text);
    for (const std::vector<std::string>& args :
         {std::vector<std::string>{"config"},
          std::vector<std::string>{"serve", "--bind", "127.0.0.1", "--port", "0"}}) {
        SCOPED_TRACE(args.front());
        Outcome r = Start(args);
        ASSERT_TRUE(r.code) << "still running";
        EXPECT_EQ(*r.code, 2) << r.err;
        EXPECT_TRUE(Contains(r.err, dir_ + "/.env.local:9: A8: longer than 131072 bytes once ${...} is expanded"))
            << r.err;
        EXPECT_LT(r.out.size() + r.err.size(), 4096U) << "printed the expansion";
        EXPECT_FALSE(r.listened);
    }
}

// ------------------------------------------------------------------------------------------------------------------
// Item 2: `config` shows values, never help text, and names the profile

TEST_F(ConfigTest, ConfigShowsRealValuesAndNamesTheProfile) {
    Outcome r =
        Start({"config"}, {{"GALE_PROFILE", "production"}, {"APP_SECRET_KEY", "k"}, {"GALE_MAX_LIFETIME", "7"}});
    ASSERT_TRUE(r.code);
    ASSERT_EQ(*r.code, 0) << r.err;
    for (const char* line : {
             "APP_DEBUG=false  # profile production\n",
             "GALE_SECURITY_HEADERS=true  # profile production\n",
             "SESSION_COOKIE_SECURE=true  # profile production\n",
             "CSRF_COOKIE_SECURE=true  # profile production\n",
             "GALE_PROFILE=production  # environment\n",
             "GALE_MAX_LIFETIME=7  # environment\n",
             "GALE_PORT=8000  # default\n",
             "GALE_BIND=0.0.0.0  # default\n",
             "GALE_DRAIN_DELAY=5s  # default\n",
             "# GALE_WORKERS is not set: min(32, cores + 4), decided at start\n",
             "# GALE_PROBE_PORT is not set: the app port + 1",
             "# GALE_STATIC is not set: no static files\n",
         }) {
        EXPECT_TRUE(Contains(r.out, line)) << line << " in:\n" << r.out;
    }
    // The old output's help texts as values, and the profile's values labelled as defaults:
    for (const char* prefix : {"GALE_STATIC=", "GALE_MEDIA=", "GALE_WORKERS=", "GALE_LOOPS=", "GALE_PROBE_PORT=",
                               "GALE_COMMAND=", "GALE_WEBHOOK_URL=", "GALE_WATCH="}) {
        EXPECT_TRUE(LinesStartingWith(r.out, prefix).empty()) << prefix << " shown as a value:\n" << r.out;
    }
    EXPECT_FALSE(Contains(r.out, "URL /static/")) << r.out;
    EXPECT_TRUE(LinesStartingWith(r.out, "APP_DEBUG=false  # default").empty()) << r.out;

    // What `config` shows as a default is a value the option parser accepts: fed back through the environment, the
    // whole set starts the same way (`config check` passes).
    std::map<std::string, std::string> fed_back = {{"GALE_PROFILE", "production"}, {"APP_SECRET_KEY", "k"}};
    for (const auto& line : LinesStartingWith(r.out, "GALE_")) {
        const auto eq = line.find('=');
        const auto hash = line.find("  # default");
        if (hash != std::string::npos) fed_back[line.substr(0, eq)] = line.substr(eq + 1, hash - eq - 1);
    }
    EXPECT_GE(fed_back.size(), 20U);
    Outcome check = Start({"config", "check"}, fed_back);
    ASSERT_TRUE(check.code);
    EXPECT_EQ(*check.code, 0) << check.out << check.err;
}

// Secret values never appear in `config`: also those the contract marks secret whatever their name (a password in
// DATABASE_URL or AMQP_URL), not only names with PASSWORD, SECRET, TOKEN or _KEY in them.
TEST_F(ConfigTest, ConfigHidesEverySecretTheContractNames) {
    Outcome r = Start({"config"}, {{"DATABASE_URL", "postgresql://u:hunter2@db/app"},
                                   {"AMQP_URL", "amqp://u:swordfish@mq:5672/%2F"},
                                   {"RABBITMQ_PASSWORD", "sesame"}});
    ASSERT_TRUE(r.code);
    ASSERT_EQ(*r.code, 0) << r.err;
    for (const char* secret : {"hunter2", "swordfish", "sesame"}) {
        EXPECT_FALSE(Contains(r.out, secret)) << secret << " shown in:\n" << r.out;
    }
    EXPECT_TRUE(Contains(r.out, "DATABASE_URL=********")) << r.out;
    EXPECT_TRUE(Contains(r.out, "AMQP_URL=********")) << r.out;
}

// A contract group's defaults are what the service's settings hold for unset variables (they were documented and
// never applied), in enabled groups only, and a default enables no group.
TEST_F(ConfigTest, ContractDefaultsOfEnabledGroupsAreTheSettingsOfUnsetVariables) {
    Outcome r = Start({"config"});
    ASSERT_TRUE(r.code);
    ASSERT_EQ(*r.code, 0) << r.err;
    EXPECT_TRUE(Contains(r.out, "TESTSVC_GREETING=hello  # default\n")) << r.out;  // testsvc's own group
    EXPECT_TRUE(Contains(r.out, "APP_RUN_MODE=WEB  # default\n")) << r.out;        // always enabled
    for (const char* prefix : {"DATABASE_PORT=", "AMQP_HEARTBEAT=", "RABBITMQ_PORT=", "CACHE_REDIS_PORT="}) {
        EXPECT_TRUE(LinesStartingWith(r.out, prefix).empty()) << prefix << " of a group that is off:\n" << r.out;
    }
    Outcome set = Start({"config"}, {{"TESTSVC_GREETING", "hi"}, {"CACHE_REDIS_HOST", "redis"}});
    ASSERT_TRUE(set.code);
    ASSERT_EQ(*set.code, 0) << set.err;
    EXPECT_TRUE(Contains(set.out, "TESTSVC_GREETING=hi  # environment\n")) << set.out;
    EXPECT_TRUE(Contains(set.out, "CACHE_REDIS_PORT=6379  # default\n")) << set.out;  // its group is on now
    Outcome check = Start({"config", "check"});
    ASSERT_TRUE(check.code);
    EXPECT_EQ(*check.code, 0) << check.out << check.err;  // defaults count as unset: no "group not enabled"
}

TEST_F(ConfigTest, ProductionProfileErrorNamesTheProfile) {
    Outcome r = Start({"serve", "--bind", "127.0.0.1", "--port", "0"}, {{"GALE_PROFILE", "production"}});
    ASSERT_TRUE(r.code) << "a production server started without APP_SECRET_KEY";
    EXPECT_EQ(*r.code, 2);
    EXPECT_TRUE(Contains(r.err,
                         "APP_SECRET_KEY is required when APP_DEBUG is false (APP_DEBUG (from profile "
                         "production) is 'false')"))
        << r.err;
    EXPECT_FALSE(Contains(r.err, "(from default)")) << r.err;
    EXPECT_FALSE(r.listened);
    // A settings file outranks the profile, and is named as the source.
    fs::create_directories(dir_ + "/settings");
    WriteFile(dir_ + "/settings/production.env", "APP_DEBUG=no\n");
    Outcome file =
        Start({"config", "check"}, {{"GALE_PROFILE", "production"}, {"GALE_SETTINGS_DIR", dir_ + "/settings"}});
    ASSERT_TRUE(file.code);
    EXPECT_EQ(*file.code, 1);
    EXPECT_TRUE(Contains(file.out, "(APP_DEBUG (from file " + dir_ + "/settings/production.env) is 'no')")) << file.out;
}

// ------------------------------------------------------------------------------------------------------------------
// Item 3: DATABASE_NAME alone is a SQLite configuration

TEST_F(ConfigTest, DatabaseNameAloneIsAccepted) {
    Outcome r = Start({"config", "check"}, {{"APP_DEBUG", "true"}, {"DATABASE_NAME", dir_ + "/app.db"}});
    ASSERT_TRUE(r.code);
    EXPECT_EQ(*r.code, 0) << r.out << r.err;
    Outcome host = Start({"config", "check"}, {{"APP_DEBUG", "true"}, {"DATABASE_HOST", "db"}});
    ASSERT_TRUE(host.code);
    EXPECT_EQ(*host.code, 1);
    EXPECT_TRUE(Contains(host.out,
                         "DATABASE_HOST (from environment) is set but the group 'SQL database' is not "
                         "enabled (set DATABASE_ENGINE)"))
        << host.out;
}

// ------------------------------------------------------------------------------------------------------------------
// Item 4: a bad option value is exit 2 everywhere, named with its value, all at once

TEST_F(ConfigTest, BadBindAddressIsExitTwoBeforeAnythingListens) {
    for (const char* role : {"serve", "consume"}) {
        SCOPED_TRACE(role);
        Outcome r = Start({role, "--bind", "999.1.1.1", "--port", "0"}, {{"TESTSVC_PIPE_DB", dir_ + "/pipe.db"}});
        ASSERT_TRUE(r.code) << "still running";
        EXPECT_EQ(*r.code, 2) << r.err;
        EXPECT_TRUE(Contains(r.err, "--bind: '999.1.1.1' is not an IPv4 or IPv6 address")) << r.err;
        EXPECT_FALSE(r.listened);
        Outcome env =
            Start({role, "--port", "0"}, {{"GALE_BIND", "localhost"}, {"TESTSVC_PIPE_DB", dir_ + "/pipe.db"}});
        ASSERT_TRUE(env.code) << "still running";
        EXPECT_EQ(*env.code, 2) << env.err;
        EXPECT_TRUE(Contains(env.err, "GALE_BIND: 'localhost' is not an IPv4 or IPv6 address")) << env.err;
    }
}

TEST_F(ConfigTest, EveryBadOptionIsReportedTogetherWithExitTwo) {
    WriteFile(dir_ + "/not-a-dir", "x");
    const std::vector<std::string> args = {
        "--bind",           "999.1.1.1",
        "--port",           "70000",
        "--static",         dir_ + "/missing",
        "--media",          dir_ + "/not-a-dir",
        "--drain-delay",    "25h",
        "--workers",        "0",
        "--webhook-url",    "http://",
        "--command",        "no-such-command",
        "--metrics-path",   "/ready",
        "--header-timeout", "0",
    };
    const std::map<std::string, std::string> env = {{"GALE_MAX_BODY_SIZE", "10T"},
                                                    {"GALE_REQ_QUEUE_LEN", "0"},
                                                    {"GALE_NO_METRICS", "sometimes"},
                                                    {"GALE_GRACEFUL_TIMEOUT", "soon"},
                                                    {"TESTSVC_PIPE_DB", dir_ + "/pipe.db"}};
    const std::vector<std::string> expected = {
        "--bind: '999.1.1.1' is not an IPv4 or IPv6 address",
        "--port: 70000 is out of range [0, 65535]",
        "--static: directory '" + dir_ + "/missing' does not exist",
        "--media: '" + dir_ + "/not-a-dir' is not a directory",
        "--drain-delay: '25h' is longer than the maximum, 24h",
        "--workers: 0 is out of range [1, 4096]",
        "--webhook-url: 'http://' names no host",
        "--command: 'no-such-command' is not a registered command (registered: ",
        "--metrics-path: '/ready' is also the path of --readiness-probe",
        "--header-timeout: '0' must be greater than 0",
        "GALE_MAX_BODY_SIZE: '10T' has an unknown size suffix",
        "GALE_REQ_QUEUE_LEN: 0 is out of range [1, 1000000]",
        "GALE_NO_METRICS: 'sometimes' is not a boolean",
        "GALE_GRACEFUL_TIMEOUT: 'soon' is not a duration",
    };
    for (const char* role : {"serve", "consume"}) {
        SCOPED_TRACE(role);
        std::vector<std::string> role_args = {role};
        role_args.insert(role_args.end(), args.begin(), args.end());
        Outcome r = Start(role_args, env);
        ASSERT_TRUE(r.code) << "still running: the bad values were accepted";
        EXPECT_EQ(*r.code, 2) << r.err;
        EXPECT_FALSE(r.listened);
        for (const auto& problem : expected) EXPECT_TRUE(Contains(r.err, problem)) << problem << " in:\n" << r.err;
        // One report: a heading, then one line per problem.
        EXPECT_EQ(LinesStartingWith(r.err, "  ").size(), expected.size()) << r.err;
        EXPECT_TRUE(r.out.empty()) << r.out;
    }
    // `config check` lists the same problems (exit 1: it reports, it does not run a role).
    std::map<std::string, std::string> as_env = env;
    for (std::size_t i = 0; i + 1 < args.size(); i += 2) {
        std::string name = "GALE_" + args[i].substr(2);
        for (char& c : name) c = c == '-' ? '_' : static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
        as_env[name] = args[i + 1];
    }
    as_env["APP_DEBUG"] = "true";
    Outcome check = Start({"config", "check"}, as_env);
    ASSERT_TRUE(check.code);
    EXPECT_EQ(*check.code, 1);
    EXPECT_TRUE(Contains(check.out, "GALE_BIND: '999.1.1.1' is not an IPv4 or IPv6 address")) << check.out;
    EXPECT_TRUE(Contains(check.out, "GALE_STATIC: directory '" + dir_ + "/missing' does not exist")) << check.out;
    EXPECT_TRUE(Contains(check.out, "GALE_COMMAND: 'no-such-command' is not a registered command")) << check.out;
}

TEST_F(ConfigTest, GoodEdgeValuesStart) {
    fs::create_directories(dir_ + "/www");
    // Accepted values at the edges still start the server (killed as soon as it listens).
    const std::string out_path = dir_ + "/edge.out";
    SpawnOptions options;
    options.env = {{"GALE_DOTENV_DIR", dir_}, {"GALE_DRAIN_DELAY", "0"}, {"GALE_GRACEFUL_TIMEOUT", "24h"}};
    options.unset_prefixes = {"GALE_", "TESTSVC_", "APP_", "DATABASE_"};
    Process p({GALE_TESTSVC_PATH, "serve", "--bind", "127.0.0.1", "--port", "0", "--static", dir_ + "/www:/assets",
               "--webhook-url", "http://127.0.0.1:9/hook", "--req-queue-len", "1"},
              out_path, options);
    EXPECT_NE(p.WaitForPort("app server listening", 10s), 0) << p.Log();
}

// ------------------------------------------------------------------------------------------------------------------
// The built-in `collectstatic` command, as TASK mode and a deployer run it (the hashing itself: modules/staticfiles)

class CollectStaticTest : public ConfigTest {
protected:
    void SetUp() override {
        ConfigTest::SetUp();
        fs::create_directories(dir_ + "/assets/css");
        fs::create_directories(dir_ + "/assets/img");
        fs::create_directories(dir_ + "/assets/js");
        WriteFile(dir_ + "/assets/css/app.css", "body { background: url(\"../img/dot.png\"); }\n");
        WriteFile(dir_ + "/assets/img/dot.png", std::string("\x89PNG\r\n\x1a\n", 8) + std::string(64, '\0'));
        std::string js;
        for (int i = 0; i < 200; ++i) js += "console.log('gale collects static files', " + std::to_string(i) + ");\n";
        WriteFile(dir_ + "/assets/js/app.js", js);
    }
    std::map<std::string, std::string> Env() const {
        return {{"STATIC_ROOT", dir_ + "/collected"}, {"STATIC_SOURCE_DIRS", dir_ + "/assets"}};
    }
};

TEST_F(CollectStaticTest, WritesHashedNamesManifestAndCompressedFiles) {
    Outcome r = Start({"collectstatic", "--noinput", "-v", "2"}, Env());
    ASSERT_TRUE(r.code);
    ASSERT_EQ(*r.code, 0) << r.out << r.err;
    EXPECT_TRUE(Contains(r.out, "3 static files copied to '" + dir_ + "/collected'")) << r.out;
    EXPECT_TRUE(Contains(r.out, "'css/app.css' -> 'css/app.")) << r.out;

    const auto manifest = nlohmann::json::parse(ReadFile(dir_ + "/collected/staticfiles.json"), nullptr, false);
    ASSERT_FALSE(manifest.is_discarded());
    const std::string css = manifest["paths"].value("css/app.css", "");
    const std::string png = manifest["paths"].value("img/dot.png", "");
    ASSERT_TRUE(css.starts_with("css/app.") && css.ends_with(".css")) << manifest.dump();
    ASSERT_TRUE(png.starts_with("img/dot.") && png.ends_with(".png")) << manifest.dump();
    // The hashed CSS points at the hashed image; the original name is there too; text is compressed, PNG is not.
    EXPECT_TRUE(Contains(ReadFile(dir_ + "/collected/" + css), png.substr(4))) << ReadFile(dir_ + "/collected/" + css);
    EXPECT_TRUE(fs::exists(dir_ + "/collected/css/app.css"));
    EXPECT_TRUE(fs::exists(dir_ + "/collected/js/app.js.gz"));
    EXPECT_TRUE(fs::exists(dir_ + "/collected/js/app.js.br"));
    EXPECT_FALSE(fs::exists(dir_ + "/collected/" + png + ".gz"));
}

TEST_F(CollectStaticTest, RunsInTaskModeAndDryRunWritesNothing) {
    auto env = Env();
    env["APP_RUN_MODE"] = "TASK";
    env["APP_DEBUG"] = "true";
    env["APP_TASK_COMMANDS"] = "collectstatic --noinput --dry-run";
    Outcome r = Start({}, env);
    ASSERT_TRUE(r.code);
    EXPECT_EQ(*r.code, 0) << r.out << r.err;
    EXPECT_TRUE(Contains(r.out, "3 static files would be copied to")) << r.out;
    EXPECT_TRUE(fs::is_empty(dir_ + "/collected")) << "a dry run writes no file";
}

TEST_F(CollectStaticTest, MissingSettingsAndBrokenReferencesAreClearErrors) {
    Outcome unset = Start({"collectstatic", "--noinput"}, {{"STATIC_SOURCE_DIRS", dir_ + "/assets"}});
    ASSERT_TRUE(unset.code);
    EXPECT_EQ(*unset.code, 2);
    EXPECT_TRUE(Contains(unset.err, "collectstatic: STATIC_ROOT is not set")) << unset.err;

    Outcome bad_flag = Start({"collectstatic", "--verbosity", "7"}, Env());
    ASSERT_TRUE(bad_flag.code);
    EXPECT_EQ(*bad_flag.code, 2) << bad_flag.out << bad_flag.err;

    WriteFile(dir_ + "/assets/css/broken.css", "a { background: url(missing.png); }\n");
    Outcome broken = Start({"collectstatic", "--noinput"}, Env());
    ASSERT_TRUE(broken.code);
    EXPECT_EQ(*broken.code, 1);
    EXPECT_TRUE(Contains(broken.err, "css/broken.css")) << broken.err;
    EXPECT_TRUE(Contains(broken.err, "missing.png")) << broken.err;
    EXPECT_FALSE(fs::exists(dir_ + "/collected/staticfiles.json"));  // the manifest only on success
}

}  // namespace
