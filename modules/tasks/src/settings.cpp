// SPDX-License-Identifier: MIT
// The tasks settings. One reader (Read) serves the contract's rule and TasksSettingsFromSettings, so what passes
// the start-up check is what the role uses. Every problem is collected; URLs are never quoted (secrets).
#include <array>
#include <mutex>

#include <fmt/format.h>

#include <gale/base/strings.hpp>
#include <gale/tasks/beat.hpp>
#include <gale/tasks/embedded_broker.hpp>
#include <gale/tasks/settings.hpp>

namespace gale::tasks {
namespace {

using config::NameWithSource;
using config::Settings;

tl::unexpected<Error> Invalid(std::string message) {
    return MakeError(ErrorCode::kInvalidArgument, std::move(message));
}

constexpr std::array<std::string_view, 7> kSchemes = {"sqlite", "redis", "rediss", "amqp", "amqps", "rpc", "disabled"};

struct Read {
    TasksSettings settings;
    std::vector<std::string> problems;
};

Read ReadAll(const Settings& s, std::string_view embedded_path) {
    Read out;
    auto value = [&](std::string_view key) { return s.Find(key).value_or(""); };

    // --- the broker ---
    if (config::IsSet(s, "CELERY_BROKER_URL")) {
        auto url = ParseTransportUrl(value("CELERY_BROKER_URL"), NameWithSource(s, "CELERY_BROKER_URL"));
        if (!url) {
            out.problems.push_back(url.error().message());
        } else if (url->scheme == "rpc" || url->scheme == "disabled") {
            out.problems.push_back(fmt::format("{}: {}:// names a result backend, not a broker",
                                               NameWithSource(s, "CELERY_BROKER_URL"), url->scheme));
        } else {
            out.settings.broker = std::move(*url);
        }
    } else if (config::IsSet(s, "RABBITMQ_HOST")) {
        // base-python's RabbitMQ group (validated by the amqp module's contract group): the same broker, as a URL.
        TransportUrl& u = out.settings.broker;
        u.scheme = "amqp";
        u.host = value("RABBITMQ_HOST");
        u.port = 5672;
        if (config::IsSet(s, "RABBITMQ_PORT")) {
            auto port = ParseInt(NameWithSource(s, "RABBITMQ_PORT"), value("RABBITMQ_PORT"), 1, 65535);
            if (port) u.port = static_cast<int>(*port);  // a bad one is the amqp group's problem to report
        }
        u.path = config::IsSet(s, "RABBITMQ_VHOST") ? value("RABBITMQ_VHOST") : "/";
        u.username = config::IsSet(s, "RABBITMQ_USERNAME") ? value("RABBITMQ_USERNAME") : "guest";
        u.password = config::IsSet(s, "RABBITMQ_PASSWORD") ? value("RABBITMQ_PASSWORD") : "guest";
        const bool bracket = u.host.find(':') != std::string::npos;
        u.url = fmt::format("amqp://{}:{}@{}{}{}:{}/{}", PercentEncode(u.username), PercentEncode(u.password),
                            bracket ? "[" : "", u.host, bracket ? "]" : "", u.port, PercentEncode(u.path));
        u.source = NameWithSource(s, "RABBITMQ_HOST");
    } else {
        TransportUrl& u = out.settings.broker;
        u.scheme = "sqlite";
        u.path = std::string(embedded_path);
        u.url = "sqlite:///" + u.path;
        u.source = "CELERY_BROKER_URL (not set: the embedded queue)";
    }

    // --- the result backend ---
    if (config::IsSet(s, "CELERY_RESULT_BACKEND")) {
        auto url = ParseTransportUrl(value("CELERY_RESULT_BACKEND"), NameWithSource(s, "CELERY_RESULT_BACKEND"));
        if (!url) {
            out.problems.push_back(url.error().message());
        } else if (url->scheme == "amqp" || url->scheme == "amqps") {
            out.problems.push_back(fmt::format(
                "{}: {}:// is not a result backend (Celery's amqp result backend was removed in 5.0; use rpc://)",
                NameWithSource(s, "CELERY_RESULT_BACKEND"), url->scheme));
        } else if (url->scheme == "rpc" && out.settings.broker.scheme != "amqp" &&
                   out.settings.broker.scheme != "amqps") {
            out.problems.push_back(
                fmt::format("{}: rpc:// sends results back over the AMQP broker, but the broker is "
                            "{} ({})",
                            NameWithSource(s, "CELERY_RESULT_BACKEND"), out.settings.broker.Describe(),
                            out.settings.broker.source));
        } else if (url->scheme != "disabled") {
            out.settings.result_backend = std::move(*url);
        }
    } else if (out.settings.broker.scheme == "sqlite") {
        TransportUrl u = out.settings.broker;
        u.source = "CELERY_RESULT_BACKEND (not set: the embedded backend, with the embedded queue)";
        out.settings.result_backend = std::move(u);
    }

    // --- the rest ---
    if (config::IsSet(s, "CELERY_TASK_DEFAULT_QUEUE")) out.settings.default_queue = value("CELERY_TASK_DEFAULT_QUEUE");
    auto duration = [&](const char* key, auto apply) {
        if (!config::IsSet(s, key)) return;
        auto d = ParseDuration(NameWithSource(s, key), value(key));
        if (!d) {
            out.problems.push_back(d.error().message());
        } else if (d->count() <= 0) {
            out.problems.push_back(fmt::format("{}: must be above 0", NameWithSource(s, key)));
        } else {
            apply(*d);
        }
    };
    duration("CELERY_RESULT_EXPIRES", [&](std::chrono::milliseconds d) { out.settings.result_expires = d; });
    duration("CELERY_BROKER_VISIBILITY_TIMEOUT",
             [&](std::chrono::milliseconds d) { out.settings.visibility_timeout = d; });
    return out;
}

struct Factories {
    std::mutex mu;
    std::map<std::string, BrokerFactory, std::less<>> brokers;
    std::map<std::string, ResultBackendFactory, std::less<>> backends;
    std::map<std::string, WorkerCompanionFactory, std::less<>> companions;
};

Factories& Registry() {
    static Factories f;
    return f;
}

/// The adapter that provides `scheme`, for the error when it is not installed.
std::string AdapterFor(std::string_view scheme) {
    const char* which = scheme == "redis" || scheme == "rediss" ? "Redis" : "RabbitMQ";
    return fmt::format(
        "the {} transport: link its adapter and call its Install() before app.Run() "
        "(modules/tasks/README.md, \"Transports\")",
        which);
}

}  // namespace

std::string TransportUrl::Describe() const {
    if (scheme == "sqlite") return "sqlite:///" + path;
    if (scheme == "rpc" || scheme == "disabled") return scheme + "://";
    std::string out = scheme + "://";
    if (!username.empty()) out += PercentEncode(username) + "@";
    out += host.find(':') != std::string::npos ? "[" + host + "]" : host;
    if (port != 0) out += ":" + std::to_string(port);
    if (scheme == "amqp" || scheme == "amqps") {
        out += "/" + PercentEncode(path);
    } else if (!path.empty()) {
        out += "/" + path;
    }
    return out;
}

Result<TransportUrl> ParseTransportUrl(std::string_view text, std::string_view what) {
    TransportUrl u;
    u.url = std::string(text);
    u.source = std::string(what);
    if (text == "disabled") {
        u.scheme = "disabled";
        return u;
    }
    const std::size_t sep = text.find("://");
    if (sep == std::string_view::npos || sep == 0) {
        return Invalid(fmt::format("{}: not a URL (scheme://…; known schemes: {})", what, fmt::join(kSchemes, ", ")));
    }
    u.scheme = ToLower(text.substr(0, sep));
    bool known = false;
    for (auto k : kSchemes) known = known || k == u.scheme;
    if (!known) {
        return Invalid(fmt::format("{}: unknown scheme '{}' (known: {})", what, u.scheme.substr(0, 32),
                                   fmt::join(kSchemes, ", ")));
    }
    std::string_view rest = text.substr(sep + 3);
    if (u.scheme == "sqlite") {
        if (rest.empty() || rest.front() != '/' || rest.size() < 2) {
            return Invalid(
                fmt::format("{}: a sqlite URL is sqlite:///relative/path or sqlite:////absolute/path "
                            "(no host)",
                            what));
        }
        auto path = PercentDecode(rest.substr(1));
        if (!path) return Invalid(fmt::format("{}: bad percent-escape in the path", what));
        u.path = std::move(*path);
        return u;
    }
    if (u.scheme == "rpc") {
        if (!rest.empty() && rest != "/") {
            return Invalid(fmt::format("{}: rpc:// takes no host (results go back over the AMQP broker)", what));
        }
        return u;
    }
    // query
    if (auto q = rest.find('?'); q != std::string_view::npos) {
        std::string_view query = rest.substr(q + 1);
        rest = rest.substr(0, q);
        while (!query.empty()) {
            const std::size_t amp = query.find('&');
            std::string_view pair = query.substr(0, amp);
            query = amp == std::string_view::npos ? std::string_view() : query.substr(amp + 1);
            if (pair.empty()) continue;
            const std::size_t eq = pair.find('=');
            auto key = PercentDecode(pair.substr(0, eq));
            auto val = PercentDecode(eq == std::string_view::npos ? std::string_view() : pair.substr(eq + 1));
            if (!key || !val) return Invalid(fmt::format("{}: bad percent-escape in the query", what));
            u.query[*key] = *val;
        }
    }
    std::string_view authority = rest.substr(0, rest.find('/'));
    std::string_view path = authority.size() < rest.size() ? rest.substr(authority.size() + 1) : std::string_view();
    if (auto at = authority.rfind('@'); at != std::string_view::npos) {
        std::string_view userinfo = authority.substr(0, at);
        authority = authority.substr(at + 1);
        const std::size_t colon = userinfo.find(':');
        auto user = PercentDecode(userinfo.substr(0, colon));
        auto pass = PercentDecode(colon == std::string_view::npos ? std::string_view() : userinfo.substr(colon + 1));
        if (!user || !pass) return Invalid(fmt::format("{}: bad percent-escape in the user or password", what));
        u.username = std::move(*user);
        u.password = std::move(*pass);
    }
    std::string_view port_text;
    if (!authority.empty() && authority.front() == '[') {
        const std::size_t close = authority.find(']');
        if (close == std::string_view::npos) return Invalid(fmt::format("{}: unterminated '[' in the host", what));
        u.host = std::string(authority.substr(1, close - 1));
        std::string_view after = authority.substr(close + 1);
        if (!after.empty()) {
            if (after.front() != ':') return Invalid(fmt::format("{}: unexpected text after ']' in the host", what));
            port_text = after.substr(1);
        }
    } else {
        const std::size_t colon = authority.rfind(':');
        u.host = std::string(authority.substr(0, colon));
        if (colon != std::string_view::npos) port_text = authority.substr(colon + 1);
    }
    if (u.host.empty()) return Invalid(fmt::format("{}: no host", what));
    if (!port_text.empty()) {
        auto port = ParseInt(fmt::format("{}: port", what), port_text, 1, 65535);
        if (!port) return tl::unexpected(port.error());
        u.port = static_cast<int>(*port);
    }
    auto decoded_path = PercentDecode(path);
    if (!decoded_path) return Invalid(fmt::format("{}: bad percent-escape in the path", what));
    u.path = std::move(*decoded_path);
    if (u.scheme == "redis" || u.scheme == "rediss") {
        if (!u.path.empty()) {
            auto db = ParseInt(fmt::format("{}: database number", what), u.path, 0, 1000);
            if (!db) return tl::unexpected(db.error());
        }
    } else if (u.path.empty()) {
        u.path = "/";  // amqp://host and amqp://host/ both mean vhost "/", as pika and gale::amqp read them
    }
    return u;
}

Result<TasksSettings> TasksSettingsFromSettings(const config::Settings& settings, std::string_view embedded_path) {
    Read r = ReadAll(settings, embedded_path);
    if (!r.problems.empty()) return Invalid(fmt::format("{}", fmt::join(r.problems, "; ")));
    return std::move(r.settings);
}

config::GroupSpec ContractGroup() {
    using config::VariableSpec;
    using config::VariableType;
    config::GroupSpec g;
    g.name = "Celery tasks";
    g.description =
        "Where tasks are queued and results stored (Celery's settings, read by the worker role and by every role that "
        "sends tasks). With nothing set, tasks use the embedded queue and results the embedded backend, both in "
        "<service>-tasks.db (SQLite); RABBITMQ_HOST (base-python's RabbitMQ group) names the broker when "
        "CELERY_BROKER_URL is not set.";
    g.always_enabled = true;
    g.vars = {
        VariableSpec{.name = "CELERY_BROKER_URL",
                     .help = "redis://, rediss://, amqp://, amqps:// or sqlite:///path (the embedded queue); empty: "
                             "RabbitMQ from RABBITMQ_* when RABBITMQ_HOST is set, else the embedded queue",
                     .secret = true},
        VariableSpec{.name = "CELERY_RESULT_BACKEND",
                     .help = "redis://, rediss://, rpc:// (AMQP brokers), sqlite:///path or disabled; empty: the "
                             "embedded backend with the embedded queue, else disabled",
                     .secret = true},
        VariableSpec{.name = "CELERY_TASK_DEFAULT_QUEUE",
                     .default_value = "celery",
                     .help = "the queue of tasks that name none"},
        VariableSpec{.name = "CELERY_RESULT_EXPIRES",
                     .type = VariableType::kDuration,
                     .default_value = "24h",
                     .help = "how long stored results are kept"},
        VariableSpec{.name = "CELERY_BROKER_VISIBILITY_TIMEOUT",
                     .type = VariableType::kDuration,
                     .help = "an unsettled delivery returns to its queue after this (embedded: 30s, renewed while "
                             "the task runs; Redis: 1h, kombu's)"},
        VariableSpec{.name = "GALE_BEAT_SCHEDULE",
                     .help = "the beat's entries overridden by name, or added: JSON {\"<entry>\": {\"schedule\": "
                             "\"*/5 * * * *\" | \"every 30s\" | \"at 2026-12-24T18:00:00Z\", \"timezone\": "
                             "\"Europe/Vienna\", \"enabled\": false, \"task\", \"args\", \"kwargs\", \"queue\", "
                             "\"expires\", \"priority\", \"day_rule\"}}; empty: the entries as declared"},
    };
    g.rules = {[](const Settings& s, std::vector<std::string>& problems) {
        Read r = ReadAll(s, "gale-tasks.db");
        for (auto& p : r.problems) {
            // Malformed durations are reported by the contract's type check already.
            if (p.find("CELERY_RESULT_EXPIRES") == 0 && p.find("must be above 0") == std::string::npos) continue;
            if (p.find("CELERY_BROKER_VISIBILITY_TIMEOUT") == 0 && p.find("must be above 0") == std::string::npos)
                continue;
            problems.push_back(std::move(p));
        }
    }};
    g.rules.push_back([](const Settings& s, std::vector<std::string>& problems) {
        std::optional<std::string> beat = s.Find("GALE_BEAT_SCHEDULE");
        if (!beat || beat->empty()) return;
        if (auto r = ParseBeatSchedule(*beat, config::NameWithSource(s, "GALE_BEAT_SCHEDULE")); !r) {
            problems.push_back(r.error().message());
        }
    });
    return g;
}

void RegisterBrokerFactory(std::string scheme, BrokerFactory factory) {
    Factories& f = Registry();
    std::lock_guard lock(f.mu);
    f.brokers[std::move(scheme)] = std::move(factory);
}

void RegisterResultBackendFactory(std::string scheme, ResultBackendFactory factory) {
    Factories& f = Registry();
    std::lock_guard lock(f.mu);
    f.backends[std::move(scheme)] = std::move(factory);
}

void RegisterWorkerCompanionFactory(std::string scheme, WorkerCompanionFactory factory) {
    Factories& f = Registry();
    std::lock_guard lock(f.mu);
    f.companions[std::move(scheme)] = std::move(factory);
}

Result<std::vector<std::unique_ptr<WorkerCompanion>>> MakeWorkerCompanions(const TasksSettings& settings,
                                                                           const TransportOptions& options,
                                                                           const WorkerInfo& worker) {
    WorkerCompanionFactory factory;
    {
        Factories& f = Registry();
        std::lock_guard lock(f.mu);
        if (auto it = f.companions.find(settings.broker.scheme); it != f.companions.end()) factory = it->second;
    }
    if (!factory) return std::vector<std::unique_ptr<WorkerCompanion>>{};
    return factory(settings.broker, options, worker);
}

Result<std::unique_ptr<Broker>> MakeBroker(const TasksSettings& settings, const TransportOptions& options) {
    const TransportUrl& url = settings.broker;
    if (url.scheme == "sqlite") {
        EmbeddedBrokerOptions eo;
        if (options.visibility_timeout) eo.visibility_timeout = *options.visibility_timeout;
        GALE_ASSIGN_OR_RETURN(auto broker, EmbeddedBroker::Open(url.path, eo));
        return std::unique_ptr<Broker>(std::move(broker));
    }
    BrokerFactory factory;
    {
        Factories& f = Registry();
        std::lock_guard lock(f.mu);
        if (auto it = f.brokers.find(url.scheme); it != f.brokers.end()) factory = it->second;
    }
    if (!factory) {
        return Invalid(fmt::format("{} names a {}:// broker, but this service does not include {}", url.source,
                                   url.scheme, AdapterFor(url.scheme)));
    }
    return factory(url, options);
}

Result<std::unique_ptr<ResultBackend>> MakeResultBackend(const TasksSettings& settings, const TransportOptions& options,
                                                         Broker& broker) {
    if (!settings.result_backend) return std::unique_ptr<ResultBackend>();
    const TransportUrl& url = *settings.result_backend;
    if (url.scheme == "sqlite") {
        GALE_ASSIGN_OR_RETURN(auto backend, EmbeddedResultBackend::Open(url.path, {.expires = options.result_expires}));
        return std::unique_ptr<ResultBackend>(std::move(backend));
    }
    ResultBackendFactory factory;
    {
        Factories& f = Registry();
        std::lock_guard lock(f.mu);
        if (auto it = f.backends.find(url.scheme); it != f.backends.end()) factory = it->second;
    }
    if (!factory) {
        return Invalid(fmt::format("{} names a {}:// result backend, but this service does not include {}", url.source,
                                   url.scheme, AdapterFor(url.scheme == "rpc" ? "amqp" : url.scheme)));
    }
    return factory(url, options, broker);
}

}  // namespace gale::tasks
