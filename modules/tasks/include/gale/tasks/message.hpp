// SPDX-License-Identifier: MIT
/// @file gale/tasks/message.hpp
/// @brief Celery's task message protocol v2, transport-neutral: what a task request carries, and how it maps to the
///        message every broker moves (properties, a headers table, a body).
///
/// The facts are in /shared/reference/celery.md §1 (with real bytes). In short, a request is
///   headers:    lang, task, id, shadow, eta, expires, group, group_index, retries, timelimit [hard, soft], root_id,
///               parent_id, argsrepr, kwargsrepr, origin, ignore_result (+ anything else, kept as is)
///   properties: correlation_id (= id), reply_to, content_type application/json, content_encoding utf-8,
///               delivery_mode 2, priority, expiration (from expires)
///   body:       [args, kwargs, {"callbacks", "errbacks", "chain", "chord"}]  — always three elements: Celery 5.2's
///               worker crashes on anything shorter, so EncodeTask never sends less.
/// Times without a time zone are UTC ("always UTC"). DecodeTask also accepts protocol v1 bodies
/// ({"task", "id", "args", "kwargs", …}) as Celery's worker does.
///
/// JSON that travels (headers, the embed's signatures) is nlohmann::ordered_json: key order is part of the bytes
/// (an AMQP field table, kombu's envelope) and what Python reads back; args and kwargs, which tasks see, are plain
/// nlohmann::json (the two convert into each other implicitly).
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include <gale/base/error.hpp>

namespace gale::tasks {

using SystemTime = std::chrono::system_clock::time_point;

/// One message as every broker adapter moves it (AMQP: properties, headers table and body; Redis: kombu's JSON
/// envelope; embedded: a row). JSON null in `headers` is AMQP's void. Value type.
struct TransportMessage {
    std::string body{};  ///< the serialized payload, as bytes (JSON text for Celery's default serializer)
    std::string content_type = "application/json";
    std::string content_encoding = "utf-8";
    nlohmann::ordered_json headers = nlohmann::ordered_json::object();
    std::string correlation_id{};
    std::string reply_to{};
    int priority = 0;       ///< 0–9 as given by the sender (each broker maps it to its own order; see broker.hpp)
    int delivery_mode = 2;  ///< 2 persistent, 1 transient
    std::optional<std::chrono::milliseconds> expiration{};  ///< the broker may drop it after this (from expires)
};

/// The body's third element: what runs after the task (see client.hpp for which canvas parts gale supports).
/// A signature is Celery's dict {"task", "args", "kwargs", "options", "subtask_type", "immutable", "chord_size"}.
struct Embed {
    nlohmann::ordered_json callbacks = nullptr;  ///< link: a list of signatures, or null
    nlohmann::ordered_json errbacks = nullptr;   ///< link_error
    nlohmann::ordered_json chain = nullptr;      ///< the rest of a chain, last one first (the worker pops the last)
    nlohmann::ordered_json chord = nullptr;      ///< a signature or null (chords are not run by gale; see client.hpp)
};

/// A task request, decoded. Empty strings stand for Celery's None.
struct TaskRequest {
    std::string id{};
    std::string task{};  ///< the Celery task name, e.g. "proj.tasks.add"
    nlohmann::json args = nlohmann::json::array();
    nlohmann::json kwargs = nlohmann::json::object();
    Embed embed{};
    std::string root_id{};  ///< the first task of the workflow (== id for a task sent from outside any task)
    std::string parent_id{};
    std::string group{};
    std::optional<int> group_index{};
    int retries = 0;
    std::optional<SystemTime> eta{};
    std::optional<SystemTime> expires{};
    std::optional<double> hard_time_limit{};  ///< seconds (timelimit[0])
    std::optional<double> soft_time_limit{};  ///< seconds (timelimit[1])
    std::string shadow{};
    std::string argsrepr{};
    std::string kwargsrepr{};
    std::string origin{};  ///< the sender's node name, "gale<pid>@<host>" for gale
    bool ignore_result = false;
    std::string lang = "py";  ///< what the sender wrote; gale writes "py" too (Celery's workers do not look at it)
    std::string reply_to{};   ///< properties.reply_to: where an RPC result goes
    int priority = 0;
    /// Headers gale does not know (stamps, replaced_task_nesting, x-…), kept in order and written back after the
    /// known ones, so a retried or dead-lettered request keeps them.
    nlohmann::ordered_json extra_headers = nlohmann::ordered_json::object();
};

/// Builds the message for `request`: headers in the order Celery's producer writes them, correlation_id = id,
/// reply_to and priority from the request, expiration = expires - now (at least 0 ms) when expires is set, and a
/// three-element JSON body written as Python's json.dumps writes it (", " and ": " separators, ASCII-only with
/// \uXXXX escapes, floats as Python's repr), so gale's bytes are Celery's bytes. argsrepr/kwargsrepr are derived
/// (Python's repr, at most 1024 characters) when the request leaves them empty. Never fails: a string that is not
/// UTF-8 is written with U+FFFD in place of its bad bytes, a NaN or infinity as Python writes them (NaN, Infinity).
[[nodiscard]] TransportMessage EncodeTask(const TaskRequest& request);

/// Reads a task request. Errors (kInvalidArgument, naming the field): no `task` header and no v1 body, a missing or
/// empty task name or id, a known header of the wrong type (a string field holding a number, retries that is not an
/// integer, ignore_result that is not a bool), a body that is not JSON or not [list, dict, dict] (v1: a dict with
/// "task", "id", a list "args" and a dict "kwargs"), an embed whose callbacks/errbacks/chain is neither null nor a
/// list, a content type other than application/json (pickle, yaml and msgpack are never accepted) or a content
/// encoding other than utf-8, an eta/expires that is not ISO 8601, a timelimit that is not [number|null ×2].
/// A message that fails to decode is a poison message: the worker dead-letters it, never retries it.
[[nodiscard]] Result<TaskRequest> DecodeTask(const TransportMessage& message);

/// ISO 8601 as Python's isoformat() writes an aware UTC time ("2026-12-01T21:29:51.479830+00:00"; no fraction when
/// the microseconds are 0). Parsing accepts 'T' or ' ' between date and time, 0–9 fraction digits (truncated to
/// microseconds), "Z", ±HH:MM, ±HHMM, ±HH and no zone (UTC); errors (kInvalidArgument) quote the text.
[[nodiscard]] std::string FormatIsoTime(SystemTime time);
[[nodiscard]] Result<SystemTime> ParseIsoTime(std::string_view text);

/// A new task id: a random UUID4 string, as Celery's uuid() gives.
[[nodiscard]] std::string NewTaskId();

/// "gale<pid>@<hostname>", the `origin` gale writes (Celery: "gen<pid>@<host>").
[[nodiscard]] std::string NodeName();

}  // namespace gale::tasks
