// SPDX-License-Identifier: MIT
// A Publisher is a confirm-mode Channel behind a mutex: one message in flight at a time, the broker's verdict read
// by the Channel (an ack, a nack, or a basic.return before the ack of an unroutable mandatory message). A Channel
// whose connection is broken (lost, closed, a confirm that timed out) is replaced by the next call, where numbering
// restarts at 1; a channel the broker closed (404 no such exchange) is reopened by the Channel itself.
#include <mutex>

#include <gale/amqp/channel.hpp>
#include <gale/amqp/publisher.hpp>

namespace gale::amqp {

struct Publisher::Impl {
    ConnectionOptions connection;
    PublisherOptions options;
    mutable std::mutex mu;
    std::unique_ptr<Channel> channel;

    Result<void> Ensure() {
        if (channel && !channel->broken()) return {};
        channel.reset();
        GALE_ASSIGN_OR_RETURN(
            channel, Channel::Open(connection, {.confirms = true, .confirm_timeout = options.confirm_timeout}));
        return {};
    }
};

Publisher::Publisher(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Publisher::~Publisher() = default;

Result<std::unique_ptr<Publisher>> Publisher::Connect(const ConnectionOptions& connection, PublisherOptions options) {
    auto impl = std::make_unique<Impl>();
    impl->connection = connection;
    impl->options = options;
    GALE_RETURN_IF_ERROR(impl->Ensure());
    return std::unique_ptr<Publisher>(new Publisher(std::move(impl)));
}

Result<void> Publisher::Publish(std::string_view exchange, std::string_view routing_key, std::string_view body,
                                const Properties& properties) {
    std::lock_guard lock(impl_->mu);
    GALE_RETURN_IF_ERROR(impl_->Ensure());
    if (properties.delivery_mode) {
        return impl_->channel->Publish(exchange, routing_key, body, properties, impl_->options.mandatory);
    }
    Properties persistent = properties;
    persistent.delivery_mode = 2;
    return impl_->channel->Publish(exchange, routing_key, body, persistent, impl_->options.mandatory);
}

Result<void> Publisher::DeclareExchange(const ExchangeSpec& exchange) {
    std::lock_guard lock(impl_->mu);
    GALE_RETURN_IF_ERROR(impl_->Ensure());
    return impl_->channel->DeclareExchange(exchange);
}

Result<std::uint32_t> Publisher::DeclareQueue(const QueueSpec& queue) {
    GALE_RETURN_IF_ERROR(Validate(queue));
    std::lock_guard lock(impl_->mu);
    GALE_RETURN_IF_ERROR(impl_->Ensure());
    return impl_->channel->DeclareQueue(queue);
}

bool Publisher::connected() const {
    std::lock_guard lock(impl_->mu);
    return impl_->channel != nullptr && !impl_->channel->broken();
}

}  // namespace gale::amqp
