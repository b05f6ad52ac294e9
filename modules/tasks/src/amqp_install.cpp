// SPDX-License-Identifier: MIT
// The adapter's entry in the tasks transport registry: CELERY_BROKER_URL=amqp[s]://… and CELERY_RESULT_BACKEND=rpc://.
#include <algorithm>

#include <gale/tasks/amqp.hpp>
#include <gale/tasks/amqp_control.hpp>
#include <gale/tasks/amqp_events.hpp>
#include <gale/tasks/settings.hpp>

namespace gale::tasks::amqp {

namespace {

Result<gale::amqp::ConnectionOptions> ConnectionFor(const TransportUrl& url, const TransportOptions& options,
                                                    std::string_view purpose) {
    GALE_ASSIGN_OR_RETURN(auto connection,
                          gale::amqp::ParseUrl(url.url, url.source.empty() ? "CELERY_BROKER_URL" : url.source));
    connection.source = url.source;
    if (!options.service_name.empty()) connection.connection_name = options.service_name + "-" + std::string(purpose);
    return connection;
}

}  // namespace

void Install() {
    auto broker = [](const TransportUrl& url, const TransportOptions& options) -> Result<std::unique_ptr<Broker>> {
        GALE_ASSIGN_OR_RETURN(auto connection, ConnectionFor(url, options, "tasks"));
        return MakeBroker(std::move(connection));
    };
    auto rpc = [](const TransportUrl& /*url*/, const TransportOptions& options,
                  Broker& process_broker) -> Result<std::unique_ptr<ResultBackend>> {
        RpcBackendOptions o;
        o.result_expires = std::max<std::chrono::milliseconds>(options.result_expires, std::chrono::seconds(1));
        return MakeRpcBackend(process_broker, o);
    };
    RegisterBrokerFactory("amqp", broker);
    RegisterBrokerFactory("amqps", broker);
    RegisterResultBackendFactory("rpc", rpc);
    // Celery's remote control (ping) and worker events under the worker's node name, each on a connection of its
    // own, so that a busy task connection never delays a ping or a heartbeat.
    auto companions = [](const TransportUrl& url, const TransportOptions& options,
                         const WorkerInfo& worker) -> Result<std::vector<std::unique_ptr<WorkerCompanion>>> {
        return MakePresenceCompanions<ControlResponder, EventSender>(
            [&](std::string_view purpose) { return ConnectionFor(url, options, purpose); }, worker);
    };
    RegisterWorkerCompanionFactory("amqp", companions);
    RegisterWorkerCompanionFactory("amqps", companions);
}

}  // namespace gale::tasks::amqp
