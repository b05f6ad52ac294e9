// SPDX-License-Identifier: MIT
// The adapter's entry in the tasks transport registry: CELERY_BROKER_URL=amqp[s]://… and CELERY_RESULT_BACKEND=rpc://.
#include <algorithm>

#include <gale/tasks/amqp.hpp>
#include <gale/tasks/settings.hpp>

namespace gale::tasks::amqp {

void Install() {
    auto broker = [](const TransportUrl& url, const TransportOptions& options) -> Result<std::unique_ptr<Broker>> {
        GALE_ASSIGN_OR_RETURN(auto connection,
                              gale::amqp::ParseUrl(url.url, url.source.empty() ? "CELERY_BROKER_URL" : url.source));
        connection.source = url.source;
        if (!options.service_name.empty()) connection.connection_name = options.service_name + "-tasks";
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
}

}  // namespace gale::tasks::amqp
