// SPDX-License-Identifier: MIT
/// @file worker_presence.hpp (private)
/// @brief What Celery's worker says about itself on any broker, without the broker: the worker events' body and the
///        rules of a remote-control (pidbox) request — which node it is for, whether it expired, the answer. The
///        Redis adapter's EventSender and ControlResponder use it (gale/tasks/redis_events.hpp, redis_control.hpp).
///
/// Everything here is a pure function of its arguments; thread-safe.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

namespace gale::tasks::detail {

/// "celery@<hostname>", Celery's default node name (gale/tasks/amqp_control.hpp's DefaultNodeName, for the adapters
/// that do not link the AMQP one).
[[nodiscard]] std::string CeleryNodeName();

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
/// processed, loadavg (three values rounded to 2 decimals), sw_ident ("gale"), sw_ver (gale's version), sw_sys
/// ("Linux"), timestamp (Unix seconds, a float), type.
[[nodiscard]] nlohmann::ordered_json WorkerEvent(std::string_view type, const WorkerEventFields& fields);

/// A remote-control request: the body {"method", "arguments", "destination", "pattern", "matcher", "ticket",
/// "reply_to"} and the headers {"clock", "expires"} of kombu's pidbox message.
struct ControlRequest {
    nlohmann::ordered_json body{};
    std::optional<std::int64_t> clock{};
    std::optional<double> expires{};  ///< Unix seconds
};

/// True when the request is for `nodename`: `destination` lists it, or — without a destination — `pattern` matches
/// it (`matcher` "glob": fnmatch; "pcre": an ECMAScript regex matched from the start), or it names neither
/// (a broadcast to every node). kombu's Node.handle_message rules.
[[nodiscard]] bool IsForNode(const nlohmann::ordered_json& body, const std::string& nodename);

/// True when `expires` (Unix seconds) has passed at `now`: kombu drops such requests unanswered.
[[nodiscard]] bool IsExpired(const ControlRequest& request, std::chrono::system_clock::time_point now);

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

}  // namespace gale::tasks::detail
