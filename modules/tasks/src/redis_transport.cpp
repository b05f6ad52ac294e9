// SPDX-License-Identifier: MIT
// The adapter's entry in the tasks module's transport registry: CELERY_BROKER_URL=redis://… builds MakeBroker, and
// the WORKER role gets Celery's remote control (ping) and worker events on the same server.
#include <gale/redis/options.hpp>
#include <gale/tasks/redis.hpp>
#include <gale/tasks/redis_control.hpp>
#include <gale/tasks/redis_events.hpp>
#include <gale/tasks/settings.hpp>

namespace gale::tasks::redis {
namespace {

// The server's options from the URL; the connection is named "<service>-<purpose>" (CLIENT SETNAME) unless the URL
// names it.
Result<gale::redis::ConnectionOptions> Connection(const TransportUrl& url, const TransportOptions& options,
                                                  std::string_view purpose = "tasks") {
    GALE_ASSIGN_OR_RETURN(auto connection, gale::redis::ParseUrl(url.url, url.source));
    std::string name;
    for (char c : options.service_name) {
        const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
                        c == '_' || c == '.';
        name.push_back(ok ? c : '_');  // CLIENT SETNAME refuses spaces
    }
    if (!name.empty() && connection.client_name.empty()) connection.client_name = name + "-" + std::string(purpose);
    return connection;
}

}  // namespace

void Install() {
    auto broker = [](const TransportUrl& url, const TransportOptions& options) -> Result<std::unique_ptr<Broker>> {
        GALE_ASSIGN_OR_RETURN(auto connection, Connection(url, options));
        RedisBrokerOptions o;
        if (options.visibility_timeout) {
            o.visibility_timeout = std::chrono::ceil<std::chrono::seconds>(*options.visibility_timeout);
        }
        return MakeBroker(std::move(connection), o);
    };
    auto backend = [](const TransportUrl& url, const TransportOptions& options,
                      Broker& /*broker*/) -> Result<std::unique_ptr<ResultBackend>> {
        GALE_ASSIGN_OR_RETURN(auto connection, Connection(url, options));
        RedisResultBackendOptions o;
        o.result_expires =
            std::max(std::chrono::seconds(1), std::chrono::ceil<std::chrono::seconds>(options.result_expires));
        return MakeResultBackend(std::move(connection), o);
    };
    // Celery's remote control (ping) and worker events under the worker's node name, each on connections of its
    // own (so that a busy task connection never delays a ping or a heartbeat), named "<service>-control" and
    // "<service>-events".
    auto companions = [](const TransportUrl& url, const TransportOptions& options,
                         const WorkerInfo& worker) -> Result<std::vector<std::unique_ptr<WorkerCompanion>>> {
        return MakePresenceCompanions<ControlResponder, EventSender>(
            [&](std::string_view purpose) { return Connection(url, options, purpose); }, worker);
    };
    for (const char* scheme : {"redis", "rediss"}) {
        RegisterBrokerFactory(scheme, broker);
        RegisterResultBackendFactory(scheme, backend);
    }
    RegisterWorkerCompanionFactory("redis", companions);  // rediss:// is refused by the broker factory already
}

}  // namespace gale::tasks::redis
