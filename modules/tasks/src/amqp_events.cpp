// SPDX-License-Identifier: MIT
// Design. One thread owns one Channel: worker-online once connected, worker-heartbeat every interval (measured from
// the previous one, so a slow publish does not make them bunch up), worker-offline at Stop. The Lamport clock is
// this sender's own (Celery's worker shares one with its pidbox; monitors only order by it per node).
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <condition_variable>
#include <cstdlib>
#include <ctime>
#include <mutex>
#include <thread>

#include <fmt/format.h>

#include <gale/amqp/channel.hpp>
#include <gale/log/log.hpp>
#include <gale/tasks/amqp_control.hpp>
#include <gale/tasks/amqp_events.hpp>

#include "py_json.hpp"

namespace gale::tasks::amqp {
namespace {

constexpr std::string_view kLogger = "gale.tasks.amqp";

/// Python's celery.utils.time.utcoffset(): hours west of UTC, floor-divided (time.timezone // 3600).
int UtcOffsetHours() {
    const std::time_t now = std::time(nullptr);
    std::tm local{};
    ::localtime_r(&now, &local);
    const long west = -local.tm_gmtoff;
    return static_cast<int>(std::floor(static_cast<double>(west) / 3600.0));
}

double Round2(double v) { return std::round(v * 100.0) / 100.0; }

}  // namespace

struct EventSender::Impl {
    gale::amqp::ConnectionOptions connection;
    EventOptions options;

    std::atomic<bool> started{false};
    std::atomic<bool> connected{false};
    std::atomic<std::uint64_t> heartbeats{0};
    std::uint64_t clock = 0;

    std::mutex mu;
    std::condition_variable cv;
    bool stop = false;
    std::thread thread;

    nlohmann::ordered_json Event(std::string_view type) {
        nlohmann::ordered_json e = nlohmann::ordered_json::object();
        e["hostname"] = options.nodename;
        e["utcoffset"] = UtcOffsetHours();
        e["pid"] = static_cast<std::int64_t>(::getpid());
        e["clock"] = ++clock;
        e["freq"] = std::chrono::duration<double>(options.interval).count();
        e["active"] = options.active ? options.active() : 0;
        e["processed"] = options.processed ? options.processed() : 0;
        double load[3] = {0, 0, 0};
        (void)::getloadavg(load, 3);
        e["loadavg"] = nlohmann::ordered_json::array({Round2(load[0]), Round2(load[1]), Round2(load[2])});
        e["sw_ident"] = "gale";
        e["sw_ver"] = "0.1.0";
        e["sw_sys"] = "Linux";
        e["timestamp"] = std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
        e["type"] = type;
        return e;
    }

    Result<void> Send(gale::amqp::Channel& channel, std::string_view type) {
        std::string routing_key(type);
        std::replace(routing_key.begin(), routing_key.end(), '-', '.');
        gale::amqp::Properties p;
        p.content_type = "application/json";
        p.content_encoding = "utf-8";
        p.delivery_mode = 1;
        p.priority = 0;
        p.headers = {{"hostname", options.nodename}};
        return channel.Publish(options.exchange, routing_key, tasks::detail::PythonJson(Event(type)), p);
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
        for (;;) {
            std::unique_lock lock(mu);
            cv.wait_until(lock, channel ? next_beat : std::chrono::steady_clock::now(), [&] { return stop; });
            if (stop) break;
            lock.unlock();
            if (!channel) {
                auto opened = Open();
                if (!opened) {
                    log::Warning(kLogger, "worker events: cannot reach the broker; retrying",
                                 {{"node", options.nodename}, {"error", opened.error().ToString()}});
                    lock.lock();
                    cv.wait_for(lock, backoff, [&] { return stop; });
                    backoff = std::min(backoff * 2, std::chrono::milliseconds(10000));
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
    if (options.nodename.empty()) options.nodename = DefaultNodeName();
    if (options.interval < std::chrono::milliseconds(100)) {
        return MakeError(ErrorCode::kInvalidArgument,
                         fmt::format("worker events: interval {} ms is under 100 ms", options.interval.count()));
    }
    if (options.exchange.empty()) return MakeError(ErrorCode::kInvalidArgument, "worker events: empty exchange");
    auto impl = std::make_unique<Impl>();
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

}  // namespace gale::tasks::amqp
