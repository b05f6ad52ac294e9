// SPDX-License-Identifier: MIT
// Design. Publish, Declare and QueueLength lease a Channel from a small pool (AmqpBrokerOptions::channels), each
// used by one caller at a time. A channel that sat idle may have been closed by the broker (missed heartbeats, a
// broker restart): a leased channel is first Poll()ed — one non-blocking read, which also answers heartbeats — and
// replaced when that finds it broken, so a publish never goes out on a connection already known to be dead and is
// never sent twice by a blind retry. A publish that then fails is the caller's error (the TaskClient decides).
//
// Celery's producer declares a route the first time it sends to it (kombu's maybe_declare); so does Publish, once
// per route per broker object (Declare fills the same set), then it publishes mandatory with confirms.
//
// A consumer owns its own Channel (one connection): qos, basic.consume per queue, Next = Channel::Next. Delivery
// tags are the channel's; a delivery of a closed consumer cannot be settled on another (its message has already
// gone back to the queue).
#include <algorithm>
#include <atomic>
#include <charconv>
#include <condition_variable>
#include <mutex>
#include <set>
#include <vector>

#include <fmt/format.h>

#include <gale/amqp/channel.hpp>
#include <gale/tasks/amqp.hpp>

#include "amqp_transport.hpp"

namespace gale::tasks::amqp {
namespace {

using gale::amqp::Channel;
using gale::amqp::ChannelOptions;
using gale::amqp::ConnectionOptions;

/// Channels shared by the broker's callers; each lease is exclusive.
class ChannelPool {
public:
    ChannelPool(ConnectionOptions connection, std::size_t size, ChannelOptions options)
        : connection_(std::move(connection)), size_(size), options_(options) {}

    /// Runs `fn(Channel&)` on a leased channel, opening or replacing one as needed. Errors: the connection's, or fn's.
    template <typename Fn>
    auto With(Fn&& fn) -> decltype(fn(std::declval<Channel&>())) {
        auto lease = Acquire();
        if (!lease) return tl::unexpected(lease.error());
        std::unique_ptr<Channel> channel = std::move(*lease);
        auto result = fn(*channel);
        Release(std::move(channel));
        return result;
    }

private:
    Result<std::unique_ptr<Channel>> Acquire() {
        std::unique_ptr<Channel> channel;
        {
            std::unique_lock lock(mu_);
            cv_.wait(lock, [&] { return !idle_.empty() || open_ < size_; });
            if (!idle_.empty()) {
                channel = std::move(idle_.back());
                idle_.pop_back();
            } else {
                ++open_;
            }
        }
        if (channel) {
            (void)channel->Poll();  // a close the broker sent while the channel sat idle is read here
            if (!channel->broken()) return channel;
            channel.reset();  // a fresh connection instead
        }
        auto opened = Channel::Open(connection_, options_);
        if (!opened) {
            std::lock_guard lock(mu_);
            --open_;
            cv_.notify_one();
        }
        return opened;
    }

    void Release(std::unique_ptr<Channel> channel) {
        std::lock_guard lock(mu_);
        if (channel->broken()) {
            --open_;
        } else {
            idle_.push_back(std::move(channel));
        }
        cv_.notify_one();
    }

    const ConnectionOptions connection_;
    const std::size_t size_;
    const ChannelOptions options_;
    std::mutex mu_;
    std::condition_variable cv_;
    std::vector<std::unique_ptr<Channel>> idle_;
    std::size_t open_ = 0;  // leased + idle
};

Error Unavailable(const Error& e, std::string_view what) {
    return Error(ErrorCode::kUnavailable, fmt::format("{}: {}", what, e.message()));
}

class AmqpConsumer final : public BrokerConsumer {
public:
    AmqpConsumer(std::unique_ptr<Channel> channel, std::vector<std::string> tags)
        : channel_(std::move(channel)), tags_(std::move(tags)) {}
    ~AmqpConsumer() override { Close(); }

    // gale::tasks::BrokerConsumer
    Result<std::optional<Delivery>> Next(std::chrono::milliseconds timeout) override {
        if (!channel_) return MakeError(ErrorCode::kUnavailable, "the AMQP consumer is closed");
        auto got = channel_->Next(timeout);
        if (!got) return tl::unexpected(Unavailable(got.error(), "consuming from RabbitMQ"));
        if (!*got) return std::optional<Delivery>();
        gale::amqp::Delivery& d = **got;
        Delivery out;
        out.message = detail::FromAmqp(d.message);
        out.queue = std::move(d.message.queue);
        out.exchange = std::move(d.message.exchange);
        out.routing_key = std::move(d.message.routing_key);
        out.redelivered = d.message.redelivered;
        out.tag = std::to_string(d.delivery_tag);
        // Quorum queues count deliveries before this one in x-delivery-count.
        if (const auto* v = gale::amqp::Find(d.message.headers(), "x-delivery-count")) {
            if (const auto* n = v->get_if<std::int64_t>(); n != nullptr && *n >= 0) {
                out.delivery_count = static_cast<std::uint32_t>(std::min<std::int64_t>(*n + 1, UINT32_MAX));
            }
        }
        return out;
    }

    Result<void> Ack(const Delivery& delivery) override {
        GALE_ASSIGN_OR_RETURN(const std::uint64_t tag, Tag(delivery));
        if (auto r = channel_->Ack(tag); !r) return tl::unexpected(Unavailable(r.error(), "acknowledging a task"));
        return {};
    }

    Result<void> Reject(const Delivery& delivery, bool requeue) override {
        GALE_ASSIGN_OR_RETURN(const std::uint64_t tag, Tag(delivery));
        if (auto r = channel_->Reject(tag, requeue); !r) {
            return tl::unexpected(Unavailable(r.error(), "rejecting a task"));
        }
        return {};
    }

    Result<void> SetPrefetch(std::size_t prefetch) override {
        if (!channel_) return MakeError(ErrorCode::kUnavailable, "the AMQP consumer is closed");
        return channel_->Qos(static_cast<std::uint16_t>(std::clamp<std::size_t>(prefetch, 1, 65535)), true);
    }

    void Cancel() override {
        if (!channel_) return;
        for (const auto& tag : tags_) (void)channel_->Cancel(tag);
        tags_.clear();
    }

    void Close() override { channel_.reset(); }  // the channel's close returns every unsettled delivery

private:
    Result<std::uint64_t> Tag(const Delivery& delivery) const {
        if (!channel_) return MakeError(ErrorCode::kUnavailable, "the AMQP consumer is closed");
        std::uint64_t tag = 0;
        const auto [end, ec] = std::from_chars(delivery.tag.data(), delivery.tag.data() + delivery.tag.size(), tag);
        if (ec != std::errc() || end != delivery.tag.data() + delivery.tag.size() || tag == 0) {
            return MakeError(ErrorCode::kInvalidArgument,
                             fmt::format("'{}' is not an AMQP delivery tag of this consumer", delivery.tag));
        }
        return tag;
    }

    std::unique_ptr<Channel> channel_;
    std::vector<std::string> tags_;
};

}  // namespace

class AmqpBroker final : public Broker {
public:
    AmqpBroker(ConnectionOptions connection, AmqpBrokerOptions options)
        : connection_(std::move(connection)),
          options_(options),
          pool_(connection_, options.channels, {.confirms = true, .confirm_timeout = options.confirm_timeout}) {}

    // gale::tasks::Broker
    std::string_view name() const noexcept override { return "amqp"; }
    std::string Describe() const override { return connection_.Describe(); }

    Result<void> Declare(const std::vector<Route>& routes) override {
        for (const auto& route : routes) {
            const gale::amqp::QueueSpec spec = Spec(route);
            auto r = Track(pool_.With([&](Channel& ch) { return ch.DeclareQueue(spec); }));
            if (!r) return tl::unexpected(r.error());
            std::lock_guard lock(mu_);
            declared_.insert(Key(route));
        }
        return {};
    }

    Result<void> Publish(const Route& route, const TransportMessage& message) override {
        bool known = false;
        {
            std::lock_guard lock(mu_);
            known = declared_.count(Key(route)) != 0;
        }
        if (!known) GALE_RETURN_IF_ERROR(Declare({route}));
        const gale::amqp::Properties properties = detail::ToProperties(message);
        const std::string& routing_key =
            route.exchange.empty() || route.routing_key.empty() ? route.queue : route.routing_key;
        return Track(pool_.With([&](Channel& ch) {
            return ch.Publish(route.exchange, routing_key, message.body, properties, /*mandatory=*/true);
        }));
    }

    Result<std::unique_ptr<BrokerConsumer>> Consume(const std::vector<std::string>& queues,
                                                    std::size_t prefetch) override {
        if (queues.empty()) return MakeError(ErrorCode::kInvalidArgument, "no queue to consume");
        GALE_ASSIGN_OR_RETURN(auto channel, Channel::Open(connection_));
        for (const auto& q : queues) GALE_RETURN_IF_ERROR(channel->DeclareQueue(Spec(Route{.queue = q})));
        // Celery 5.2's worker: basic.qos prefetch_count = multiplier × concurrency, global.
        GALE_RETURN_IF_ERROR(channel->Qos(static_cast<std::uint16_t>(std::clamp<std::size_t>(prefetch, 1, 65535)),
                                          /*global=*/true));
        std::vector<std::string> tags;
        for (const auto& q : queues) {
            GALE_ASSIGN_OR_RETURN(auto tag, channel->Consume(q));
            tags.push_back(std::move(tag));
        }
        return std::unique_ptr<BrokerConsumer>(new AmqpConsumer(std::move(channel), std::move(tags)));
    }

    Result<std::uint64_t> QueueLength(const std::string& queue) override {
        auto n = Track(pool_.With([&](Channel& ch) { return ch.QueueMessageCount(queue); }));
        if (!n && n.error().code() == ErrorCode::kNotFound) return 0;  // not declared yet: nothing is waiting in it
        if (!n) return tl::unexpected(n.error());
        return *n;
    }

    bool connected() const noexcept override { return connected_.load(); }

    const ConnectionOptions& connection() const noexcept { return connection_; }

private:
    /// Celery's declaration of a route: exchange (the queue's name by default, direct, durable), durable queue,
    /// binding with the route's key (the queue's name by default).
    gale::amqp::QueueSpec Spec(const Route& route) const {
        gale::amqp::QueueSpec spec;
        spec.name = route.queue;
        spec.exchange.name = route.exchange.empty() ? route.queue : route.exchange;
        spec.exchange.type = gale::amqp::ExchangeType::kDirect;
        spec.routing_keys = {route.routing_key.empty() ? route.queue : route.routing_key};
        if (options_.max_priority) spec.arguments.emplace_back("x-max-priority", *options_.max_priority);
        return spec;
    }
    static std::string Key(const Route& route) {
        return route.queue + '\x1f' + route.exchange + '\x1f' + route.routing_key;
    }

    /// Follows the connection state for connected(): a transport failure clears it, any answer sets it.
    template <typename T>
    Result<T> Track(Result<T> r) {
        const bool transport_failure =
            !r && (r.error().code() == ErrorCode::kUnavailable || r.error().code() == ErrorCode::kTimeout);
        connected_.store(!transport_failure);
        return r;
    }

    const ConnectionOptions connection_;
    const AmqpBrokerOptions options_;
    ChannelPool pool_;
    std::atomic<bool> connected_{true};
    std::mutex mu_;
    std::set<std::string> declared_;
};

std::unique_ptr<Broker> MakeBroker(ConnectionOptions connection, AmqpBrokerOptions options) {
    options.channels = std::max<std::size_t>(options.channels, 1);
    return std::make_unique<AmqpBroker>(std::move(connection), options);
}

Result<std::unique_ptr<Broker>> MakeBroker(std::string_view url, AmqpBrokerOptions options, std::string_view what) {
    GALE_ASSIGN_OR_RETURN(auto connection, gale::amqp::ParseUrl(url, what));
    if (connection.source.empty()) connection.source = std::string(what);
    if (options.max_priority && (*options.max_priority < 1 || *options.max_priority > 255)) {
        return MakeError(ErrorCode::kInvalidArgument,
                         fmt::format("{}: max_priority {} is not in [1, 255]", what, *options.max_priority));
    }
    if (options.channels == 0) {
        return MakeError(ErrorCode::kInvalidArgument, fmt::format("{}: the broker needs at least one channel", what));
    }
    return MakeBroker(std::move(connection), options);
}

const ConnectionOptions* ConnectionOf(const Broker& broker) noexcept {
    const auto* amqp = dynamic_cast<const AmqpBroker*>(&broker);
    return amqp != nullptr ? &amqp->connection() : nullptr;
}

}  // namespace gale::tasks::amqp
