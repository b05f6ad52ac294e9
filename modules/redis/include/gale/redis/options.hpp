// SPDX-License-Identifier: MIT
/// @file gale/redis/options.hpp
/// @brief Where a Redis server is and how long to wait for it: ConnectionOptions, and the `redis://` URL that
///        Celery, kombu, redis-py and Django's cache settings use.
///
/// URL grammar (redis-py's and kombu's):
///
///     redis://[[username]:password@]host[:port][/db][?name=value…]
///
/// host may be a name, an IPv4 literal or a bracketed IPv6 literal; port defaults to 6379, db to 0 (0–15 on a
/// default server; the server refuses an index it does not have). The password (and username) are percent-decoded,
/// and the last '@' ends them. Query parameters: `socket_connect_timeout` and `socket_timeout` (seconds, as
/// redis-py), `db` (overrides the path, as redis-py), `client_name`; any other parameter is an error, so a typo is
/// not silently ignored.
///
/// `rediss://` (TLS) is refused with kInvalidArgument: Debian bookworm's hiredis (0.14.1) ships no SSL library
/// (libhiredis_ssl arrived in hiredis 1.0). See the module README for what TLS would take.
#pragma once

#include <chrono>
#include <string>
#include <string_view>

#include <gale/base/error.hpp>

namespace gale::redis {

/// | Name | Description | Default |
/// |---|---|---|
/// | host | server name or address | 127.0.0.1 |
/// | port | TCP port | 6379 |
/// | db | database index, SELECTed after connecting (0: no SELECT) | 0 |
/// | username | ACL user for `AUTH username password` (Redis 6+); empty: `AUTH password` | "" |
/// | password | AUTH after connecting when not empty; never logged | "" |
/// | connect_timeout | bound on resolving, connecting, AUTH and SELECT together | 2 s |
/// | command_timeout | bound on one command's (or one pipeline's) round trip, added to a blocking command's own timeout
/// | 5 s | | client_name | CLIENT SETNAME after connecting, when not empty (shows in CLIENT LIST) | "" | | source |
/// where these options came from, for error messages ("CELERY_BROKER_URL") | "" |
struct ConnectionOptions {
    std::string host = "127.0.0.1";
    int port = 6379;
    int db = 0;
    std::string username{};
    std::string password{};
    std::chrono::milliseconds connect_timeout{2000};
    std::chrono::milliseconds command_timeout{5000};
    std::string client_name{};
    std::string source{};
};

/// Parses a `redis://` URL (grammar above). Errors (kInvalidArgument) name `what` (e.g. "CELERY_BROKER_URL") and
/// the part that is wrong, never the password.
[[nodiscard]] Result<ConnectionOptions> ParseUrl(std::string_view url, std::string_view what = "redis URL");

/// "redis://host:port/db" (with "user@" when a username is set): for logs, never with the password.
[[nodiscard]] std::string Describe(const ConnectionOptions& options);

}  // namespace gale::redis
