// SPDX-License-Identifier: MIT
// Design. Two connections: results go out on a Channel behind a mutex (Store, from the worker's threads) — in
// confirm mode only for persistent results: a transient result (Celery's default, delivery_mode 1) is lost with the
// broker anyway, so waiting a round trip for its confirm would only halve the worker's throughput (Celery's producer
// does not wait either); a connection found closed before the publish (Poll) is replaced; they come in on the reply
// queue, which a receiver thread of its own declares, consumes (no_ack, as Celery's ResultConsumer) and drains into
// `results` (the latest state per task id), waking Wait. The thread starts with the first Prepare, Get or Wait: a
// worker that only stores results never opens the reply queue.
//
// The receiver owns its Channel (Channel is single-threaded); everything it shares with callers is under `mu`.
// Invariant: `ready` is true exactly while the reply queue is declared and consumed on a live connection, so a
// Prepare that returns success has a queue the result can be routed to.
#include <condition_variable>
#include <deque>
#include <mutex>
#include <thread>
#include <unordered_map>

#include <fmt/format.h>

#include <gale/amqp/channel.hpp>
#include <gale/tasks/amqp.hpp>

#include "py_json.hpp"

namespace gale::tasks::amqp {
namespace {

using gale::amqp::Channel;
using gale::amqp::ConnectionOptions;

bool IsReady(TaskState s) { return s == TaskState::kSuccess || s == TaskState::kFailure || s == TaskState::kRevoked; }

class RpcBackend final : public ResultBackend {
public:
    RpcBackend(ConnectionOptions connection, RpcBackendOptions options)
        : connection_(std::move(connection)), options_(std::move(options)) {
        if (options_.reply_queue.empty()) options_.reply_queue = NewTaskId();
    }

    ~RpcBackend() override {
        {
            std::lock_guard lock(mu_);
            stop_ = true;
        }
        cv_.notify_all();
        if (receiver_.joinable()) receiver_.join();
    }

    // gale::tasks::ResultBackend
    std::string_view name() const noexcept override { return "rpc"; }

    Result<void> Prepare(TaskRequest& request) override {
        GALE_RETURN_IF_ERROR(StartReceiver(/*wait=*/true));
        request.reply_to = options_.reply_queue;
        return {};
    }

    Result<void> Store(const TaskRequest& request, const TaskResult& result) override {
        if (request.reply_to.empty()) return {};  // nobody asked for it (Celery: the same)
        nlohmann::ordered_json body = nlohmann::ordered_json::object();
        body["task_id"] = request.id;
        body["status"] = ToString(result.state);
        body["result"] = result.result;
        body["traceback"] = nullptr;
        if (!result.traceback.empty()) body["traceback"] = result.traceback;
        body["children"] = result.children;
        gale::amqp::Properties p;
        p.content_type = "application/json";
        p.content_encoding = "utf-8";
        p.correlation_id = request.id;
        p.delivery_mode = static_cast<std::uint8_t>(options_.persistent ? 2 : 1);
        p.priority = 0;
        const std::string bytes = tasks::detail::PythonJson(body);
        std::lock_guard lock(publish_mu_);
        if (publisher_) {
            (void)publisher_->Poll();
            if (publisher_->broken()) publisher_.reset();
        }
        if (!publisher_) {
            GALE_ASSIGN_OR_RETURN(publisher_, Channel::Open(connection_, {.confirms = options_.persistent}));
        }
        return publisher_->Publish("", request.reply_to, bytes, p, /*mandatory=*/false);
    }

    Result<TaskResult> Get(const std::string& task_id) override {
        GALE_RETURN_IF_ERROR(StartReceiver(/*wait=*/false));
        std::lock_guard lock(mu_);
        if (auto it = results_.find(task_id); it != results_.end()) return it->second;
        TaskResult pending;
        pending.task_id = task_id;
        return pending;
    }

    Result<TaskResult> Wait(const std::string& task_id, std::chrono::milliseconds timeout) override {
        const auto deadline = std::chrono::steady_clock::now() + timeout;
        GALE_RETURN_IF_ERROR(StartReceiver(/*wait=*/false));
        std::unique_lock lock(mu_);
        const bool done = cv_.wait_until(lock, deadline, [&] {
            auto it = results_.find(task_id);
            return stop_ || (it != results_.end() && IsReady(it->second.state));
        });
        if (done && !stop_) return results_.at(task_id);
        return MakeError(
            ErrorCode::kTimeout,
            fmt::format("no result for task {} on reply queue '{}' within {} ms{}", task_id, options_.reply_queue,
                        timeout.count(), last_error_.empty() ? "" : " (last error: " + last_error_ + ")"));
    }

private:
    /// Starts the receiver once; with `wait`, until the reply queue is consumed, for at most the connection's
    /// connect_timeout (a send during a reconnect waits for it rather than failing at once).
    Result<void> StartReceiver(bool wait) {
        std::unique_lock lock(mu_);
        if (!receiver_.joinable()) receiver_ = std::thread([this] { Receive(); });
        if (!wait) return {};
        const auto deadline = std::chrono::steady_clock::now() + connection_.connect_timeout;
        cv_.wait_until(lock, deadline, [&] { return ready_ || stop_; });
        if (ready_) return {};
        return MakeError(ErrorCode::kUnavailable,
                         fmt::format("the RPC result backend cannot consume its reply queue '{}': {}",
                                     options_.reply_queue, last_error_.empty() ? "not connected yet" : last_error_));
    }

    Result<std::unique_ptr<Channel>> OpenReplyQueue() {
        GALE_ASSIGN_OR_RETURN(auto channel, Channel::Open(connection_));
        gale::amqp::QueueSpec q;
        q.name = options_.reply_queue;
        q.durable = false;  // Celery 5.2.6's binding: durable=False, auto_delete=True, expires=result_expires
        q.auto_delete = true;
        q.arguments = {{"x-expires", static_cast<std::int64_t>(options_.result_expires.count())}};
        GALE_RETURN_IF_ERROR(channel->DeclareQueue(q));
        GALE_RETURN_IF_ERROR(channel->Consume(q.name, {.no_ack = true}));
        return channel;
    }

    void Keep(const gale::amqp::Delivery& d) {
        nlohmann::ordered_json meta;
        try {
            meta = nlohmann::ordered_json::parse(d.message.body);
        } catch (const std::exception&) {
            return;  // not a result (not JSON): nothing waits for it
        }
        auto result = TaskResult::FromMeta(meta);
        if (!result) return;
        if (!d.message.properties.correlation_id.empty()) result->task_id = d.message.properties.correlation_id;
        if (result->task_id.empty()) return;
        std::lock_guard lock(mu_);
        auto [it, inserted] = results_.insert_or_assign(result->task_id, std::move(*result));
        if (inserted) {
            order_.push_back(it->first);
            while (order_.size() > options_.max_kept) {
                results_.erase(order_.front());
                order_.pop_front();
            }
        }
        cv_.notify_all();
    }

    void Receive() {
        std::unique_ptr<Channel> channel;
        std::chrono::milliseconds backoff{200};
        for (;;) {
            {
                std::lock_guard lock(mu_);
                if (stop_) return;
            }
            if (!channel) {
                auto opened = OpenReplyQueue();
                std::unique_lock lock(mu_);
                if (opened) {
                    channel = std::move(*opened);
                    ready_ = true;
                    last_error_.clear();
                    backoff = std::chrono::milliseconds(200);
                    cv_.notify_all();
                } else {
                    last_error_ = opened.error().ToString();
                    cv_.notify_all();
                    cv_.wait_for(lock, backoff, [&] { return stop_; });
                    backoff = std::min(backoff * 2, std::chrono::milliseconds(5000));
                    continue;
                }
            }
            auto next = channel->Next(std::chrono::milliseconds(100));
            if (!next) {
                channel.reset();
                std::lock_guard lock(mu_);
                ready_ = false;
                last_error_ = next.error().ToString();
                continue;
            }
            if (*next) Keep(**next);
        }
    }

    const ConnectionOptions connection_;
    RpcBackendOptions options_;

    std::mutex publish_mu_;
    std::unique_ptr<Channel> publisher_;

    std::mutex mu_;
    std::condition_variable cv_;
    bool stop_ = false;
    bool ready_ = false;
    std::string last_error_;
    std::unordered_map<std::string, TaskResult> results_;
    std::deque<std::string> order_;
    std::thread receiver_;
};

}  // namespace

Result<std::unique_ptr<ResultBackend>> MakeRpcBackend(ConnectionOptions connection, RpcBackendOptions options) {
    if (options.max_kept == 0) return MakeError(ErrorCode::kInvalidArgument, "rpc:// backend: max_kept must be >= 1");
    if (options.result_expires < std::chrono::seconds(1)) {
        return MakeError(ErrorCode::kInvalidArgument, "rpc:// backend: result_expires must be at least 1 s");
    }
    return std::unique_ptr<ResultBackend>(new RpcBackend(std::move(connection), std::move(options)));
}

Result<std::unique_ptr<ResultBackend>> MakeRpcBackend(const Broker& broker, RpcBackendOptions options) {
    const ConnectionOptions* connection = ConnectionOf(broker);
    if (connection == nullptr) {
        return MakeError(ErrorCode::kInvalidArgument,
                         fmt::format("the rpc:// result backend needs an AMQP broker (amqp://), not {} ({})",
                                     broker.name(), broker.Describe()));
    }
    return MakeRpcBackend(*connection, std::move(options));
}

}  // namespace gale::tasks::amqp
