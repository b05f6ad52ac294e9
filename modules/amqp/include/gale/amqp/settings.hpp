// SPDX-License-Identifier: MIT
/// @file gale/amqp/settings.hpp
/// @brief Where the AMQP broker is: ConnectionOptions, the AMQP URI parser, and the module's environment-contract
///        group with the function that reads it.
///
/// Three families of variables name a broker; exactly one is used, chosen by the first that is set:
///
/// | family | variables | from |
/// |---|---|---|
/// | URL | `AMQP_URL` (`amqp://` or `amqps://`, the AMQP URI spec) | gale, pika's URLParameters |
/// | hurricane | `AMQP_HOST`, `AMQP_PORT`, `AMQP_VHOST`, `AMQP_USER`, `AMQP_PASSWORD` | django-hurricane's `consume` |
/// | base-python | `RABBITMQ_HOST`, `RABBITMQ_PORT`, `RABBITMQ_VHOST`, `RABBITMQ_USERNAME`, `RABBITMQ_PASSWORD` |
/// base-python |
///
/// Precedence: `AMQP_URL` > `AMQP_HOST`… > `RABBITMQ_HOST`…; a family's variables never complete another's (no
/// `AMQP_PORT` with `RABBITMQ_HOST`). A variable of another family that is also set must AGREE with the value in
/// use (a Django image moving to gale may set both families for the same broker); one that names a different host,
/// port, vhost, user or password is a problem, not silently ignored: two different brokers are a misconfiguration.
/// With no broker set (no AMQP_URL, AMQP_HOST or RABBITMQ_HOST), any other variable of the group is a problem
/// (`AMQP_PORT` alone: the deployer believes a broker is configured). A password without its family's user is one.
///
/// Tuning variables apply to every family:
///
/// | Name | Description | Default |
/// |---|---|---|
/// | AMQP_HEARTBEAT | heartbeat interval asked of the broker (0s: none) | 30s |
/// | AMQP_CONNECT_TIMEOUT | TCP connect + AMQP handshake bound | 10s |
/// | AMQP_TLS | TLS for the host families (`amqps://` implies it) | false |
/// | AMQP_TLS_CA_FILE | PEM CA bundle to verify the broker with | OpenSSL's default paths |
/// | AMQP_TLS_VERIFY | verify the broker's certificate and host name | true |
/// | AMQP_CONNECTION_NAME | `connection_name` client property (management UI) | the service's name |
///
/// URL query parameters (RabbitMQ's URI query spec): `heartbeat` (seconds), `connection_timeout` (ms),
/// `cacertfile`, `certfile`, `keyfile`, `verify` (`verify_peer` | `verify_none`), `name`. pika's own parameters
/// (`connection_attempts`, `retry_delay`, `socket_timeout`, `blocked_connection_timeout`, `channel_max`,
/// `frame_max`, `locale`, `ssl_options`, `tcp_options`, `stack_timeout`) are accepted and ignored so that a URL
/// shared with a Python service parses; any other parameter is an error (a typo would otherwise pass silently).
/// A URL's query parameter wins over the matching tuning variable; AMQP_TLS must agree with the URL's scheme.
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <string_view>

#include <gale/base/error.hpp>
#include <gale/config/contract.hpp>
#include <gale/config/settings.hpp>

namespace gale::amqp {

/// TLS for `amqps://` (and AMQP_TLS=true). Empty file names mean "not given".
struct TlsOptions {
    std::string ca_file{};    ///< PEM CA bundle; empty: OpenSSL's default verify paths
    std::string cert_file{};  ///< client certificate (with key_file), for brokers that ask for one
    std::string key_file{};
    bool verify_peer = true;  ///< check the certificate chain and the host name
};

/// How to reach and log in to one broker. Value type.
struct ConnectionOptions {
    std::string host = "localhost";
    int port = 5672;  ///< 5671 for amqps when the URL has no port
    std::string vhost = "/";
    std::string username = "guest";  ///< RabbitMQ's default user (it may log in from localhost only)
    std::string password = "guest";
    std::chrono::seconds heartbeat{30};
    std::chrono::milliseconds connect_timeout{10000};
    std::optional<TlsOptions> tls{};
    std::string connection_name{};  ///< shown by the broker; empty: none sent
    std::string source{};           ///< where these came from, e.g. "AMQP_URL (from environment)", for messages

    /// "amqp://user@host:port/vhost" (amqps for TLS), the vhost percent-encoded; never the password.
    [[nodiscard]] std::string Describe() const;
};

/// Parses an AMQP URI: `amqp[s]://[user[:password]@]host[:port][/vhost][?query]`. user, password and vhost are
/// percent-decoded (`%2F` is `/`: the default vhost is `amqp://host/%2F`); `amqp://host` and `amqp://host/` both
/// mean vhost "/" (as pika reads them; the spec's empty vhost names nothing RabbitMQ has); `[::1]` hosts work.
/// Without userinfo the user is guest/guest. Errors (kInvalidArgument, naming `what`, never quoting the password):
/// another scheme, a bad percent-escape, an empty host, a port outside [1, 65535], a vhost with an unescaped `/`,
/// an unknown or malformed query parameter (see the file comment).
[[nodiscard]] Result<ConnectionOptions> ParseUrl(std::string_view url, std::string_view what = "AMQP_URL");

/// The "AMQP broker" environment-contract group: every variable of the three families and the tuning variables,
/// enabled by AMQP_URL, AMQP_HOST or RABBITMQ_HOST; the passwords and AMQP_URL are secret; its rule reports what
/// ConnectionOptionsFromSettings would (every problem, each naming the variable and its source).
[[nodiscard]] config::GroupSpec ContractGroup();

/// Reads the broker from `settings` (see the file comment for precedence).
/// @return std::nullopt when none of AMQP_URL, AMQP_HOST, RABBITMQ_HOST is set (and no other variable of the group
///         is); the options otherwise, with `source` naming the variable that chose them; kInvalidArgument with
///         every problem joined by "; ", each naming the variable and its source ("AMQP_PORT (from environment):
///         'x' is not an integer"), when anything is wrong.
[[nodiscard]] Result<std::optional<ConnectionOptions>> ConnectionOptionsFromSettings(const config::Settings& settings);

}  // namespace gale::amqp
