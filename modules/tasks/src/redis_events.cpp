// SPDX-License-Identifier: MIT
// Design. One thread owns one Connection and PUBLISHes: worker-online first (and again after any failed publish),
// worker-heartbeat every interval (measured from the previous one, so a slow publish does not bunch them up),
// worker-offline at Stop. A PUBLISH is never retried: a lost heartbeat is replaced by the next one, which is what
// monitors expect (a worker is alive while beats come within 2 × freq). The Lamport clock is this sender's own
// (Celery's worker shares one with its pidbox; monitors order events per node only).
#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <mutex>
#include <thread>

#include <fmt/format.h>

#include <gale/log/log.hpp>
#include <gale/redis/connection.hpp>
#include <gale/tasks/redis_events.hpp>

#include "py_json.hpp"
#include "redis_fanout.hpp"
#include "worker_presence.hpp"

namespace gale::tasks::redis {
namespace {

constexpr std::string_view kLogger = "gale.tasks.redis";

std::string RoutingKey(std::string_view type) {
    std::string key(type);
    std::replace(key.begin(), key.end(), '-', '.');
    return key;
}

}  // namespace

struct EventSender::Impl {
    gale::redis::ConnectionOptions connection;
    EventOptions options;
    detail::FanoutOptions fanout;
    std::string heartbeat_channel;

    std::atomic<bool> started{false};
    std::atomic<bool> connected{false};
    std::atomic<std::uint64_t> heartbeats{0};
    std::uint64_t clock = 0;  // the thread's

    std::mutex mu;
    std::condition_variable cv;
    bool stop = false;
    std::thread thread;

    Result<void> Send(gale::redis::Connection& redis, std::string_view type) {
        const std::string routing_key = RoutingKey(type);
        const auto event = tasks::detail::WorkerEvent(type, {.nodename = options.nodename,
                                                             .clock = ++clock,
                                                             .freq = options.interval,
                                                             .active = options.active ? options.active() : 0,
                                                             .processed = options.processed ? options.processed() : 0});
        const std::string payload =
            detail::PresenceEnvelope(tasks::detail::PythonJson(event), {{"hostname", options.nodename}},
                                     options.exchange, routing_key, /*delivery_mode=*/1);
        GALE_ASSIGN_OR_RETURN(
            auto reply,
            redis.Command(
                {"PUBLISH", detail::FanoutChannel(connection.db, options.exchange, routing_key, fanout), payload}));
        (void)reply;  // the number of listeners: none is fine
        return {};
    }

    void Run() {
        auto redis = gale::redis::Connection::Lazy(connection);
        bool online = false;
        bool warned = false;
        auto next = std::chrono::steady_clock::now();
        for (;;) {
            {
                std::unique_lock lock(mu);
                cv.wait_until(lock, next, [&] { return stop; });
                if (stop) break;
            }
            const char* type = online ? "worker-heartbeat" : "worker-online";
            if (auto r = Send(*redis, type); !r) {
                if (!warned) {
                    log::Warning(kLogger, "worker events: cannot publish; retrying every interval",
                                 {{"node", options.nodename}, {"error", r.error().ToString()}});
                    warned = true;
                }
                online = false;
                connected.store(false);
            } else {
                if (online) heartbeats.fetch_add(1);
                online = true;
                warned = false;
                connected.store(true);
            }
            next += options.interval;
            if (next < std::chrono::steady_clock::now()) next = std::chrono::steady_clock::now() + options.interval;
        }
        if (online) (void)Send(*redis, "worker-offline");
        connected.store(false);
    }
};

EventSender::EventSender(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
EventSender::~EventSender() { Stop(); }

Result<std::unique_ptr<EventSender>> EventSender::Create(gale::redis::ConnectionOptions connection,
                                                         EventOptions options) {
    if (options.nodename.empty()) options.nodename = tasks::detail::CeleryNodeName();
    if (options.interval < std::chrono::milliseconds(100)) {
        return MakeError(ErrorCode::kInvalidArgument,
                         fmt::format("worker events: interval {} ms is under 100 ms", options.interval.count()));
    }
    if (options.exchange.empty()) return MakeError(ErrorCode::kInvalidArgument, "worker events: empty exchange");
    auto impl = std::make_unique<Impl>();
    impl->fanout = {.prefix = options.fanout_prefix, .patterns = options.fanout_patterns};
    impl->heartbeat_channel = detail::FanoutChannel(connection.db, options.exchange, "worker.heartbeat", impl->fanout);
    impl->connection = std::move(connection);
    impl->options = std::move(options);
    return std::unique_ptr<EventSender>(new EventSender(std::move(impl)));
}

void EventSender::Start() {
    if (impl_->started.exchange(true)) return;
    impl_->thread = std::thread([this] { impl_->Run(); });
}

void EventSender::Stop() {
    {
        std::lock_guard lock(impl_->mu);
        impl_->stop = true;
    }
    impl_->cv.notify_all();
    if (impl_->thread.joinable()) impl_->thread.join();
}

std::uint64_t EventSender::heartbeats() const noexcept { return impl_->heartbeats.load(); }
bool EventSender::connected() const noexcept { return impl_->connected.load(); }
const std::string& EventSender::nodename() const noexcept { return impl_->options.nodename; }
const std::string& EventSender::heartbeat_channel() const noexcept { return impl_->heartbeat_channel; }

}  // namespace gale::tasks::redis
