// SPDX-License-Identifier: MIT
/// @file serve_options.hpp (private)
/// @brief The options of `serve`: one table of flag, environment variable, default and help; resolution with the
///        precedence command line > environment > default; typed validation that names the option and value.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>

#include <gale/base/error.hpp>

namespace gale::app {

struct Mount {
    std::string dir;
    std::string url;  ///< ends with '/'
};

/// The resolved options. The initial values are those of ServeOptionSpecs() (a unit test keeps them equal), so a
/// default-constructed ServeOptions is what Resolve() gives when nothing is set.
struct ServeOptions {
    std::string bind = "0.0.0.0";
    std::uint16_t port = 8000;
    std::uint16_t probe_port = 0;  ///< resolved: port + 1 unless given
    bool no_probe = false;
    bool no_metrics = false;
    std::size_t req_queue_len = 10;
    std::string startup_probe = "/startup";
    std::string readiness_probe = "/ready";
    std::string liveness_probe = "/alive";
    std::string metrics_path = "/metrics";
    std::vector<std::vector<std::string>> commands;
    bool check_migrations = false;
    std::vector<std::string> webhook_urls;
    std::optional<Mount> static_mount;
    std::optional<Mount> media_mount;
    std::size_t workers = 0;
    std::size_t loops = 0;
    std::size_t processes = 1;
    std::uint64_t max_body_size = 10ULL << 20;
    std::uint64_t max_lifetime = 0;
    std::chrono::milliseconds drain_delay{5000};
    std::chrono::milliseconds graceful_timeout{20000};
    std::chrono::milliseconds header_timeout{10000};
    std::chrono::milliseconds body_timeout{60000};
    std::chrono::milliseconds keep_alive_timeout{75000};
    std::chrono::milliseconds watchdog_timeout{10000};
    bool autoreload = false;
    std::vector<std::string> watch;
    std::vector<std::string> watch_suffixes;
    bool debug = false;
    bool access_log = true;
    bool security_headers = false;
    /// Not an option: listening sockets this process was handed by the one that forked it (serve --processes).
    struct Inherited {
        std::vector<int> app;  ///< one per event loop, instead of opening --bind:--port
        int probe = -1;        ///< the probe server's, instead of opening --bind:--probe-port
    } inherited;
};

/// One row of the option table.
struct OptionSpec {
    const char* flag;  ///< "--port"
    const char* help;
    /// The value used when neither the command line nor the environment gives one, in the option's own syntax
    /// ("8000", "10s", "false"); "" when the option has none. Resolve() parses it like any other value, and
    /// LoadSettings() shows it in `config` as a default.
    const char* default_value;
    /// Only for an option without a default value: what happens while it is unset ("the app port + 1"), for
    /// --help and, as a comment line, for `config`. Never used as a value.
    const char* when_unset;
    enum class Kind { kValue, kFlag, kList } kind;
};

/// The option table: the one place that states each option's default (the README's table copies it).
const std::vector<OptionSpec>& ServeOptionSpecs();

/// The environment variable of a flag: GALE_ + upper-case name with '-' as '_' ("--max-body-size" →
/// "GALE_MAX_BODY_SIZE").
std::string EnvName(const std::string& flag);

/// Whether Resolve() looks at the file system: the --static and --media directories must then exist and be
/// readable. `deploy k8s` resolves the options for another machine (the image), so it checks the syntax only.
enum class PathCheck { kFilesystem, kSyntaxOnly };

/// Binds the option table to a CLI11 sub-command; Resolve() then reads the parsed values.
class ServeOptionParser {
public:
    /// `commands`: the names of the registered commands, which every --command must name (std::nullopt: not
    /// checked, for tests of the other options).
    explicit ServeOptionParser(CLI::App& sub, std::optional<std::vector<std::string>> commands = std::nullopt);
    /// Applies precedence and converts. Every bad value is an error here, before anything starts, so that a role
    /// (serve, consume) exits 2 for all of them at once instead of failing later, one at a time:
    ///  - --bind: an IPv4 or IPv6 address literal (as the listener takes it);
    ///  - ports 0-65535 (--port 65535 needs an explicit --probe-port); --req-queue-len 1-1000000 (0 would fail
    ///    readiness for ever); --workers 1-4096; --loops 1-1024; --max-lifetime >= 0;
    ///  - durations (ms, s, m, h) at most 24h; --header-timeout, --keep-alive-timeout, --watchdog-timeout > 0;
    ///  - sizes (K, M, G); booleans from the environment strictly true/false, 1/0, yes/no, on/off;
    ///  - probe and metrics paths: '/'-rooted, without spaces, '?' or '#', all four different;
    ///  - --static/--media: DIR[:URL] with an existing, readable directory (with PathCheck::kFilesystem), and not
    ///    the same URL prefix twice; --webhook-url: http(s)://host[:port]…; --command: a registered command.
    /// --watch paths may not exist yet (the watcher takes their appearance for a change).
    /// @return the options, or kInvalidArgument "invalid serve options:" followed by one line per problem, each
    ///         naming the flag or environment variable and quoting the value.
    [[nodiscard]] Result<ServeOptions> Resolve(const std::map<std::string, std::string>& env,
                                               PathCheck paths = PathCheck::kFilesystem) const;

private:
    CLI::App& sub_;
    std::optional<std::vector<std::string>> commands_;
    std::map<std::string, std::vector<std::string>> raw_;  // flag → values given on the command line
    std::map<std::string, bool> flags_;
};

/// Reads the process environment into a map (only GALE_* variables).
std::map<std::string, std::string> GaleEnvironment();

}  // namespace gale::app
