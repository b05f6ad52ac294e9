// SPDX-License-Identifier: MIT
#include "serve_options.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <limits>

#include <fmt/format.h>

#include <gale/base/check.hpp>
#include <gale/base/strings.hpp>

extern char** environ;

namespace gale::app {
namespace {

using Kind = OptionSpec::Kind;

constexpr std::chrono::milliseconds kMaxDuration = std::chrono::hours(24);

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

/// The directory of a --static/--media mount must exist and be readable now: found at start-up, it is one more
/// bad option reported with the others (exit 2), not a failure after the probe server is up.
Result<void> CheckMountDirectory(const std::string& what, const Mount& mount) {
    std::error_code ec;
    const auto status = std::filesystem::status(mount.dir, ec);
    if (!std::filesystem::exists(status)) {
        return MakeError(ErrorCode::kInvalidArgument,
                         fmt::format("{}: directory '{}' does not exist", what, mount.dir));
    }
    if (!std::filesystem::is_directory(status)) {
        return MakeError(ErrorCode::kInvalidArgument, fmt::format("{}: '{}' is not a directory", what, mount.dir));
    }
    if (::access(mount.dir.c_str(), R_OK | X_OK) != 0) {
        const int err = errno;
        return MakeError(ErrorCode::kInvalidArgument,
                         fmt::format("{}: directory '{}' cannot be read: {}", what, mount.dir, std::strerror(err)));
    }
    return {};
}

/// An IPv4 or IPv6 address literal, as the listener takes it (inet_pton; no names, no zone index).
Result<void> CheckBindAddress(const std::string& what, const std::string& text) {
    in6_addr v6{};
    in_addr v4{};
    if (::inet_pton(AF_INET, text.c_str(), &v4) == 1 || ::inet_pton(AF_INET6, text.c_str(), &v6) == 1) return {};
    return MakeError(ErrorCode::kInvalidArgument,
                     fmt::format("{}: '{}' is not an IPv4 or IPv6 address (such as 0.0.0.0, 127.0.0.1, :: or ::1; "
                                 "names are not resolved)",
                                 what, text));
}

/// http:// or https://, a host, an optional port in [1, 65535], no whitespace or control characters.
Result<void> CheckWebhookUrl(const std::string& what, const std::string& url) {
    auto bad = [&](std::string_view why) {
        return MakeError(ErrorCode::kInvalidArgument, fmt::format("{}: '{}' {}", what, url, why));
    };
    std::string_view rest(url);
    if (rest.starts_with("http://")) {
        rest.remove_prefix(7);
    } else if (rest.starts_with("https://")) {
        rest.remove_prefix(8);
    } else {
        return bad("is not an http:// or https:// URL");
    }
    for (char c : url) {
        if (static_cast<unsigned char>(c) <= 0x20 || c == 0x7F) return bad("contains whitespace or control characters");
    }
    std::string_view authority = rest.substr(0, rest.find_first_of("/?#"));
    if (auto at = authority.rfind('@'); at != std::string_view::npos) authority.remove_prefix(at + 1);
    std::string_view host = authority;
    std::string_view port;
    if (authority.starts_with('[')) {  // [IPv6]:port
        const auto close = authority.find(']');
        if (close == std::string_view::npos) return bad("has an unterminated [IPv6] host");
        host = authority.substr(0, close + 1);
        if (close + 1 < authority.size()) {
            if (authority[close + 1] != ':') return bad("has text after the [IPv6] host");
            port = authority.substr(close + 2);
        }
    } else if (auto colon = authority.rfind(':'); colon != std::string_view::npos) {
        host = authority.substr(0, colon);
        port = authority.substr(colon + 1);
    }
    if (host.empty() || host == "[]") return bad("names no host");
    if (!port.empty() || authority.ends_with(':')) {
        if (!ParseInt(what, port, 1, 65535)) return bad("has a port outside 1-65535");
    }
    return {};
}

Result<std::string> ParsePath(const std::string& what, const std::string& text) {
    if (text.empty() || text.front() != '/' || text.find_first_of(" \t?#") != std::string::npos) {
        return MakeError(
            ErrorCode::kInvalidArgument,
            fmt::format("{}: '{}' must be a path starting with '/' without spaces, '?' or '#'", what, text));
    }
    return text;
}

/// "a; b c ;" → {"a", "b c"}: items trimmed of surrounding whitespace, empty ones dropped.
std::vector<std::string> SplitList(const std::string& text) {
    std::vector<std::string> out;
    std::size_t start = 0;
    while (start <= text.size()) {
        std::size_t semi = text.find(';', start);
        std::string item = text.substr(start, semi == std::string::npos ? std::string::npos : semi - start);
        const auto first = item.find_first_not_of(" \t\r\n");
        if (first != std::string::npos) out.push_back(item.substr(first, item.find_last_not_of(" \t\r\n") - first + 1));
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
        {"--loops", "event loop threads (per process)", "", "one per core (cores / --processes each), decided at start",
         Kind::kValue},
        {"--processes",
         "processes serving the app port, forked after the app is loaded; probes, metrics and drain "
         "cover them all",
         "1", "", Kind::kValue},
        {"--max-body-size", "largest request body (413 above); K/M/G suffixes", "10M", "", Kind::kValue},
        {"--max-lifetime", "requests served before liveness asks for a restart (0: never)", "0", "", Kind::kValue},
        {"--drain-delay", "after SIGTERM: keep serving this long with readiness failing", "5s", "", Kind::kValue},
        {"--graceful-timeout", "then: wait this long for in-flight work", "20s", "", Kind::kValue},
        {"--header-timeout", "a client must send a request's head within this", "10s", "", Kind::kValue},
        {"--body-timeout", "a client must send a request's body within this (streamed: no byte for this long)", "60s",
         "", Kind::kValue},
        {"--keep-alive-timeout", "idle keep-alive connections close after this", "75s", "", Kind::kValue},
        {"--watchdog-timeout", "liveness fails when an event loop has not turned for this long", "10s", "",
         Kind::kValue},
        {"--autoreload", "restart when the binary or a --watch path changes", "false", "", Kind::kFlag},
        {"--watch", "extra file or directory for --autoreload (repeatable)", "", "only the binary is watched",
         Kind::kList},
        {"--watch-suffix", "in watched directories, only files ending so count (repeatable, e.g. .py)", "",
         "every file", Kind::kList},
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

ServeOptionParser::ServeOptionParser(CLI::App& sub, std::optional<std::vector<std::string>> commands)
    : sub_(sub), commands_(std::move(commands)) {
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

Result<ServeOptions> ServeOptionParser::Resolve(const std::map<std::string, std::string>& env, PathCheck paths) const {
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
    // list(flag) → (source name, items): every occurrence on the command line, else the environment's ';' list.
    auto list = [&](const std::string& name) -> std::pair<std::string, std::vector<std::string>> {
        auto it = raw_.find(name);
        if (it != raw_.end() && !it->second.empty()) return {name, it->second};
        auto e = env.find(EnvName(name));
        if (e == env.end()) return {name, {}};
        return {e->first, SplitList(e->second)};
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
    // Durations are bounded above by kMaxDuration: far beyond any sensible timeout, far below what would overflow
    // the clocks' arithmetic (ParseDuration alone accepts up to 1e15 ms, which a steady_clock deadline cannot hold).
    auto duration = [&](const std::string& name, std::chrono::milliseconds& out, bool positive) {
        if (auto v = value(name)) {
            auto r = ParseDuration(v->first, v->second);
            if (!r) {
                problems.push_back(r.error().message());
            } else if (positive && r->count() <= 0) {
                problems.push_back(fmt::format("{}: '{}' must be greater than 0", v->first, v->second));
            } else if (*r > kMaxDuration) {
                problems.push_back(fmt::format("{}: '{}' is longer than the maximum, 24h", v->first, v->second));
            } else {
                out = *r;
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

    if (auto v = value("--bind")) {
        if (auto r = CheckBindAddress(v->first, v->second); r) {
            o.bind = v->second;
        } else {
            problems.push_back(r.error().message());
        }
    }
    integer("--port", o.port, 0, 65535);
    bool probe_port_given = given("--probe-port");
    integer("--probe-port", o.probe_port, 0, 65535);
    flag("--no-probe", o.no_probe);
    flag("--no-metrics", o.no_metrics);
    integer("--req-queue-len", o.req_queue_len, 1, 1'000'000);  // 0 would fail readiness for ever
    path("--startup-probe", o.startup_probe);
    path("--readiness-probe", o.readiness_probe);
    path("--liveness-probe", o.liveness_probe);
    path("--metrics-path", o.metrics_path);
    {
        auto [source, commands] = list("--command");
        for (const std::string& c : commands) {
            auto words = SplitWhitespace(c);
            if (words.empty()) {
                problems.push_back(fmt::format("{}: empty command", source));
            } else if (commands_ &&
                       std::find(commands_->begin(), commands_->end(), words.front()) == commands_->end()) {
                std::string known;
                for (const auto& name : *commands_) known += (known.empty() ? "" : ", ") + name;
                problems.push_back(fmt::format("{}: '{}' is not a registered command ({})", source, words.front(),
                                               known.empty() ? "this service registers none" : "registered: " + known));
            } else {
                o.commands.push_back(std::move(words));
            }
        }
    }
    flag("--check-migrations", o.check_migrations);
    {
        auto [source, urls] = list("--webhook-url");
        for (const std::string& u : urls) {
            if (auto r = CheckWebhookUrl(source, u); !r) problems.push_back(r.error().message());
        }
        o.webhook_urls = std::move(urls);
    }
    auto mount = [&](const std::string& name, const char* default_url, std::optional<Mount>& out) {
        auto v = value(name);
        if (!v) return;
        auto m = ParseMount(v->first, v->second, default_url);
        if (!m) {
            problems.push_back(m.error().message());
            return;
        }
        if (paths == PathCheck::kFilesystem) {
            if (auto r = CheckMountDirectory(v->first, *m); !r) {
                problems.push_back(r.error().message());
                return;
            }
        }
        out = std::move(*m);
    };
    mount("--static", "/static/", o.static_mount);
    mount("--media", "/media/", o.media_mount);
    if (o.static_mount && o.media_mount && o.static_mount->url == o.media_mount->url) {
        problems.push_back(
            fmt::format("--media: URL prefix '{}' is also the one of --static; give one of them another URL (DIR:URL)",
                        o.media_mount->url));
    }
    integer("--workers", o.workers, 1, 4096);
    integer("--loops", o.loops, 1, 1024);
    integer("--processes", o.processes, 1, 256);
    if (auto v = value("--max-body-size")) {
        auto r = ParseSize(v->first, v->second);
        if (r) {
            o.max_body_size = *r;
        } else {
            problems.push_back(r.error().message());
        }
    }
    integer("--max-lifetime", o.max_lifetime, 0, std::numeric_limits<std::int64_t>::max());
    duration("--drain-delay", o.drain_delay, /*positive=*/false);
    duration("--graceful-timeout", o.graceful_timeout, /*positive=*/false);
    duration("--header-timeout", o.header_timeout, /*positive=*/true);
    duration("--body-timeout", o.body_timeout, /*positive=*/true);
    duration("--keep-alive-timeout", o.keep_alive_timeout, /*positive=*/true);
    duration("--watchdog-timeout", o.watchdog_timeout, /*positive=*/true);
    flag("--autoreload", o.autoreload);
    // Not checked for existence: the watcher treats a path that appears later as a change (a build output, say).
    o.watch = list("--watch").second;
    o.watch_suffixes = list("--watch-suffix").second;
    flag("--debug", o.debug);
    bool no_access_log = false;
    flag("--no-access-log", no_access_log);
    o.access_log = !no_access_log;
    flag("--security-headers", o.security_headers);

    if (!probe_port_given || o.probe_port == 0) o.probe_port = o.port == 0 ? 0 : static_cast<std::uint16_t>(o.port + 1);
    if (o.port == 65535 && !probe_port_given && !o.no_probe) {
        problems.push_back("--probe-port: --port 65535 leaves no room for port+1; set --probe-port");
    }
    if (!o.no_probe) {
        // Each probe path (and the metrics path) answers one thing: two options naming the same path would make the
        // probe server refuse its routes at start-up.
        const std::vector<std::pair<const char*, const std::string*>> probe_paths = {
            {"--startup-probe", &o.startup_probe},
            {"--readiness-probe", &o.readiness_probe},
            {"--liveness-probe", &o.liveness_probe},
            {"--metrics-path", &o.metrics_path}};
        for (std::size_t i = 0; i < probe_paths.size(); ++i) {
            for (std::size_t j = 0; j < i; ++j) {
                if (*probe_paths[i].second == *probe_paths[j].second) {
                    problems.push_back(fmt::format("{}: '{}' is also the path of {}", probe_paths[i].first,
                                                   *probe_paths[i].second, probe_paths[j].first));
                }
            }
        }
    }
    if (o.no_probe) o.no_metrics = true;
    if (o.processes > 1 && !o.no_probe && o.probe_port == o.port && o.port != 0) {
        problems.push_back(fmt::format(
            "--processes: {} processes share the app port, so the probes need one of their own (--probe-port {} is "
            "the app port)",
            o.processes, o.probe_port));
    }

    if (!problems.empty()) {
        std::string msg = "invalid serve options:";
        for (const auto& p : problems) msg += "\n  " + p;
        return MakeError(ErrorCode::kInvalidArgument, msg);
    }
    return o;
}

}  // namespace gale::app
