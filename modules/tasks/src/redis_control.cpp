// SPDX-License-Identifier: MIT
// Design. One thread owns a Subscriber on the pidbox channel and a Connection for replies. Each message is kombu's
// envelope, untrusted (any client of the server can PUBLISH there): ReadEnvelope checks it, and a request that is
// not a JSON object is ignored. A request for this node is answered at once on the reply connection: SMEMBERS of
// the reply exchange's binding set, then one LPUSH per bound queue in one pipeline. After a failure the thread waits
// (capped backoff) and calls the Subscriber again, which reconnects and resubscribes by itself.
#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <mutex>
#include <thread>

#include <fmt/format.h>

#include <gale/log/log.hpp>
#include <gale/redis/connection.hpp>
#include <gale/redis/subscriber.hpp>
#include <gale/tasks/redis_control.hpp>

#include "kombu_envelope.hpp"
#include "py_json.hpp"
#include "redis_fanout.hpp"
#include "worker_presence.hpp"

namespace gale::tasks::redis {
namespace {

constexpr std::string_view kLogger = "gale.tasks.redis";

}  // namespace

struct ControlResponder::Impl {
    gale::redis::ConnectionOptions connection;
    ControlOptions options;
    std::string channel;

    std::atomic<bool> started{false};
    std::atomic<bool> connected{false};
    std::atomic<std::uint64_t> answered{0};
    std::uint64_t clock = 0;  // the thread's

    mutable std::mutex mu;
    std::condition_variable cv;
    bool stop = false;
    std::string last_error;
    std::thread thread;

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
        tasks::detail::ControlRequest request;
        request.body = nlohmann::ordered_json::parse(envelope.message.body, nullptr, /*allow_exceptions=*/false);
        if (!request.body.is_object()) {
            log::Warning(kLogger, "remote control: a request that is not a JSON object; ignored",
                         {{"node", options.nodename}});
            return {};
        }
        const auto& headers = envelope.message.headers;
        if (headers.is_object()) {
            if (auto c = headers.find("clock"); c != headers.end() && c->is_number_integer()) {
                request.clock = c->get<std::int64_t>();
            }
            if (auto e = headers.find("expires"); e != headers.end() && e->is_number()) {
                request.expires = e->get<double>();
            }
        }
        if (request.clock && *request.clock > 0) {
            clock = std::max<std::uint64_t>(clock, static_cast<std::uint64_t>(*request.clock)) + 1;
        }
        if (tasks::detail::IsExpired(request, std::chrono::system_clock::now())) return {};
        if (!tasks::detail::IsForNode(request.body, options.nodename)) return {};
        const std::string method = request.body.value("method", "");
        const auto to = tasks::detail::ReplyAddress(request.body);
        if (!to) {
            log::Info(kLogger, "remote control: a command without reply_to (a cast); not implemented, ignored",
                      {{"node", options.nodename}, {"method", method}});
            return {};
        }
        nlohmann::ordered_json reply = nlohmann::ordered_json::object();
        reply[options.nodename] = tasks::detail::ControlAnswer(method);
        nlohmann::ordered_json reply_headers = nlohmann::ordered_json::object();
        reply_headers["ticket"] = request.body.value("ticket", "");
        reply_headers["clock"] = ++clock;
        GALE_RETURN_IF_ERROR(Reply(redis, *to,
                                   detail::PresenceEnvelope(tasks::detail::PythonJson(reply), reply_headers,
                                                            to->exchange, to->routing_key, /*delivery_mode=*/1)));
        answered.fetch_add(1);
        return {};
    }

    void Run() {
        std::unique_ptr<gale::redis::Subscriber> subscriber;
        auto redis = gale::redis::Connection::Lazy(connection);
        auto backoff = options.reconnect_backoff;
        for (;;) {
            {
                std::lock_guard lock(mu);
                if (stop) break;
            }
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
                std::unique_lock lock(mu);
                cv.wait_for(lock, backoff, [&] { return stop; });
                backoff = std::min(backoff * 2, std::chrono::milliseconds(10000));
            }
        }
        connected.store(false);
    }
};

ControlResponder::ControlResponder(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
ControlResponder::~ControlResponder() { Stop(); }

Result<std::unique_ptr<ControlResponder>> ControlResponder::Create(gale::redis::ConnectionOptions connection,
                                                                   ControlOptions options) {
    if (options.nodename.empty()) options.nodename = tasks::detail::CeleryNodeName();
    if (options.nodename.find('@') == std::string::npos) {
        return MakeError(
            ErrorCode::kInvalidArgument,
            fmt::format("remote control: node name '{}' has no '@' (Celery's are name@host)", options.nodename));
    }
    if (options.app_namespace.empty()) {
        return MakeError(ErrorCode::kInvalidArgument, "remote control: the namespace is empty");
    }
    auto impl = std::make_unique<Impl>();
    // The pidbox exchange is a fanout one bound with an empty routing key: the channel has no "/<routing key>".
    impl->channel = detail::FanoutChannel(connection.db, options.app_namespace + ".pidbox", "",
                                          {.prefix = options.fanout_prefix, .patterns = options.fanout_patterns});
    impl->connection = std::move(connection);
    impl->options = std::move(options);
    return std::unique_ptr<ControlResponder>(new ControlResponder(std::move(impl)));
}

void ControlResponder::Start() {
    if (impl_->started.exchange(true)) return;
    impl_->thread = std::thread([this] { impl_->Run(); });
}

void ControlResponder::Stop() {
    {
        std::lock_guard lock(impl_->mu);
        impl_->stop = true;
    }
    impl_->cv.notify_all();
    if (impl_->thread.joinable()) impl_->thread.join();
}

bool ControlResponder::connected() const noexcept { return impl_->connected.load(); }
const std::string& ControlResponder::nodename() const noexcept { return impl_->options.nodename; }
const std::string& ControlResponder::channel() const noexcept { return impl_->channel; }
std::uint64_t ControlResponder::answered() const noexcept { return impl_->answered.load(); }
std::string ControlResponder::last_error() const {
    std::lock_guard lock(impl_->mu);
    return impl_->last_error;
}

}  // namespace gale::tasks::redis
