// SPDX-License-Identifier: MIT
/// @file gale/sentry/scrub.hpp
/// @brief What never leaves the process in an event: secrets in header names, query parameters, field keys and
///        `key=value` text, cookies, URL passwords.
///
/// The denylist is sentry-python's default (EventScrubber's, itself taken from Relay), matched more broadly: a key
/// is sensitive when, lower-cased with '-' turned into '_', it CONTAINS one of password, passwd, secret, api_key,
/// apikey, auth, credentials, mysql_pwd, privatekey, private_key, token, session, csrf, xsrf, sessionid, cookie,
/// x_forwarded_for, phpsessid, connect.sid, symfony, signature. So `X-Api-Key`, `Authorization`,
/// `Proxy-Authorization`, `X-CSRFToken`, `db_password` and `?access_token=` are all caught. A sensitive value is
/// replaced by "[Filtered]"; the Cookie and Set-Cookie headers are dropped whole. All functions are pure and
/// thread-safe.
#pragma once

#include <string>
#include <string_view>

#include <gale/sentry/event.hpp>

namespace gale::sentry {

/// The value that replaces a sensitive one.
inline constexpr std::string_view kFiltered = "[Filtered]";

/// True when `key` (a header name, query parameter, field key) names something secret (see the file comment).
[[nodiscard]] bool IsSensitiveKey(std::string_view key) noexcept;

/// Headers with sensitive names get "[Filtered]"; Cookie and Set-Cookie are removed.
[[nodiscard]] StringPairs ScrubHeaders(const StringPairs& headers);

/// A query string (without '?') with the value of every sensitive parameter replaced: "a=1&token=x" gives
/// "a=1&token=[Filtered]". Parameter names are compared percent-decoded; the rest is kept byte for byte.
[[nodiscard]] std::string ScrubQueryString(std::string_view query);

/// Free text (a log message, an error, a field value) with secrets replaced: the value after `key=` or `key: `
/// for a sensitive key (up to the next whitespace, '&', ',', ';' or quote), and the password of a URL's user-info
/// ("postgresql://u:pw@db" gives "postgresql://u:[Filtered]@db").
[[nodiscard]] std::string ScrubText(std::string_view text);

}  // namespace gale::sentry
