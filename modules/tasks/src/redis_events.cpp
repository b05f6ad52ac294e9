// SPDX-License-Identifier: MIT
// Design. One thread owns one Connection and PUBLISHes: worker-online first (and again after any failed publish),
// worker-heartbeat every interval (measured from the previous one, so a slow publish does not bunch them up),
// worker-offline at Stop. A PUBLISH is never retried: a lost heartbeat is replaced by the next one, which is what
// monitors expect (a worker is alive while beats come within 2 × freq). The events themselves (body, routing key,
// clock) are the rules every broker shares (detail::EventSource, gale/tasks/worker_presence.hpp); here is only
// Redis's side: kombu's fanout channel and envelope.
#include <atomic>

#include <gale/log/log.hpp>
#include <gale/redis/connection.hpp>
#include <gale/tasks/redis_events.hpp>

#include "redis_fanout.hpp"

namespace gale::tasks::redis {
namespace {

constexpr std::string_view kLogger = "gale.tasks.redis";

}  // namespace

struct EventSender::Impl {
    Impl(gale::redis::ConnectionOptions c, EventOptions o)
        : connection(std::move(c)),
          options(std::move(o)),
          fanout{.prefix = options.fanout_prefix, .patterns = options.fanout_patterns},
          heartbeat_channel(detail::FanoutChannel(connection.db, options.exchange,
                                                  tasks::detail::EventRoutingKey("worker-heartbeat"), fanout)),
          events(options.nodename, options.interval, options.active, options.processed) {}

    gale::redis::ConnectionOptions connection;
    EventOptions options;
    detail::FanoutOptions fanout;
    std::string heartbeat_channel;
    tasks::detail::EventSource events;  // the thread's

    std::atomic<bool> connected{false};
    std::atomic<std::uint64_t> heartbeats{0};
    tasks::detail::PresenceThread thread;  // last: joined before the rest goes

    Result<void> Send(gale::redis::Connection& redis, std::string_view type) {
        const auto event = events.Next(type);
        const std::string payload = detail::PresenceEnvelope(event.body, {{"hostname", options.nodename}},
                                                             options.exchange, event.routing_key, /*delivery_mode=*/1);
        GALE_ASSIGN_OR_RETURN(
            auto reply,
            redis.Command({"PUBLISH", detail::FanoutChannel(connection.db, options.exchange, event.routing_key, fanout),
                           payload}));
        (void)reply;  // the number of listeners: none is fine
        return {};
    }

    void Run() {
        auto redis = gale::redis::Connection::Lazy(connection);
        bool online = false;
        bool warned = false;
        auto next = std::chrono::steady_clock::now();
        while (!thread.WaitUntil(next)) {
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
    GALE_RETURN_IF_ERROR(tasks::detail::CheckEventOptions(options.nodename, options.interval, options.exchange));
    return std::unique_ptr<EventSender>(
        new EventSender(std::make_unique<Impl>(std::move(connection), std::move(options))));
}

void EventSender::Start() {
    impl_->thread.Start([impl = impl_.get()] { impl->Run(); });
}

void EventSender::Stop() { impl_->thread.Stop(); }

std::uint64_t EventSender::heartbeats() const noexcept { return impl_->heartbeats.load(); }
bool EventSender::connected() const noexcept { return impl_->connected.load(); }
const std::string& EventSender::nodename() const noexcept { return impl_->options.nodename; }
const std::string& EventSender::heartbeat_channel() const noexcept { return impl_->heartbeat_channel; }

}  // namespace gale::tasks::redis
