// SPDX-License-Identifier: MIT
// One message in flight at a time, on channel 1 in confirm mode: after basic.publish the publisher reads frames
// until the broker's ack or nack for that sequence number (a basic.return, which RabbitMQ sends before the ack of
// an unroutable mandatory message, marks it returned). Anything that leaves the sequence numbers in doubt (timeout,
// socket error) drops the connection; the next call opens a new one, where numbering restarts at 1.
#include <amqp.h>

#include <chrono>
#include <mutex>

#include <fmt/format.h>

#include <gale/amqp/publisher.hpp>

#include "codec.hpp"
#include "connection.hpp"

namespace gale::amqp {

using detail::Connection;

struct Publisher::Impl {
    ConnectionOptions connection;
    PublisherOptions options;
    std::mutex mu;
    std::unique_ptr<Connection> conn;
    bool channel_open = false;
    std::uint64_t seq = 0;

    static constexpr amqp_channel_t kChannel = 1;

    Result<void> Ensure() {
        if (!conn) {
            GALE_ASSIGN_OR_RETURN(conn, Connection::Open(connection));
            channel_open = false;
        }
        if (!channel_open) {
            if (auto r = conn->OpenChannel(kChannel); !r) {
                conn.reset();
                return r;
            }
            (void)amqp_confirm_select(conn->state(), kChannel);
            if (auto r = conn->Check(kChannel, amqp_get_rpc_reply(conn->state()), "confirm.select"); !r) {
                conn.reset();
                return r;
            }
            channel_open = true;
            seq = 0;
        }
        return {};
    }

    /// After a failed RPC: a channel error leaves the connection usable; anything else drops it.
    void AfterError(const Error& e) {
        channel_open = false;
        if (e.code() == ErrorCode::kUnavailable || e.code() == ErrorCode::kTimeout) conn.reset();
    }

    Result<void> WaitConfirm(std::string_view exchange, std::string_view routing_key) {
        const auto deadline = std::chrono::steady_clock::now() + options.confirm_timeout;
        bool returned = false;
        std::string returned_text;
        amqp_connection_state_t state = conn->state();
        for (;;) {
            const auto left =
                std::chrono::duration_cast<std::chrono::microseconds>(deadline - std::chrono::steady_clock::now());
            timeval tv{};
            if (left.count() > 0) {
                tv.tv_sec = static_cast<time_t>(left.count() / 1'000'000);
                tv.tv_usec = static_cast<suseconds_t>(left.count() % 1'000'000);
            }
            amqp_frame_t frame{};
            const int st = amqp_simple_wait_frame_noblock(state, &frame, &tv);
            if (st != AMQP_STATUS_OK) {
                Error e =
                    st == AMQP_STATUS_TIMEOUT
                        ? Error(ErrorCode::kTimeout,
                                fmt::format("no confirm from the AMQP broker at {} within {} ms for a message "
                                            "to exchange '{}' with key '{}' (the connection is dropped)",
                                            conn->where(), options.confirm_timeout.count(), exchange, routing_key))
                        : conn->StatusError(st, "waiting for a publish confirm");
                conn.reset();
                channel_open = false;
                return tl::unexpected(std::move(e));
            }
            if (frame.frame_type != AMQP_FRAME_METHOD) continue;
            switch (frame.payload.method.id) {
                case AMQP_BASIC_ACK_METHOD: {
                    const auto* ack = static_cast<const amqp_basic_ack_t*>(frame.payload.method.decoded);
                    if (ack->delivery_tag < seq) continue;  // a stale confirm of an earlier message
                    if (returned) {
                        return MakeError(ErrorCode::kNotFound,
                                         fmt::format("unroutable: no queue is bound to exchange '{}' for key '{}' on "
                                                     "the AMQP broker at {} ({})",
                                                     exchange, routing_key, conn->where(), returned_text));
                    }
                    return {};
                }
                case AMQP_BASIC_NACK_METHOD:
                    return MakeError(ErrorCode::kUnavailable,
                                     fmt::format("the AMQP broker at {} refused (nack) a message to exchange '{}' "
                                                 "with key '{}'",
                                                 conn->where(), exchange, routing_key));
                case AMQP_BASIC_RETURN_METHOD: {
                    const auto* r = static_cast<const amqp_basic_return_t*>(frame.payload.method.decoded);
                    returned = true;
                    returned_text = fmt::format("{} {}", r->reply_code, detail::String(r->reply_text));
                    amqp_message_t m{};
                    amqp_rpc_reply_t rr = amqp_read_message(state, frame.channel, &m, 0);
                    if (rr.reply_type == AMQP_RESPONSE_NORMAL) amqp_destroy_message(&m);
                    continue;
                }
                case AMQP_CHANNEL_CLOSE_METHOD: {
                    const auto* c = static_cast<const amqp_channel_close_t*>(frame.payload.method.decoded);
                    std::string text = fmt::format("{} {}", c->reply_code, detail::String(c->reply_text));
                    amqp_channel_close_ok_t ok{};
                    (void)amqp_send_method(state, frame.channel, AMQP_CHANNEL_CLOSE_OK_METHOD, &ok);
                    channel_open = false;
                    return MakeError(
                        c->reply_code == AMQP_NOT_FOUND ? ErrorCode::kNotFound : ErrorCode::kInvalidArgument,
                        fmt::format("publishing to exchange '{}' with key '{}' on the AMQP broker at "
                                    "{}: {}",
                                    exchange, routing_key, conn->where(), text));
                }
                case AMQP_CONNECTION_CLOSE_METHOD: {
                    const auto* c = static_cast<const amqp_connection_close_t*>(frame.payload.method.decoded);
                    std::string text = fmt::format("{} {}", c->reply_code, detail::String(c->reply_text));
                    amqp_connection_close_ok_t ok{};
                    (void)amqp_send_method(state, 0, AMQP_CONNECTION_CLOSE_OK_METHOD, &ok);
                    std::string where = conn->where();
                    conn.reset();
                    channel_open = false;
                    return MakeError(ErrorCode::kUnavailable,
                                     fmt::format("the AMQP broker at {} closed the connection: {}", where, text));
                }
                default:
                    continue;
            }
        }
    }
};

Publisher::Publisher(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Publisher::~Publisher() {
    if (impl_ && impl_->conn) (void)impl_->conn->Close();
}

Result<std::unique_ptr<Publisher>> Publisher::Connect(const ConnectionOptions& connection, PublisherOptions options) {
    auto impl = std::make_unique<Impl>();
    impl->connection = connection;
    impl->options = options;
    GALE_RETURN_IF_ERROR(impl->Ensure());
    return std::unique_ptr<Publisher>(new Publisher(std::move(impl)));
}

Result<void> Publisher::Publish(std::string_view exchange, std::string_view routing_key, std::string_view body,
                                const Properties& properties) {
    std::lock_guard lock(impl_->mu);
    GALE_RETURN_IF_ERROR(impl_->Ensure());
    detail::Arena arena;
    amqp_basic_properties_t props = detail::EncodeProperties(properties, arena, /*persistent_default=*/true);
    const int st =
        amqp_basic_publish(impl_->conn->state(), Impl::kChannel, detail::Bytes(exchange), detail::Bytes(routing_key),
                           impl_->options.mandatory ? 1 : 0, 0, &props, detail::Bytes(body));
    if (st != AMQP_STATUS_OK) {
        Error e = impl_->conn->StatusError(st, fmt::format("publishing to exchange '{}'", exchange));
        impl_->conn.reset();
        return tl::unexpected(std::move(e));
    }
    ++impl_->seq;
    return impl_->WaitConfirm(exchange, routing_key);
}

Result<void> Publisher::DeclareExchange(const ExchangeSpec& exchange) {
    std::lock_guard lock(impl_->mu);
    GALE_RETURN_IF_ERROR(impl_->Ensure());
    auto r = impl_->conn->DeclareExchange(Impl::kChannel, exchange);
    if (!r) impl_->AfterError(r.error());
    return r;
}

Result<std::uint32_t> Publisher::DeclareQueue(const QueueSpec& queue) {
    GALE_RETURN_IF_ERROR(Validate(queue));
    std::lock_guard lock(impl_->mu);
    GALE_RETURN_IF_ERROR(impl_->Ensure());
    auto r = impl_->conn->DeclareQueue(Impl::kChannel, queue);
    if (!r) impl_->AfterError(r.error());
    return r;
}

bool Publisher::connected() const {
    std::lock_guard lock(impl_->mu);
    return impl_->conn != nullptr;
}

}  // namespace gale::amqp
