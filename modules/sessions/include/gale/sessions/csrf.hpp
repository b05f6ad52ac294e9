// SPDX-License-Identifier: MIT
/// @file gale/sessions/csrf.hpp
/// @brief CSRF protection with Django 3.2's scheme: a `csrftoken` cookie, masked tokens in forms
///        (`csrfmiddlewaretoken`) or the `X-CSRFToken` header, and for HTTPS requests a Referer (and Origin) check.
///
/// @code
///   auto csrf = app.AddResource("csrf", [](gale::app::ResourceContext&) { return csrf::OptionsFromEnvironment(); });
///   app.Get("/form", csrf::Protect(csrf, [](Request&, csrf::Csrf& c) -> Result<Response> {
///       return Response::Text(200, "<input type=hidden name=csrfmiddlewaretoken value=" + c.Token() + ">",
///                             "text/html; charset=utf-8");
///   }));
///   app.Post("/form", csrf::Protect(csrf, [](Request& req, csrf::Csrf&) -> Result<Response> { ... }));
///   // A form that logs in: the CSRF check, then the session (ProtectWithSession).
///   app.Post("/login", csrf::ProtectWithSession(csrf, sessions,
///                                               [](Request& req, Session& s, csrf::Csrf& c) -> Result<Response> {
///       s.Rotate();  // as Django's login()
///       c.Rotate();
///       ...
///   }));
/// @endcode
///
/// Tokens: the secret is 32 characters of [A-Za-z0-9]; a token is 64: a fresh random mask, then the secret with each
/// character shifted by the mask's (mod 62). The cookie holds a token too, as in Django 3.2, so a token rendered by
/// gale validates in Django with the same cookie and the reverse. A 32-character cookie (Django before 1.10) is
/// accepted as an unmasked secret.
///
/// A request with an unsafe method (anything but GET, HEAD, OPTIONS, TRACE) is refused with 403 when:
/// 1. it is secure (the SECURE_PROXY_SSL_HEADER says so) and: an Origin header is present and is not
///    `https://` + the Host or a trusted origin; or the Referer is missing, malformed, not https, or its host is
///    neither the Host header (with port) nor a trusted origin (".example.com" matches the domain and its
///    subdomains);
/// 2. the request has no CSRF cookie;
/// 3. the token — the form field of a urlencoded or multipart/form-data POST body, else the header — does not
///    unmask to the cookie's secret (compared in constant time).
/// The refusal is 403 `{"error":"forbidden","reason":"CSRF token missing or incorrect.","request_id":"…"}` with
/// Django's reason texts, logged (logger gale.csrf, warning) with the request id, method and path.
///
/// The cookie (`csrftoken`, Max-Age one year, not HttpOnly so that scripts can copy it into the header, SameSite Lax,
/// Secure in the production and staging profiles) is set on a response whenever the handler called Token() or
/// Rotate() (Django sets it again on every such response, renewing its age); `Vary: Cookie` then too. A request
/// cookie that is not a token is replaced, as Django does.
///
/// Not done: CSRF_USE_SESSIONS (the secret in the session) is not offered.
/// Thread-safety: Options are immutable and shared; a Csrf is one request's.
#pragma once

#include <chrono>
#include <concepts>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <gale/base/environment.hpp>
#include <gale/base/error.hpp>
#include <gale/http/cookie.hpp>
#include <gale/http/message.hpp>
#include <gale/http/router.hpp>
#include <gale/sessions/manager.hpp>

namespace gale::sessions::csrf {

/// | Name | Description | Default |
/// |---|---|---|
/// | cookie_name | CSRF_COOKIE_NAME | csrftoken |
/// | cookie_age | CSRF_COOKIE_AGE (Max-Age) | 31449600 s (52 weeks) |
/// | cookie_domain | CSRF_COOKIE_DOMAIN | "" |
/// | cookie_path | CSRF_COOKIE_PATH | / |
/// | cookie_secure | CSRF_COOKIE_SECURE (production, staging profiles: true) | false |
/// | cookie_httponly | CSRF_COOKIE_HTTPONLY | false |
/// | cookie_samesite | CSRF_COOKIE_SAMESITE | Lax |
/// | header_name | CSRF_HEADER_NAME (Django's HTTP_X_CSRFTOKEN is read as X-CSRFToken) | X-CSRFToken |
/// | field_name | the form field | csrfmiddlewaretoken |
/// | trusted_origins | CSRF_TRUSTED_ORIGINS: hosts ("api.example.com", ".example.com"; Django 4's "https://…" too) | —
/// | | secure_proxy_header | SECURE_PROXY_SSL_HEADER ("X-Forwarded-Proto: https"): a request with this header and
///   value is secure. Set it only behind a proxy that sets (and strips) it. | none: no request is secure |
struct Options {
    std::string cookie_name = "csrftoken";
    std::chrono::seconds cookie_age{31449600};
    std::string cookie_domain{};
    std::string cookie_path = "/";
    bool cookie_secure = false;
    bool cookie_httponly = false;
    http::SameSite cookie_samesite = http::SameSite::kLax;
    std::string header_name = "X-CSRFToken";
    std::string field_name = "csrfmiddlewaretoken";
    std::vector<std::string> trusted_origins{};
    std::optional<std::pair<std::string, std::string>> secure_proxy_header{};
};

/// Options from CSRF_COOKIE_NAME, CSRF_COOKIE_AGE, CSRF_COOKIE_DOMAIN, CSRF_COOKIE_PATH, CSRF_COOKIE_SECURE,
/// CSRF_COOKIE_HTTPONLY, CSRF_COOKIE_SAMESITE, CSRF_HEADER_NAME, CSRF_TRUSTED_ORIGINS (commas or spaces) and
/// SECURE_PROXY_SSL_HEADER, through `lookup`. Errors (kInvalidArgument) name the variable and the value.
[[nodiscard]] Result<Options> OptionsFromEnvironment(const EnvLookup& lookup = {});

/// Django's reasons.
inline constexpr std::string_view kReasonNoReferer = "Referer checking failed - no Referer.";
inline constexpr std::string_view kReasonMalformedReferer = "Referer checking failed - Referer is malformed.";
inline constexpr std::string_view kReasonInsecureReferer =
    "Referer checking failed - Referer is insecure while host is secure.";
inline constexpr std::string_view kReasonBadOrigin = "Origin checking failed - does not match any trusted origins.";
inline constexpr std::string_view kReasonNoCookie = "CSRF cookie not set.";
inline constexpr std::string_view kReasonBadToken = "CSRF token missing or incorrect.";

/// A new secret: 32 characters of [A-Za-z0-9] from the CSPRNG.
[[nodiscard]] std::string NewSecret();
/// A 64-character token for `secret` with a fresh mask.
[[nodiscard]] std::string MaskSecret(std::string_view secret);
/// The same with the given mask (32 characters of [A-Za-z0-9]), for tests.
[[nodiscard]] std::string MaskSecretWith(std::string_view secret, std::string_view mask);
/// The secret of a 64-character token; nullopt for another length or character.
[[nodiscard]] std::optional<std::string> UnmaskToken(std::string_view token);
/// Django's _sanitize_token: a 64-character token as is, a 32-character secret masked, anything else nullopt.
[[nodiscard]] std::optional<std::string> SanitizeToken(std::string_view token);
/// True when both tokens are sane and unmask to the same secret (constant time).
[[nodiscard]] bool TokensMatch(std::string_view request_token, std::string_view cookie_token);
/// Django's is_same_domain: `host` equals `pattern`, or `pattern` starts with '.' and `host` is that domain or below
/// it. Case-insensitive; the port, if any, must match as written.
[[nodiscard]] bool IsSameDomain(std::string_view host, std::string_view pattern);

/// The reason to refuse `request` (the list in the file comment), or nullopt to let it through. `cookie_token` is the
/// sanitised cookie (nullopt without one).
[[nodiscard]] std::optional<std::string_view> Check(const http::Request& request, const Options& options,
                                                    const std::optional<std::string>& cookie_token);

/// One request's CSRF state, given to the handler.
class Csrf {
public:
    /// `cookie_token`: the request's sanitised cookie, nullopt without one.
    Csrf(std::shared_ptr<const Options> options, std::optional<std::string> cookie_token);
    /// A fresh masked token for a form or a header (creating the secret if the request had none); the response will
    /// carry the cookie.
    [[nodiscard]] std::string Token();
    /// A new secret (Django's rotate_token, on login); the response carries the new cookie.
    void Rotate();
    /// Sets the cookie on `response` (and `Vary: Cookie`) if Token() or Rotate() was called.
    [[nodiscard]] Result<void> Finish(http::Response& response) const;

private:
    std::shared_ptr<const Options> options_;
    std::optional<std::string> cookie_token_;  // masked, as the cookie holds it
    bool used_ = false;
};

using CsrfHandler = std::function<Result<http::Response>(http::Request&, Csrf&)>;

/// The 403 answer for `reason` (logged as described above).
[[nodiscard]] http::Response Forbidden(const http::Request& request, std::string_view reason);
/// Where Protect finds its options for each request: an app::Resource<Options>'s get(), so that they are read once
/// the settings are loaded (App::Run exports the profile's and the files' values) and a bad CSRF_* value is a 503
/// naming it rather than a crash at start-up.
using OptionsSource = std::function<Result<std::shared_ptr<const Options>>()>;

/// The route handler that finds the options (their error: http::ErrorResponse), checks `request` (Check), runs
/// `handler`, then sets the cookie (Csrf::Finish). The handler's error is answered by http::ErrorResponse.
[[nodiscard]] http::Handler Protect(OptionsSource source, CsrfHandler handler);
[[nodiscard]] http::Handler Protect(std::shared_ptr<const Options> options, CsrfHandler handler);
/// Anything with a `get()` returning Result<std::shared_ptr<Options>> (gale::app::Resource<Options>).
template <typename R>
requires requires(const R& r) {
    { r.get() } -> std::convertible_to<Result<std::shared_ptr<const Options>>>;
}
[[nodiscard]] http::Handler Protect(R resource, CsrfHandler handler) {
    return Protect(OptionsSource([resource = std::move(resource)]() -> Result<std::shared_ptr<const Options>> {
                       return resource.get();
                   }),
                   std::move(handler));
}

/// A handler that uses the session and the CSRF token.
using SessionCsrfHandler = std::function<Result<http::Response>(http::Request&, Session&, Csrf&)>;

/// Protect around WithSession (gale/sessions/manager.hpp) around `handler`, in that order: a request the CSRF check
/// refuses (403) never loads a session; the session is saved onto the response, then the CSRF cookie set.
[[nodiscard]] http::Handler ProtectWithSession(OptionsSource csrf, ManagerSource sessions, SessionCsrfHandler handler);
/// The same from two resources (gale::app::Resource<Options> and gale::app::Resource<SessionManager>).
template <typename C, typename S>
requires requires(const C& c, const S& s) {
    { c.get() } -> std::convertible_to<Result<std::shared_ptr<const Options>>>;
    { s.get() } -> std::same_as<Result<std::shared_ptr<SessionManager>>>;
}
[[nodiscard]] http::Handler ProtectWithSession(C csrf, S sessions, SessionCsrfHandler handler) {
    return ProtectWithSession(
        OptionsSource([csrf = std::move(csrf)]() -> Result<std::shared_ptr<const Options>> { return csrf.get(); }),
        ManagerSource([sessions = std::move(sessions)] { return sessions.get(); }), std::move(handler));
}

}  // namespace gale::sessions::csrf
