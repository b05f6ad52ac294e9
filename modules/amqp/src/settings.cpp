// SPDX-License-Identifier: MIT
// One reader for the contract's rule and for ConnectionOptionsFromSettings, so that what the contract accepts at
// start-up is exactly what the consumer will use. The reader collects every problem instead of stopping at the
// first. Secrets (passwords, AMQP_URL, which may embed one) are never quoted: problems name the variable only.
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include <fmt/format.h>

#include <gale/amqp/settings.hpp>
#include <gale/base/strings.hpp>

namespace gale::amqp {
namespace {

using config::NameWithSource;
using config::Secret;
using config::Settings;
using config::Var;
using config::VariableSpec;
using config::VariableType;

struct Family {
    const char* host;
    const char* port;
    const char* vhost;
    const char* user;
    const char* password;
};
constexpr Family kHurricane{"AMQP_HOST", "AMQP_PORT", "AMQP_VHOST", "AMQP_USER", "AMQP_PASSWORD"};
constexpr Family kBasePython{"RABBITMQ_HOST", "RABBITMQ_PORT", "RABBITMQ_VHOST", "RABBITMQ_USERNAME",
                             "RABBITMQ_PASSWORD"};
constexpr std::array<const char*, 6> kTuning{"AMQP_HEARTBEAT",   "AMQP_CONNECT_TIMEOUT", "AMQP_TLS",
                                             "AMQP_TLS_CA_FILE", "AMQP_TLS_VERIFY",      "AMQP_CONNECTION_NAME"};
constexpr std::array<const char*, 10> kPikaParameters{
    "connection_attempts", "retry_delay",  "socket_timeout", "blocked_connection_timeout",
    "channel_max",         "frame_max",    "locale",         "ssl_options",
    "tcp_options",         "stack_timeout"};

tl::unexpected<Error> Invalid(std::string message) {
    return MakeError(ErrorCode::kInvalidArgument, std::move(message));
}

bool Readable(const std::string& path) { return ::access(path.c_str(), R_OK) == 0; }

/// Applies one URL query parameter.
Result<void> ApplyQuery(ConnectionOptions& o, std::string_view what, std::string_view name, std::string_view raw) {
    auto value = PercentDecode(raw);
    if (!value) return Invalid(fmt::format("{}: query parameter '{}' has a bad percent-escape", what, name));
    const std::string where = fmt::format("{}: query parameter {}", what, name);
    if (name == "heartbeat") {
        GALE_ASSIGN_OR_RETURN(auto s, ParseInt(where, *value, 0, 65535));
        o.heartbeat = std::chrono::seconds(s);
    } else if (name == "connection_timeout") {
        GALE_ASSIGN_OR_RETURN(auto ms, ParseInt(where, *value, 1, 86'400'000));
        o.connect_timeout = std::chrono::milliseconds(ms);
    } else if (name == "cacertfile" || name == "certfile" || name == "keyfile" || name == "verify") {
        if (!o.tls) return Invalid(fmt::format("{} needs amqps://", where));
        if (name == "cacertfile") o.tls->ca_file = *value;
        if (name == "certfile") o.tls->cert_file = *value;
        if (name == "keyfile") o.tls->key_file = *value;
        if (name == "verify") {
            if (*value == "verify_peer") {
                o.tls->verify_peer = true;
            } else if (*value == "verify_none") {
                o.tls->verify_peer = false;
            } else {
                return Invalid(fmt::format("{}: '{}' is not verify_peer or verify_none", where, *value));
            }
        }
    } else if (name == "name") {
        o.connection_name = *value;
    } else if (std::find(kPikaParameters.begin(), kPikaParameters.end(), name) == kPikaParameters.end()) {
        return Invalid(
            fmt::format("{}: unknown query parameter '{}' (gale reads heartbeat, connection_timeout, "
                        "cacertfile, certfile, keyfile, verify, name; pika's own are ignored)",
                        what, name));
    }
    return {};
}

/// Reads the broker; appends problems. `report_types`: also report malformed typed values (the contract's rule
/// passes false: the contract has reported those already).
std::optional<ConnectionOptions> Read(const Settings& s, std::vector<std::string>& problems, bool report_types) {
    auto type_problem = [&](const Error& e) {
        if (report_types) problems.push_back(e.message());
    };
    auto what = [&](std::string_view key) { return NameWithSource(s, key); };
    auto value = [&](std::string_view key) { return s.Find(key).value_or(""); };
    auto get_port = [&](const char* key) -> std::optional<int> {
        if (!config::IsSet(s, key)) return std::nullopt;
        auto p = ParseInt(what(key), value(key), 1, 65535);
        if (!p) {
            type_problem(p.error());
            return std::nullopt;
        }
        return static_cast<int>(*p);
    };
    auto get_bool = [&](const char* key) -> std::optional<bool> {
        if (!config::IsSet(s, key)) return std::nullopt;
        auto b = ParseBool(what(key), value(key));
        if (!b) {
            type_problem(b.error());
            return std::nullopt;
        }
        return *b;
    };
    auto get_duration = [&](const char* key) -> std::optional<std::chrono::milliseconds> {
        if (!config::IsSet(s, key)) return std::nullopt;
        auto d = ParseDuration(what(key), value(key));
        if (!d) {
            type_problem(d.error());
            return std::nullopt;
        }
        return *d;
    };
    auto family_set = [&](const Family& f) {
        for (const char* k : {f.host, f.port, f.vhost, f.user, f.password}) {
            if (config::IsSet(s, k)) return true;
        }
        return false;
    };

    const bool url_set = config::IsSet(s, "AMQP_URL");
    const Family* chosen = nullptr;
    if (!url_set) {
        if (config::IsSet(s, kHurricane.host)) {
            chosen = &kHurricane;
        } else if (config::IsSet(s, kBasePython.host)) {
            chosen = &kBasePython;
        }
    }
    if (!url_set && chosen == nullptr) {
        for (const Family* f : {&kHurricane, &kBasePython}) {
            for (const char* k : {f->port, f->vhost, f->user, f->password}) {
                if (config::IsSet(s, k)) {
                    problems.push_back(
                        fmt::format("{} is set but no broker is: set AMQP_URL, AMQP_HOST or "
                                    "RABBITMQ_HOST",
                                    what(k)));
                }
            }
        }
        for (const char* k : kTuning) {
            if (config::IsSet(s, k)) {
                problems.push_back(
                    fmt::format("{} is set but no broker is: set AMQP_URL, AMQP_HOST or RABBITMQ_HOST", what(k)));
            }
        }
        return std::nullopt;
    }

    ConnectionOptions o;
    const auto tls_flag = get_bool("AMQP_TLS");
    bool url_ok = true;
    if (url_set) {
        o.source = what("AMQP_URL");
        auto parsed = ParseUrl(value("AMQP_URL"), o.source);
        if (parsed) {
            o = std::move(*parsed);
            o.source = what("AMQP_URL");
            if (tls_flag && *tls_flag != o.tls.has_value()) {
                problems.push_back(fmt::format("{} contradicts the scheme of {} ({})", what("AMQP_TLS"), o.source,
                                               o.tls ? "amqps" : "amqp"));
            }
        } else {
            problems.push_back(parsed.error().message());
            url_ok = false;
        }
    } else {
        const Family& f = *chosen;
        o.source = what(f.host);
        o.host = value(f.host);
        if (tls_flag && *tls_flag) {
            o.tls = TlsOptions{};
            o.port = 5671;
        }
        if (auto p = get_port(f.port)) o.port = *p;
        if (config::IsSet(s, f.vhost)) o.vhost = value(f.vhost);
        if (config::IsSet(s, f.user)) o.username = value(f.user);
        if (config::IsSet(s, f.password)) o.password = value(f.password);
        if (config::IsSet(s, f.password) && !config::IsSet(s, f.user)) {
            problems.push_back(fmt::format("{} is set without {}", what(f.password), f.user));
        }
    }

    // Lower families that are also set must name the same broker.
    if (url_ok) {
        const std::string& chosen_name = o.source;
        for (const Family* f : {&kHurricane, &kBasePython}) {
            if (f == chosen || !family_set(*f)) continue;
            auto differs = [&](const char* key, const std::string& in_use, bool secret) {
                if (!config::IsSet(s, key) || value(key) == in_use) return;
                if (secret) {
                    problems.push_back(
                        fmt::format("{} differs from the password of {}: set one of them, or the same "
                                    "broker in both",
                                    what(key), chosen_name));
                } else {
                    problems.push_back(
                        fmt::format("{} is '{}' but {} says '{}': set one of them, or the same broker "
                                    "in both",
                                    what(key), value(key), chosen_name, in_use));
                }
            };
            differs(f->host, o.host, false);
            if (auto p = get_port(f->port); p && *p != o.port) {
                problems.push_back(
                    fmt::format("{} is '{}' but {} says '{}': set one of them, or the same broker in "
                                "both",
                                what(f->port), *p, chosen_name, o.port));
            }
            differs(f->vhost, o.vhost, false);
            differs(f->user, o.username, false);
            differs(f->password, o.password, true);
        }
    }

    if (auto hb = get_duration("AMQP_HEARTBEAT")) {
        if (hb->count() % 1000 != 0 || *hb > std::chrono::seconds(65535)) {
            problems.push_back(fmt::format("{}: '{}' is not a whole number of seconds in [0s, 65535s]",
                                           what("AMQP_HEARTBEAT"), value("AMQP_HEARTBEAT")));
        } else if (!url_set || value("AMQP_URL").find("heartbeat=") == std::string::npos) {
            o.heartbeat = std::chrono::duration_cast<std::chrono::seconds>(*hb);
        }
    }
    if (auto ct = get_duration("AMQP_CONNECT_TIMEOUT")) {
        if (ct->count() <= 0) {
            problems.push_back(fmt::format("{}: must be above 0", what("AMQP_CONNECT_TIMEOUT")));
        } else if (!url_set || value("AMQP_URL").find("connection_timeout=") == std::string::npos) {
            o.connect_timeout = *ct;
        }
    }
    if (config::IsSet(s, "AMQP_CONNECTION_NAME") && o.connection_name.empty()) {
        o.connection_name = value("AMQP_CONNECTION_NAME");
    }
    const auto verify = get_bool("AMQP_TLS_VERIFY");
    const bool ca_set = config::IsSet(s, "AMQP_TLS_CA_FILE");
    if (o.tls) {
        if (ca_set && o.tls->ca_file.empty()) o.tls->ca_file = value("AMQP_TLS_CA_FILE");
        if (verify && !(url_set && value("AMQP_URL").find("verify=") != std::string::npos)) {
            o.tls->verify_peer = *verify;
        }
        for (const auto& [file, key] :
             {std::pair{o.tls->ca_file, "CA file"}, std::pair{o.tls->cert_file, "certificate file"},
              std::pair{o.tls->key_file, "key file"}}) {
            if (!file.empty() && !Readable(file)) {
                problems.push_back(fmt::format(
                    "{}: cannot read the TLS {} '{}'",
                    ca_set && file == value("AMQP_TLS_CA_FILE") ? what("AMQP_TLS_CA_FILE") : o.source, key, file));
            }
        }
        if (o.tls->cert_file.empty() != o.tls->key_file.empty()) {
            problems.push_back(fmt::format("{}: certfile and keyfile come together", o.source));
        }
    } else if (url_ok) {
        for (const char* k : {"AMQP_TLS_CA_FILE", "AMQP_TLS_VERIFY"}) {
            if (config::IsSet(s, k)) {
                problems.push_back(fmt::format("{} is set but TLS is off (use amqps:// or AMQP_TLS=true)", what(k)));
            }
        }
    }
    return o;
}

}  // namespace

std::string ConnectionOptions::Describe() const {
    return fmt::format("{}://{}@{}{}:{}/{}", tls ? "amqps" : "amqp", PercentEncode(username),
                       host.find(':') != std::string::npos ? "[" + host + "]" : host, "", port, PercentEncode(vhost));
}

Result<ConnectionOptions> ParseUrl(std::string_view url, std::string_view what) {
    ConnectionOptions o;
    std::string_view rest;
    if (url.starts_with("amqp://")) {
        rest = url.substr(7);
    } else if (url.starts_with("amqps://")) {
        rest = url.substr(8);
        o.tls = TlsOptions{};
        o.port = 5671;
    } else {
        return Invalid(fmt::format("{}: the scheme must be amqp:// or amqps://", what));
    }
    std::string_view query;
    if (auto q = rest.find('?'); q != std::string_view::npos) {
        query = rest.substr(q + 1);
        rest = rest.substr(0, q);
    }
    std::string_view path;
    bool has_path = false;
    if (auto slash = rest.find('/'); slash != std::string_view::npos) {
        path = rest.substr(slash + 1);
        rest = rest.substr(0, slash);
        has_path = true;
    }
    // userinfo: the LAST '@' ends it (an unescaped '@' in a password is common enough to accept).
    if (auto at = rest.rfind('@'); at != std::string_view::npos) {
        std::string_view userinfo = rest.substr(0, at);
        rest = rest.substr(at + 1);
        std::string_view user = userinfo;
        std::optional<std::string_view> password;
        if (auto colon = userinfo.find(':'); colon != std::string_view::npos) {
            user = userinfo.substr(0, colon);
            password = userinfo.substr(colon + 1);
        }
        auto u = PercentDecode(user);
        if (!u) return Invalid(fmt::format("{}: the user name has a bad percent-escape", what));
        o.username = *u;
        o.password.clear();
        if (password) {
            auto p = PercentDecode(*password);
            if (!p) return Invalid(fmt::format("{}: the password has a bad percent-escape", what));
            o.password = *p;
        }
    }
    std::string_view host = rest;
    std::string_view port;
    if (host.starts_with('[')) {
        auto close = host.find(']');
        if (close == std::string_view::npos) return Invalid(fmt::format("{}: unclosed '[' in the host", what));
        std::string_view after = host.substr(close + 1);
        host = host.substr(1, close - 1);
        if (!after.empty()) {
            if (after[0] != ':') return Invalid(fmt::format("{}: unexpected text after the host", what));
            port = after.substr(1);
            if (port.empty()) return Invalid(fmt::format("{}: empty port", what));
        }
    } else if (auto colon = host.rfind(':'); colon != std::string_view::npos) {
        port = host.substr(colon + 1);
        host = host.substr(0, colon);
        if (port.empty()) return Invalid(fmt::format("{}: empty port", what));
    }
    auto h = PercentDecode(host);
    if (!h) return Invalid(fmt::format("{}: the host has a bad percent-escape", what));
    if (h->empty()) return Invalid(fmt::format("{}: no host", what));
    o.host = *h;
    if (!port.empty()) {
        GALE_ASSIGN_OR_RETURN(auto p, ParseInt(fmt::format("{}: port", what), port, 1, 65535));
        o.port = static_cast<int>(p);
    }
    if (has_path && !path.empty()) {
        if (path.find('/') != std::string_view::npos) {
            return Invalid(fmt::format("{}: the vhost '{}' has an unescaped '/' (write it as %2F)", what, path));
        }
        auto v = PercentDecode(path);
        if (!v) return Invalid(fmt::format("{}: the vhost has a bad percent-escape", what));
        o.vhost = *v;
    }
    while (!query.empty()) {
        std::string_view item = query.substr(0, query.find('&'));
        query = item.size() < query.size() ? query.substr(item.size() + 1) : std::string_view{};
        if (item.empty()) continue;
        auto eq = item.find('=');
        std::string_view name = item.substr(0, eq);
        std::string_view raw = eq == std::string_view::npos ? std::string_view{} : item.substr(eq + 1);
        GALE_RETURN_IF_ERROR(ApplyQuery(o, what, name, raw));
    }
    return o;
}

config::GroupSpec ContractGroup() {
    config::GroupSpec g;
    g.name = "AMQP broker";
    g.description =
        "The RabbitMQ broker of AMQP consumers and publishers (gale::amqp): AMQP_URL, or django-hurricane's AMQP_HOST "
        "set, or base-python's RABBITMQ_HOST set; the first of these that is set is used, and a variable of another "
        "set that is also set must name the same broker. Enabled by AMQP_URL, AMQP_HOST or RABBITMQ_HOST.";
    g.vars = {
        Secret(Var("AMQP_URL", VariableType::kString,
                   "amqp://user:password@host:port/vhost (amqps:// for TLS; the vhost / is %2F); secret, as it may "
                   "hold the password.")),
        Var("AMQP_HOST", VariableType::kString, "Broker host (django-hurricane)."),
        Var("AMQP_PORT", VariableType::kPort, "Broker port (django-hurricane).", "5672"),
        Var("AMQP_VHOST", VariableType::kString, "Virtual host (django-hurricane).", "/"),
        Var("AMQP_USER", VariableType::kString, "User name (django-hurricane); guest when unset."),
        Secret(Var("AMQP_PASSWORD", VariableType::kString, "Password (django-hurricane).")),
        Var("RABBITMQ_HOST", VariableType::kString, "Broker host (base-python)."),
        Var("RABBITMQ_PORT", VariableType::kPort, "Broker AMQP port (base-python).", "5672"),
        Var("RABBITMQ_VHOST", VariableType::kString, "Virtual host (base-python).", "/"),
        Var("RABBITMQ_USERNAME", VariableType::kString, "User name (base-python); guest when unset."),
        Secret(Var("RABBITMQ_PASSWORD", VariableType::kString, "Password (base-python).")),
        Var("AMQP_HEARTBEAT", VariableType::kDuration, "Heartbeat interval, whole seconds (0s: none).", "30s"),
        Var("AMQP_CONNECT_TIMEOUT", VariableType::kDuration, "Bound on TCP connect plus the AMQP handshake.", "10s"),
        Var("AMQP_TLS", VariableType::kBool, "TLS for AMQP_HOST/RABBITMQ_HOST (amqps:// implies it).", "false"),
        Var("AMQP_TLS_CA_FILE", VariableType::kString,
            "PEM CA bundle for the broker's certificate (default: the "
            "system's)."),
        Var("AMQP_TLS_VERIFY", VariableType::kBool, "Verify the broker's certificate and host name.", "true"),
        Var("AMQP_CONNECTION_NAME", VariableType::kString, "connection_name shown by the broker."),
    };
    g.enabled_also_by = {"AMQP_HOST", "RABBITMQ_HOST"};
    g.rules = {[](const Settings& settings, std::vector<std::string>& problems) {
        (void)Read(settings, problems, /*report_types=*/false);
    }};
    return g;
}

Result<std::optional<ConnectionOptions>> ConnectionOptionsFromSettings(const config::Settings& settings) {
    std::vector<std::string> problems;
    auto o = Read(settings, problems, /*report_types=*/true);
    if (!problems.empty()) {
        std::string joined;
        for (const auto& p : problems) {
            if (!joined.empty()) joined += "; ";
            joined += p;
        }
        return Invalid(std::move(joined));
    }
    return o;
}

}  // namespace gale::amqp
