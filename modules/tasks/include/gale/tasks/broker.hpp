// SPDX-License-Identifier: MIT
/// @file gale/tasks/broker.hpp
/// @brief The transport interface of the task queue: the embedded queue (SQLite), RabbitMQ (Celery's AMQP layout)
///        and Redis (kombu's layout) implement it; the worker, the client and beat use only this.
///
/// Celery's routing, which every broker follows: a task goes to a queue (default "celery"); on AMQP it is
/// published to the default exchange "" with routing key = the queue name, after declaring exchange "celery"
/// (direct), queue "celery" (durable) and the binding, as Celery's producer does; on Redis it is LPUSHed to the list
/// named after the queue (priority lists "<queue>\x06\x16<step>"), with the binding set "_kombu.binding.<exchange>".
///
/// Delivery and settlement: a delivery is settled exactly once, by Ack (done: removed for good) or Reject (requeue:
/// back to the queue, delivered again later, `redelivered` set; no requeue: dropped — the worker has dead-lettered it
/// first). An unsettled delivery returns to the queue when its consumer closes (AMQP: the channel closes; Redis:
/// kombu's unacked hash, restored after the visibility timeout or at a clean close; embedded: the visibility timeout,
/// or at once at a clean close), so a worker killed mid-task loses nothing: the task runs again (at least once).
///
/// ETA: a message whose `eta` header is in the future may be delivered early by AMQP and Redis (Celery's brokers
/// know nothing of eta); the worker then holds it unsettled until it is due, counted in the prefetch, as Celery
/// does. The embedded broker reads the header and delivers nothing before its eta.
///
/// Dead letters: the worker publishes a message it cannot run (undecodable, unknown task name, poison) to
/// DeadLetterQueue(queue) with the reason in the `x-gale-dead-letter-reason` header, then acks the original;
/// brokers need nothing special for it beyond Declare of that route.
///
/// Priorities: `TransportMessage::priority` is the sender's 0–9, higher meaning more urgent, as in AMQP; each broker
/// documents how it orders (Redis, as kombu: steps 0/3/6/9 where Celery's Redis convention is that 0 is consumed
/// first — the Redis adapter follows kombu exactly, so Python and gale agree on the same broker).
///
/// Thread-safety: Broker::Publish, Declare, QueueLength and connected() may be called from any thread. A
/// BrokerConsumer is used by one thread at a time (the worker's fetch thread): Next, Ack, Reject, Cancel, Close.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <gale/base/error.hpp>
#include <gale/tasks/message.hpp>

namespace gale::tasks {

/// Where a message goes. Defaults are Celery's: queue "celery", default exchange, routing key = queue.
struct Route {
    std::string queue = "celery";
    std::string exchange{};     ///< "" = the default exchange (AMQP); the binding's exchange on Redis ("celery")
    std::string routing_key{};  ///< "" = the queue name
};

/// "<queue>.dead-letter": where the worker puts what it cannot run from `queue` (as gale::amqp's consumers do).
[[nodiscard]] inline std::string DeadLetterQueue(std::string_view queue) { return std::string(queue) + ".dead-letter"; }

/// One message handed to a consumer. `tag` identifies it to its consumer (AMQP delivery tag, kombu's delivery_tag
/// uuid, the embedded row id); settle it with exactly one Ack or Reject on the consumer that returned it.
struct Delivery {
    TransportMessage message{};
    std::string queue{};
    std::string exchange{};
    std::string routing_key{};
    bool redelivered = false;
    std::string tag{};
    /// How many times this message has been delivered, this delivery included, when the broker knows (embedded:
    /// counted per claim; RabbitMQ quorum queues: x-delivery-count + 1); 0 when it does not. The worker
    /// dead-letters a message delivered more than WorkerOptions::max_deliveries times: one that kills every worker
    /// that runs it (a crash, the OOM killer) would otherwise be redelivered for ever (Celery's poison-message loop).
    std::uint32_t delivery_count = 0;
    /// The headers as JSON text, not parsed yet, when the broker left that to the thread that runs the task (the
    /// embedded queue does: parsing them was a fifth of its fetch thread's time); empty otherwise, and then
    /// `message.headers` holds them. ParseDeferredHeaders moves them into `message.headers`; whoever reads the
    /// headers of a delivery from BrokerConsumer::Next calls it first (the worker does, on the task thread).
    std::string deferred_headers{};
};

/// Parses `d.deferred_headers`, if any, into `d.message.headers` (text that is not a JSON object gives {}: the
/// message then fails to decode as a task, with a clear reason) and clears them. Cheap when there are none.
inline void ParseDeferredHeaders(Delivery& d) {
    if (d.deferred_headers.empty()) return;
    d.message.headers = nlohmann::ordered_json::parse(d.deferred_headers, nullptr, /*allow_exceptions=*/false);
    if (!d.message.headers.is_object()) d.message.headers = nlohmann::ordered_json::object();
    d.deferred_headers.clear();
}

class BrokerConsumer {
public:
    virtual ~BrokerConsumer() = default;
    /// The next delivery, or nullopt when none arrived within `timeout`. At most `prefetch` (see Broker::Consume)
    /// deliveries are unsettled at a time: Next returns nullopt (after `timeout`) while that many are. Errors
    /// (kUnavailable): the connection was lost; unsettled deliveries return to the queue. The caller closes this
    /// consumer and opens a new one (the worker does so with backoff).
    [[nodiscard]] virtual Result<std::optional<Delivery>> Next(std::chrono::milliseconds timeout) = 0;
    [[nodiscard]] virtual Result<void> Ack(const Delivery& delivery) = 0;
    [[nodiscard]] virtual Result<void> Reject(const Delivery& delivery, bool requeue) = 0;
    /// Changes the number of unsettled deliveries allowed (AMQP basic.qos; Redis: kombu's client-side prefetch).
    /// The worker raises it by one for each task it holds for a future eta, as Celery's worker raises its QoS, so
    /// that held tasks do not stop the consumption of due ones. The default answers kInvalidArgument ("not
    /// supported"): the worker then counts held tasks in the prefetch it was given.
    [[nodiscard]] virtual Result<void> SetPrefetch(std::size_t prefetch) {
        (void)prefetch;
        return MakeError(ErrorCode::kInvalidArgument, "this broker cannot change its prefetch");
    }
    /// Stops new deliveries (AMQP basic.cancel); deliveries already returned may still be settled. Idempotent.
    virtual void Cancel() = 0;
    /// Returns every unsettled delivery to the queue and closes. Idempotent; the destructor calls it.
    virtual void Close() = 0;
};

class Broker {
public:
    virtual ~Broker() = default;
    /// "embedded", "amqp", "redis": for logs and the `broker` metric label.
    [[nodiscard]] virtual std::string_view name() const noexcept = 0;
    /// A description for logs, never with a password ("redis://127.0.0.1:6379/0").
    [[nodiscard]] virtual std::string Describe() const = 0;
    /// Declares what `routes` need (idempotent; Celery's declarations on AMQP, the binding set on Redis).
    [[nodiscard]] virtual Result<void> Declare(const std::vector<Route>& routes) = 0;
    /// Publishes one message (persistently unless delivery_mode is 1; with publisher confirms on AMQP). Errors:
    /// kUnavailable (broker unreachable), kNotFound (unroutable), kTimeout.
    [[nodiscard]] virtual Result<void> Publish(const Route& route, const TransportMessage& message) = 0;
    /// Starts consuming `queues` with at most `prefetch` unsettled deliveries (0: the broker's default of 1).
    [[nodiscard]] virtual Result<std::unique_ptr<BrokerConsumer>> Consume(const std::vector<std::string>& queues,
                                                                          std::size_t prefetch) = 0;
    /// Messages ready in `queue` (the queue-length metric and autoscaling), all priorities counted.
    [[nodiscard]] virtual Result<std::uint64_t> QueueLength(const std::string& queue) = 0;
    /// False while the broker is known to be unreachable (for readiness of senders; the worker judges by its
    /// consumer's Next). The default, true, suits brokers that only learn of a loss by failing a call.
    [[nodiscard]] virtual bool connected() const noexcept { return true; }
};

}  // namespace gale::tasks
