// SPDX-License-Identifier: MIT
// Design. One thread owns one Channel: it declares the pidbox exchange and queue, consumes (no_ack), and answers
// each request for this node on the same channel (replies go out without confirms, as kombu's: a requester that has
// gone leaves nothing to retry). After any failure the channel is dropped and the thread reconnects with capped
// backoff. Which requests are answered, how, and the Lamport clock are the rules every broker shares
// (detail::PidboxNode, gale/tasks/worker_presence.hpp); here is only AMQP's side: the declarations, the headers'
// field types, the reply's properties.
#include <atomic>
#include <mutex>

#include <fmt/format.h>

#include <gale/amqp/channel.hpp>
#include <gale/log/log.hpp>
#include <gale/tasks/amqp_control.hpp>

namespace gale::tasks::amqp {
namespace {

constexpr std::string_view kLogger = "gale.tasks.amqp";

}  // namespace

struct ControlResponder::Impl {
    Impl(gale::amqp::ConnectionOptions c, ControlOptions o)
        : connection(std::move(c)),
          options(std::move(o)),
          exchange(options.app_namespace + ".pidbox"),
          queue(fmt::format("{}.{}.pidbox", options.nodename, options.app_namespace)),
          node(options.nodename, std::string(kLogger)) {}

    gale::amqp::ConnectionOptions connection;
    ControlOptions options;
    std::string exchange;
    std::string queue;
    tasks::detail::PidboxNode node;  // the thread's

    std::atomic<bool> connected{false};
    std::atomic<std::uint64_t> answered{0};
    mutable std::mutex mu;
    std::string last_error;
    tasks::detail::PresenceThread thread;  // last: joined before the rest goes

    Result<std::unique_ptr<gale::amqp::Channel>> Open() {
        GALE_ASSIGN_OR_RETURN(auto channel, gale::amqp::Channel::Open(connection));
        gale::amqp::QueueSpec q;
        q.name = queue;
        q.exchange = {.name = exchange, .type = gale::amqp::ExchangeType::kFanout, .durable = false};
        q.durable = false;
        q.auto_delete = true;
        q.arguments = {{"x-expires", static_cast<std::int64_t>(options.queue_expires.count())},
                       {"x-message-ttl", static_cast<std::int64_t>(options.queue_ttl.count())}};
        GALE_RETURN_IF_ERROR(channel->DeclareQueue(q));
        GALE_RETURN_IF_ERROR(channel->Consume(queue, {.no_ack = true}));
        return channel;
    }

    Result<void> Handle(gale::amqp::Channel& channel, const gale::amqp::Delivery& d) {
        tasks::detail::ControlRequest request{.body = d.message.body};
        const gale::amqp::FieldTable& headers = d.message.headers();
        if (const auto* c = gale::amqp::Find(headers, "clock")) {
            if (const auto* n = c->get_if<std::int64_t>()) request.clock = *n;
        }
        if (const auto* e = gale::amqp::Find(headers, "expires")) {
            if (const auto* f = e->get_if<double>()) request.expires = *f;
            if (const auto* n = e->get_if<std::int64_t>()) request.expires = static_cast<double>(*n);
        }
        const auto reply = node.Handle(request, std::chrono::system_clock::now());
        if (!reply) return {};
        gale::amqp::Properties p;
        p.content_type = "application/json";
        p.content_encoding = "utf-8";
        p.delivery_mode = 1;
        p.priority = 0;
        p.headers = {{"ticket", reply->ticket}, {"clock", static_cast<std::int64_t>(reply->clock)}};
        // kombu's _publish_reply declares the reply exchange (direct, not durable) before publishing.
        GALE_RETURN_IF_ERROR(channel.DeclareExchange(
            {.name = reply->to.exchange, .type = gale::amqp::ExchangeType::kDirect, .durable = false}));
        GALE_RETURN_IF_ERROR(channel.Publish(reply->to.exchange, reply->to.routing_key, reply->body, p));
        answered.fetch_add(1);
        return {};
    }

    void SetError(std::string text) {
        std::lock_guard lock(mu);
        last_error = std::move(text);
    }

    void Run() {
        std::unique_ptr<gale::amqp::Channel> channel;
        auto backoff = options.reconnect_backoff;
        while (!thread.stopping()) {
            if (!channel) {
                auto opened = Open();
                if (!opened) {
                    SetError(opened.error().ToString());
                    log::Warning(kLogger, "remote control: cannot consume the pidbox; retrying",
                                 {{"node", options.nodename}, {"error", opened.error().ToString()}});
                    thread.WaitFor(backoff);
                    backoff = tasks::detail::NextBackoff(backoff);
                    continue;
                }
                channel = std::move(*opened);
                backoff = options.reconnect_backoff;
                SetError("");
                connected.store(true);
                log::Info(kLogger, "remote control: answering on the pidbox",
                          {{"node", options.nodename}, {"queue", queue}});
            }
            auto next = channel->Next(std::chrono::milliseconds(100));
            Result<void> r;
            if (!next) {
                r = tl::unexpected(next.error());
            } else if (*next) {
                r = Handle(*channel, **next);
            }
            if (!r) {
                connected.store(false);
                SetError(r.error().ToString());
                log::Warning(kLogger, "remote control: lost the pidbox; reconnecting",
                             {{"node", options.nodename}, {"error", r.error().ToString()}});
                channel.reset();
            }
        }
        connected.store(false);
    }
};

ControlResponder::ControlResponder(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
ControlResponder::~ControlResponder() { Stop(); }

Result<std::unique_ptr<ControlResponder>> ControlResponder::Create(gale::amqp::ConnectionOptions connection,
                                                                   ControlOptions options) {
    GALE_RETURN_IF_ERROR(tasks::detail::CheckControlOptions(options.nodename, options.app_namespace));
    return std::unique_ptr<ControlResponder>(
        new ControlResponder(std::make_unique<Impl>(std::move(connection), std::move(options))));
}

void ControlResponder::Start() {
    impl_->thread.Start([impl = impl_.get()] { impl->Run(); });
}

void ControlResponder::Stop() { impl_->thread.Stop(); }

bool ControlResponder::connected() const noexcept { return impl_->connected.load(); }
const std::string& ControlResponder::nodename() const noexcept { return impl_->options.nodename; }
std::uint64_t ControlResponder::answered() const noexcept { return impl_->answered.load(); }
std::string ControlResponder::last_error() const {
    std::lock_guard lock(impl_->mu);
    return impl_->last_error;
}

}  // namespace gale::tasks::amqp
