// SPDX-License-Identifier: MIT
// Every failure names where (host:port, user, vhost) and what was being done, so a log line alone tells an operator
// which variable to fix. Refused logins are kInvalidArgument (retrying will not help until someone changes the
// credentials); everything else on the way to a session is kUnavailable.
#include "connection.hpp"

#include <amqp_ssl_socket.h>
#include <amqp_tcp_socket.h>
#include <arpa/inet.h>
#include <sys/time.h>

#include <cerrno>
#include <cstring>

#include <fmt/format.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "codec.hpp"

namespace gale::amqp::detail {
namespace {

timeval ToTimeval(std::chrono::milliseconds ms) {
    timeval tv{};
    tv.tv_sec = static_cast<time_t>(ms.count() / 1000);
    tv.tv_usec = static_cast<suseconds_t>((ms.count() % 1000) * 1000);
    return tv;
}

ErrorCode CodeFor(int reply_code) {
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

}  // namespace

Connection::Connection(const ConnectionOptions& options, amqp_connection_state_t conn)
    : options_(options),
      where_(fmt::format("{}:{} (user '{}', vhost '{}')", options.host, options.port, options.username, options.vhost)),
      conn_(conn) {}

Connection::~Connection() { amqp_destroy_connection(conn_); }

Error Connection::StatusError(int status, std::string_view what) const {
    const ErrorCode code = status == AMQP_STATUS_TIMEOUT ? ErrorCode::kTimeout : ErrorCode::kUnavailable;
    return Error(code, fmt::format("{} on the AMQP broker at {}: {}", what, where_, amqp_error_string2(status)));
}

Result<std::unique_ptr<Connection>> Connection::Open(const ConnectionOptions& options) {
    amqp_connection_state_t conn = amqp_new_connection();
    if (conn == nullptr) return MakeError(ErrorCode::kInternal, "amqp_new_connection failed (out of memory)");
    std::unique_ptr<Connection> c(new Connection(options, conn));
    const std::string source = options.source.empty() ? "" : fmt::format(" (from {})", options.source);
    amqp_socket_t* socket = nullptr;
    if (options.tls) {
        socket = amqp_ssl_socket_new(conn);
        if (socket == nullptr) return MakeError(ErrorCode::kInternal, "amqp_ssl_socket_new failed");
        const TlsOptions& tls = *options.tls;
        if (!tls.ca_file.empty()) {
            if (amqp_ssl_socket_set_cacert(socket, tls.ca_file.c_str()) != AMQP_STATUS_OK) {
                return MakeError(ErrorCode::kInvalidArgument,
                                 fmt::format("AMQP TLS: cannot load the CA file '{}'{}", tls.ca_file, source));
            }
        } else {
            auto* ctx = static_cast<SSL_CTX*>(amqp_ssl_socket_get_context(socket));
            if (ctx != nullptr) (void)SSL_CTX_set_default_verify_paths(ctx);
        }
        if (!tls.cert_file.empty() &&
            amqp_ssl_socket_set_key(socket, tls.cert_file.c_str(), tls.key_file.c_str()) != AMQP_STATUS_OK) {
            return MakeError(ErrorCode::kInvalidArgument,
                             fmt::format("AMQP TLS: cannot load the client certificate '{}' with key '{}'{}",
                                         tls.cert_file, tls.key_file, source));
        }
        amqp_ssl_socket_set_verify_peer(socket, tls.verify_peer ? 1 : 0);
        // The host is checked by OpenSSL as part of the chain verification (RFC 6125: DNS names, wildcards and IP
        // addresses in subjectAltName), not by rabbitmq-c's own check, which knows no IP addresses: a broker
        // reached as 10.0.0.5 with a certificate for that address must verify.
        amqp_ssl_socket_set_verify_hostname(socket, 0);
        if (tls.verify_peer) {
            auto* ctx = static_cast<SSL_CTX*>(amqp_ssl_socket_get_context(socket));
            X509_VERIFY_PARAM* param = ctx != nullptr ? SSL_CTX_get0_param(ctx) : nullptr;
            in6_addr ip6{};
            in_addr ip4{};
            const bool is_ip = inet_pton(AF_INET, options.host.c_str(), &ip4) == 1 ||
                               inet_pton(AF_INET6, options.host.c_str(), &ip6) == 1;
            const int set = param == nullptr ? 0
                            : is_ip          ? X509_VERIFY_PARAM_set1_ip_asc(param, options.host.c_str())
                                             : X509_VERIFY_PARAM_set1_host(param, options.host.c_str(), 0);
            if (set != 1) {
                return MakeError(ErrorCode::kInternal, fmt::format("AMQP TLS: cannot set up the host check for '{}'{}",
                                                                   options.host, source));
            }
        }
    } else {
        socket = amqp_tcp_socket_new(conn);
        if (socket == nullptr) return MakeError(ErrorCode::kInternal, "amqp_tcp_socket_new failed");
    }
    timeval timeout = ToTimeval(options.connect_timeout);
    errno = 0;
    if (int st = amqp_socket_open_noblock(socket, options.host.c_str(), options.port, &timeout); st != AMQP_STATUS_OK) {
        const int err = errno;
        std::string why = amqp_error_string2(st);
        if (st == AMQP_STATUS_SOCKET_ERROR && err != 0) why += fmt::format(" ({})", std::strerror(err));
        return MakeError(st == AMQP_STATUS_TIMEOUT ? ErrorCode::kTimeout : ErrorCode::kUnavailable,
                         fmt::format("cannot connect to the AMQP broker at {}:{}{}{}: {}", options.host, options.port,
                                     options.tls ? " over TLS" : "", source, why));
    }
    (void)amqp_set_handshake_timeout(conn, &timeout);
    (void)amqp_set_rpc_timeout(conn, &timeout);

    // consumer_cancel_notify: without it RabbitMQ silently drops a consumer whose queue is deleted (or whose node
    // fails over) instead of sending basic.cancel, and a consumer would wait for ever on a queue that is gone.
    // rabbitmq-c merges this capabilities table with its own (authentication_failure_close).
    FieldTable client{{"product", "gale"}, {"capabilities", FieldTable{{"consumer_cancel_notify", true}}}};
    if (!options.connection_name.empty()) client.emplace_back("connection_name", options.connection_name);
    Arena arena;
    amqp_table_t properties = EncodeTable(client, arena);
    const int heartbeat = static_cast<int>(options.heartbeat.count());
    amqp_rpc_reply_t reply =
        amqp_login_with_properties(conn, options.vhost.c_str(), 0, AMQP_DEFAULT_FRAME_SIZE, heartbeat, &properties,
                                   AMQP_SASL_METHOD_PLAIN, options.username.c_str(), options.password.c_str());
    if (reply.reply_type == AMQP_RESPONSE_NORMAL) return c;
    if (reply.reply_type == AMQP_RESPONSE_SERVER_EXCEPTION && reply.reply.id == AMQP_CONNECTION_CLOSE_METHOD) {
        const auto* close = static_cast<const amqp_connection_close_t*>(reply.reply.decoded);
        const std::string text(static_cast<const char*>(close->reply_text.bytes), close->reply_text.len);
        if (close->reply_code == AMQP_ACCESS_REFUSED) {
            return MakeError(ErrorCode::kInvalidArgument,
                             fmt::format("the AMQP broker at {}:{} refused the login of user '{}' on vhost '{}'{}: {} "
                                         "(check the user name, the password and the user's permissions on the vhost)",
                                         options.host, options.port, options.username, options.vhost, source, text));
        }
        return MakeError(CodeFor(close->reply_code),
                         fmt::format("the AMQP broker at {}:{} refused user '{}' on vhost '{}'{}: {} {}", options.host,
                                     options.port, options.username, options.vhost, source, close->reply_code, text));
    }
    if (reply.reply_type == AMQP_RESPONSE_LIBRARY_EXCEPTION &&
        (reply.library_error == AMQP_STATUS_CONNECTION_CLOSED || reply.library_error == AMQP_STATUS_SOCKET_CLOSED)) {
        return MakeError(ErrorCode::kUnavailable,
                         fmt::format("the AMQP broker at {}:{} closed the connection while logging in user '{}' on "
                                     "vhost '{}'{} (refused credentials, or not an AMQP 0-9-1 port)",
                                     options.host, options.port, options.username, options.vhost, source));
    }
    if (reply.reply_type == AMQP_RESPONSE_LIBRARY_EXCEPTION) {
        return tl::unexpected(c->StatusError(reply.library_error, fmt::format("logging in{}", source)));
    }
    return MakeError(ErrorCode::kUnavailable,
                     fmt::format("logging in to the AMQP broker at {}{} failed", c->where_, source));
}

Result<void> Connection::Check(amqp_channel_t channel, amqp_rpc_reply_t reply, std::string_view what) {
    switch (reply.reply_type) {
        case AMQP_RESPONSE_NORMAL:
            return {};
        case AMQP_RESPONSE_NONE:
            return MakeError(ErrorCode::kInternal, fmt::format("{} on {}: no reply", what, where_));
        case AMQP_RESPONSE_LIBRARY_EXCEPTION:
            return tl::unexpected(StatusError(reply.library_error, what));
        case AMQP_RESPONSE_SERVER_EXCEPTION:
            break;
    }
    if (reply.reply.id == AMQP_CHANNEL_CLOSE_METHOD) {
        const auto* close = static_cast<const amqp_channel_close_t*>(reply.reply.decoded);
        amqp_channel_close_ok_t ok{};
        (void)amqp_send_method(conn_, channel, AMQP_CHANNEL_CLOSE_OK_METHOD, &ok);
        return MakeError(
            CodeFor(close->reply_code),
            fmt::format("{} on the AMQP broker at {}: {} {}", what, where_, close->reply_code,
                        std::string(static_cast<const char*>(close->reply_text.bytes), close->reply_text.len)));
    }
    if (reply.reply.id == AMQP_CONNECTION_CLOSE_METHOD) {
        const auto* close = static_cast<const amqp_connection_close_t*>(reply.reply.decoded);
        amqp_connection_close_ok_t ok{};
        (void)amqp_send_method(conn_, 0, AMQP_CONNECTION_CLOSE_OK_METHOD, &ok);
        return MakeError(
            ErrorCode::kUnavailable,
            fmt::format("{}: the AMQP broker at {} closed the connection: {} {}", what, where_, close->reply_code,
                        std::string(static_cast<const char*>(close->reply_text.bytes), close->reply_text.len)));
    }
    return MakeError(ErrorCode::kUnavailable, fmt::format("{} on the AMQP broker at {}: unexpected method 0x{:08x}",
                                                          what, where_, reply.reply.id));
}

Result<void> Connection::OpenChannel(amqp_channel_t channel) {
    (void)amqp_channel_open(conn_, channel);
    return Check(channel, amqp_get_rpc_reply(conn_), fmt::format("opening channel {}", channel));
}

Result<void> Connection::Close() {
    amqp_rpc_reply_t r = amqp_connection_close(conn_, AMQP_REPLY_SUCCESS);
    if (r.reply_type != AMQP_RESPONSE_NORMAL) {
        return MakeError(ErrorCode::kUnavailable, fmt::format("closing the AMQP connection to {}", where_));
    }
    return {};
}

Result<void> Connection::DeclareExchange(amqp_channel_t channel, const ExchangeSpec& exchange) {
    if (exchange.name.empty()) return {};
    Arena arena;
    const std::string_view type = ToString(exchange.type);
    (void)amqp_exchange_declare(conn_, channel, Bytes(exchange.name), Bytes(type), 0, exchange.durable ? 1 : 0,
                                exchange.auto_delete ? 1 : 0, 0, EncodeTable(exchange.arguments, arena));
    return Check(channel, amqp_get_rpc_reply(conn_),
                 fmt::format("declaring exchange '{}' (type {}, durable {})", exchange.name, type, exchange.durable));
}

Result<void> Connection::Bind(amqp_channel_t channel, std::string_view queue, std::string_view exchange,
                              std::string_view key, const FieldTable& arguments) {
    Arena arena;
    (void)amqp_queue_bind(conn_, channel, Bytes(queue), Bytes(exchange), Bytes(key), EncodeTable(arguments, arena));
    return Check(channel, amqp_get_rpc_reply(conn_),
                 fmt::format("binding queue '{}' to exchange '{}' with key '{}'", queue, exchange, key));
}

Result<std::uint32_t> Connection::DeclareQueue(amqp_channel_t channel, const QueueSpec& queue) {
    GALE_RETURN_IF_ERROR(DeclareExchange(channel, queue.exchange));
    Arena arena;
    amqp_queue_declare_ok_t* ok =
        amqp_queue_declare(conn_, channel, Bytes(queue.name), 0, queue.durable ? 1 : 0, queue.exclusive ? 1 : 0,
                           queue.auto_delete ? 1 : 0, EncodeTable(queue.arguments, arena));
    GALE_RETURN_IF_ERROR(Check(channel, amqp_get_rpc_reply(conn_),
                               fmt::format("declaring queue '{}' (durable {})", queue.name, queue.durable)));
    const std::uint32_t count = ok != nullptr ? ok->message_count : 0;
    const ExchangeSpec& ex = queue.exchange;
    if (ex.name.empty()) return count;
    if (ex.type == ExchangeType::kFanout || ex.type == ExchangeType::kHeaders) {
        GALE_RETURN_IF_ERROR(Bind(channel, queue.name, ex.name, "", queue.binding_arguments));
    } else if (queue.routing_keys.empty()) {
        GALE_RETURN_IF_ERROR(Bind(channel, queue.name, ex.name, queue.name, queue.binding_arguments));
    } else {
        for (const auto& key : queue.routing_keys) {
            GALE_RETURN_IF_ERROR(Bind(channel, queue.name, ex.name, key, queue.binding_arguments));
        }
    }
    return count;
}

}  // namespace gale::amqp::detail
