// SPDX-License-Identifier: MIT
// One rabbitmq-c connection: open (TCP or TLS, bounded by connect_timeout), log in, channels, declarations, and
// errors that name the broker, the user, the vhost and what was being done. Not thread-safe (rabbitmq-c is not):
// its owner calls it from one thread at a time.
#pragma once

#include <amqp.h>

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include <gale/amqp/settings.hpp>
#include <gale/amqp/topology.hpp>
#include <gale/base/error.hpp>

namespace gale::amqp::detail {

class Connection {
public:
    /// Connects and logs in. Errors: kUnavailable (unreachable, timeout, closed during the handshake),
    /// kInvalidArgument (login refused, unknown vhost: the broker will keep refusing), each naming host, port,
    /// user, vhost and `options.source`.
    [[nodiscard]] static Result<std::unique_ptr<Connection>> Open(const ConnectionOptions& options);
    /// Drops the socket without the closing handshake (anything unacknowledged returns to its queue).
    ~Connection();
    Connection(const Connection&) = delete;
    Connection& operator=(const Connection&) = delete;

    [[nodiscard]] amqp_connection_state_t state() const noexcept { return conn_; }
    [[nodiscard]] int fd() const noexcept { return amqp_get_sockfd(conn_); }
    [[nodiscard]] const ConnectionOptions& options() const noexcept { return options_; }
    /// "127.0.0.1:5672 (user 'gale', vhost '/')".
    [[nodiscard]] const std::string& where() const noexcept { return where_; }

    [[nodiscard]] Result<void> OpenChannel(amqp_channel_t channel);
    /// Closes `channel` and the connection politely (bounded by connect_timeout). Errors are only informative.
    Result<void> Close();

    /// exchange.declare for `exchange` (nothing for the default exchange).
    [[nodiscard]] Result<void> DeclareExchange(amqp_channel_t channel, const ExchangeSpec& exchange);
    /// queue.declare + its exchange + queue.bind per routing key; returns the ready message count.
    [[nodiscard]] Result<std::uint32_t> DeclareQueue(amqp_channel_t channel, const QueueSpec& queue);
    /// queue.bind.
    [[nodiscard]] Result<void> Bind(amqp_channel_t channel, std::string_view queue, std::string_view exchange,
                                    std::string_view key, const FieldTable& arguments);

    /// Turns the last RPC reply into an error naming `what` (the broker's reply code and text), or success. After a
    /// server channel.close, answers close-ok, so the channel number can be opened again.
    [[nodiscard]] Result<void> Check(amqp_channel_t channel, amqp_rpc_reply_t reply, std::string_view what);
    /// An error for a rabbitmq-c status code (AMQP_STATUS_*), naming `what` and the broker.
    [[nodiscard]] Error StatusError(int status, std::string_view what) const;

private:
    Connection(const ConnectionOptions& options, amqp_connection_state_t conn);

    ConnectionOptions options_;
    std::string where_;
    amqp_connection_state_t conn_;
};

}  // namespace gale::amqp::detail
