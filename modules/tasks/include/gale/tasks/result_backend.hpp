// SPDX-License-Identifier: MIT
/// @file gale/tasks/result_backend.hpp
/// @brief Where task results go and are read from: Redis (Celery's `celery-task-meta-<id>`, SETEX + PUBLISH),
///        RPC (a message to the sender's reply_to queue), the embedded database, or nowhere.
///
/// Results are Celery's meta documents (celery.md §2), so Python's AsyncResult.get() reads gale's results and gale
/// reads Python's: {"status", "result", "traceback", "children", "date_done", "task_id"} (+ the extended fields when
/// known). A failure's result is {"exc_type", "exc_message": [..], "exc_module"}.
///
/// Thread-safety: all members may be called from any thread.
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include <gale/base/error.hpp>
#include <gale/tasks/message.hpp>

namespace gale::tasks {

/// Celery's states. PENDING is what a backend says of a task it knows nothing about.
enum class TaskState { kPending, kReceived, kStarted, kSuccess, kFailure, kRetry, kRevoked };

/// "PENDING", "RECEIVED", "STARTED", "SUCCESS", "FAILURE", "RETRY", "REVOKED".
[[nodiscard]] std::string_view ToString(TaskState state) noexcept;
[[nodiscard]] Result<TaskState> ParseTaskState(std::string_view text);

struct TaskResult {
    std::string task_id{};
    TaskState state = TaskState::kPending;
    nlohmann::json result = nullptr;  ///< the return value, or {"exc_type","exc_message","exc_module"}
    std::string traceback{};          ///< empty: null
    nlohmann::json children = nlohmann::json::array();
    std::optional<SystemTime> date_done{};  ///< written without a zone, as Celery does ("2026-12-01T21:28:59.368182")
    std::string group_id{};                 ///< written when not empty, as Celery does
    std::string parent_id{};                ///< written when not empty, as Celery does
    // Extended fields (Celery's result_extended), written when known.
    std::string name{};
    nlohmann::json args = nullptr;
    nlohmann::json kwargs = nullptr;
    std::string worker{};
    int retries = 0;
    std::string queue{};

    /// Celery's meta document for this result, keys in Celery's order: status, result, traceback, children,
    /// date_done, [group_id], [parent_id], [name, args, kwargs, worker, retries, queue when `name` is set], task_id.
    [[nodiscard]] nlohmann::ordered_json ToMeta() const;
    /// Reads a meta document (Celery's or gale's). Errors (kInvalidArgument, naming the field): not an object, no
    /// or an unknown status, a date_done that is not ISO 8601, a traceback that is neither a string nor null.
    /// Unknown keys are ignored; a missing task_id is left empty.
    [[nodiscard]] static Result<TaskResult> FromMeta(const nlohmann::ordered_json& meta);
    /// The failure document Celery writes: {"exc_type": type, "exc_message": [message], "exc_module": module}.
    [[nodiscard]] static nlohmann::json Failure(std::string_view exc_type, std::string_view message,
                                                std::string_view exc_module = "builtins");
};

class ResultBackend {
public:
    virtual ~ResultBackend() = default;
    [[nodiscard]] virtual std::string_view name() const noexcept = 0;
    /// Called by the TaskClient before it publishes `request`: what the backend needs of the message or of itself
    /// before the result can arrive (RPC: request.reply_to = this process's reply queue, declared; Redis may
    /// subscribe to the result's channel, as Celery does). The default does nothing. Errors fail the send.
    [[nodiscard]] virtual Result<void> Prepare(TaskRequest& request) {
        (void)request;
        return {};
    }
    /// Stores `result` for the task `request` describes (RPC: sends it to request.reply_to, correlation id = id).
    [[nodiscard]] virtual Result<void> Store(const TaskRequest& request, const TaskResult& result) = 0;
    using StoreDone = std::function<void(Result<void>)>;
    /// Store, finished later: `done` is called exactly once with Store's outcome, either before StoreAsync returns
    /// (the default: Store, then `done`) or on a thread of the backend. The embedded and Redis backends override
    /// it: one writer thread writes what the task threads hand it in batches (one transaction, one pipeline), so
    /// that a task thread does not wait for its result and a thousand results cost far fewer round trips. The
    /// worker uses it for results with nothing to send after them, and settles the message in `done`. A backend
    /// destroyed with stores queued writes them first.
    virtual void StoreAsync(const TaskRequest& request, const TaskResult& result, StoreDone done) {
        done(Store(request, result));
    }
    /// The result if it is known now (PENDING if not).
    [[nodiscard]] virtual Result<TaskResult> Get(const std::string& task_id) = 0;
    /// Waits up to `timeout` for a ready state (SUCCESS, FAILURE, REVOKED). Errors: kTimeout, transport errors.
    [[nodiscard]] virtual Result<TaskResult> Wait(const std::string& task_id, std::chrono::milliseconds timeout) = 0;
};

}  // namespace gale::tasks
