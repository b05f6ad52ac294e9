// SPDX-License-Identifier: MIT
/// @file gale/tasks/client.hpp
/// @brief Sending tasks (Celery's send_task / apply_async), chains and link callbacks, and reading results.
///
/// @code
///   gale::tasks::TaskClient client(broker, backend);  // the App gives one to handlers: app.tasks()
///   auto id = client.Send("proj.tasks.add", {2, 3});
///   auto later = client.Send("proj.tasks.add", {2, 3}, {}, {.countdown = std::chrono::seconds(60)});
///   auto result = client.Wait(*id, std::chrono::seconds(5));   // TaskResult: SUCCESS, result 5
///   client.SendChain({Signature("proj.tasks.add", {2, 3}), Signature("proj.tasks.mul", {10})});  // (2+3)*10
/// @endcode
///
/// Canvas support (the body's `embed`, Celery protocol v2), run by gale's worker and understood by Celery's:
///  - link (callbacks): after SUCCESS, each signature is sent with the result prepended to its args (unless
///    immutable, Celery's `.si()`); parent_id = the task, root_id = its root.
///  - link_error (errbacks): after FAILURE, each is sent with the failed task's id prepended to its args (Celery's
///    "old-style" errback call; the new style, calling a Python function with (request, exc, traceback) inside the
///    worker, has no meaning across languages).
///  - chain: the steps after the first travel in `embed.chain`, last step first; on SUCCESS the worker pops the
///    next step and sends it with the result prepended and the rest of the chain.
///  - Not supported: groups and chords (gale's worker dead-letters a message carrying a chord rather than run it
///    without its header/body semantics), group results, `replace`. Python Celery workers run everything gale
///    sends, since the messages are Celery's.
///
/// parent_id / root_id: a task sent while a task runs on this thread (from the task function, with any client)
/// gets parent_id = the running task's id and root_id = its root; otherwise root_id = its own id, as Celery.
///
/// Thread-safety: all members may be called from any thread. The broker and the backend must outlive the client.
#pragma once

#include <chrono>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include <gale/base/error.hpp>
#include <gale/tasks/broker.hpp>
#include <gale/tasks/message.hpp>
#include <gale/tasks/result_backend.hpp>

namespace gale::tasks {

/// Celery's signature: a task name, arguments and options, as the dict that travels in link, link_error and chain
/// ({"task", "args", "kwargs", "options", "subtask_type", "immutable", "chord_size"}).
struct Signature {
    Signature() = default;
    Signature(std::string task_name, nlohmann::json positional = nlohmann::json::array(),
              nlohmann::json keywords = nlohmann::json::object())
        : task(std::move(task_name)), args(std::move(positional)), kwargs(std::move(keywords)) {}

    std::string task{};
    nlohmann::json args = nlohmann::json::array();
    nlohmann::json kwargs = nlohmann::json::object();
    /// apply_async options: queue, task_id, countdown (seconds), eta (ISO 8601), expires (seconds or ISO 8601),
    /// priority, soft_time_limit, time_limit, link, link_error (nested signatures), ignore_result.
    nlohmann::ordered_json options = nlohmann::ordered_json::object();
    bool immutable = false;  ///< Celery's .si(): the parent's result is not prepended

    [[nodiscard]] nlohmann::ordered_json ToJson() const;
    /// Errors (kInvalidArgument): not a dict, no task name, args not a list, kwargs or options not dicts.
    [[nodiscard]] static Result<Signature> FromJson(const nlohmann::ordered_json& json);
};

/// apply_async's options.
struct SendOptions {
    std::optional<std::chrono::milliseconds> countdown{};  ///< eta = now + countdown (not with eta)
    std::optional<SystemTime> eta{};
    std::optional<std::chrono::milliseconds> expires_in{};  ///< expires = now + this (not with expires)
    std::optional<SystemTime> expires{};                    ///< not run after this: REVOKED instead
    std::optional<int> priority{};            ///< 0–9, higher first (Redis: kombu's inverse; see broker.hpp)
    std::string queue{};                      ///< empty: the task's route, else the default queue
    std::string task_id{};                    ///< empty: a new UUID
    std::vector<Signature> link{};            ///< callbacks on success
    std::vector<Signature> link_error{};      ///< errbacks on failure
    std::optional<double> soft_time_limit{};  ///< seconds, on the message (wins over the task's)
    std::optional<double> time_limit{};       ///< seconds, on the message
    std::optional<bool> ignore_result{};
    std::string shadow{};  ///< the name shown in logs instead of the task's
};

struct ClientOptions {
    std::string default_queue = "celery";
    /// task name → queue (Celery's task_routes; the App fills it from each task's TaskOptions::queue).
    std::map<std::string, std::string, std::less<>> routes{};
};

class TaskClient {
public:
    /// `backend` may be null (results disabled): Get and Wait then fail with kInvalidArgument.
    TaskClient(Broker& broker, ResultBackend* backend, ClientOptions options = {});

    /// Sends task `name` and returns its id. Errors: kInvalidArgument (args not a list, kwargs not a dict, both
    /// countdown and eta, or both expires and expires_in, a priority outside 0–255); the backend's Prepare and the
    /// broker's Declare/Publish errors (kUnavailable, kTimeout, kNotFound).
    [[nodiscard]] Result<std::string> Send(std::string_view name, nlohmann::json args = nlohmann::json::array(),
                                           nlohmann::json kwargs = nlohmann::json::object(),
                                           const SendOptions& options = {});
    /// Sends a signature (its own options applied, then `options` over them).
    [[nodiscard]] Result<std::string> Send(const Signature& signature, const SendOptions& options = {});
    /// Celery's chain(a, b, c).apply_async(): sends the first step with the others in its embed; returns the first
    /// step's id. Errors as Send; kInvalidArgument for an empty chain.
    [[nodiscard]] Result<std::string> SendChain(const std::vector<Signature>& steps, const SendOptions& options = {});

    /// Publishes a request as it is (ids, eta, retries… already set) to `queue`; the worker's retries and
    /// callbacks use it. Declares the queue on first use; calls the backend's Prepare. Errors as Send.
    [[nodiscard]] Result<void> Publish(TaskRequest& request, const std::string& queue);

    /// The request Send would publish, and its queue (for tests, and for callers that add headers).
    [[nodiscard]] Result<std::pair<TaskRequest, std::string>> Build(std::string_view name, nlohmann::json args,
                                                                    nlohmann::json kwargs,
                                                                    const SendOptions& options) const;
    /// As Build, for a signature: its own options, then `options` over them.
    [[nodiscard]] Result<std::pair<TaskRequest, std::string>> Build(const Signature& signature,
                                                                    const SendOptions& options = {}) const;

    /// The result as the backend knows it now (PENDING if not yet).
    [[nodiscard]] Result<TaskResult> Get(const std::string& task_id);
    /// Waits up to `timeout` for SUCCESS, FAILURE or REVOKED. Errors: kTimeout, kInvalidArgument without a backend.
    [[nodiscard]] Result<TaskResult> Wait(const std::string& task_id, std::chrono::milliseconds timeout);

    [[nodiscard]] Broker& broker() noexcept { return broker_; }
    [[nodiscard]] ResultBackend* backend() noexcept { return backend_; }
    [[nodiscard]] const ClientOptions& options() const noexcept { return options_; }
    /// The queue a task goes to when its options name none.
    [[nodiscard]] std::string QueueFor(std::string_view task) const;

private:
    Broker& broker_;
    ResultBackend* backend_;
    ClientOptions options_;
    std::mutex mu_;
    std::set<std::string, std::less<>> declared_;
};

/// The request of the task running on this thread (set by the worker around each run), or null.
[[nodiscard]] const TaskRequest* CurrentTask() noexcept;

namespace detail {
/// Sets CurrentTask() for the life of the object (the worker, and tests).
class CurrentTaskScope {
public:
    explicit CurrentTaskScope(const TaskRequest* request) noexcept;
    ~CurrentTaskScope();
    CurrentTaskScope(const CurrentTaskScope&) = delete;
    CurrentTaskScope& operator=(const CurrentTaskScope&) = delete;

private:
    const TaskRequest* previous_;
};
}  // namespace detail

}  // namespace gale::tasks
