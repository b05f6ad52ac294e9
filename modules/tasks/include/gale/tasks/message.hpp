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
    nlohmann::json headers = nlohmann::json::object();
    std::string correlation_id{};
    std::string reply_to{};
    int priority = 0;       ///< 0–9 as given by the sender (each broker maps it to its own order; see broker.hpp)
    int delivery_mode = 2;  ///< 2 persistent, 1 transient
    std::optional<std::chrono::milliseconds> expiration{};  ///< the broker may drop it after this (from expires)
};

/// The body's third element: what runs after the task (see client.hpp for which canvas parts gale supports).
struct Embed {
    nlohmann::json callbacks = nullptr;  ///< link: a list of signatures, or null
    nlohmann::json errbacks = nullptr;   ///< link_error
    nlohmann::json chain = nullptr;      ///< the rest of a chain, last one first (the worker pops the last)
    nlohmann::json chord = nullptr;
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
    std::string lang = "py";  ///< what the sender wrote ("cpp" from gale: Celery's workers do not look at it)
    std::string reply_to{};   ///< properties.reply_to: where an RPC result goes
    int priority = 0;
    nlohmann::json extra_headers = nlohmann::json::object();  ///< headers gale does not know, kept for forwarding
};

/// Builds the message for `request`: headers in the order Celery's producer writes them, correlation_id = id,
/// expiration from expires, a three-element JSON body. Never fails (the JSON is gale's own).
[[nodiscard]] TransportMessage EncodeTask(const TaskRequest& request);

/// Reads a task request. Errors (kInvalidArgument, naming the field): no `task` header and no v1 body, an id that is
/// not a string, a body that is not JSON or not [list, dict, dict], a content type other than application/json
/// (pickle is never accepted), an eta/expires that is not ISO 8601, a timelimit that is not [number|null ×2].
/// A message that fails to decode is a poison message: the worker dead-letters it, never retries it.
[[nodiscard]] Result<TaskRequest> DecodeTask(const TransportMessage& message);

/// ISO 8601 as Celery writes it ("2026-12-01T21:29:51.479830+00:00"); parsing accepts "Z", any offset, and no zone
/// (UTC).
[[nodiscard]] std::string FormatIsoTime(SystemTime time);
[[nodiscard]] Result<SystemTime> ParseIsoTime(std::string_view text);

/// A new task id: a random UUID4 string, as Celery's uuid() gives.
[[nodiscard]] std::string NewTaskId();

/// "gale<pid>@<hostname>", the `origin` gale writes (Celery: "gen<pid>@<host>").
[[nodiscard]] std::string NodeName();

}  // namespace gale::tasks
