// SPDX-License-Identifier: MIT
/// @file gale/tasks/redis_events.hpp
/// @brief EventSender: Celery's worker events on Redis — worker-online, worker-heartbeat every 2 s, worker-offline —
///        so that Celery's monitors (`celery events`, flower, celery-exporter, KEDA's celery scaler) see gale
///        workers. Library gale::tasks_redis.
///
/// On Redis, Celery 5.2 turns its `celeryev` topic exchange into a fanout one (celery/events/event.py get_exchange,
/// "quick hack for Issue #436"), which kombu emulates with pub/sub: each event is PUBLISHed on
/// `/<db>.celeryev/<routing key>` — worker.online, worker.heartbeat, worker.offline: the type with '-' as '.' — with
/// kombu's fanout_prefix and fanout_patterns on, as they are by default (the channel rules are in
/// modules/tasks/src/redis_fanout.hpp); Celery's Receiver PSUBSCRIBEs `/<db>.celeryev/*`. The payload is kombu's
/// envelope: {"body": base64(event), "content-encoding": "utf-8", "content-type": "application/json", "headers":
/// {"hostname": nodename}, "properties": {"delivery_mode": 1, "delivery_info": {"exchange": "celeryev",
/// "routing_key"}, "priority": 0, "body_encoding": "base64", "delivery_tag": uuid4}}; the event is Celery's
/// {"hostname", "utcoffset", "pid", "clock", "freq", "active", "processed", "loadavg", "sw_ident", "sw_ver",
/// "sw_sys", "timestamp", "type"} with sw_ident "gale" — the bytes Celery 5.2.6's worker publishes, field for field.
/// Pub/sub keeps nothing: an event published while no monitor listens is gone, as Celery's are. Task events
/// (task-received, task-succeeded…) are not sent (not implemented).
///
/// Connection: one Redis connection of its own (so a busy task connection never delays a heartbeat). worker-online
/// goes out once a PUBLISH succeeds, and again after every failure (the next beat that gets through is an online
/// event, as Celery's worker sends one after reconnecting); then worker-heartbeat every interval, measured from the
/// previous one; worker-offline at Stop when the last publish got through.
///
/// Ownership: owns its connection and thread. Thread-safety: Start/Stop from one thread; the accessors from any;
/// `active` and `processed` are called from the sender's thread and must be thread-safe.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include <gale/base/error.hpp>
#include <gale/redis/options.hpp>
#include <gale/tasks/worker_presence.hpp>

namespace gale::tasks::redis {

/// | Name | Description | Default |
/// |---|---|---|
/// | nodename | `hostname` of the events | DefaultNodeName(): "celery@<hostname>" (gale/tasks/worker_presence.hpp) |
/// | interval | time between heartbeats (`freq`) | kHeartbeatInterval: 2 s (Celery's) |
/// | exchange | Celery's event_exchange | "celeryev" |
/// | fanout_prefix | kombu's fanout_prefix: channels start with `/<db>.` | true (kombu 5.2's default) |
/// | fanout_patterns | kombu's fanout_patterns: the routing key ends the channel (`/<routing key>`) | true |
/// | active | tasks running now (`active`) | none: 0 |
/// | processed | tasks finished since start (`processed`) | none: 0 |
struct EventOptions {
    std::string nodename{};
    std::chrono::milliseconds interval{kHeartbeatInterval};
    std::string exchange = "celeryev";
    bool fanout_prefix = true;
    bool fanout_patterns = true;
    std::function<std::uint64_t()> active{};
    std::function<std::uint64_t()> processed{};
};

class EventSender {
public:
    /// Errors: kInvalidArgument (an interval under 100 ms, an empty exchange). Connects in Start().
    [[nodiscard]] static Result<std::unique_ptr<EventSender>> Create(gale::redis::ConnectionOptions connection,
                                                                     EventOptions options = {});
    ~EventSender();
    EventSender(const EventSender&) = delete;
    EventSender& operator=(const EventSender&) = delete;

    /// Starts the thread: worker-online at once, then worker-heartbeat every interval. Returns at once. Once.
    void Start();
    /// Sends worker-offline (when the server is reachable) and stops. Idempotent; the destructor calls it.
    void Stop();

    /// Heartbeats published since Start.
    [[nodiscard]] std::uint64_t heartbeats() const noexcept;
    /// True while the last publish got through.
    [[nodiscard]] bool connected() const noexcept;
    [[nodiscard]] const std::string& nodename() const noexcept;
    /// The channel heartbeats go to (`/0.celeryev/worker.heartbeat` by default).
    [[nodiscard]] const std::string& heartbeat_channel() const noexcept;

private:
    struct Impl;
    explicit EventSender(std::unique_ptr<Impl> impl);
    std::unique_ptr<Impl> impl_;
};

}  // namespace gale::tasks::redis
