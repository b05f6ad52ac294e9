// SPDX-License-Identifier: MIT
/// @file gale/sentry/dsn.hpp
/// @brief A Sentry DSN: where envelopes go and the X-Sentry-Auth header that goes with them.
#pragma once

#include <string>
#include <string_view>

#include <gale/base/error.hpp>

namespace gale::sentry {

/// A parsed DSN, `<scheme>://<public_key>[:<secret_key>]@<host>[:<port>][/<path>]/<project_id>`.
/// Plain value, thread-compatible.
struct Dsn {
    std::string scheme;       ///< "https" or "http" (http for tests and self-hosted relays on a private network)
    std::string public_key;   ///< the key Sentry names `sentry_key`; never logged
    std::string secret_key;   ///< legacy DSNs only; empty otherwise
    std::string host;         ///< as written (an IPv6 literal keeps its brackets)
    std::string port;         ///< empty for the scheme's default
    std::string path_prefix;  ///< "" or "/sentry" when Sentry is served under a path
    std::string project_id;

    /// `<scheme>://<host>[:<port>]<path_prefix>/api/<project_id>/envelope/`.
    [[nodiscard]] std::string EnvelopeUrl() const;
    /// The value of X-Sentry-Auth: `Sentry sentry_version=7, sentry_client=<client>, sentry_key=<public_key>`
    /// (and `, sentry_secret=<secret_key>` for a legacy DSN).
    [[nodiscard]] std::string AuthHeader(std::string_view client) const;
};

/// Parses a DSN. Errors are kInvalidArgument, name SENTRY_DSN and what is wrong, and never quote the value (it holds
/// the key): a scheme other than http/https, no `key@`, an empty key, an empty or malformed host or port, no
/// project id (or one that is not digits), whitespace or control bytes, a query string or fragment.
[[nodiscard]] Result<Dsn> ParseDsn(std::string_view text);

}  // namespace gale::sentry
