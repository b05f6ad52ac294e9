// SPDX-License-Identifier: MIT
/// @file gale/tasks/task.hpp
/// @brief Declaring tasks: a Celery task name, a function of the request (JSON, or typed through checked
///        conversions), and its options (queue, retries, time limits, rate limit, acks_late, ignore_result).
///
/// @code
///   gale::tasks::TaskRegistry tasks;
///   (void)tasks.Add("proj.tasks.add", gale::tasks::Typed([](int a, int b) { return a + b; }));
///   (void)tasks.Add("proj.tasks.fetch", [](gale::tasks::TaskContext& ctx) -> gale::Result<nlohmann::json> {
///       auto page = Fetch(ctx.args().at(0).get<std::string>());
///       if (!page) return tl::unexpected(page.error());  // kUnavailable, kTimeout: retried with backoff
///       return nlohmann::json{{"bytes", page->size()}};
///   }, {.queue = "io", .retry = {.max_retries = 5}, .time_limit = std::chrono::seconds(30)});
/// @endcode
///
/// Outcomes of one run (the worker stores each as Celery's result and settles the message):
///
/// - returns a value → SUCCESS: the value is stored; callbacks and the chain's next step are sent.
/// - returns ctx.Retry(…) while retries < max → RETRY: the message is sent again with retries+1 and an eta.
/// - returns an error whose code is in retry.retry_on → RETRY, as above, after the policy's backoff.
/// - returns any other error, or retries are exhausted → FAILURE: {exc_type, exc_message, exc_module} (mapping
///   below); errbacks are sent.
/// - throws TaskError → FAILURE with its exc_type / exc_module.
/// - throws anything else → FAILURE as RuntimeError (retried only with retry.retry_exceptions).
/// - runs past its hard time limit → FAILURE: TimeLimitExceeded (billiard.exceptions); the thread is abandoned.
/// - returns kCancelled after the soft time limit → FAILURE: SoftTimeLimitExceeded (billiard.exceptions).
///
/// Errors map to Python exceptions so that AsyncResult.get() raises something meaningful: kInvalidArgument →
/// ValueError, kNotFound → KeyError, kAlreadyExists → FileExistsError, kUnavailable → ConnectionError, kTimeout →
/// TimeoutError, kIo → OSError, kInternal and kCancelled → RuntimeError (all `builtins`).
///
/// Thread-safety: a TaskRegistry is built before the worker starts and only read afterwards (from any thread).
/// Task functions run on the worker's threads, several at once: they must be thread-safe.
#pragma once

#include <atomic>
#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <tuple>
#include <type_traits>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include <gale/base/error.hpp>
#include <gale/pipe/serializer.hpp>
#include <gale/tasks/message.hpp>

namespace gale::tasks {

class TaskClient;

/// A failure with the Python exception type it stands for (e.g. TypeError, or an application's own
/// "proj.errors.Invalid"), for tasks whose results Python code reads. Thrown by a task function.
class TaskError : public std::runtime_error {
public:
    explicit TaskError(std::string exc_type, const std::string& message, std::string exc_module = "builtins")
        : std::runtime_error(message), exc_type_(std::move(exc_type)), exc_module_(std::move(exc_module)) {}
    [[nodiscard]] const std::string& exc_type() const noexcept { return exc_type_; }
    [[nodiscard]] const std::string& exc_module() const noexcept { return exc_module_; }

private:
    std::string exc_type_;
    std::string exc_module_;
};

/// What a task asks for with ctx.Retry (Celery's self.retry(countdown=…, eta=…, max_retries=…)).
struct RetryRequest {
    std::optional<std::chrono::milliseconds> countdown{};  ///< unset: the task's backoff policy decides
    std::optional<SystemTime> eta{};
    std::optional<int> max_retries{};  ///< unset: the task's RetryPolicy::max_retries
    std::string reason{};              ///< stored in the RETRY result and logged
};

/// What a running task sees: its request and the worker's signals. Created by the worker for each run (or by a
/// test, for a task function called directly); valid for the duration of the call. Thread-safety: cancelled() may
/// be read while the worker sets it; the rest belongs to the task's thread.
class TaskContext {
public:
    /// `cancel`: the flag the worker raises at the soft time limit (null: never); `client`: for sending tasks from
    /// this one (null: none).
    explicit TaskContext(const TaskRequest& request, std::shared_ptr<const std::atomic<bool>> cancel = nullptr,
                         TaskClient* client = nullptr, std::string worker = {})
        : request_(request), cancel_(std::move(cancel)), client_(client), worker_(std::move(worker)) {}

    [[nodiscard]] const TaskRequest& request() const noexcept { return request_; }
    [[nodiscard]] const std::string& id() const noexcept { return request_.id; }
    [[nodiscard]] const nlohmann::json& args() const noexcept { return request_.args; }
    [[nodiscard]] const nlohmann::json& kwargs() const noexcept { return request_.kwargs; }
    /// How often this request was retried before (0 on the first run).
    [[nodiscard]] int retries() const noexcept { return request_.retries; }
    /// The worker's node name ("gale1234@host").
    [[nodiscard]] const std::string& worker() const noexcept { return worker_; }
    /// True once the soft time limit has passed (or the run was abandoned at the hard limit): stop soon, e.g. with
    /// `return ctx.Cancelled();`. A C++ thread cannot be interrupted; this is the cooperative part.
    [[nodiscard]] bool cancelled() const noexcept { return cancel_ && cancel_->load(std::memory_order_relaxed); }
    /// The error to return when stopping because cancelled() (kCancelled: stored as SoftTimeLimitExceeded).
    [[nodiscard]] tl::unexpected<Error> Cancelled() const {
        return MakeError(ErrorCode::kCancelled, "soft time limit exceeded");
    }
    /// Celery's self.retry(): records the request and returns the error to return from the task
    /// (`return ctx.Retry({.countdown = 5s});`). The worker sends the request again with retries + 1 and the eta,
    /// or stores FAILURE ("MaxRetriesExceededError", celery.exceptions) when retries are exhausted.
    [[nodiscard]] tl::unexpected<Error> Retry(RetryRequest request = {}) {
        std::string why = request.reason.empty() ? "retry requested" : "retry requested: " + request.reason;
        retry_ = std::move(request);
        return MakeError(ErrorCode::kUnavailable, why);
    }
    /// The retry the task asked for, if any (the worker reads it).
    [[nodiscard]] const std::optional<RetryRequest>& retry_request() const noexcept { return retry_; }
    /// The client the task may send other tasks with; their parent_id is this task, their root_id this task's root.
    /// Null when the worker has none. (TaskClient::Send from this thread sets the ids too.)
    [[nodiscard]] TaskClient* client() const noexcept { return client_; }

private:
    const TaskRequest& request_;
    std::shared_ptr<const std::atomic<bool>> cancel_;
    TaskClient* client_;
    std::string worker_;
    std::optional<RetryRequest> retry_;
};

/// A task function: the result as JSON, or an error (see the outcome table above).
using TaskFn = std::function<Result<nlohmann::json>(TaskContext& ctx)>;

/// When a failed run is sent again, and how long after (Celery's autoretry_for, retry_backoff, retry_backoff_max,
/// retry_jitter, max_retries).
struct RetryPolicy {
    int max_retries = 3;                            ///< retries after the first run (Celery's default); 0: none
    std::chrono::milliseconds backoff{1000};        ///< the first retry's delay; doubled for each retry after it
    std::chrono::milliseconds max_backoff{600000};  ///< the delay never exceeds this (Celery: 600 s)
    bool jitter = true;  ///< full jitter: a delay drawn uniformly from [0, delay] (Celery's retry_jitter)
    /// Returned errors that retry by themselves (transient ones); others fail at once.
    std::vector<ErrorCode> retry_on = {ErrorCode::kUnavailable, ErrorCode::kTimeout};
    bool retry_exceptions = false;  ///< also retry when the function throws (other than TaskError)

    /// The delay before retry number `retries` + 1 (0-based `retries`), before jitter: backoff × 2^retries, capped.
    [[nodiscard]] std::chrono::milliseconds Delay(int retries) const noexcept;
};

struct TaskOptions {
    std::string queue{};  ///< empty: the default queue (CELERY_TASK_DEFAULT_QUEUE, "celery")
    RetryPolicy retry{};
    /// Seconds as Celery counts them; a message's own timelimit header wins over these.
    std::optional<std::chrono::milliseconds> soft_time_limit{};  ///< then ctx.cancelled() is true
    std::optional<std::chrono::milliseconds> time_limit{};       ///< then the run fails with TimeLimitExceeded
    /// Celery's syntax: "10/s", "100/m", "1000/h", or a number of tasks per second; empty: no limit. Applies per
    /// worker process, as Celery's does.
    std::string rate_limit{};
    /// Acknowledge after the run (success, failure or retry sent) — gale's default; false: when a thread starts it
    /// (Celery's default: a worker killed mid-task loses the task).
    bool acks_late = true;
    bool ignore_result = false;  ///< store no result at all (as Celery, failures neither)
};

/// One registered task. Immutable once registered.
struct TaskDefinition {
    std::string name;
    TaskFn fn;
    TaskOptions options;
    double rate_per_second = 0;  ///< from options.rate_limit; 0: none
};

/// Parses Celery's rate-limit syntax into tasks per second. Errors (kInvalidArgument) quote the text.
[[nodiscard]] Result<double> ParseRateLimit(std::string_view text);

/// The tasks a worker runs, by name.
class TaskRegistry {
public:
    /// Registers `fn` under `name`. Errors (kInvalidArgument, nothing registered): an empty name, one registered
    /// already, no function, a bad rate limit, a time limit of 0 or less, a soft limit above the hard one, negative
    /// retries or backoff.
    [[nodiscard]] Result<void> Add(std::string name, TaskFn fn, TaskOptions options = {});
    /// The task called `name`, or null. The pointer stays valid while anything holds it (a running task keeps its
    /// definition alive even if the registry is gone).
    [[nodiscard]] std::shared_ptr<const TaskDefinition> Find(std::string_view name) const;
    [[nodiscard]] std::vector<std::string> Names() const;
    [[nodiscard]] std::size_t size() const noexcept { return tasks_.size(); }
    [[nodiscard]] bool empty() const noexcept { return tasks_.empty(); }

private:
    std::map<std::string, std::shared_ptr<const TaskDefinition>, std::less<>> tasks_;
};

namespace detail {

template <typename T>
struct FunctionTraits : FunctionTraits<decltype(&T::operator())> {};
template <typename C, typename R, typename... A>
struct FunctionTraits<R (C::*)(A...) const> {
    using Return = R;
    using Args = std::tuple<A...>;
};
template <typename C, typename R, typename... A>
struct FunctionTraits<R (C::*)(A...)> {
    using Return = R;
    using Args = std::tuple<A...>;
};
template <typename R, typename... A>
struct FunctionTraits<R (*)(A...)> {
    using Return = R;
    using Args = std::tuple<A...>;
};
template <typename R, typename... A>
struct FunctionTraits<R(A...)> : FunctionTraits<R (*)(A...)> {};

template <typename T>
struct IsResult : std::false_type {};
template <typename T>
struct IsResult<Result<T>> : std::true_type {};

template <typename T>
inline constexpr bool kIsContext = std::is_same_v<std::remove_cvref_t<T>, TaskContext>;

/// Argument `index` of the call (positional, else the keyword `name`), converted with the log pipe's checked
/// conversions. Throws TaskError("TypeError", …) naming the argument.
template <typename T>
T Argument(const TaskContext& ctx, std::size_t index, const std::vector<std::string>& names) {
    const nlohmann::json* value = nullptr;
    std::string where = index < names.size() ? "'" + names[index] + "'" : std::to_string(index);
    if (index < ctx.args().size()) {
        value = &ctx.args()[index];
    } else if (index < names.size() && ctx.kwargs().is_object()) {
        auto it = ctx.kwargs().find(names[index]);
        if (it != ctx.kwargs().end()) value = &*it;
    }
    if (value == nullptr) {
        throw TaskError("TypeError", ctx.request().task + "() missing required argument " + where);
    }
    T out{};
    try {
        pipe::detail::ReadValue(*value, out);
    } catch (const pipe::FieldError& e) {
        throw TaskError("TypeError", ctx.request().task + "() argument " + where + ": " +
                                         (e.path().empty() ? std::string() : e.path() + ": ") + e.problem());
    } catch (const nlohmann::json::exception& e) {
        throw TaskError("TypeError", ctx.request().task + "() argument " + where + ": " +
                                         pipe::detail::StripNlohmannPrefix(e.what()));
    }
    return out;
}

template <typename F, typename... A, std::size_t... I>
decltype(auto) CallTyped(F& f, TaskContext& ctx, const std::vector<std::string>& names, std::tuple<A...>*,
                         std::index_sequence<I...>) {
    if constexpr (sizeof...(A) > 0 && kIsContext<std::tuple_element_t<0, std::tuple<A...>>>) {
        return f(ctx, Argument<std::remove_cvref_t<std::tuple_element_t<I + 1, std::tuple<A...>>>>(ctx, I, names)...);
    } else {
        return f(Argument<std::remove_cvref_t<A>>(ctx, I, names)...);
    }
}

template <typename R>
Result<nlohmann::json> ToJsonResult(R&& r) {
    using T = std::remove_cvref_t<R>;
    if constexpr (IsResult<T>::value) {
        if (!r) return tl::unexpected(r.error());
        if constexpr (std::is_void_v<typename T::value_type>) {
            return nlohmann::json(nullptr);
        } else {
            return nlohmann::json(*std::forward<R>(r));
        }
    } else {
        return nlohmann::json(std::forward<R>(r));
    }
}

}  // namespace detail

/// A TaskFn from a function of typed arguments: `Typed([](int a, int b) { return a + b; })`. Each argument is read
/// from the positional args (then, when `names` are given, from the kwargs of the same name) with the log pipe's
/// checked conversions: a number that does not fit (1.5 or 2^40 into an int), a string for a number, a missing or
/// surplus argument, an unknown keyword — each is a TypeError naming the argument, as Python would raise, and is
/// not retried. The function may take `TaskContext&` first; it may return a value convertible to JSON, void, or a
/// Result of either.
template <typename F>
TaskFn Typed(F f, std::vector<std::string> names = {}) {
    using Traits = detail::FunctionTraits<std::remove_cvref_t<F>>;
    using Args = typename Traits::Args;
    constexpr std::size_t kAll = std::tuple_size_v<Args>;
    constexpr bool kTakesContext = [] {
        if constexpr (kAll > 0) {
            return detail::kIsContext<std::tuple_element_t<0, Args>>;
        } else {
            return false;
        }
    }();
    constexpr std::size_t kArity = kAll - (kTakesContext ? 1 : 0);
    return [f = std::move(f), names = std::move(names)](TaskContext& ctx) mutable -> Result<nlohmann::json> {
        const std::size_t given = ctx.args().is_array() ? ctx.args().size() : 0;
        if (given > kArity) {
            throw TaskError("TypeError", ctx.request().task + "() takes " + std::to_string(kArity) +
                                             " positional arguments but " + std::to_string(given) + " were given");
        }
        if (ctx.kwargs().is_object()) {
            for (const auto& [key, value] : ctx.kwargs().items()) {
                bool known = false;
                for (std::size_t i = given; i < names.size() && i < kArity; ++i) known = known || names[i] == key;
                if (!known) {
                    throw TaskError("TypeError",
                                    ctx.request().task + "() got an unexpected keyword argument '" + key + "'");
                }
            }
        }
        using Call =
            decltype(detail::CallTyped(f, ctx, names, static_cast<Args*>(nullptr), std::make_index_sequence<kArity>{}));
        if constexpr (std::is_void_v<Call>) {
            detail::CallTyped(f, ctx, names, static_cast<Args*>(nullptr), std::make_index_sequence<kArity>{});
            return nlohmann::json(nullptr);
        } else {
            return detail::ToJsonResult(
                detail::CallTyped(f, ctx, names, static_cast<Args*>(nullptr), std::make_index_sequence<kArity>{}));
        }
    };
}

}  // namespace gale::tasks
