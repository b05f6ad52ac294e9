// SPDX-License-Identifier: MIT
// The adapter's entry in the tasks module's transport registry: CELERY_BROKER_URL=redis://… builds MakeBroker.
#include <gale/redis/options.hpp>
#include <gale/tasks/redis.hpp>
#include <gale/tasks/settings.hpp>

namespace gale::tasks::redis {
namespace {

Result<gale::redis::ConnectionOptions> Connection(const TransportUrl& url, const TransportOptions& options) {
    GALE_ASSIGN_OR_RETURN(auto connection, gale::redis::ParseUrl(url.url, url.source));
    std::string name;
    for (char c : options.service_name) {
        const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
                        c == '_' || c == '.';
        name.push_back(ok ? c : '_');  // CLIENT SETNAME refuses spaces
    }
    if (!name.empty() && connection.client_name.empty()) connection.client_name = name + "-tasks";
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
    for (const char* scheme : {"redis", "rediss"}) {
        RegisterBrokerFactory(scheme, broker);
        RegisterResultBackendFactory(scheme, backend);
    }
}

}  // namespace gale::tasks::redis
