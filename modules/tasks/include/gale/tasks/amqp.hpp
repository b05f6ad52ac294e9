// SPDX-License-Identifier: MIT
/// @file gale/tasks/amqp.hpp
/// @brief Celery on RabbitMQ: the AMQP broker (Celery's exact messages and declarations) and the RPC result backend
///        (`rpc://`), behind tasks::Broker and tasks::ResultBackend. Library gale::tasks_amqp, package component
///        `tasks_amqp`; built on gale::amqp's Channel (no second rabbitmq-c wrapper).
///
/// The message, as Celery 5.2's producer writes it (celery.md §1, the captured frames of `add.delay(2, 3)`):
///
/// | AMQP                     | from TransportMessage                                                         |
/// |--------------------------|-------------------------------------------------------------------------------|
/// | basic.publish            | exchange "", routing key = the queue (Celery's default); or the route's own   |
/// | content_type, _encoding  | "application/json", "utf-8"                                                   |
/// | headers                  | in order: string S, null V, bool t, integer I (l past 32 bits), float d,      |
/// |                          | list A, object F (py-amqp's types)                                            |
/// | delivery_mode            | 2 (persistent) unless the message says 1                                      |
/// | priority                 | the message's 0–9, always sent (Celery sends 0)                               |
/// | correlation_id, reply_to | the task id, the reply queue (omitted when empty)                             |
/// | expiration               | milliseconds as a decimal string, when set (Celery: from expires)             |
/// | body                     | the bytes as they are (the three-element JSON body)                           |
///
/// so the header table and body of a gale-encoded `add(2, 3)` are byte for byte Celery's (tested against the
/// captured frames). One deliberate difference: gale publishes `mandatory` with publisher confirms, so a task sent to
/// a queue nobody declared is an error (kNotFound) instead of a message RabbitMQ drops unseen.
///
/// Declarations (Celery's defaults; Declare, the first Publish to a route, and Consume make them): for a route to
/// queue Q with no exchange, exchange Q (direct, durable), queue Q (durable; `x-max-priority` when max_priority is
/// set) and the binding Q→Q with key Q — for Q = "celery" exactly Celery's three frames. A route with an exchange
/// declares that exchange (direct, durable) and binds Q with the route's key.
///
/// Priorities: RabbitMQ orders by priority (higher first) only in a queue declared with `x-max-priority`. Celery
/// declares none unless `task_queue_max_priority` (or a Queue's max_priority) is set; AmqpBrokerOptions::max_priority
/// is that setting and must agree with the Python side's, or RabbitMQ refuses the second declaration (406
/// PRECONDITION_FAILED "inequivalent arg 'x-max-priority'", reported naming the queue).
///
/// Consumption: one connection and channel per consumer; basic.qos prefetch_count = the prefetch asked (the worker
/// asks multiplier × concurrency, as Celery's does), global, as Celery 5.2's worker sends it; basic.consume per queue
/// with acknowledgements. Ack is basic.ack of the delivery tag; Reject is basic.reject (requeue: back to the queue
/// with `redelivered`); every unsettled delivery returns to its queue when the consumer closes or its connection
/// is lost. Delivery::delivery_count is `x-delivery-count` + 1 on quorum queues, else 0 (unknown).
///
/// Thread-safety: the Broker may be used from any thread (Publish, Declare and QueueLength take a channel from a
/// small pool); a consumer is used by one thread at a time, as tasks::BrokerConsumer says. The RPC backend may be
/// used from any thread.
#pragma once

#include <chrono>
#include <cstddef>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include <gale/amqp/settings.hpp>
#include <gale/base/error.hpp>
#include <gale/tasks/broker.hpp>
#include <gale/tasks/result_backend.hpp>

namespace gale::tasks::amqp {

/// | Name | Description | Default |
/// |---|---|---|
/// | max_priority | `x-max-priority` of the queues this broker declares (Celery's task_queue_max_priority) | none |
/// | channels | connections kept for Publish, Declare and QueueLength (one call at a time each) | 2 |
/// | confirm_timeout | longest wait for the broker's confirm of one publish | 10 s |
struct AmqpBrokerOptions {
    std::optional<int> max_priority{};
    std::size_t channels = 2;
    std::chrono::milliseconds confirm_timeout{10000};
};

/// A Broker on the RabbitMQ that `connection` names. Connects lazily: an unreachable broker is an error of the first
/// call (kUnavailable naming host, port, user and vhost), not of this one.
[[nodiscard]] std::unique_ptr<Broker> MakeBroker(gale::amqp::ConnectionOptions connection,
                                                 AmqpBrokerOptions options = {});
/// The same from an `amqp://` or `amqps://` URL (gale::amqp::ParseUrl; `what` names its source in errors, e.g.
/// "CELERY_BROKER_URL"). Errors: kInvalidArgument for a bad URL or options (max_priority outside 1–255, 0 channels).
[[nodiscard]] Result<std::unique_ptr<Broker>> MakeBroker(std::string_view url, AmqpBrokerOptions options = {},
                                                         std::string_view what = "broker URL");

/// | Name | Description | Default |
/// |---|---|---|
/// | reply_queue | the queue this process's results come back on (Celery: app.thread_oid) | a new UUID |
/// | result_expires | the reply queue's `x-expires` (Celery's result_expires) | 86400 s |
/// | persistent | results sent with delivery_mode 2 (Celery's result_persistent) | false: 1 |
/// | max_kept | results kept in memory for tasks nobody has read yet (oldest dropped first) | 10000 |
struct RpcBackendOptions {
    std::string reply_queue{};
    std::chrono::milliseconds result_expires{std::chrono::hours(24)};
    bool persistent = false;
    std::size_t max_kept = 10000;
};

/// Celery's `rpc://` result backend on the RabbitMQ `connection` names (celery/backends/rpc.py):
///  - Store sends {"task_id", "status", "result", "traceback", "children"} (Python's json.dumps bytes) to the
///    default exchange with routing key = the request's reply_to, correlation_id = the task id, content type
///    application/json, delivery_mode 1 (2 when persistent), not mandatory: a reply queue that is gone (its client
///    died) drops the result, as Celery's does. Persistent results wait for the broker's confirm; transient ones
///    (the default) do not, as Celery's do not (a transient message is lost with the broker anyway). A request without
///    reply_to stores nothing.
///  - Prepare sets request.reply_to to this backend's reply queue, declared as Celery declares it (not durable,
///    auto_delete, `x-expires` = result_expires) and consumed (no_ack, as Celery) by a thread of its own before
///    Prepare returns, so no result can arrive before the queue exists.
///  - Get and Wait read what has arrived on it: the latest state per task id (correlation_id), as Celery's cache.
///    A result is delivered once: a second backend on the same queue would take half of them.
/// Nothing is stored on the server beyond the queue: results that arrive while this process is down are lost, and
/// the reply queue is deleted by RabbitMQ once its consumer is gone (auto_delete) — after a lost connection the
/// backend declares and consumes it again, and results sent in between are lost (as with Celery). Chords are not
/// supported (as in Celery). Errors of Store: kUnavailable, kTimeout; of Wait: kTimeout (naming the last connection
/// error, if any). Errors of this call: kInvalidArgument for max_kept 0 or result_expires under 1 s.
[[nodiscard]] Result<std::unique_ptr<ResultBackend>> MakeRpcBackend(gale::amqp::ConnectionOptions connection,
                                                                    RpcBackendOptions options = {});

/// The RPC backend on the broker `broker` talks to, which must be one of MakeBroker's (kInvalidArgument otherwise:
/// `rpc://` needs an AMQP broker, as in Celery).
[[nodiscard]] Result<std::unique_ptr<ResultBackend>> MakeRpcBackend(const Broker& broker,
                                                                    RpcBackendOptions options = {});

/// Registers the `amqp://` and `amqps://` broker factories and the `rpc://` result-backend factory with the tasks
/// transport registry (gale/tasks/settings.hpp), so that CELERY_BROKER_URL=amqp://… (or base-python's RABBITMQ_*)
/// and CELERY_RESULT_BACKEND=rpc:// build them. The URL is read by gale::amqp::ParseUrl (its query parameters:
/// heartbeat, connection_timeout, TLS files…); connections are named "<service_name>-tasks" in RabbitMQ;
/// TransportOptions::result_expires becomes the reply queue's x-expires. rpc:// needs the process's broker to be
/// one of these (the factory refuses any other, as the settings do). Idempotent; thread-safe.
void Install();

/// The connection a broker of MakeBroker uses, or nullptr for any other broker.
[[nodiscard]] const gale::amqp::ConnectionOptions* ConnectionOf(const Broker& broker) noexcept;

}  // namespace gale::tasks::amqp
