// SPDX-License-Identifier: MIT
/// @file gale/tasks/amqp_events.hpp
/// @brief EventSender: Celery's worker events on RabbitMQ — worker-online, worker-heartbeat every 2 s,
///        worker-offline — so that Celery's monitors (`celery events`, flower, celery-exporter) see gale workers.
///        Library gale::tasks_amqp.
///
/// As Celery 5.2's worker sends them (celery/worker/heartbeat.py, celery/events/dispatcher.py): exchange
/// `celeryev` (topic, durable), routing key = the type with '-' as '.' (worker.online, worker.heartbeat,
/// worker.offline), headers {"hostname": nodename}, content type application/json, delivery_mode 1, body (in this
/// order) {"hostname", "utcoffset", "pid", "clock", "freq", "active", "processed", "loadavg", "sw_ident", "sw_ver",
/// "sw_sys", "timestamp", "type"}, written as Python's json.dumps. sw_ident is "gale" and sw_ver gale's version, so a
/// monitor can tell gale workers apart; Celery's state machine accepts them as workers (alive while heartbeats come
/// within 2 × freq). The event body and its clock are shared with the Redis sender (gale/tasks/worker_presence.hpp).
/// Sent whether or not anyone listens (unroutable events are dropped by RabbitMQ, as Celery's are), without
/// confirms: events are best effort. Task events (task-received, task-succeeded…) are not sent (not implemented).
///
/// Ownership: owns its connection and thread. Thread-safety: Start/Stop from one thread; `active` and `processed`
/// are called from the sender's thread and must be thread-safe.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include <gale/amqp/settings.hpp>
#include <gale/base/error.hpp>
#include <gale/tasks/worker_presence.hpp>

namespace gale::tasks::amqp {

/// | Name | Description | Default |
/// |---|---|---|
/// | nodename | `hostname` of the events | DefaultNodeName(): "celery@<hostname>" (gale/tasks/worker_presence.hpp) |
/// | interval | time between heartbeats (`freq`) | kHeartbeatInterval: 2 s (Celery's) |
/// | exchange | Celery's event_exchange | "celeryev" |
/// | active | tasks running now (`active`) | none: 0 |
/// | processed | tasks finished since start (`processed`) | none: 0 |
struct EventOptions {
    std::string nodename{};
    std::chrono::milliseconds interval{kHeartbeatInterval};
    std::string exchange = "celeryev";
    std::function<std::uint64_t()> active{};
    std::function<std::uint64_t()> processed{};
};

class EventSender {
public:
    /// Errors: kInvalidArgument (an interval under 100 ms, an empty exchange). Connects in Start().
    [[nodiscard]] static Result<std::unique_ptr<EventSender>> Create(gale::amqp::ConnectionOptions connection,
                                                                     EventOptions options = {});
    ~EventSender();
    EventSender(const EventSender&) = delete;
    EventSender& operator=(const EventSender&) = delete;

    /// Starts the thread: worker-online as soon as connected (again after each reconnect, as Celery's worker),
    /// then worker-heartbeat every interval. Returns at once. Once.
    void Start();
    /// Sends worker-offline (if connected) and stops. Idempotent; the destructor calls it.
    void Stop();

    /// Heartbeats sent since Start.
    [[nodiscard]] std::uint64_t heartbeats() const noexcept;
    [[nodiscard]] bool connected() const noexcept;

private:
    struct Impl;
    explicit EventSender(std::unique_ptr<Impl> impl);
    std::unique_ptr<Impl> impl_;
};

}  // namespace gale::tasks::amqp
