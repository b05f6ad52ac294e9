// SPDX-License-Identifier: MIT
/// @file gale/tasks/worker_presence.hpp
/// @brief Celery's worker presence on any broker: the worker's node name (Celery's default and its `-n` rules), the
///        heartbeat interval, and — in `detail` — the broker-independent rules that the adapters' event senders and
///        remote-control responders share (gale/tasks/amqp_events.hpp, amqp_control.hpp, redis_events.hpp,
///        redis_control.hpp): the worker events' body, which node a pidbox request is for, whether it expired, the
///        answer and its Lamport clock. Each adapter adds only its transport (the AMQP exchanges, kombu's pub/sub
///        fanout on Redis).
///
/// One node name serves a worker everywhere: the WORKER role gives the same value to the Worker (results, logs,
/// TaskContext::worker()) and to its companions (events' hostname, ping answers, the AMQP pidbox queue).
///
/// Thread-safety: the functions are thread-safe (they read only their arguments, the host name, the clock, the load
/// average). detail::EventSource and detail::PidboxNode belong to one thread each (a sender's, a responder's);
/// detail::PresenceThread: Start and Stop from the owner's thread, stopping/WaitUntil/WaitFor from its own.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>

#include <nlohmann/json.hpp>

#include <gale/base/error.hpp>

namespace gale::tasks {

/// Celery's worker heartbeat interval (celery/worker/heartbeat.py: 2.0 s): how often the event senders send
/// worker-heartbeat, and the events' `freq`. Monitors take a worker for gone after 2 × freq without one.
inline constexpr std::chrono::milliseconds kHeartbeatInterval{2000};

/// "celery@<hostname>": Celery's default node name (celery.utils.nodenames.default_nodename(None)), so that probes
/// and scripts written for Celery workers (`celery inspect ping -d celery@$HOSTNAME`) find a gale worker unchanged;
/// "celery@localhost" when the host name cannot be read. Equal to WorkerNodeName("").
[[nodiscard]] std::string DefaultNodeName();

/// The node name Celery's worker makes of its `-n/--hostname` value (celery/bin/worker.py: host_format(
/// default_nodename(name))):
///
/// - "name@host" is kept (split at the first '@'); a value without '@' is a host ("w1.example" →
///   "celery@w1.example"); an empty name becomes "celery" and an empty host this machine's host name ("" →
///   DefaultNodeName(), "w1@" → "w1@<hostname>");
/// - then, anywhere in it: %h → the host name, %n → its first label, %d → its domain (after the first '.'), %i → "0"
///   and %I → "" (the pool process index, which a gale worker, one process, does not have); "w1@%h" →
///   "w1@<hostname>". A '%' before anything other than a letter, digit or '_' stays as it is, as in Celery.
///
/// Errors: kInvalidArgument naming `what` for any other %<letter, digit or _> (Celery's ValueError "Unknown format").
[[nodiscard]] Result<std::string> WorkerNodeName(std::string_view name, std::string_view what = "node name");

namespace detail {

/// The longest wait between reconnection attempts of the presence companions (their backoff doubles up to it).
inline constexpr std::chrono::milliseconds kMaxReconnectBackoff{10000};
/// `backoff` doubled, at most kMaxReconnectBackoff.
[[nodiscard]] std::chrono::milliseconds NextBackoff(std::chrono::milliseconds backoff);

// ---- worker events ------------------------------------------------------------------------------------------

/// What a worker event reports beside its type.
struct WorkerEventFields {
    std::string nodename{};
    std::uint64_t clock = 0;           ///< the sender's Lamport clock, already advanced for this event
    std::chrono::milliseconds freq{};  ///< the heartbeat interval
    std::uint64_t active = 0;          ///< tasks running now
    std::uint64_t processed = 0;       ///< tasks finished since start
};

/// The body of a worker event of `type` ("worker-online", "worker-heartbeat", "worker-offline") as Celery 5.2's
/// worker writes it (celery/worker/heartbeat.py with celery/events/event.py's Event()), in this key order:
/// hostname, utcoffset (hours west of UTC, Python's floor division), pid, clock, freq (seconds, a float), active,
/// processed, loadavg (three values rounded to 2 decimals), sw_ident ("gale"), sw_ver (gale's version, kVersion),
/// sw_sys ("Linux"), timestamp (Unix seconds, a float), type.
[[nodiscard]] nlohmann::ordered_json WorkerEvent(std::string_view type, const WorkerEventFields& fields);

/// The routing key Celery's event dispatcher gives an event of `type`: the type with '-' as '.'
/// ("worker-heartbeat" → "worker.heartbeat").
[[nodiscard]] std::string EventRoutingKey(std::string_view type);

/// What every EventSender checks in Create: an empty `nodename` becomes DefaultNodeName(). Errors
/// (kInvalidArgument): an interval under 100 ms, an empty exchange.
[[nodiscard]] Result<void> CheckEventOptions(std::string& nodename, std::chrono::milliseconds interval,
                                             std::string_view exchange);

/// One node's worker events, as a sender publishes them: Celery's event of each type, with this sender's own
/// Lamport clock (Celery's worker shares one with its pidbox; monitors order events per node only).
class EventSource {
public:
    /// `active` and `processed` may be empty (0); they are called from the sender's thread.
    EventSource(std::string nodename, std::chrono::milliseconds interval, std::function<std::uint64_t()> active,
                std::function<std::uint64_t()> processed);

    struct Event {
        std::string routing_key{};  ///< EventRoutingKey(type)
        std::string body{};         ///< WorkerEvent(type, …) as Python's json.dumps writes it
    };
    /// The next event of `type`; advances the clock.
    [[nodiscard]] Event Next(std::string_view type);
    [[nodiscard]] const std::string& nodename() const noexcept { return nodename_; }

private:
    std::string nodename_;
    std::chrono::milliseconds interval_;
    std::function<std::uint64_t()> active_;
    std::function<std::uint64_t()> processed_;
    std::uint64_t clock_ = 0;
};

// ---- remote control (kombu's pidbox) ------------------------------------------------------------------------

/// What every ControlResponder checks in Create: an empty `nodename` becomes DefaultNodeName(). Errors
/// (kInvalidArgument): a node name without '@' (Celery's are name@host), an empty namespace.
[[nodiscard]] Result<void> CheckControlOptions(std::string& nodename, std::string_view app_namespace);

/// True when the request body is for `nodename`: `destination` lists it, or — without a destination — `pattern`
/// matches it (`matcher` "glob": fnmatch; "pcre": an ECMAScript regex matched from the start), or it names neither
/// (a broadcast to every node). kombu's Node.handle_message rules. False for a body that is not an object.
[[nodiscard]] bool IsForNode(const nlohmann::ordered_json& body, const std::string& nodename);

/// True when `expires` (Unix seconds; absent or <= 0: never) has passed at `now`: kombu drops such requests.
[[nodiscard]] bool IsExpired(std::optional<double> expires, std::chrono::system_clock::time_point now);

/// The answer of `method`: {"ok": "pong"} for ping; for anything else {"error": "gale does not implement the remote
/// control command '<method>'"}.
[[nodiscard]] nlohmann::ordered_json ControlAnswer(const std::string& method);

/// Where the answer goes: the request's reply_to {"exchange", "routing_key"}; nullopt when it has none (a cast,
/// such as `celery control shutdown`, expects no answer).
struct ReplyTo {
    std::string exchange{};
    std::string routing_key{};
};
[[nodiscard]] std::optional<ReplyTo> ReplyAddress(const nlohmann::ordered_json& body);

/// A remote-control request as it came: the body's bytes {"method", "arguments", "destination", "pattern",
/// "matcher", "ticket", "reply_to"} (untrusted) and the headers {"clock", "expires"} of kombu's pidbox message.
struct ControlRequest {
    std::string_view body{};
    std::optional<std::int64_t> clock{};
    std::optional<double> expires{};  ///< Unix seconds
};

/// kombu's pidbox.Node for one node name: what it does with each request, and its Lamport clock (kombu's
/// LamportClock: max(local, received) + 1 on receipt — a request without a clock counts as 0 —, +1 per reply).
class PidboxNode {
public:
    /// `logger`: the adapter's logger, for the requests it ignores.
    PidboxNode(std::string nodename, std::string logger);

    /// The answer to publish.
    struct Reply {
        ReplyTo to{};             ///< the reply exchange and the request's routing key
        std::string body{};       ///< {"<nodename>": ControlAnswer(method)} as Python's json.dumps writes it
        std::string ticket{};     ///< the request's ticket ("" when it has none): the reply's "ticket" header
        std::uint64_t clock = 0;  ///< the reply's "clock" header
    };
    /// The reply to `request` at `now`, or nullopt when there is none to send: a body that is not a JSON object
    /// (logged as a warning), a request past its expires or for another node (dropped silently, as kombu does), a
    /// request without reply_to (a cast: logged, not carried out).
    [[nodiscard]] std::optional<Reply> Handle(const ControlRequest& request, std::chrono::system_clock::time_point now);
    [[nodiscard]] const std::string& nodename() const noexcept { return nodename_; }

private:
    std::string nodename_;
    std::string logger_;
    std::uint64_t clock_ = 0;
};

// ---- the companions' thread ---------------------------------------------------------------------------------

/// The thread of an event sender or a remote-control responder. Start runs `body` on it (the first call only);
/// Stop asks it to stop, wakes it from WaitUntil/WaitFor and joins it (idempotent; the destructor calls it). The body
/// checks `stopping()` and sleeps only in WaitUntil/WaitFor, so that Stop never waits longer than one turn.
class PresenceThread {
public:
    PresenceThread() = default;
    ~PresenceThread();
    PresenceThread(const PresenceThread&) = delete;
    PresenceThread& operator=(const PresenceThread&) = delete;

    void Start(std::function<void()> body);
    void Stop();
    [[nodiscard]] bool stopping() const;
    /// Sleeps until `deadline` or until Stop is asked; true when stopping.
    bool WaitUntil(std::chrono::steady_clock::time_point deadline);
    bool WaitFor(std::chrono::milliseconds duration) { return WaitUntil(std::chrono::steady_clock::now() + duration); }

private:
    mutable std::mutex mu_;
    std::condition_variable cv_;
    bool started_ = false;
    bool stop_ = false;
    std::thread thread_;
};

}  // namespace detail
}  // namespace gale::tasks
