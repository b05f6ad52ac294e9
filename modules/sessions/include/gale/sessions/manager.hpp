// SPDX-License-Identifier: MIT
/// @file gale/sessions/manager.hpp
/// @brief SessionManager (the session cookie and a backend) and WithSession, the wrapper that gives a route's
///        handler its Session: loaded before the handler, saved after it when modified (Django's SessionMiddleware).
///
/// @code
///   auto sessions = app.AddResource("sessions", [](gale::app::ResourceContext&) {
///       return gale::sessions::SessionManagerFromEnvironment();   // gale/sessions/settings.hpp
///   });
///   app.Post("/login", gale::sessions::WithSession(sessions, [](Request& req, Session& session) -> Result<Response> {
///       session.Rotate();                    // against session fixation
///       session.Set("user_id", 42);
///       return Response::Text(200, "welcome\n");
///   }));
/// @endcode
///
/// Backends: kSignedCookies keeps the data in the cookie itself, signed (Django's signed_cookies backend, readable by
/// Django with the same SECRET_KEY and the reverse; at most 4096 bytes, refused beyond that); the others keep it in a
/// SessionStore (gale/sessions/store.hpp) under a random key that the cookie carries.
///
/// What the wrapper does, in order:
/// 1. finds the source's manager (its error: ErrorResponse, e.g. 503 when the store cannot be created);
/// 2. Load: no cookie → a new empty session, no I/O; a cookie that does not verify (bad signature, expired, not a
///    valid key, no such session in the store) → a new empty session; a store that fails → ErrorResponse (503);
/// 3. runs the handler; an error from it is answered by ErrorResponse and nothing is saved, as Django saves nothing
///    for a 500;
/// 4. Save, unless the status is 500: an empty session whose request carried the cookie → the cookie is deleted;
///    a modified (or, with save_every_request, any) non-empty session → stored and the cookie set with Max-Age
///    cookie_age (none with expire_at_browser_close). `Vary: Cookie` is added to every response. A save that fails
///    answers with ErrorResponse instead (503 for a store that is down; 400 when the session was deleted by a
///    concurrent request, Django's SessionInterrupted), so a handler's write is never silently lost.
///
/// A route that does not use sessions is not wrapped and pays nothing.
/// Thread-safety: SessionManager is immutable after construction and may be shared by every thread.
#pragma once

#include <chrono>
#include <concepts>
#include <functional>
#include <memory>
#include <string>

#include <gale/base/error.hpp>
#include <gale/http/cookie.hpp>
#include <gale/http/message.hpp>
#include <gale/http/router.hpp>
#include <gale/sessions/session.hpp>
#include <gale/sessions/signing.hpp>
#include <gale/sessions/store.hpp>

namespace gale::sessions {

/// The session cookie, with Django's names and defaults (settings in gale/sessions/settings.hpp).
///
/// | Name | Description | Default |
/// |---|---|---|
/// | cookie_name | SESSION_COOKIE_NAME | sessionid |
/// | cookie_age | SESSION_COOKIE_AGE: the cookie's Max-Age, the store's expiry, the signed cookie's max age | 2 weeks |
/// | cookie_domain | SESSION_COOKIE_DOMAIN ("" host-only) | "" |
/// | cookie_path | SESSION_COOKIE_PATH | / |
/// | cookie_secure | SESSION_COOKIE_SECURE (the production and staging profiles set it) | false |
/// | cookie_httponly | SESSION_COOKIE_HTTPONLY | true |
/// | cookie_samesite | SESSION_COOKIE_SAMESITE | Lax |
/// | expire_at_browser_close | SESSION_EXPIRE_AT_BROWSER_CLOSE: no Max-Age on the cookie | false |
/// | save_every_request | SESSION_SAVE_EVERY_REQUEST | false |
struct SessionOptions {
    std::string cookie_name = "sessionid";
    std::chrono::seconds cookie_age{1209600};
    std::string cookie_domain{};
    std::string cookie_path = "/";
    bool cookie_secure = false;
    bool cookie_httponly = true;
    http::SameSite cookie_samesite = http::SameSite::kLax;
    bool expire_at_browser_close = false;
    bool save_every_request = false;
};

/// The salt of Django's signed-cookie session backend.
inline constexpr std::string_view kSignedCookiesSalt = "django.contrib.sessions.backends.signed_cookies";

class SessionManager {
public:
    /// The signed-cookie backend: the data is the cookie, signed with `keys`.
    SessionManager(SessionOptions options, SigningKeys keys);
    /// A server-side backend: the cookie carries a key of `store`.
    SessionManager(SessionOptions options, std::shared_ptr<SessionStore> store);

    /// The request's session (step 2 above). Errors: the store's.
    [[nodiscard]] Result<Session> Load(const http::Request& request) const;
    /// Stores `session` and sets or deletes the cookie on `response` (step 4 above). On success the session carries
    /// its new key, if any. Errors: the store's; kInvalidArgument when the session was deleted meanwhile; kInternal
    /// for a signed cookie longer than 4096 bytes.
    [[nodiscard]] Result<void> Save(Session& session, const http::Request& request, http::Response& response) const;

    [[nodiscard]] const SessionOptions& options() const noexcept { return options_; }
    /// The store; nullptr for signed cookies.
    [[nodiscard]] SessionStore* store() const noexcept { return store_.get(); }

private:
    [[nodiscard]] Result<void> Persist(Session& session, std::string& cookie_value) const;

    const SessionOptions options_;
    std::optional<TimestampSigner> signer_;  // signed cookies
    std::shared_ptr<SessionStore> store_;    // server side
};

/// A handler that uses the session.
using SessionHandler = std::function<Result<http::Response>(http::Request&, Session&)>;
/// Where WithSession finds its manager for each request: an app::Resource<SessionManager>'s get().
using ManagerSource = std::function<Result<std::shared_ptr<SessionManager>>()>;

/// The route handler (steps above) around `handler`.
[[nodiscard]] http::Handler WithSession(ManagerSource source, SessionHandler handler);
[[nodiscard]] http::Handler WithSession(std::shared_ptr<SessionManager> manager, SessionHandler handler);
/// Anything with a `get()` returning Result<std::shared_ptr<SessionManager>> (gale::app::Resource<SessionManager>).
template <typename R>
requires requires(const R& r) {
    { r.get() } -> std::same_as<Result<std::shared_ptr<SessionManager>>>;
}
[[nodiscard]] http::Handler WithSession(R resource, SessionHandler handler) {
    return WithSession(ManagerSource([resource = std::move(resource)] { return resource.get(); }), std::move(handler));
}

}  // namespace gale::sessions
