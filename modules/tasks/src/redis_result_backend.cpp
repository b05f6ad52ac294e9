// SPDX-License-Identifier: MIT
// Celery's Redis result backend (celery/backends/redis.py): a result is the meta document under
// celery-task-meta-<id>, stored with SETEX result_expires and PUBLISHed on a channel of the same name in one
// MULTI/EXEC. Wait subscribes before it reads, so a result stored between the two is either read by the GET or
// received as a message; after a lost subscriber connection it reads again, since pub/sub dropped what was sent
// meanwhile.
#include <thread>

#include <fmt/format.h>

#include <gale/redis/connection.hpp>
#include <gale/redis/pool.hpp>
#include <gale/redis/subscriber.hpp>
#include <gale/tasks/redis.hpp>

#include "py_json.hpp"
#include "store_batcher.hpp"

namespace gale::tasks::redis {

namespace r = gale::redis;

namespace {

constexpr std::string_view kPrefix = "celery-task-meta-";

bool Ready(TaskState s) { return s == TaskState::kSuccess || s == TaskState::kFailure || s == TaskState::kRevoked; }

Result<TaskResult> Parse(const std::string& task_id, std::string_view text) {
    auto meta = nlohmann::ordered_json::parse(text, nullptr, false);
    if (meta.is_discarded()) {
        return MakeError(ErrorCode::kInvalidArgument,
                         fmt::format("redis result backend: {}{} is not JSON", kPrefix, task_id));
    }
    GALE_ASSIGN_OR_RETURN(auto result, TaskResult::FromMeta(meta));
    if (result.task_id.empty()) result.task_id = task_id;
    return result;
}

class RedisResultBackend final : public ResultBackend {
public:
    RedisResultBackend(r::ConnectionOptions connection, RedisResultBackendOptions options)
        : connection_(connection),
          options_(options),
          pool_(std::move(connection), {.size = options.pool_size}),
          batcher_(std::make_unique<tasks::detail::StoreBatcher>(
              [this](const std::vector<tasks::detail::StoreBatcher::Item>& batch) { return WriteBatch(batch); })) {}
    ~RedisResultBackend() override { batcher_.reset(); }  // writes what is queued while the pool is still there

    // gale::tasks::ResultBackend
    std::string_view name() const noexcept override { return "redis"; }

    Result<void> Store(const TaskRequest& request, const TaskResult& result) override {
        TaskResult copy = result;
        if (copy.task_id.empty()) copy.task_id = request.id;
        if (copy.task_id.empty()) return MakeError(ErrorCode::kInvalidArgument, "redis result backend: no task id");
        const std::string key = fmt::format("{}{}", kPrefix, copy.task_id);
        const std::string meta = tasks::detail::PythonJson(copy.ToMeta());
        GALE_ASSIGN_OR_RETURN(auto done,
                              pool_.Transaction({{"SETEX", key, std::to_string(options_.result_expires.count()), meta},
                                                 {"PUBLISH", key, meta}}));
        if (!done) return MakeError(ErrorCode::kInternal, "redis result backend: MULTI/EXEC aborted");
        for (const auto& reply : *done) {
            if (reply.is_error()) return tl::unexpected(r::ErrorFromReply("SETEX", reply.str));
        }
        return {};
    }

    void StoreAsync(const TaskRequest& request, const TaskResult& result, StoreDone done) override {
        TaskResult copy = result;
        if (copy.task_id.empty()) copy.task_id = request.id;
        if (copy.task_id.empty()) {
            done(MakeError(ErrorCode::kInvalidArgument, "redis result backend: no task id"));
            return;
        }
        std::string meta = tasks::detail::PythonJson(copy.ToMeta());
        batcher_->Add({std::move(copy.task_id), copy.state, std::move(meta), std::move(done)});
    }

    Result<TaskResult> Get(const std::string& task_id) override {
        GALE_ASSIGN_OR_RETURN(auto reply, pool_.Command({"GET", fmt::format("{}{}", kPrefix, task_id)}));
        if (reply.is_nil()) return TaskResult{.task_id = task_id};
        return Parse(task_id, reply.str);
    }

    Result<TaskResult> Wait(const std::string& task_id, std::chrono::milliseconds timeout) override {
        const auto deadline = std::chrono::steady_clock::now() + timeout;
        const std::string channel = fmt::format("{}{}", kPrefix, task_id);
        r::ConnectionOptions o = connection_;
        o.connect_timeout = std::min(o.connect_timeout, std::max(timeout, std::chrono::milliseconds(1)));
        GALE_ASSIGN_OR_RETURN(auto sub, r::Subscriber::Connect(o));
        GALE_RETURN_IF_ERROR(sub->Subscribe({channel}));
        bool read = true;          // GET now (after SUBSCRIBE), and again after the subscriber reconnected
        bool resubscribe = false;  // after a lost connection: subscribe again before the GET, or a result could
                                   // be published between the two and missed
        std::optional<Error> unavailable;
        for (;;) {
            if (resubscribe) {
                auto m = sub->Next(std::chrono::milliseconds(0));  // reconnects and subscribes again
                if (m) {
                    resubscribe = false;
                    if (*m && (*m)->channel == channel) {
                        GALE_ASSIGN_OR_RETURN(auto result, Parse(task_id, (*m)->payload));
                        if (Ready(result.state)) return result;
                    }
                } else if (m.error().code() == ErrorCode::kUnavailable) {
                    unavailable = m.error();
                } else {
                    return tl::unexpected(m.error());
                }
            }
            if (read && !resubscribe) {
                auto now = Get(task_id);
                if (now) {
                    if (Ready(now->state)) return now;
                    read = false;
                    unavailable.reset();
                } else if (now.error().code() == ErrorCode::kUnavailable) {
                    unavailable = now.error();
                } else {
                    return now;
                }
            }
            const auto left =
                std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
            if (left <= std::chrono::milliseconds(0)) {
                if (unavailable) return tl::unexpected(*unavailable);
                return MakeError(ErrorCode::kTimeout, fmt::format("redis result backend: no result for task {} "
                                                                  "within {} ms",
                                                                  task_id, timeout.count()));
            }
            if (read) {  // the server is away: try again shortly, within the deadline
                std::this_thread::sleep_for(std::min(left, std::chrono::milliseconds(50)));
                continue;
            }
            auto message = sub->Next(left);
            if (!message) {
                if (message.error().code() != ErrorCode::kUnavailable) return tl::unexpected(message.error());
                unavailable = message.error();
                read = true;
                resubscribe = true;
                continue;
            }
            if (!*message || (*message)->channel != channel) continue;
            GALE_ASSIGN_OR_RETURN(auto result, Parse(task_id, (*message)->payload));
            if (Ready(result.state)) return result;
        }
    }

private:
    /// One pipeline for the batch: MULTI SETEX PUBLISH EXEC per result, as Store sends them one by one.
    std::vector<Result<void>> WriteBatch(const std::vector<tasks::detail::StoreBatcher::Item>& batch) {
        std::vector<r::Args> commands;
        commands.reserve(batch.size() * 4);
        const std::string ttl = std::to_string(options_.result_expires.count());
        for (const auto& item : batch) {
            std::string key = fmt::format("{}{}", kPrefix, item.task_id);
            commands.push_back({"MULTI"});
            commands.push_back({"SETEX", key, ttl, item.meta});
            commands.push_back({"PUBLISH", std::move(key), item.meta});
            commands.push_back({"EXEC"});
        }
        auto replies = pool_.Pipeline(commands);
        if (!replies) return std::vector<Result<void>>(batch.size(), tl::unexpected(replies.error()));
        std::vector<Result<void>> out;
        out.reserve(batch.size());
        for (std::size_t i = 0; i < batch.size(); ++i) {
            if (replies->size() < 4 * (i + 1)) {
                out.push_back(MakeError(ErrorCode::kInternal, "redis result backend: a reply is missing"));
                continue;
            }
            const r::Reply* failed = nullptr;
            for (std::size_t k = 4 * i; k < 4 * i + 4; ++k) {
                if ((*replies)[k].is_error()) failed = &(*replies)[k];
            }
            const r::Reply& exec = (*replies)[4 * i + 3];
            if (failed == nullptr && exec.is_array()) {
                for (const auto& e : exec.elements) {
                    if (e.is_error()) failed = &e;
                }
            }
            if (failed != nullptr) {
                out.push_back(tl::unexpected(r::ErrorFromReply("SETEX", failed->str)));
            } else if (!exec.is_array()) {
                out.push_back(MakeError(ErrorCode::kInternal, "redis result backend: MULTI/EXEC aborted"));
            } else {
                out.push_back({});
            }
        }
        return out;
    }

    r::ConnectionOptions connection_;
    RedisResultBackendOptions options_;
    r::Pool pool_;
    std::unique_ptr<tasks::detail::StoreBatcher> batcher_;  // StoreAsync: pipelines; declared last, destroyed first
};

}  // namespace

Result<std::unique_ptr<ResultBackend>> MakeResultBackend(const std::string& url, RedisResultBackendOptions options,
                                                         std::string_view what) {
    GALE_ASSIGN_OR_RETURN(auto connection, r::ParseUrl(url, what));
    return MakeResultBackend(std::move(connection), options);
}

std::unique_ptr<ResultBackend> MakeResultBackend(gale::redis::ConnectionOptions connection,
                                                 RedisResultBackendOptions options) {
    return std::make_unique<RedisResultBackend>(std::move(connection), options);
}

}  // namespace gale::tasks::redis
