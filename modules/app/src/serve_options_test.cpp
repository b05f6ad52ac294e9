// SPDX-License-Identifier: MIT
#include "serve_options.hpp"

#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <string>
#include <vector>

#include <gtest/gtest.h>

namespace gale::app {
namespace {

Result<ServeOptions> Parse(const std::vector<std::string>& args, const std::map<std::string, std::string>& env = {},
                           PathCheck paths = PathCheck::kFilesystem) {
    CLI::App cli;
    CLI::App* serve = cli.add_subcommand("serve");
    ServeOptionParser parser(*serve);
    std::vector<const char*> argv = {"prog", "serve"};
    for (const auto& a : args) argv.push_back(a.c_str());
    cli.parse(static_cast<int>(argv.size()), const_cast<char**>(argv.data()));
    return parser.Resolve(env, paths);
}

/// The problems of a failed Resolve(), one per line, without the heading; empty if it succeeded.
std::vector<std::string> Problems(const Result<ServeOptions>& r) {
    std::vector<std::string> out;
    if (r) return out;
    std::string_view m = r.error().message();
    EXPECT_TRUE(m.starts_with("invalid serve options:")) << m;
    for (std::size_t nl = m.find('\n'); nl != std::string_view::npos;) {
        std::size_t next = m.find('\n', nl + 1);
        out.emplace_back(m.substr(nl + 3, next == std::string_view::npos ? next : next - nl - 3));  // "\n  "
        nl = next;
    }
    return out;
}

/// A fresh directory, removed with its contents.
class TempDir {
public:
    TempDir() {
        std::string tmpl = (std::filesystem::temp_directory_path() / "gale-serve-options-XXXXXX").string();
        EXPECT_NE(::mkdtemp(tmpl.data()), nullptr);
        path_ = tmpl;
    }
    ~TempDir() {
        std::error_code ec;
        std::filesystem::remove_all(path_, ec);
    }
    TempDir(const TempDir&) = delete;
    TempDir& operator=(const TempDir&) = delete;
    const std::string& Path() const { return path_; }

private:
    std::string path_;
};

TEST(ServeOptions, Defaults) {
    auto o = Parse({});
    ASSERT_TRUE(o) << o.error().message();
    EXPECT_EQ(o->port, 8000);
    EXPECT_EQ(o->probe_port, 8001);
    EXPECT_EQ(o->req_queue_len, 10U);
    EXPECT_EQ(o->readiness_probe, "/ready");
    EXPECT_EQ(o->max_body_size, 10U << 20);
    EXPECT_TRUE(o->access_log);
}

// The option table states each default once: Resolve() parses the table's text, ServeOptions' initial values
// agree with it, and an option without a default says what being unset means instead (issue 8: `config` printed
// such help text, "min(32, cores+4)", as if it were the value).
TEST(ServeOptions, TheTableStatesEachDefaultOnce) {
    auto o = Parse({});
    ASSERT_TRUE(o) << o.error().message();
    const ServeOptions d;
    EXPECT_EQ(o->bind, d.bind);
    EXPECT_EQ(o->port, d.port);
    EXPECT_EQ(o->probe_port, 8001);  // derived; ServeOptions says 0 ("not resolved yet")
    EXPECT_EQ(o->no_probe, d.no_probe);
    EXPECT_EQ(o->no_metrics, d.no_metrics);
    EXPECT_EQ(o->req_queue_len, d.req_queue_len);
    EXPECT_EQ(o->startup_probe, d.startup_probe);
    EXPECT_EQ(o->readiness_probe, d.readiness_probe);
    EXPECT_EQ(o->liveness_probe, d.liveness_probe);
    EXPECT_EQ(o->metrics_path, d.metrics_path);
    EXPECT_EQ(o->commands, d.commands);
    EXPECT_EQ(o->check_migrations, d.check_migrations);
    EXPECT_EQ(o->webhook_urls, d.webhook_urls);
    EXPECT_FALSE(o->static_mount);
    EXPECT_FALSE(o->media_mount);
    EXPECT_EQ(o->workers, d.workers);
    EXPECT_EQ(o->loops, d.loops);
    EXPECT_EQ(o->processes, d.processes);
    EXPECT_EQ(o->max_body_size, d.max_body_size);
    EXPECT_EQ(o->max_lifetime, d.max_lifetime);
    EXPECT_EQ(o->drain_delay, d.drain_delay);
    EXPECT_EQ(o->graceful_timeout, d.graceful_timeout);
    EXPECT_EQ(o->header_timeout, d.header_timeout);
    EXPECT_EQ(o->body_timeout, d.body_timeout);
    EXPECT_EQ(o->keep_alive_timeout, d.keep_alive_timeout);
    EXPECT_EQ(o->watchdog_timeout, d.watchdog_timeout);
    EXPECT_EQ(o->autoreload, d.autoreload);
    EXPECT_EQ(o->watch, d.watch);
    EXPECT_EQ(o->debug, d.debug);
    EXPECT_EQ(o->access_log, d.access_log);
    EXPECT_EQ(o->security_headers, d.security_headers);

    for (const OptionSpec& spec : ServeOptionSpecs()) {
        SCOPED_TRACE(spec.flag);
        const bool has_default = *spec.default_value != '\0';
        EXPECT_NE(has_default, *spec.when_unset != '\0') << "exactly one of default_value and when_unset";
        if (spec.kind == OptionSpec::Kind::kFlag) {
            EXPECT_STREQ(spec.default_value, "false");
        }
        if (!has_default) continue;
        // The default, given explicitly, is accepted and changes nothing.
        auto explicit_default = Parse({}, {{EnvName(spec.flag), spec.default_value}});
        ASSERT_TRUE(explicit_default) << explicit_default.error().message();
        EXPECT_EQ(explicit_default->port, o->port);
        EXPECT_EQ(explicit_default->max_body_size, o->max_body_size);
        EXPECT_EQ(explicit_default->drain_delay, o->drain_delay);
    }
}

TEST(ServeOptions, CommandLineBeatsEnvironmentBeatsDefault) {
    auto env_only = Parse({}, {{"GALE_PORT", "9000"}, {"GALE_MAX_BODY_SIZE", "1M"}, {"GALE_NO_METRICS", "true"}});
    ASSERT_TRUE(env_only);
    EXPECT_EQ(env_only->port, 9000);
    EXPECT_EQ(env_only->probe_port, 9001);
    EXPECT_EQ(env_only->max_body_size, 1U << 20);
    EXPECT_TRUE(env_only->no_metrics);
    auto both = Parse({"--port", "7000"}, {{"GALE_PORT", "9000"}});
    ASSERT_TRUE(both);
    EXPECT_EQ(both->port, 7000);
    // Passing the default explicitly still counts as given (unlike django-hurricane).
    auto explicit_default = Parse({"--port", "8000"}, {{"GALE_PORT", "9000"}});
    EXPECT_EQ(explicit_default->port, 8000);
}

TEST(ServeOptions, BooleansFromEnvironmentAreStrict) {
    auto off = Parse({}, {{"GALE_NO_PROBE", "false"}});
    ASSERT_TRUE(off);
    EXPECT_FALSE(off->no_probe);  // "false" means false (hurricane treated any string as true)
    auto bad = Parse({}, {{"GALE_NO_PROBE", "maybe"}});
    ASSERT_FALSE(bad);
    EXPECT_NE(bad.error().message().find("GALE_NO_PROBE: 'maybe' is not a boolean"), std::string::npos);
}

TEST(ServeOptions, EveryBadValueIsReportedWithItsName) {
    auto r = Parse({"--port", "abc", "--max-body-size", "-5", "--drain-delay", "soon", "--workers", "0"},
                   {{"GALE_REQ_QUEUE_LEN", "ten"}});
    ASSERT_FALSE(r);
    const std::string& m = r.error().message();
    EXPECT_NE(m.find("--port: 'abc' is not an integer"), std::string::npos) << m;
    EXPECT_NE(m.find("--max-body-size"), std::string::npos) << m;
    EXPECT_NE(m.find("--drain-delay: 'soon'"), std::string::npos) << m;
    EXPECT_NE(m.find("--workers: 0 is out of range"), std::string::npos) << m;
    EXPECT_NE(m.find("GALE_REQ_QUEUE_LEN: 'ten'"), std::string::npos) << m;
}

TEST(ServeOptions, ListsMountsAndPaths) {
    auto o = Parse({"--command", "migrate --fake", "--command", "warmup", "--static", "./public:/assets", "--media",
                    "/srv/media", "--webhook-url", "http://127.0.0.1:9/hook"},
                   {{"GALE_WEBHOOK_URL", "http://ignored"}}, PathCheck::kSyntaxOnly);
    ASSERT_TRUE(o) << o.error().message();
    ASSERT_EQ(o->commands.size(), 2U);
    EXPECT_EQ(o->commands[0], (std::vector<std::string>{"migrate", "--fake"}));
    EXPECT_EQ(o->static_mount->dir, "./public");
    EXPECT_EQ(o->static_mount->url, "/assets/");
    EXPECT_EQ(o->media_mount->url, "/media/");
    ASSERT_EQ(o->webhook_urls.size(), 1U);
    auto env = Parse({}, {{"GALE_COMMAND", "migrate; collectstatic --noinput"}});
    ASSERT_TRUE(env);
    ASSERT_EQ(env->commands.size(), 2U);
    EXPECT_EQ(env->commands[1], (std::vector<std::string>{"collectstatic", "--noinput"}));
    EXPECT_FALSE(Parse({"--readiness-probe", "ready"}));
    EXPECT_FALSE(Parse({"--webhook-url", "ftp://x"}));
}

// Issue 8: `--bind 999.1.1.1` passed here and failed at listen time (exit 1, after the other options were taken).
TEST(ServeOptions, BindIsAnAddressLiteral) {
    for (const char* good : {"0.0.0.0", "127.0.0.1", "::", "::1", "fe80::1", "::ffff:10.0.0.1"}) {
        auto o = Parse({"--bind", good});
        ASSERT_TRUE(o) << good << ": " << o.error().message();
        EXPECT_EQ(o->bind, good);
    }
    EXPECT_EQ(Problems(Parse({"--bind", "999.1.1.1"})),
              std::vector<std::string>{"--bind: '999.1.1.1' is not an IPv4 or IPv6 address (such as 0.0.0.0, "
                                       "127.0.0.1, :: or ::1; names are not resolved)"});
    for (const char* bad : {"localhost", "1.2.3", "01.2.3.4", "::1%lo", " 127.0.0.1", "[::1]", "127.0.0.1:80"}) {
        auto problems = Problems(Parse({"--bind", bad}));
        ASSERT_EQ(problems.size(), 1U) << bad;
        EXPECT_TRUE(problems[0].starts_with(std::string("--bind: '") + bad + "' is not an IPv4 or IPv6 address"))
            << problems[0];
    }
    auto from_env = Problems(Parse({}, {{"GALE_BIND", ""}}));
    ASSERT_EQ(from_env.size(), 1U);
    EXPECT_TRUE(from_env[0].starts_with("GALE_BIND: '' is not an IPv4 or IPv6 address")) << from_env[0];
}

TEST(ServeOptions, CountsAndPortsAreInRange) {
    EXPECT_EQ(Problems(Parse({"--port", "65536", "--probe-port", "-1", "--workers", "4097", "--loops", "0"},
                             {{"GALE_REQ_QUEUE_LEN", "0"}})),
              (std::vector<std::string>{
                  "--port: 65536 is out of range [0, 65535]", "--probe-port: -1 is out of range [0, 65535]",
                  "GALE_REQ_QUEUE_LEN: 0 is out of range [1, 1000000]", "--workers: 4097 is out of range [1, 4096]",
                  "--loops: 0 is out of range [1, 1024]"}));
    EXPECT_TRUE(Parse({"--port", "0", "--probe-port", "65535", "--req-queue-len", "1"}));
}

TEST(ServeOptions, ProcessesAreCountedAndNeedAProbePortOfTheirOwn) {
    EXPECT_EQ(Problems(Parse({"--processes", "0"}, {})),
              (std::vector<std::string>{"--processes: 0 is out of range [1, 256]"}));
    EXPECT_EQ(Problems(Parse({}, {{"GALE_PROCESSES", "257"}})),
              (std::vector<std::string>{"GALE_PROCESSES: 257 is out of range [1, 256]"}));
    EXPECT_EQ(Problems(Parse({"--processes", "2", "--port", "9000", "--probe-port", "9000"}, {})),
              (std::vector<std::string>{"--processes: 2 processes share the app port, so the probes need one of their "
                                        "own (--probe-port 9000 is the app port)"}));
    auto o = Parse({"--processes", "4"}, {});
    ASSERT_TRUE(o);
    EXPECT_EQ(o->processes, 4U);
    EXPECT_TRUE(Parse({"--processes", "2", "--port", "9000", "--probe-port", "9000", "--no-probe"}, {}));
}

TEST(ServeOptions, DurationsAreBounded) {
    EXPECT_EQ(
        Problems(Parse({"--drain-delay", "25h", "--graceful-timeout", "99999999999h", "--keep-alive-timeout", "0ms"},
                       {{"GALE_HEADER_TIMEOUT", "0"}, {"GALE_WATCHDOG_TIMEOUT", "-1s"}, {"GALE_BODY_TIMEOUT", "0s"}})),
        (std::vector<std::string>{
            "--drain-delay: '25h' is longer than the maximum, 24h",
            "--graceful-timeout: '99999999999h' is too long",
            "GALE_HEADER_TIMEOUT: '0' must be greater than 0",
            "GALE_BODY_TIMEOUT: '0s' must be greater than 0",
            "--keep-alive-timeout: '0ms' must be greater than 0",
            "GALE_WATCHDOG_TIMEOUT: '-1s' is not a duration (e.g. 500ms, 30s, 2m)",
        }));
    auto edge = Parse({"--drain-delay", "0", "--graceful-timeout", "24h", "--header-timeout", "1ms"});
    ASSERT_TRUE(edge) << edge.error().message();
    EXPECT_EQ(edge->graceful_timeout, std::chrono::hours(24));
    auto body = Parse({"--body-timeout", "5m"});
    ASSERT_TRUE(body) << body.error().message();
    EXPECT_EQ(body->body_timeout, std::chrono::minutes(5));
}

TEST(ServeOptions, MountDirectoriesMustExistAndBeReadable) {
    TempDir dir;
    const std::string www = dir.Path() + "/www";
    std::filesystem::create_directory(www);
    const std::string file = dir.Path() + "/file.txt";
    std::FILE* f = std::fopen(file.c_str(), "w");
    ASSERT_NE(f, nullptr);
    std::fclose(f);

    auto ok = Parse({"--static", www + ":/assets", "--media", dir.Path()});
    ASSERT_TRUE(ok) << ok.error().message();
    EXPECT_EQ(ok->static_mount->dir, www);
    EXPECT_EQ(ok->media_mount->url, "/media/");

    EXPECT_EQ(Problems(Parse({"--static", dir.Path() + "/missing"}, {{"GALE_MEDIA", file + ":/m"}})),
              (std::vector<std::string>{"--static: directory '" + dir.Path() + "/missing' does not exist",
                                        "GALE_MEDIA: '" + file + "' is not a directory"}));
    EXPECT_EQ(Problems(Parse({"--static", www + ":/files", "--media", dir.Path() + ":/files/"})),
              std::vector<std::string>{"--media: URL prefix '/files/' is also the one of --static; give one of "
                                       "them another URL (DIR:URL)"});
    if (::geteuid() != 0) {  // root reads everything: the permission case needs an ordinary user
        std::filesystem::permissions(www, std::filesystem::perms::none);
        auto unreadable = Problems(Parse({"--static", www}));
        std::filesystem::permissions(www, std::filesystem::perms::owner_all);
        EXPECT_EQ(unreadable,
                  std::vector<std::string>{"--static: directory '" + www + "' cannot be read: Permission denied"});
    }
    // deploy k8s resolves the options for the image, whose directories this machine does not have.
    EXPECT_TRUE(Parse({"--static", "/app/static"}, {}, PathCheck::kSyntaxOnly));
}

TEST(ServeOptions, WebhookUrlsNameAHost) {
    auto ok = Parse({"--webhook-url", "http://127.0.0.1:9/hook", "--webhook-url", "https://u:p@hooks.example.com/x",
                     "--webhook-url", "http://[::1]:8080/h?x=1"});
    ASSERT_TRUE(ok) << ok.error().message();
    EXPECT_EQ(ok->webhook_urls.size(), 3U);
    EXPECT_EQ(
        Problems(Parse({"--webhook-url", "ftp://x", "--webhook-url", "http://", "--webhook-url", "https://:443/x",
                        "--webhook-url", "http://h:0/", "--webhook-url", "http://a b/"})),
        (std::vector<std::string>{
            "--webhook-url: 'ftp://x' is not an http:// or https:// URL", "--webhook-url: 'http://' names no host",
            "--webhook-url: 'https://:443/x' names no host", "--webhook-url: 'http://h:0/' has a port outside 1-65535",
            "--webhook-url: 'http://a b/' contains whitespace or control characters"}));
    EXPECT_EQ(Problems(Parse({}, {{"GALE_WEBHOOK_URL", "http://ok.example; http://h:99999/"}})),
              std::vector<std::string>{"GALE_WEBHOOK_URL: 'http://h:99999/' has a port outside 1-65535"});
}

TEST(ServeOptions, ProbePathsAreDistinct) {
    EXPECT_EQ(Problems(Parse({"--metrics-path", "/ready", "--liveness-probe", "/startup"})),
              (std::vector<std::string>{"--liveness-probe: '/startup' is also the path of --startup-probe",
                                        "--metrics-path: '/ready' is also the path of --readiness-probe"}));
    EXPECT_TRUE(Parse({"--metrics-path", "/ready", "--no-probe"}));  // no probe server: nothing to clash
}

// Everything at once: one run, one message, each problem naming its option (or variable) and value.
TEST(ServeOptions, AllBadValuesAreReportedTogether) {
    auto problems = Problems(Parse({"--bind", "999.1.1.1", "--port", "70000", "--static", "/nonexistent/static",
                                    "--drain-delay", "2d", "--max-body-size", "10T"},
                                   {{"GALE_WEBHOOK_URL", "http://"}, {"GALE_NO_METRICS", "sometimes"}}));
    EXPECT_EQ(problems.size(), 7U);
    const std::string all = [&] {
        std::string a;
        for (const auto& p : problems) a += p + "\n";
        return a;
    }();
    for (const char* word :
         {"--bind: '999.1.1.1'", "--port: 70000", "GALE_NO_METRICS: 'sometimes'", "GALE_WEBHOOK_URL: 'http://'",
          "--static: directory '/nonexistent/static'", "--max-body-size: '10T'", "--drain-delay: '2d'"}) {
        EXPECT_NE(all.find(word), std::string::npos) << word << " in:\n" << all;
    }
}

// An unknown --command was found only after the probe server was up (a "start-up failed" event), alone.
TEST(ServeOptions, CommandsMustBeRegistered) {
    auto parse = [](std::optional<std::vector<std::string>> known, const std::vector<std::string>& args,
                    const std::map<std::string, std::string>& env = {}) {
        CLI::App cli;
        CLI::App* serve = cli.add_subcommand("serve");
        ServeOptionParser parser(*serve, std::move(known));
        std::vector<const char*> argv = {"prog", "serve"};
        for (const auto& a : args) argv.push_back(a.c_str());
        cli.parse(static_cast<int>(argv.size()), const_cast<char**>(argv.data()));
        return parser.Resolve(env);
    };
    const std::vector<std::string> known = {"migrate", "warmup"};
    EXPECT_TRUE(parse(known, {"--command", "migrate --fake", "--command", "warmup"}));
    EXPECT_EQ(Problems(parse(known, {"--command", "migrate", "--command", "nope 1"})),
              std::vector<std::string>{"--command: 'nope' is not a registered command (registered: migrate, warmup)"});
    EXPECT_EQ(Problems(parse(std::vector<std::string>{}, {}, {{"GALE_COMMAND", "migrate"}})),
              std::vector<std::string>{"GALE_COMMAND: 'migrate' is not a registered command (this service registers "
                                       "none)"});
}

TEST(ServeOptions, UnknownFlagIsAParseError) {
    CLI::App cli;
    CLI::App* serve = cli.add_subcommand("serve");
    ServeOptionParser parser(*serve);
    const char* argv[] = {"prog", "serve", "--prot", "80"};
    EXPECT_THROW(cli.parse(4, const_cast<char**>(argv)), CLI::ParseError);
}

TEST(ServeOptions, EnvNames) {
    EXPECT_EQ(EnvName("--max-body-size"), "GALE_MAX_BODY_SIZE");
    EXPECT_EQ(EnvName("--port"), "GALE_PORT");
}

}  // namespace
}  // namespace gale::app
