// SPDX-License-Identifier: MIT
// Design. One thread owns one Channel: it declares the pidbox exchange and queue, consumes (no_ack), and answers
// each request for this node on the same channel (replies go out without confirms, as kombu's: a requester that has
// gone leaves nothing to retry). After any failure the channel is dropped and the thread reconnects with capped
// backoff. The Lamport clock follows kombu's: adjust to max(local, received) + 1 on receipt, +1 per reply.
#include <fnmatch.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <ctime>
#include <mutex>
#include <regex>
#include <thread>

#include <fmt/format.h>

#include <gale/amqp/channel.hpp>
#include <gale/log/log.hpp>
#include <gale/tasks/amqp_control.hpp>

#include "py_json.hpp"

namespace gale::tasks::amqp {
namespace {

constexpr std::string_view kLogger = "gale.tasks.amqp";

bool Matches(const std::string& nodename, const std::string& pattern, const std::string& matcher) {
    if (matcher == "glob") return ::fnmatch(pattern.c_str(), nodename.c_str(), 0) == 0;
    if (matcher == "pcre") {
        try {
            return std::regex_search(nodename, std::regex(pattern), std::regex_constants::match_continuous);
        } catch (const std::regex_error&) {
            return false;
        }
    }
    return false;
}

}  // namespace

std::string DefaultNodeName() {
    char host[256] = {};
    if (::gethostname(host, sizeof host - 1) != 0 || host[0] == '\0') return "celery@localhost";
    return std::string("celery@") + host;
}

struct ControlResponder::Impl {
    gale::amqp::ConnectionOptions connection;
    ControlOptions options;
    std::string exchange;
    std::string queue;

    std::atomic<bool> started{false};
    std::atomic<bool> connected{false};
    std::atomic<std::uint64_t> answered{0};
    std::uint64_t clock = 0;  // the thread's

    mutable std::mutex mu;
    std::condition_variable cv;
    bool stop = false;
    std::string last_error;
    std::thread thread;

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

    bool ForThisNode(const nlohmann::ordered_json& body) const {
        const auto destination = body.value("destination", nlohmann::ordered_json());
        if (destination.is_array() && !destination.empty()) {
            for (const auto& d : destination) {
                if (d.is_string() && d.get<std::string>() == options.nodename) return true;
            }
            return false;
        }
        const auto pattern = body.value("pattern", nlohmann::ordered_json());
        const auto matcher = body.value("matcher", nlohmann::ordered_json());
        if (pattern.is_string() && matcher.is_string() && !pattern.get<std::string>().empty()) {
            return Matches(options.nodename, pattern.get<std::string>(), matcher.get<std::string>());
        }
        return true;
    }

    Result<void> Handle(gale::amqp::Channel& channel, const gale::amqp::Delivery& d) {
        nlohmann::ordered_json body;
        try {
            body = nlohmann::ordered_json::parse(d.message.body);
        } catch (const std::exception&) {
            log::Warning(kLogger, "remote control: a request that is not JSON; ignored", {{"node", options.nodename}});
            return {};
        }
        if (!body.is_object()) return {};
        const gale::amqp::FieldTable& headers = d.message.headers();
        if (const auto* c = gale::amqp::Find(headers, "clock")) {
            if (const auto* n = c->get_if<std::int64_t>()) clock = std::max<std::uint64_t>(clock, *n) + 1;
        }
        if (const auto* e = gale::amqp::Find(headers, "expires")) {
            double expires = 0;
            if (const auto* f = e->get_if<double>()) expires = *f;
            if (const auto* n = e->get_if<std::int64_t>()) expires = static_cast<double>(*n);
            const double now =
                std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
            if (expires > 0 && now > expires) return {};  // kombu drops expired requests
        }
        if (!ForThisNode(body)) return {};
        const std::string method = body.value("method", "");
        const auto reply_to = body.value("reply_to", nlohmann::ordered_json());
        nlohmann::ordered_json answer = nlohmann::ordered_json::object();
        if (method == "ping") {
            answer["ok"] = "pong";
        } else {
            answer["error"] = fmt::format("gale does not implement the remote control command '{}'", method);
        }
        if (!reply_to.is_object() || !reply_to.value("exchange", nlohmann::ordered_json()).is_string() ||
            !reply_to.value("routing_key", nlohmann::ordered_json()).is_string()) {
            log::Info(kLogger, "remote control: a command without reply_to (a cast); not implemented, ignored",
                      {{"node", options.nodename}, {"method", method}});
            return {};
        }
        const std::string reply_exchange = reply_to["exchange"].get<std::string>();
        const std::string routing_key = reply_to["routing_key"].get<std::string>();
        nlohmann::ordered_json reply = nlohmann::ordered_json::object();
        reply[options.nodename] = std::move(answer);
        gale::amqp::Properties p;
        p.content_type = "application/json";
        p.content_encoding = "utf-8";
        p.delivery_mode = 1;
        p.priority = 0;
        p.headers = {{"ticket", body.value("ticket", "")}, {"clock", static_cast<std::int64_t>(++clock)}};
        // kombu's _publish_reply declares the reply exchange (direct, not durable) before publishing.
        GALE_RETURN_IF_ERROR(channel.DeclareExchange(
            {.name = reply_exchange, .type = gale::amqp::ExchangeType::kDirect, .durable = false}));
        GALE_RETURN_IF_ERROR(channel.Publish(reply_exchange, routing_key, tasks::detail::PythonJson(reply), p));
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
        for (;;) {
            {
                std::lock_guard lock(mu);
                if (stop) break;
            }
            if (!channel) {
                auto opened = Open();
                if (!opened) {
                    SetError(opened.error().ToString());
                    log::Warning(kLogger, "remote control: cannot consume the pidbox; retrying",
                                 {{"node", options.nodename}, {"error", opened.error().ToString()}});
                    std::unique_lock lock(mu);
                    cv.wait_for(lock, backoff, [&] { return stop; });
                    backoff = std::min(backoff * 2, std::chrono::milliseconds(10000));
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
    if (options.nodename.empty()) options.nodename = DefaultNodeName();
    if (options.nodename.find('@') == std::string::npos) {
        return MakeError(
            ErrorCode::kInvalidArgument,
            fmt::format("remote control: node name '{}' has no '@' (Celery's are name@host)", options.nodename));
    }
    if (options.app_namespace.empty()) {
        return MakeError(ErrorCode::kInvalidArgument, "remote control: the namespace is empty");
    }
    auto impl = std::make_unique<Impl>();
    impl->connection = std::move(connection);
    impl->exchange = options.app_namespace + ".pidbox";
    impl->queue = fmt::format("{}.{}.pidbox", options.nodename, options.app_namespace);
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
std::uint64_t ControlResponder::answered() const noexcept { return impl_->answered.load(); }
std::string ControlResponder::last_error() const {
    std::lock_guard lock(impl_->mu);
    return impl_->last_error;
}

}  // namespace gale::tasks::amqp
