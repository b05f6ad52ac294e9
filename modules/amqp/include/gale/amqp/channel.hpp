// SPDX-License-Identifier: MIT
/// @file gale/amqp/channel.hpp
/// @brief Channel: one connection with one channel that its owner drives synchronously — declare, qos, consume,
///        wait for the next delivery, get, ack/reject, publish (with or without confirms) — for code that needs AMQP
///        itself rather than the Consumer's handler loop (the task queue's broker, RPC replies, Celery's pidbox).
///
/// The Publisher is built on it; the Consumer keeps its own I/O thread. Every wait is bounded: Next by its timeout,
/// RPCs (declare, qos, consume, get) by the connection's connect_timeout, a confirm by `confirm_timeout`.
///
/// Frames arrive in any order on one channel: a delivery may come in while a publish waits for its confirm, a
/// confirm while Next waits. The channel reads every frame into its own state — deliveries into a queue that Next
/// and Get's callers drain in order, confirms and returns to the publish waiting for them — so nothing is lost
/// whichever call reads it. Heartbeats are answered by whichever call is reading (rabbitmq-c sends them while it
/// waits); an owner that makes no call for longer than twice the heartbeat finds the connection closed by the
/// broker on its next call (Poll() is the cheap call that keeps it alive or tells).
///
/// Errors, and what the Channel is after them:
///
/// | what happened                                  | Result                                    | afterwards      |
/// |------------------------------------------------|-------------------------------------------|-----------------|
/// | the broker closed the channel with 404         | kNotFound, with the reply text            | reopened (1)    |
/// | … with 403 or 406                              | kInvalidArgument, with the reply text     | reopened (1)    |
/// | … with another code (405 RESOURCE_LOCKED…)     | kUnavailable, with the reply text         | broken() (2)    |
/// | the broker cancelled a consumer (queue deleted)| Next: kUnavailable naming the consumer    | usable          |
/// | connection closed or lost, heartbeat missed    | kUnavailable naming the broker            | broken() (2)    |
/// | no confirm within confirm_timeout              | kTimeout                                  | broken() (2)    |
/// | unroutable mandatory publish (confirm mode)    | kNotFound "unroutable: … (312 NO_ROUTE)"  | usable          |
/// | basic.nack of a publish                        | kUnavailable "broker refused (nack)"      | usable          |
///
/// (1) the next call reopens the channel; the old channel's consumers, qos and unacknowledged deliveries are gone
/// (the broker requeues those). (2) every later call fails with kUnavailable: open a new Channel (a late confirm, or
/// a connection in an unknown state, cannot be trusted).
///
/// Ownership: owns its connection; the destructor closes channel and connection politely (bounded), so every
/// unacknowledged delivery returns to its queue. Thread-safety: none — one thread at a time (rabbitmq-c connections
/// are not thread-safe); callers that share one serialise with a mutex, as the Publisher does.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include <gale/amqp/message.hpp>
#include <gale/amqp/settings.hpp>
#include <gale/amqp/topology.hpp>
#include <gale/base/error.hpp>

namespace gale::amqp {

/// | Name | Description | Default |
/// |---|---|---|
/// | confirms | confirm mode (confirm.select): Publish waits for the broker's ack, nack or return | false |
/// | confirm_timeout | longest wait for one confirm | 10 s |
struct ChannelOptions {
    bool confirms = false;
    std::chrono::milliseconds confirm_timeout{10000};
};

/// basic.consume's flags and arguments.
struct ConsumeOptions {
    bool no_ack = false;         ///< the broker forgets a message once sent (Celery's pidbox and RPC replies)
    bool exclusive = false;      ///< no other consumer on the queue
    std::string consumer_tag{};  ///< empty: the broker picks one (amq.ctag-…)
    FieldTable arguments{};      ///< e.g. {"x-priority", 10}
};

/// One message from Next or Get, with what settles it.
struct Delivery {
    std::uint64_t delivery_tag = 0;  ///< for Ack/Reject on the Channel that returned it (meaningless with no_ack)
    std::string consumer_tag{};      ///< empty for basic.get
    Message message{};               ///< message.queue: the queue its consumer (or Get) reads
};

class Channel {
public:
    /// Connects, logs in, opens channel 1 (and confirm mode when asked). Errors: as Connection's (kUnavailable for an
    /// unreachable broker, kInvalidArgument for a refused login or unknown vhost, naming host, port, user, vhost).
    [[nodiscard]] static Result<std::unique_ptr<Channel>> Open(const ConnectionOptions& connection,
                                                               ChannelOptions options = {});
    ~Channel();
    Channel(const Channel&) = delete;
    Channel& operator=(const Channel&) = delete;

    /// exchange.declare (nothing for the default exchange ""). Errors: the broker's reply (406 when it exists with
    /// other properties).
    [[nodiscard]] Result<void> DeclareExchange(const ExchangeSpec& exchange);
    /// queue.declare with its exchange and bindings (as Publisher::DeclareQueue); returns the ready message count.
    [[nodiscard]] Result<std::uint32_t> DeclareQueue(const QueueSpec& queue);
    /// A passive queue.declare: the ready message count of an existing queue. kNotFound when there is none (the
    /// broker closes the channel for it; the next call reopens it).
    [[nodiscard]] Result<std::uint32_t> QueueMessageCount(std::string_view queue);
    /// queue.delete (also when it has messages or consumers: these are cancelled by the broker); returns the
    /// number of messages deleted with it. A queue that does not exist is not an error.
    [[nodiscard]] Result<std::uint32_t> DeleteQueue(std::string_view queue);
    /// queue.bind.
    [[nodiscard]] Result<void> Bind(std::string_view queue, std::string_view exchange, std::string_view routing_key,
                                    const FieldTable& arguments = {});
    /// basic.qos: at most `prefetch_count` unacknowledged deliveries (0: no limit); `global`: for the whole channel
    /// (RabbitMQ's reading), else per consumer.
    [[nodiscard]] Result<void> Qos(std::uint16_t prefetch_count, bool global);
    /// basic.consume; returns the consumer tag.
    [[nodiscard]] Result<std::string> Consume(std::string_view queue, const ConsumeOptions& options = {});
    /// basic.cancel. Deliveries already received stay queued for Next and may still be settled.
    [[nodiscard]] Result<void> Cancel(std::string_view consumer_tag);

    /// The next delivery of any of this channel's consumers, waiting at most `timeout` (0: only what has arrived).
    /// std::nullopt when none came. Errors: see the table in the file comment.
    [[nodiscard]] Result<std::optional<Delivery>> Next(std::chrono::milliseconds timeout);
    /// basic.get: one message of `queue`, or std::nullopt when it is empty.
    [[nodiscard]] Result<std::optional<Delivery>> Get(std::string_view queue, bool no_ack = false);
    /// Reads what has arrived without waiting (deliveries are queued for Next), answering heartbeats and finding a
    /// closed connection. Errors: as Next.
    [[nodiscard]] Result<void> Poll();

    /// basic.ack (`multiple`: every unacknowledged tag up to this one).
    [[nodiscard]] Result<void> Ack(std::uint64_t delivery_tag, bool multiple = false);
    /// basic.reject: back to the queue (`requeue`, redelivered set) or dropped (dead-lettered by the queue's
    /// x-dead-letter-exchange, if it has one).
    [[nodiscard]] Result<void> Reject(std::uint64_t delivery_tag, bool requeue);

    /// basic.publish. In confirm mode waits for the broker's verdict (see the table); otherwise returns once the
    /// frames are written (an unroutable mandatory message is then dropped by the broker unseen). `properties`
    /// are sent as given (unset fields are not sent; delivery_mode too — the Publisher defaults it to 2).
    [[nodiscard]] Result<void> Publish(std::string_view exchange, std::string_view routing_key, std::string_view body,
                                       const Properties& properties, bool mandatory = false);

    /// True once the connection is unusable (lost, closed, a confirm timed out): open a new Channel.
    [[nodiscard]] bool broken() const noexcept;
    /// Deliveries received and not yet returned by Next.
    [[nodiscard]] std::size_t buffered() const noexcept;
    /// "127.0.0.1:5672 (user 'gale', vhost '/')", for messages.
    [[nodiscard]] const std::string& where() const noexcept;
    [[nodiscard]] const ConnectionOptions& connection() const noexcept;

private:
    struct Impl;
    explicit Channel(std::unique_ptr<Impl> impl);
    std::unique_ptr<Impl> impl_;
};

}  // namespace gale::amqp
