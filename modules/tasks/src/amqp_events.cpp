// SPDX-License-Identifier: MIT
// Design. One thread owns one Channel: worker-online once connected, worker-heartbeat every interval (measured from
// the previous one, so a slow publish does not make them bunch up), worker-offline at Stop. The events themselves
// (body, routing key, clock) are the rules every broker shares (detail::EventSource, gale/tasks/worker_presence.hpp);
// here is only AMQP's side: the celeryev topic exchange and the message's properties.
#include <atomic>

#include <gale/amqp/channel.hpp>
#include <gale/log/log.hpp>
#include <gale/tasks/amqp_events.hpp>

namespace gale::tasks::amqp {
namespace {

constexpr std::string_view kLogger = "gale.tasks.amqp";

}  // namespace

struct EventSender::Impl {
    Impl(gale::amqp::ConnectionOptions c, EventOptions o)
        : connection(std::move(c)),
          options(std::move(o)),
          events(options.nodename, options.interval, options.active, options.processed) {}

    gale::amqp::ConnectionOptions connection;
    EventOptions options;
    tasks::detail::EventSource events;  // the thread's

    std::atomic<bool> connected{false};
    std::atomic<std::uint64_t> heartbeats{0};
    tasks::detail::PresenceThread thread;  // last: joined before the rest goes

    Result<void> Send(gale::amqp::Channel& channel, std::string_view type) {
        const auto event = events.Next(type);
        gale::amqp::Properties p;
        p.content_type = "application/json";
        p.content_encoding = "utf-8";
        p.delivery_mode = 1;
        p.priority = 0;
        p.headers = {{"hostname", options.nodename}};
        return channel.Publish(options.exchange, event.routing_key, event.body, p);
    }

    Result<std::unique_ptr<gale::amqp::Channel>> Open() {
        GALE_ASSIGN_OR_RETURN(auto channel, gale::amqp::Channel::Open(connection));
        GALE_RETURN_IF_ERROR(
            channel->DeclareExchange({.name = options.exchange, .type = gale::amqp::ExchangeType::kTopic}));
        GALE_RETURN_IF_ERROR(Send(*channel, "worker-online"));
        return channel;
    }

    void Run() {
        std::unique_ptr<gale::amqp::Channel> channel;
        std::chrono::milliseconds backoff{500};
        auto next_beat = std::chrono::steady_clock::now();
        while (!thread.WaitUntil(channel ? next_beat : std::chrono::steady_clock::now())) {
            if (!channel) {
                auto opened = Open();
                if (!opened) {
                    log::Warning(kLogger, "worker events: cannot reach the broker; retrying",
                                 {{"node", options.nodename}, {"error", opened.error().ToString()}});
                    thread.WaitFor(backoff);
                    backoff = tasks::detail::NextBackoff(backoff);
                    continue;
                }
                channel = std::move(*opened);
                connected.store(true);
                backoff = std::chrono::milliseconds(500);
                next_beat = std::chrono::steady_clock::now() + options.interval;
                continue;
            }
            (void)channel->Poll();  // answers heartbeats, finds a closed connection
            auto r = channel->broken() ? MakeError(ErrorCode::kUnavailable, "connection lost")
                                       : Send(*channel, "worker-heartbeat");
            if (!r) {
                connected.store(false);
                channel.reset();
                continue;
            }
            heartbeats.fetch_add(1);
            next_beat += options.interval;
            if (next_beat < std::chrono::steady_clock::now()) next_beat = std::chrono::steady_clock::now();
        }
        if (channel && !channel->broken()) (void)Send(*channel, "worker-offline");
        connected.store(false);
    }
};

EventSender::EventSender(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
EventSender::~EventSender() { Stop(); }

Result<std::unique_ptr<EventSender>> EventSender::Create(gale::amqp::ConnectionOptions connection,
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

}  // namespace gale::tasks::amqp
