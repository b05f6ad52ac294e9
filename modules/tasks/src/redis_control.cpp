// SPDX-License-Identifier: MIT
// Design. One thread owns a Subscriber on the pidbox channel and a Connection for replies. Each message is kombu's
// envelope, untrusted (any client of the server can PUBLISH there): ReadEnvelope checks it, and a request that is
// not a JSON object is ignored. A request for this node is answered at once on the reply connection: SMEMBERS of
// the reply exchange's binding set, then one LPUSH per bound queue in one pipeline. After a failure the thread waits
// (capped backoff) and calls the Subscriber again, which reconnects and resubscribes by itself. Which requests are
// answered, how, and the Lamport clock are the rules every broker shares (detail::PidboxNode,
// gale/tasks/worker_presence.hpp); here is only Redis's side: the envelope, the channel, the reply's routing.
#include <atomic>
#include <mutex>

#include <gale/log/log.hpp>
#include <gale/redis/connection.hpp>
#include <gale/redis/subscriber.hpp>
#include <gale/tasks/redis_control.hpp>

#include "kombu_envelope.hpp"
#include "redis_fanout.hpp"

namespace gale::tasks::redis {
namespace {

constexpr std::string_view kLogger = "gale.tasks.redis";

}  // namespace

struct ControlResponder::Impl {
    Impl(gale::redis::ConnectionOptions c, ControlOptions o)
        : connection(std::move(c)),
          options(std::move(o)),
          // The pidbox exchange is a fanout one bound with an empty routing key: the channel has no "/<routing key>".
          channel(detail::FanoutChannel(connection.db, options.app_namespace + ".pidbox", "",
                                        {.prefix = options.fanout_prefix, .patterns = options.fanout_patterns})),
          node(options.nodename, std::string(kLogger)) {}

    gale::redis::ConnectionOptions connection;
    ControlOptions options;
    std::string channel;
    tasks::detail::PidboxNode node;  // the thread's

    std::atomic<bool> connected{false};
    std::atomic<std::uint64_t> answered{0};
    mutable std::mutex mu;
    std::string last_error;
    tasks::detail::PresenceThread thread;  // last: joined before the rest goes

    void SetError(std::string text) {
        std::lock_guard lock(mu);
        last_error = std::move(text);
    }

    // kombu's DirectExchange over the binding set: every queue bound to `exchange` with `routing_key`.
    Result<void> Reply(gale::redis::Connection& redis, const tasks::detail::ReplyTo& to, const std::string& payload) {
        GALE_ASSIGN_OR_RETURN(auto members, redis.Command({"SMEMBERS", "_kombu.binding." + to.exchange}));
        std::vector<gale::redis::Args> pushes;
        for (const auto& m : members.elements) {
            const std::string& member = m.str;
            const auto first = member.find(detail::kSep);
            if (first == std::string::npos || member.substr(0, first) != to.routing_key) continue;
            const auto second = member.find(detail::kSep, first + detail::kSep.size());
            if (second == std::string::npos) continue;
            const std::string queue = member.substr(second + detail::kSep.size());
            if (!queue.empty()) pushes.push_back({"LPUSH", queue, payload});  // priority 0: the queue's own list
        }
        if (pushes.empty()) {
            log::Debug(kLogger, "remote control: no queue bound for the reply; dropped, as kombu drops it",
                       {{"exchange", to.exchange}, {"routing_key", to.routing_key}});
            return {};
        }
        GALE_RETURN_IF_ERROR(redis.Pipeline(pushes));
        return {};
    }

    Result<void> Handle(gale::redis::Connection& redis, const std::string& bytes) {
        const detail::Envelope envelope = detail::ReadEnvelope(bytes);
        if (!envelope.valid) {
            log::Warning(kLogger, "remote control: a message that is not kombu's envelope; ignored",
                         {{"node", options.nodename}, {"problem", envelope.problem}});
            return {};
        }
        tasks::detail::ControlRequest request{.body = envelope.message.body};
        if (const auto& headers = envelope.message.headers; headers.is_object()) {
            if (auto c = headers.find("clock"); c != headers.end() && c->is_number_integer()) {
                request.clock = c->get<std::int64_t>();
            }
            if (auto e = headers.find("expires"); e != headers.end() && e->is_number()) {
                request.expires = e->get<double>();
            }
        }
        const auto reply = node.Handle(request, std::chrono::system_clock::now());
        if (!reply) return {};
        nlohmann::ordered_json reply_headers = nlohmann::ordered_json::object();
        reply_headers["ticket"] = reply->ticket;
        reply_headers["clock"] = reply->clock;
        GALE_RETURN_IF_ERROR(Reply(redis, reply->to,
                                   detail::PresenceEnvelope(reply->body, reply_headers, reply->to.exchange,
                                                            reply->to.routing_key, /*delivery_mode=*/1)));
        answered.fetch_add(1);
        return {};
    }

    void Run() {
        std::unique_ptr<gale::redis::Subscriber> subscriber;
        auto redis = gale::redis::Connection::Lazy(connection);
        auto backoff = options.reconnect_backoff;
        while (!thread.stopping()) {
            Result<void> r;
            if (!subscriber) {
                auto s = gale::redis::Subscriber::Connect(connection);
                if (s) {
                    r = (*s)->Subscribe({channel});
                    if (r) subscriber = std::move(*s);
                } else {
                    r = tl::unexpected(s.error());
                }
                if (r) {
                    connected.store(true);
                    SetError("");
                    backoff = options.reconnect_backoff;
                    log::Info(kLogger, "remote control: answering on the pidbox",
                              {{"node", options.nodename}, {"channel", channel}});
                }
            } else {
                auto next = subscriber->Next(std::chrono::milliseconds(100));
                if (!next) {
                    r = tl::unexpected(next.error());
                } else {
                    if (!connected.exchange(true)) {
                        SetError("");
                        backoff = options.reconnect_backoff;
                        log::Info(kLogger, "remote control: answering on the pidbox again",
                                  {{"node", options.nodename}, {"channel", channel}});
                    }
                    if (*next) r = Handle(*redis, (*next)->payload);
                }
            }
            if (!r) {
                const bool was = connected.exchange(false);
                SetError(r.error().ToString());
                if (was || !subscriber) {
                    log::Warning(kLogger, "remote control: no pidbox subscription; retrying",
                                 {{"node", options.nodename}, {"error", r.error().ToString()}});
                }
                thread.WaitFor(backoff);
                backoff = tasks::detail::NextBackoff(backoff);
            }
        }
        connected.store(false);
    }
};

ControlResponder::ControlResponder(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
ControlResponder::~ControlResponder() { Stop(); }

Result<std::unique_ptr<ControlResponder>> ControlResponder::Create(gale::redis::ConnectionOptions connection,
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
const std::string& ControlResponder::channel() const noexcept { return impl_->channel; }
std::uint64_t ControlResponder::answered() const noexcept { return impl_->answered.load(); }
std::string ControlResponder::last_error() const {
    std::lock_guard lock(impl_->mu);
    return impl_->last_error;
}

}  // namespace gale::tasks::redis
