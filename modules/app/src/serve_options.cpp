// SPDX-License-Identifier: MIT
#include "serve_options.hpp"

#include <cctype>
#include <limits>

#include <fmt/format.h>

#include <gale/base/check.hpp>
#include <gale/base/strings.hpp>

extern char** environ;

namespace gale::app {
namespace {

using Kind = OptionSpec::Kind;

Result<Mount> ParseMount(const std::string& what, const std::string& text, const std::string& default_url) {
    std::string dir = text;
    std::string url = default_url;
    // DIR[:URL] — the URL part starts with '/', so "C:/x" style paths don't exist on Linux and ':' is unambiguous.
    if (auto colon = text.rfind(":/"); colon != std::string::npos) {
        dir = text.substr(0, colon);
        url = text.substr(colon + 1);
    }
    if (dir.empty())
        return MakeError(ErrorCode::kInvalidArgument, fmt::format("{}: '{}' names no directory", what, text));
    if (url.empty() || url.front() != '/') {
        return MakeError(ErrorCode::kInvalidArgument,
                         fmt::format("{}: URL prefix in '{}' must start with '/'", what, text));
    }
    if (url.back() != '/') url += '/';
    return Mount{dir, url};
}

Result<std::string> ParsePath(const std::string& what, const std::string& text) {
    if (text.empty() || text.front() != '/' || text.find_first_of(" \t?#") != std::string::npos) {
        return MakeError(
            ErrorCode::kInvalidArgument,
            fmt::format("{}: '{}' must be a path starting with '/' without spaces, '?' or '#'", what, text));
    }
    return text;
}

std::vector<std::string> SplitList(const std::string& text) {
    std::vector<std::string> out;
    std::size_t start = 0;
    while (start <= text.size()) {
        std::size_t semi = text.find(';', start);
        std::string item = text.substr(start, semi == std::string::npos ? std::string::npos : semi - start);
        auto parts = SplitWhitespace(item);
        if (!parts.empty()) out.push_back(item);
        if (semi == std::string::npos) break;
        start = semi + 1;
    }
    return out;
}

const OptionSpec& Spec(std::string_view flag) {
    for (const OptionSpec& s : ServeOptionSpecs()) {
        if (flag == s.flag) return s;
    }
    GALE_CHECK(false);  // a flag that is not in the table: a bug here, not a user's mistake
    return ServeOptionSpecs().front();
}

}  // namespace

const std::vector<OptionSpec>& ServeOptionSpecs() {
    static const std::vector<OptionSpec> specs = {
        {"--bind", "address to listen on (app and probe ports): an IPv4 or IPv6 address", "0.0.0.0", "", Kind::kValue},
        {"--port", "app port (0: any free port, logged)", "8000", "", Kind::kValue},
        {"--probe-port", "probe and metrics port; equal to --port serves probes on the app port", "",
         "the app port + 1 (any free port while --port is 0)", Kind::kValue},
        {"--no-probe", "no probe server (and no metrics)", "false", "", Kind::kFlag},
        {"--no-metrics", "no metrics endpoint and no request counting", "false", "", Kind::kFlag},
        {"--req-queue-len", "readiness fails while this many requests wait for a worker", "10", "", Kind::kValue},
        {"--startup-probe", "startup probe path", "/startup", "", Kind::kValue},
        {"--readiness-probe", "readiness probe path", "/ready", "", Kind::kValue},
        {"--liveness-probe", "liveness probe path", "/alive", "", Kind::kValue},
        {"--metrics-path", "Prometheus metrics path on the probe port", "/metrics", "", Kind::kValue},
        {"--command", "\"NAME [ARGS]\": run a registered command before the app port opens (repeatable)", "",
         "no start-up commands", Kind::kList},
        {"--check-migrations",
         "wait until the app's migrations are applied before opening the app port (consume: before consuming)", "false",
         "", Kind::kFlag},
        {"--webhook-url", "POST lifecycle events to this URL (repeatable)", "", "no webhooks", Kind::kList},
        {"--static", "DIR[:URL] serve static files from DIR under URL (default URL /static/)", "", "no static files",
         Kind::kValue},
        {"--media", "DIR[:URL] serve media files from DIR under URL (default URL /media/)", "", "no media files",
         Kind::kValue},
        {"--workers", "worker threads for blocking handlers", "", "min(32, cores + 4), decided at start", Kind::kValue},
        {"--loops", "event loop threads", "", "one per core, decided at start", Kind::kValue},
        {"--max-body-size", "largest request body (413 above); K/M/G suffixes", "10M", "", Kind::kValue},
        {"--max-lifetime", "requests served before liveness asks for a restart (0: never)", "0", "", Kind::kValue},
        {"--drain-delay", "after SIGTERM: keep serving this long with readiness failing", "5s", "", Kind::kValue},
        {"--graceful-timeout", "then: wait this long for in-flight requests", "30s", "", Kind::kValue},
        {"--header-timeout", "a client must send a request's head within this", "10s", "", Kind::kValue},
        {"--keep-alive-timeout", "idle keep-alive connections close after this", "75s", "", Kind::kValue},
        {"--watchdog-timeout", "liveness fails when an event loop has not turned for this long", "10s", "",
         Kind::kValue},
        {"--autoreload", "restart when the binary or a --watch path changes", "false", "", Kind::kFlag},
        {"--watch", "extra file or directory for --autoreload (repeatable)", "", "only the binary is watched",
         Kind::kList},
        {"--debug", "readable logs at debug level", "false", "", Kind::kFlag},
        {"--no-access-log", "no per-request log line", "false", "", Kind::kFlag},
        {"--security-headers",
         "add Strict-Transport-Security, X-Content-Type-Options, X-Frame-Options and Referrer-Policy to responses "
         "(the staging and production profiles turn it on)",
         "false", "", Kind::kFlag},
    };
    return specs;
}

std::string EnvName(const std::string& flag) {
    std::string out = "GALE_";
    for (char c : flag.substr(2))
        out += c == '-' ? '_' : static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    return out;
}

std::map<std::string, std::string> GaleEnvironment() {
    std::map<std::string, std::string> env;
    for (char** e = environ; e != nullptr && *e != nullptr; ++e) {
        std::string_view kv(*e);
        if (!kv.starts_with("GALE_")) continue;
        auto eq = kv.find('=');
        if (eq == std::string_view::npos) continue;
        env.emplace(std::string(kv.substr(0, eq)), std::string(kv.substr(eq + 1)));
    }
    return env;
}

ServeOptionParser::ServeOptionParser(CLI::App& sub) : sub_(sub) {
    for (const OptionSpec& s : ServeOptionSpecs()) {
        std::string help = s.help;
        if (*s.default_value != '\0') {
            help += fmt::format(" [default: {}]", s.default_value);
        } else if (*s.when_unset != '\0') {
            help += fmt::format(" [unset: {}]", s.when_unset);
        }
        help += fmt::format(" (env {})", EnvName(s.flag));
        if (s.kind == Kind::kFlag) {
            sub_.add_flag(s.flag, flags_[s.flag], help);
        } else if (s.kind == Kind::kList) {
            sub_.add_option(s.flag, raw_[s.flag], help)->allow_extra_args(false);
        } else {
            sub_.add_option(s.flag, raw_[s.flag], help)
                ->allow_extra_args(false)
                ->expected(1)
                ->multi_option_policy(CLI::MultiOptionPolicy::TakeLast);
        }
    }
}

Result<ServeOptions> ServeOptionParser::Resolve(const std::map<std::string, std::string>& env) const {
    ServeOptions o;
    std::vector<std::string> problems;
    // value(flag) → (source name, text) with CLI > env > the table's default; nullopt when none of them gives one.
    auto value = [&](const std::string& flag) -> std::optional<std::pair<std::string, std::string>> {
        auto it = raw_.find(flag);
        if (it != raw_.end() && !it->second.empty()) return std::make_pair(flag, it->second.back());
        auto e = env.find(EnvName(flag));
        if (e != env.end()) return std::make_pair(e->first, e->second);
        const char* fallback = Spec(flag).default_value;
        if (*fallback != '\0') return std::make_pair(flag + " (default)", std::string(fallback));
        return std::nullopt;
    };
    auto given = [&](const std::string& flag) {
        auto it = raw_.find(flag);
        return (it != raw_.end() && !it->second.empty()) || env.count(EnvName(flag)) != 0;
    };
    auto flag = [&](const std::string& name, bool& out) {
        if (flags_.at(name)) {
            out = true;
            return;
        }
        auto e = env.find(EnvName(name));
        auto b =
            e == env.end() ? ParseBool(name + " (default)", Spec(name).default_value) : ParseBool(e->first, e->second);
        if (b) {
            out = *b;
        } else {
            problems.push_back(b.error().message());
        }
    };
    auto list = [&](const std::string& name) {
        auto it = raw_.find(name);
        if (it != raw_.end() && !it->second.empty()) return it->second;
        auto e = env.find(EnvName(name));
        return e == env.end() ? std::vector<std::string>{} : SplitList(e->second);
    };
    auto integer = [&](const std::string& name, auto& out, std::int64_t min, std::int64_t max) {
        if (auto v = value(name)) {
            auto r = ParseInt(v->first, v->second, min, max);
            if (r) {
                out = static_cast<std::remove_reference_t<decltype(out)>>(*r);
            } else {
                problems.push_back(r.error().message());
            }
        }
    };
    auto duration = [&](const std::string& name, std::chrono::milliseconds& out) {
        if (auto v = value(name)) {
            auto r = ParseDuration(v->first, v->second);
            if (r) {
                out = *r;
            } else {
                problems.push_back(r.error().message());
            }
        }
    };
    auto path = [&](const std::string& name, std::string& out) {
        if (auto v = value(name)) {
            auto r = ParsePath(v->first, v->second);
            if (r) {
                out = *r;
            } else {
                problems.push_back(r.error().message());
            }
        }
    };

    if (auto v = value("--bind")) o.bind = v->second;
    integer("--port", o.port, 0, 65535);
    bool probe_port_given = given("--probe-port");
    integer("--probe-port", o.probe_port, 0, 65535);
    flag("--no-probe", o.no_probe);
    flag("--no-metrics", o.no_metrics);
    integer("--req-queue-len", o.req_queue_len, 0, 1'000'000);
    path("--startup-probe", o.startup_probe);
    path("--readiness-probe", o.readiness_probe);
    path("--liveness-probe", o.liveness_probe);
    path("--metrics-path", o.metrics_path);
    for (const std::string& c : list("--command")) {
        auto words = SplitWhitespace(c);
        if (words.empty()) {
            problems.push_back("--command: empty command");
        } else {
            o.commands.push_back(std::move(words));
        }
    }
    flag("--check-migrations", o.check_migrations);
    o.webhook_urls = list("--webhook-url");
    for (const std::string& u : o.webhook_urls) {
        if (!u.starts_with("http://") && !u.starts_with("https://")) {
            problems.push_back(fmt::format("--webhook-url: '{}' is not an http:// or https:// URL", u));
        }
    }
    if (auto v = value("--static")) {
        auto m = ParseMount(v->first, v->second, "/static/");
        if (m) {
            o.static_mount = *m;
        } else {
            problems.push_back(m.error().message());
        }
    }
    if (auto v = value("--media")) {
        auto m = ParseMount(v->first, v->second, "/media/");
        if (m) {
            o.media_mount = *m;
        } else {
            problems.push_back(m.error().message());
        }
    }
    integer("--workers", o.workers, 1, 4096);
    integer("--loops", o.loops, 1, 1024);
    if (auto v = value("--max-body-size")) {
        auto r = ParseSize(v->first, v->second);
        if (r) {
            o.max_body_size = *r;
        } else {
            problems.push_back(r.error().message());
        }
    }
    integer("--max-lifetime", o.max_lifetime, 0, std::numeric_limits<std::int64_t>::max());
    duration("--drain-delay", o.drain_delay);
    duration("--graceful-timeout", o.graceful_timeout);
    duration("--header-timeout", o.header_timeout);
    duration("--keep-alive-timeout", o.keep_alive_timeout);
    duration("--watchdog-timeout", o.watchdog_timeout);
    flag("--autoreload", o.autoreload);
    o.watch = list("--watch");
    flag("--debug", o.debug);
    bool no_access_log = false;
    flag("--no-access-log", no_access_log);
    o.access_log = !no_access_log;
    flag("--security-headers", o.security_headers);

    if (!probe_port_given || o.probe_port == 0) o.probe_port = o.port == 0 ? 0 : static_cast<std::uint16_t>(o.port + 1);
    if (o.port == 65535 && !probe_port_given && !o.no_probe) {
        problems.push_back("--probe-port: --port 65535 leaves no room for port+1; set --probe-port");
    }
    if (o.header_timeout.count() <= 0) problems.push_back("--header-timeout: must be greater than 0");
    if (o.keep_alive_timeout.count() <= 0) problems.push_back("--keep-alive-timeout: must be greater than 0");
    if (o.watchdog_timeout.count() <= 0) problems.push_back("--watchdog-timeout: must be greater than 0");
    if (o.no_probe) o.no_metrics = true;

    if (!problems.empty()) {
        std::string msg = "invalid serve options:";
        for (const auto& p : problems) msg += "\n  " + p;
        return MakeError(ErrorCode::kInvalidArgument, msg);
    }
    return o;
}

}  // namespace gale::app
