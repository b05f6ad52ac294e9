// SPDX-License-Identifier: MIT
// Design. One connection, one channel (number 1), one owner thread. Every frame is read by Pump(), whoever calls it:
// deliveries (basic.deliver + content) go to `pending` for Next, confirms and returns settle the one publish in
// flight, a broker-side basic.cancel is remembered for Next, channel.close and connection.close end the channel or
// the connection. rabbitmq-c's synchronous RPCs (declare, qos, consume, get) queue the frames that are not their
// reply (a delivery arriving meanwhile), and amqp_simple_wait_frame returns those queued frames first, so a delivery
// is never dropped by an RPC.
//
// Invariants:
//  - At most one confirm-mode publish is in flight (the call waits for it), so an ack/nack with a tag >= `seq`
//    belongs to it, and a basic.return before its ack marks it unroutable.
//  - After a failure the state is one of: channel closed by the broker (`channel_open` false: the next call reopens
//    it; consumers, qos and the old deliveries are gone) or connection unusable (`broken`: every call fails).
//    Failures whose code says "the broker refused this" (404, 403, 405, 406) close only the channel; anything else
//    (lost socket, timeout, connection.close, an unknown reply code) marks the connection broken — the safe reading.
#include <amqp.h>
#include <sys/time.h>

#include <deque>
#include <map>

#include <fmt/format.h>

#include <gale/amqp/channel.hpp>

#include "codec.hpp"
#include "connection.hpp"

namespace gale::amqp {

using detail::Connection;

namespace {

constexpr amqp_channel_t kChannel = 1;

timeval Remaining(std::chrono::steady_clock::time_point deadline) {
    const auto left =
        std::chrono::duration_cast<std::chrono::microseconds>(deadline - std::chrono::steady_clock::now());
    timeval tv{};
    if (left.count() > 0) {
        tv.tv_sec = static_cast<time_t>(left.count() / 1'000'000);
        tv.tv_usec = static_cast<suseconds_t>(left.count() % 1'000'000);
    }
    return tv;
}

ErrorCode CodeForReply(int reply_code) {
    switch (reply_code) {
        case AMQP_NOT_FOUND:
            return ErrorCode::kNotFound;
        case AMQP_ACCESS_REFUSED:
        case AMQP_PRECONDITION_FAILED:
        case AMQP_NOT_ALLOWED:
            return ErrorCode::kInvalidArgument;
        default:
            return ErrorCode::kUnavailable;
    }
}

bool ClosesOnlyTheChannel(ErrorCode code) {
    return code == ErrorCode::kNotFound || code == ErrorCode::kInvalidArgument;
}

}  // namespace

struct Channel::Impl {
    ChannelOptions options;
    std::unique_ptr<Connection> conn;
    bool channel_open = false;
    bool broken = false;
    std::string broken_why;
    std::deque<Delivery> pending;
    std::map<std::string, std::string, std::less<>> consumers;  // consumer tag -> queue
    std::string cancelled_by_broker;                            // a consumer tag, or empty

    // The publish in flight (confirm mode).
    std::uint64_t seq = 0;
    enum class Confirm { kNone, kAck, kNack };
    Confirm confirm = Confirm::kNone;
    bool returned = false;
    std::string returned_text;

    Error Broken(Error e) {
        broken = true;
        broken_why = e.message();
        return e;
    }

    /// Records what a failed call did to the channel (see the file comment) and passes the error on.
    tl::unexpected<Error> Fail(Error e) {
        if (ClosesOnlyTheChannel(e.code())) {
            ChannelClosed();
        } else {
            (void)Broken(e);
        }
        return tl::unexpected(std::move(e));
    }

    void ChannelClosed() {
        channel_open = false;
        consumers.clear();
        pending.clear();  // their tags belong to the closed channel; the broker requeued them
        cancelled_by_broker.clear();
    }

    Result<void> Check(amqp_rpc_reply_t reply, std::string_view what) {
        if (auto r = conn->Check(kChannel, reply, what); !r) return Fail(r.error());
        return {};
    }

    Result<void> Ensure() {
        if (broken) {
            return MakeError(
                ErrorCode::kUnavailable,
                fmt::format("the AMQP connection to {} is closed ({}); open a new channel", conn->where(), broken_why));
        }
        if (channel_open) return {};
        if (auto r = conn->OpenChannel(kChannel); !r) return tl::unexpected(Broken(r.error()));
        if (options.confirms) {
            (void)amqp_confirm_select(conn->state(), kChannel);
            if (auto r = conn->Check(kChannel, amqp_get_rpc_reply(conn->state()), "confirm.select"); !r) {
                return tl::unexpected(Broken(r.error()));
            }
        }
        channel_open = true;
        seq = 0;
        return {};
    }

    /// Reads the content of a basic.deliver / basic.get-ok into `d`.
    Result<void> ReadContent(Delivery& d) {
        amqp_message_t m{};
        amqp_rpc_reply_t r = amqp_read_message(conn->state(), kChannel, &m, 0);
        if (r.reply_type != AMQP_RESPONSE_NORMAL) return Check(r, "reading a message");
        d.message.body = detail::String(m.body);
        d.message.properties = detail::DecodeProperties(m.properties);
        amqp_destroy_message(&m);
        return {};
    }

    Result<void> HandleMethod(const amqp_frame_t& frame) {
        const void* decoded = frame.payload.method.decoded;
        if (frame.channel == 0) {
            if (frame.payload.method.id == AMQP_CONNECTION_CLOSE_METHOD) {
                const auto* c = static_cast<const amqp_connection_close_t*>(decoded);
                Error e(ErrorCode::kUnavailable,
                        fmt::format("the AMQP broker at {} closed the connection: {} {}", conn->where(), c->reply_code,
                                    detail::String(c->reply_text)));
                amqp_connection_close_ok_t ok{};
                (void)amqp_send_method(conn->state(), 0, AMQP_CONNECTION_CLOSE_OK_METHOD, &ok);
                return tl::unexpected(Broken(std::move(e)));
            }
            return {};
        }
        if (frame.channel != kChannel) return {};
        switch (frame.payload.method.id) {
            case AMQP_BASIC_DELIVER_METHOD: {
                const auto* m = static_cast<const amqp_basic_deliver_t*>(decoded);
                Delivery d;
                d.delivery_tag = m->delivery_tag;
                d.consumer_tag = detail::String(m->consumer_tag);
                d.message.exchange = detail::String(m->exchange);
                d.message.routing_key = detail::String(m->routing_key);
                d.message.redelivered = m->redelivered != 0;
                if (auto it = consumers.find(d.consumer_tag); it != consumers.end()) d.message.queue = it->second;
                GALE_RETURN_IF_ERROR(ReadContent(d));
                pending.push_back(std::move(d));
                return {};
            }
            case AMQP_BASIC_ACK_METHOD: {
                const auto* a = static_cast<const amqp_basic_ack_t*>(decoded);
                if (seq != 0 && a->delivery_tag >= seq) confirm = Confirm::kAck;
                return {};
            }
            case AMQP_BASIC_NACK_METHOD: {
                const auto* n = static_cast<const amqp_basic_nack_t*>(decoded);
                if (seq != 0 && n->delivery_tag >= seq) confirm = Confirm::kNack;
                return {};
            }
            case AMQP_BASIC_RETURN_METHOD: {
                const auto* r = static_cast<const amqp_basic_return_t*>(decoded);
                returned = true;
                returned_text = fmt::format("{} {}", r->reply_code, detail::String(r->reply_text));
                Delivery ignored;
                return ReadContent(ignored);
            }
            case AMQP_BASIC_CANCEL_METHOD: {  // the broker cancelled a consumer (its queue was deleted)
                const auto* c = static_cast<const amqp_basic_cancel_t*>(decoded);
                cancelled_by_broker = detail::String(c->consumer_tag);
                consumers.erase(cancelled_by_broker);
                return {};
            }
            case AMQP_CHANNEL_CLOSE_METHOD: {
                const auto* c = static_cast<const amqp_channel_close_t*>(decoded);
                Error e(CodeForReply(c->reply_code),
                        fmt::format("the AMQP broker at {} closed the channel: {} {}", conn->where(), c->reply_code,
                                    detail::String(c->reply_text)));
                amqp_channel_close_ok_t ok{};
                (void)amqp_send_method(conn->state(), kChannel, AMQP_CHANNEL_CLOSE_OK_METHOD, &ok);
                if (!ClosesOnlyTheChannel(e.code())) return tl::unexpected(Broken(std::move(e)));
                ChannelClosed();
                return tl::unexpected(std::move(e));
            }
            default:
                return {};
        }
    }

    /// Reads and handles one frame, waiting until `deadline` at most (a past deadline: only what has arrived).
    /// @return false when nothing came.
    Result<bool> Pump(std::chrono::steady_clock::time_point deadline) {
        amqp_connection_state_t state = conn->state();
        amqp_maybe_release_buffers(state);
        timeval tv = Remaining(deadline);
        amqp_frame_t frame{};
        const int st = amqp_simple_wait_frame_noblock(state, &frame, &tv);
        if (st == AMQP_STATUS_TIMEOUT) return false;
        if (st != AMQP_STATUS_OK) return tl::unexpected(Broken(conn->StatusError(st, "reading from the broker")));
        if (frame.frame_type == AMQP_FRAME_METHOD) GALE_RETURN_IF_ERROR(HandleMethod(frame));
        return true;
    }

    Result<void> WaitConfirm(std::string_view exchange, std::string_view routing_key) {
        const auto deadline = std::chrono::steady_clock::now() + options.confirm_timeout;
        confirm = Confirm::kNone;
        while (confirm == Confirm::kNone) {
            auto r = Pump(deadline);
            if (!r) {
                return MakeError(r.error().code(), fmt::format("publishing to exchange '{}' with key '{}': {}",
                                                               exchange, routing_key, r.error().message()));
            }
            if (!*r) {
                return tl::unexpected(
                    Broken(Error(ErrorCode::kTimeout,
                                 fmt::format("no confirm from the AMQP broker at {} within {} ms for a message "
                                             "to exchange '{}' with key '{}' (the connection is dropped)",
                                             conn->where(), options.confirm_timeout.count(), exchange, routing_key))));
            }
        }
        const Confirm got = confirm;
        const bool was_returned = returned;
        ResetConfirm();
        if (got == Confirm::kNack) {
            return MakeError(
                ErrorCode::kUnavailable,
                fmt::format("the AMQP broker at {} refused (nack) a message to exchange '{}' with key '{}'",
                            conn->where(), exchange, routing_key));
        }
        if (was_returned) {
            return MakeError(ErrorCode::kNotFound,
                             fmt::format("unroutable: no queue is bound to exchange '{}' for key '{}' on the AMQP "
                                         "broker at {} ({})",
                                         exchange, routing_key, conn->where(), returned_text));
        }
        return {};
    }

    void ResetConfirm() {
        confirm = Confirm::kNone;
        returned = false;
    }
};

Channel::Channel(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

Channel::~Channel() {
    if (!impl_ || !impl_->conn || impl_->broken) return;
    if (impl_->channel_open) (void)amqp_channel_close(impl_->conn->state(), kChannel, AMQP_REPLY_SUCCESS);
    (void)impl_->conn->Close();
}

Result<std::unique_ptr<Channel>> Channel::Open(const ConnectionOptions& connection, ChannelOptions options) {
    auto impl = std::make_unique<Impl>();
    impl->options = options;
    GALE_ASSIGN_OR_RETURN(impl->conn, Connection::Open(connection));
    GALE_RETURN_IF_ERROR(impl->Ensure());
    return std::unique_ptr<Channel>(new Channel(std::move(impl)));
}

Result<void> Channel::DeclareExchange(const ExchangeSpec& exchange) {
    GALE_RETURN_IF_ERROR(impl_->Ensure());
    if (auto r = impl_->conn->DeclareExchange(kChannel, exchange); !r) return impl_->Fail(r.error());
    return {};
}

Result<std::uint32_t> Channel::DeclareQueue(const QueueSpec& queue) {
    GALE_RETURN_IF_ERROR(Validate(queue));
    GALE_RETURN_IF_ERROR(impl_->Ensure());
    auto r = impl_->conn->DeclareQueue(kChannel, queue);
    if (!r) return impl_->Fail(r.error());
    return *r;
}

Result<std::uint32_t> Channel::QueueMessageCount(std::string_view queue) {
    GALE_RETURN_IF_ERROR(impl_->Ensure());
    amqp_queue_declare_ok_t* ok =
        amqp_queue_declare(impl_->conn->state(), kChannel, detail::Bytes(queue), 1, 0, 0, 0, amqp_empty_table);
    GALE_RETURN_IF_ERROR(
        impl_->Check(amqp_get_rpc_reply(impl_->conn->state()), fmt::format("looking up queue '{}'", queue)));
    return ok != nullptr ? ok->message_count : 0;
}

Result<std::uint32_t> Channel::DeleteQueue(std::string_view queue) {
    GALE_RETURN_IF_ERROR(impl_->Ensure());
    amqp_queue_delete_ok_t* ok = amqp_queue_delete(impl_->conn->state(), kChannel, detail::Bytes(queue), 0, 0);
    GALE_RETURN_IF_ERROR(
        impl_->Check(amqp_get_rpc_reply(impl_->conn->state()), fmt::format("deleting queue '{}'", queue)));
    return ok != nullptr ? ok->message_count : 0;
}

Result<void> Channel::Bind(std::string_view queue, std::string_view exchange, std::string_view routing_key,
                           const FieldTable& arguments) {
    GALE_RETURN_IF_ERROR(impl_->Ensure());
    if (auto r = impl_->conn->Bind(kChannel, queue, exchange, routing_key, arguments); !r) {
        return impl_->Fail(r.error());
    }
    return {};
}

Result<void> Channel::Qos(std::uint16_t prefetch_count, bool global) {
    GALE_RETURN_IF_ERROR(impl_->Ensure());
    (void)amqp_basic_qos(impl_->conn->state(), kChannel, 0, prefetch_count, global ? 1 : 0);
    return impl_->Check(amqp_get_rpc_reply(impl_->conn->state()),
                        fmt::format("basic.qos prefetch {} (global {})", prefetch_count, global));
}

Result<std::string> Channel::Consume(std::string_view queue, const ConsumeOptions& options) {
    GALE_RETURN_IF_ERROR(impl_->Ensure());
    detail::Arena arena;
    amqp_basic_consume_ok_t* ok = amqp_basic_consume(
        impl_->conn->state(), kChannel, detail::Bytes(queue), detail::Bytes(options.consumer_tag), 0,
        options.no_ack ? 1 : 0, options.exclusive ? 1 : 0, detail::EncodeTable(options.arguments, arena));
    GALE_RETURN_IF_ERROR(
        impl_->Check(amqp_get_rpc_reply(impl_->conn->state()), fmt::format("consuming queue '{}'", queue)));
    std::string tag = ok != nullptr ? detail::String(ok->consumer_tag) : options.consumer_tag;
    impl_->consumers[tag] = std::string(queue);
    // Deliveries that arrived before the consume-ok (queued by the RPC) could not be matched to their queue yet.
    for (auto& d : impl_->pending) {
        if (d.consumer_tag == tag && d.message.queue.empty()) d.message.queue = queue;
    }
    return tag;
}

Result<void> Channel::Cancel(std::string_view consumer_tag) {
    GALE_RETURN_IF_ERROR(impl_->Ensure());
    (void)amqp_basic_cancel(impl_->conn->state(), kChannel, detail::Bytes(consumer_tag));
    GALE_RETURN_IF_ERROR(
        impl_->Check(amqp_get_rpc_reply(impl_->conn->state()), fmt::format("cancelling consumer '{}'", consumer_tag)));
    if (auto it = impl_->consumers.find(consumer_tag); it != impl_->consumers.end()) impl_->consumers.erase(it);
    return {};
}

Result<std::optional<Delivery>> Channel::Next(std::chrono::milliseconds timeout) {
    GALE_RETURN_IF_ERROR(impl_->Ensure());
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    for (;;) {
        if (!impl_->pending.empty()) {
            Delivery d = std::move(impl_->pending.front());
            impl_->pending.pop_front();
            if (d.message.queue.empty()) {
                if (auto it = impl_->consumers.find(d.consumer_tag); it != impl_->consumers.end()) {
                    d.message.queue = it->second;
                }
            }
            return d;
        }
        if (!impl_->cancelled_by_broker.empty()) {
            std::string tag = std::move(impl_->cancelled_by_broker);
            impl_->cancelled_by_broker.clear();
            return MakeError(ErrorCode::kUnavailable,
                             fmt::format("the AMQP broker at {} cancelled consumer '{}' (its queue was deleted?)",
                                         impl_->conn->where(), tag));
        }
        GALE_ASSIGN_OR_RETURN(const bool got, impl_->Pump(deadline));
        if (!got) return std::optional<Delivery>();
    }
}

Result<std::optional<Delivery>> Channel::Get(std::string_view queue, bool no_ack) {
    GALE_RETURN_IF_ERROR(impl_->Ensure());
    amqp_connection_state_t state = impl_->conn->state();
    amqp_rpc_reply_t reply = amqp_basic_get(state, kChannel, detail::Bytes(queue), no_ack ? 1 : 0);
    GALE_RETURN_IF_ERROR(impl_->Check(reply, fmt::format("basic.get on queue '{}'", queue)));
    if (reply.reply.id != AMQP_BASIC_GET_OK_METHOD) return std::optional<Delivery>();
    const auto* ok = static_cast<const amqp_basic_get_ok_t*>(reply.reply.decoded);
    Delivery d;
    d.delivery_tag = ok->delivery_tag;
    d.message.exchange = detail::String(ok->exchange);
    d.message.routing_key = detail::String(ok->routing_key);
    d.message.redelivered = ok->redelivered != 0;
    d.message.queue = std::string(queue);
    GALE_RETURN_IF_ERROR(impl_->ReadContent(d));
    return d;
}

Result<void> Channel::Poll() {
    GALE_RETURN_IF_ERROR(impl_->Ensure());
    const auto now = std::chrono::steady_clock::now();
    for (int i = 0; i < 1024; ++i) {
        GALE_ASSIGN_OR_RETURN(const bool got, impl_->Pump(now));
        if (!got) break;
    }
    return {};
}

Result<void> Channel::Ack(std::uint64_t delivery_tag, bool multiple) {
    GALE_RETURN_IF_ERROR(impl_->Ensure());
    if (int st = amqp_basic_ack(impl_->conn->state(), kChannel, delivery_tag, multiple ? 1 : 0); st != AMQP_STATUS_OK) {
        return tl::unexpected(impl_->Broken(impl_->conn->StatusError(st, "basic.ack")));
    }
    return {};
}

Result<void> Channel::Reject(std::uint64_t delivery_tag, bool requeue) {
    GALE_RETURN_IF_ERROR(impl_->Ensure());
    if (int st = amqp_basic_reject(impl_->conn->state(), kChannel, delivery_tag, requeue ? 1 : 0);
        st != AMQP_STATUS_OK) {
        return tl::unexpected(impl_->Broken(impl_->conn->StatusError(st, "basic.reject")));
    }
    return {};
}

Result<void> Channel::Publish(std::string_view exchange, std::string_view routing_key, std::string_view body,
                              const Properties& properties, bool mandatory) {
    GALE_RETURN_IF_ERROR(impl_->Ensure());
    detail::Arena arena;
    amqp_basic_properties_t props = detail::EncodeProperties(properties, arena, /*persistent_default=*/false);
    const int st = amqp_basic_publish(impl_->conn->state(), kChannel, detail::Bytes(exchange),
                                      detail::Bytes(routing_key), mandatory ? 1 : 0, 0, &props, detail::Bytes(body));
    if (st != AMQP_STATUS_OK) {
        return tl::unexpected(
            impl_->Broken(impl_->conn->StatusError(st, fmt::format("publishing to exchange '{}'", exchange))));
    }
    if (!impl_->options.confirms) return {};
    ++impl_->seq;
    return impl_->WaitConfirm(exchange, routing_key);
}

bool Channel::broken() const noexcept { return impl_->broken; }
std::size_t Channel::buffered() const noexcept { return impl_->pending.size(); }
const std::string& Channel::where() const noexcept { return impl_->conn->where(); }
const ConnectionOptions& Channel::connection() const noexcept { return impl_->conn->options(); }

}  // namespace gale::amqp
