// SPDX-License-Identifier: MIT
#include "serve_options.hpp"

#include <gtest/gtest.h>

namespace gale::app {
namespace {

Result<ServeOptions> Parse(std::vector<std::string> args, std::map<std::string, std::string> env = {}) {
    CLI::App cli;
    CLI::App* serve = cli.add_subcommand("serve");
    ServeOptionParser parser(*serve);
    std::vector<const char*> argv = {"prog", "serve"};
    for (const auto& a : args) argv.push_back(a.c_str());
    cli.parse(static_cast<int>(argv.size()), const_cast<char**>(argv.data()));
    return parser.Resolve(env);
}

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
    EXPECT_EQ(o->max_body_size, d.max_body_size);
    EXPECT_EQ(o->max_lifetime, d.max_lifetime);
    EXPECT_EQ(o->drain_delay, d.drain_delay);
    EXPECT_EQ(o->graceful_timeout, d.graceful_timeout);
    EXPECT_EQ(o->header_timeout, d.header_timeout);
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
                   {{"GALE_WEBHOOK_URL", "http://ignored"}});
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
