// SPDX-License-Identifier: MIT
/// @file gale/http/cookie.hpp
/// @brief The `Cookie` request header read into name/value pairs, and `Set-Cookie` values built with checked
///        attributes (RFC 6265).
///
/// Parsing is lenient in the way browsers and Django are (a client's header is untrusted bytes, never a reason to
/// fail the request): the header is split on ';', each piece on its first '='; names and values are trimmed of
/// spaces and tabs; a value in double quotes loses them (no escapes are decoded: RFC 6265 has none); a piece without
/// '=' or with an empty name is skipped; nothing is percent-decoded. Where a name occurs more than once (a cookie set
/// for two paths), FindCookie gives the first, which browsers send for the longest path (RFC 6265 §5.4). Django's
/// parse_cookie keeps the last; gale's own cookies are set for one path, so the two agree on them.
///
/// Building refuses (kInvalidArgument, naming the cookie and the part) what would change the header's meaning: a
/// name that is not an RFC 9110 token, a value with bytes outside RFC 6265's cookie-octet (CTLs, space, '"', ',',
/// ';', '\\', non-ASCII), a Domain or Path with ';' or a CTL, `SameSite=None` without `Secure` (browsers drop it).
///
/// Thread-safety: free functions over values; the views ParseCookieHeader returns point into its argument.
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <gale/base/error.hpp>
#include <gale/http/message.hpp>

namespace gale::http {

/// One `name=value` of a Cookie header; views into the header.
struct CookiePair {
    std::string_view name;
    std::string_view value;
};

/// Every pair of one Cookie header value, in order (rules above). Never fails; an empty or malformed header gives
/// fewer pairs.
[[nodiscard]] std::vector<CookiePair> ParseCookieHeader(std::string_view header);

/// The value of the first cookie named `name` (case-sensitive, as cookie names are) in the request's Cookie headers
/// (all of them, in order: HTTP/1.1 clients send one, HTTP/2 gateways may split it). nullopt when absent. The view
/// lives as long as the request's headers.
[[nodiscard]] std::optional<std::string_view> FindCookie(const Request& request, std::string_view name);

enum class SameSite { kUnset, kLax, kStrict, kNone };

/// "Lax", "Strict", "None", or "" for kUnset.
[[nodiscard]] std::string_view ToString(SameSite same_site) noexcept;
/// Parses "lax", "strict", "none" (any case); "" and "false" give kUnset (Django's SESSION_COOKIE_SAMESITE=False:
/// no attribute). Errors (kInvalidArgument) name `what` and the value.
[[nodiscard]] Result<SameSite> ParseSameSite(std::string_view what, std::string_view text);

/// A `Set-Cookie` header value. Only Max-Age carries a lifetime (every browser since IE 11 honours it): no Expires,
/// except the fixed 1970 one of a deletion, for old clients.
///
/// | Field | Attribute | Default |
/// |---|---|---|
/// | name, value | `name=value` | — |
/// | max_age | `Max-Age=N` (seconds; 0 or less deletes); nullopt: a browser-session cookie | nullopt |
/// | domain | `Domain=…` when not empty | "" (host-only) |
/// | path | `Path=…` when not empty | "/" |
/// | secure | `Secure` | false |
/// | http_only | `HttpOnly` | false |
/// | same_site | `SameSite=Lax\|Strict\|None`; kUnset: none sent | kUnset |
struct SetCookie {
    std::string name;
    std::string value;
    std::optional<std::chrono::seconds> max_age{};
    std::string domain{};
    std::string path = "/";
    bool secure = false;
    bool http_only = false;
    SameSite same_site = SameSite::kUnset;
};

/// The header value: `name=value; Max-Age=…; Domain=…; Path=…; Secure; HttpOnly; SameSite=…`. A max_age of 0 or less
/// is written `Max-Age=0` with `expires=Thu, 01 Jan 1970 00:00:00 GMT` (a deletion, as Django's delete_cookie).
/// Errors (kInvalidArgument): the refusals in the file comment.
[[nodiscard]] Result<std::string> FormatSetCookie(const SetCookie& cookie);

/// FormatSetCookie, added to `response` as a `Set-Cookie` header (one per cookie, never folded).
[[nodiscard]] Result<void> AddSetCookie(Response& response, const SetCookie& cookie);

}  // namespace gale::http
