// SPDX-License-Identifier: MIT
/// @file gale/amqp/publisher.hpp
/// @brief Publisher: persistent messages with publisher confirms; an unroutable message is an error.
///
/// Every Publish is `mandatory` on a channel in confirm mode and waits, at most `confirm_timeout`, for the broker's
/// verdict, so success means the broker has taken responsibility for the message (for a persistent message to a
/// durable queue: written to disk). What Publish returns:
///
/// | broker's answer                                   | Result                                          |
/// |---------------------------------------------------|-------------------------------------------------|
/// | basic.ack                                         | success                                         |
/// | basic.return (no queue bound for the key) + ack   | kNotFound "unroutable: … (312 NO_ROUTE)"        |
/// | basic.nack                                        | kUnavailable "broker refused (nack)"            |
/// | channel.close (e.g. 404 no such exchange)         | kNotFound / kInvalidArgument with its reply text; the channel
/// is reopened on the next call | | no answer within confirm_timeout                  | kTimeout; the connection is
/// dropped (a late confirm could not be told apart) | | connection lost / refused / login refused         |
/// kUnavailable / kInvalidArgument, naming host, port, user and vhost |
///
/// After a connection error the next Publish reconnects (once, with `connect_timeout`); the caller decides whether
/// to retry. Properties::delivery_mode defaults to 2 (persistent).
///
/// Ownership: the Publisher owns one connection and one channel. Thread-safety: every member may be called from any
/// thread; a mutex serialises them (one message in flight at a time: rabbitmq-c connections are not thread-safe).
/// Create one Publisher per thread for parallel publishing.
#pragma once

#include <chrono>
#include <memory>
#include <string_view>

#include <gale/amqp/message.hpp>
#include <gale/amqp/settings.hpp>
#include <gale/amqp/topology.hpp>
#include <gale/base/error.hpp>

namespace gale::amqp {

/// | Name | Description | Default |
/// |---|---|---|
/// | confirm_timeout | longest wait for the broker's confirm of one message | 10 s |
/// | mandatory | a message no queue receives is an error (basic.return) | true |
struct PublisherOptions {
    std::chrono::milliseconds confirm_timeout{10000};
    bool mandatory = true;
};

class Publisher {
public:
    /// Connects, logs in and opens a confirm-mode channel. Errors: as Publish's connection errors.
    [[nodiscard]] static Result<std::unique_ptr<Publisher>> Connect(const ConnectionOptions& connection,
                                                                    PublisherOptions options = {});
    ~Publisher();
    Publisher(const Publisher&) = delete;
    Publisher& operator=(const Publisher&) = delete;

    /// Publishes one message and waits for its confirm (see the table above).
    [[nodiscard]] Result<void> Publish(std::string_view exchange, std::string_view routing_key, std::string_view body,
                                       const Properties& properties = {});

    /// Declares an exchange (exchange.declare), e.g. for a producer that runs before any consumer. Errors: the
    /// broker's reply (406 PRECONDITION_FAILED when it exists with other properties).
    [[nodiscard]] Result<void> DeclareExchange(const ExchangeSpec& exchange);
    /// Declares a queue with its bindings, as a Consumer would (without consuming). Returns the number of messages
    /// ready in it (queue.declare-ok's message_count).
    [[nodiscard]] Result<std::uint32_t> DeclareQueue(const QueueSpec& queue);

    /// True while the connection is open (it may still be found broken by the next call).
    [[nodiscard]] bool connected() const;

private:
    struct Impl;
    explicit Publisher(std::unique_ptr<Impl> impl);
    std::unique_ptr<Impl> impl_;
};

}  // namespace gale::amqp
