// SPDX-License-Identifier: MIT
/// @file gale/tasks/amqp_control.hpp
/// @brief ControlResponder: answers Celery's remote control on RabbitMQ (kombu's pidbox), so that
///        `celery -A app inspect ping` and `celery status` see gale workers. Library gale::tasks_amqp.
///
/// What it declares and consumes (kombu 5.2 pidbox, celery.md §1 "pidbox"):
///
/// - exchange `<namespace>.pidbox` (`celery.pidbox`): fanout, not durable;
/// - queue `<nodename>.<namespace>.pidbox`: not durable, auto_delete, `x-expires` 10000 and `x-message-ttl` 300000
///   (Celery's control_queue_expires and control_queue_ttl), bound to it, consumed with no_ack as Celery does;
/// - reply exchange: the request's `reply_to.exchange` (`reply.celery.pidbox`), direct, not durable.
///
/// A request is {"method", "arguments", "destination", "pattern", "matcher", "ticket", "reply_to"} with headers
/// {"clock", "expires"}. It is for this node when `destination` lists the node name, or — without destination —
/// when `pattern` matches it (`matcher` "glob": fnmatch; "pcre": an ECMAScript regex matched from the start), or
/// when it names neither. Requests past their `expires` (Unix seconds) are dropped, as kombu drops them.
///
/// The rules of which node, expiry, the answers and the clock are shared with the Redis responder
/// (gale/tasks/worker_presence.hpp); this class adds AMQP's exchanges and queue.
///
/// Commands:
///
/// - `ping` → {"ok": "pong"}: what `celery inspect ping` and `celery status` send.
/// - anything else → {"error": "gale does not implement the remote control command '<method>'"}. Not implemented:
///   inspect active, reserved, scheduled, stats, registered, active_queues, conf, query_task, revoked, report;
///   control revoke, terminate, rate_limit, time_limit, pool_grow, pool_shrink, autoscale, add_consumer,
///   cancel_consumer, shutdown, enable_events, disable_events, heartbeat, hello (mingle), election. A request without
///   reply_to (a broadcast cast such as `celery control shutdown`) is logged and ignored.
///
/// The answer is {"<nodename>": answer}, published to the reply exchange with the request's routing key, headers
/// {"ticket", "clock"} (a Lamport clock, adjusted by each request's clock), content type application/json,
/// delivery_mode 1 — what Celery's worker sends.
///
/// Connection: Start() returns at once; a thread of its own connects, declares, consumes, and after any failure
/// reconnects with capped backoff (reconnect_backoff doubled up to 10 s). Ownership: owns its connection and thread;
/// Stop() (and the destructor) closes them. Thread-safety: Start/Stop from one thread; the accessors from any.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>

#include <gale/amqp/settings.hpp>
#include <gale/base/error.hpp>
#include <gale/tasks/worker_presence.hpp>

namespace gale::tasks::amqp {

/// | Name | Description | Default |
/// |---|---|---|
/// | nodename | the node's name in answers (and the pidbox queue's) | DefaultNodeName(): "celery@<hostname>" |
/// | app_namespace | Celery's control namespace (control_exchange) | "celery" |
/// | queue_expires | the pidbox queue's x-expires (control_queue_expires) | 10 s |
/// | queue_ttl | the pidbox queue's x-message-ttl (control_queue_ttl) | 300 s |
/// | reconnect_backoff | first wait before reconnecting, doubled up to 10 s | 500 ms |
struct ControlOptions {
    std::string nodename{};
    std::string app_namespace = "celery";
    std::chrono::milliseconds queue_expires{10000};
    std::chrono::milliseconds queue_ttl{300000};
    std::chrono::milliseconds reconnect_backoff{500};
};

class ControlResponder {
public:
    /// Checks the options (a node name with '@', as Celery's). Errors: kInvalidArgument. Connects in Start().
    [[nodiscard]] static Result<std::unique_ptr<ControlResponder>> Create(gale::amqp::ConnectionOptions connection,
                                                                          ControlOptions options = {});
    ~ControlResponder();
    ControlResponder(const ControlResponder&) = delete;
    ControlResponder& operator=(const ControlResponder&) = delete;

    /// Starts the thread and returns at once. Once.
    void Start();
    /// Closes the connection (the pidbox queue goes after its x-expires) and joins the thread. Idempotent.
    void Stop();

    /// True while the pidbox queue is consumed.
    [[nodiscard]] bool connected() const noexcept;
    [[nodiscard]] const std::string& nodename() const noexcept;
    /// Requests for this node answered (pings and error answers) since Create.
    [[nodiscard]] std::uint64_t answered() const noexcept;
    /// The last connection error, "" while connected.
    [[nodiscard]] std::string last_error() const;

private:
    struct Impl;
    explicit ControlResponder(std::unique_ptr<Impl> impl);
    std::unique_ptr<Impl> impl_;
};

}  // namespace gale::tasks::amqp
