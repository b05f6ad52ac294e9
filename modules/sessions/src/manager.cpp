// SPDX-License-Identifier: MIT
// Loading and saving sessions around a handler (contract in gale/sessions/manager.hpp), after Django 3.2's
// SessionMiddleware.process_response: save only what changed, delete the cookie of an emptied session, never save
// for a 500, and refuse to resurrect a session that a concurrent request deleted.
#include <fmt/format.h>

#include <gale/base/strings.hpp>
#include <gale/sessions/manager.hpp>

#include "with_session.hpp"

namespace gale::sessions {
namespace {

/// Browsers keep a cookie's name, '=' and value up to 4096 bytes and drop larger ones without a word.
constexpr std::size_t kMaxCookieBytes = 4096;
/// Fresh keys drawn before giving up; a collision of 165-bit keys means a broken generator.
constexpr int kCreateAttempts = 10;

bool VariesOnCookie(const http::Response& response) {
    for (const auto& [name, value] : response.headers()) {
        if (EqualsIgnoreCase(name, "vary") && ToLower(value).find("cookie") != std::string::npos) return true;
    }
    return false;
}

}  // namespace

SessionManager::SessionManager(SessionOptions options, SigningKeys keys)
    : options_(std::move(options)), signer_(std::in_place, std::move(keys), std::string(kSignedCookiesSalt)) {}

SessionManager::SessionManager(SessionOptions options, std::shared_ptr<SessionStore> store)
    : options_(std::move(options)), store_(std::move(store)) {}

Result<Session> SessionManager::Load(const http::Request& request) const {
    auto cookie = http::FindCookie(request, options_.cookie_name);
    if (!cookie || cookie->empty()) return Session();
    if (signer_) {
        auto data = signer_->UnsignObject(*cookie, options_.cookie_age);
        if (!data) return Session();  // tampered, expired, or signed with another key: a new session (as Django)
        return Session("", std::move(*data));
    }
    if (!IsValidSessionKey(*cookie)) return Session();
    GALE_ASSIGN_OR_RETURN(auto data, store_->Load(*cookie));
    if (!data) return Session();
    return Session(std::string(*cookie), std::move(*data));
}

Result<void> SessionManager::Persist(Session& session, std::string& cookie_value) const {
    if (signer_) {
        cookie_value = signer_->SignObject(session.data(), /*compress=*/true);
        if (options_.cookie_name.size() + 1 + cookie_value.size() > kMaxCookieBytes) {
            return MakeError(ErrorCode::kInternal,
                             fmt::format("session cookie '{}' would be {} bytes, more than browsers keep ({}): store "
                                         "less in the session, or use SESSION_BACKEND=redis or database",
                                         options_.cookie_name, options_.cookie_name.size() + 1 + cookie_value.size(),
                                         kMaxCookieBytes));
        }
        return {};
    }
    for (const std::string& old : session.keys_to_delete()) GALE_RETURN_IF_ERROR(store_->Delete(old));
    if (session.key().empty()) {
        for (int attempt = 0; attempt < kCreateAttempts; ++attempt) {
            std::string key = NewSessionKey();
            GALE_ASSIGN_OR_RETURN(bool created, store_->Create(key, session.data(), options_.cookie_age));
            if (created) {
                session.SetSavedKey(key);
                cookie_value = std::move(key);
                return {};
            }
        }
        return MakeError(ErrorCode::kInternal,
                         fmt::format("sessions ({}): {} fresh keys were all taken", store_->name(), kCreateAttempts));
    }
    GALE_ASSIGN_OR_RETURN(bool updated, store_->Update(session.key(), session.data(), options_.cookie_age));
    if (!updated) {
        return MakeError(ErrorCode::kInvalidArgument,
                         fmt::format("sessions ({}): the session was deleted before the request completed (a logout "
                                     "in a concurrent request?)",
                                     store_->name()));
    }
    cookie_value = session.key();
    return {};
}

Result<void> SessionManager::Save(Session& session, const http::Request& request, http::Response& response) const {
    if (!VariesOnCookie(response)) response.AddHeader("Vary", "Cookie");
    const bool had_cookie = http::FindCookie(request, options_.cookie_name).has_value();
    http::SetCookie cookie{.name = options_.cookie_name,
                           .value = "",
                           .domain = options_.cookie_domain,
                           .path = options_.cookie_path,
                           .secure = options_.cookie_secure,
                           .http_only = options_.cookie_httponly,
                           .same_site = options_.cookie_samesite};
    if (session.empty()) {
        // Flushed (or emptied): its stored copies go, and so does the cookie, if the client has one.
        if (store_) {
            for (const std::string& old : session.keys_to_delete()) GALE_RETURN_IF_ERROR(store_->Delete(old));
            if (!session.key().empty() && session.modified()) GALE_RETURN_IF_ERROR(store_->Delete(session.key()));
        }
        session.SetSavedKey("");
        if (!had_cookie) return {};
        cookie.max_age = std::chrono::seconds(0);
        return http::AddSetCookie(response, cookie);
    }
    if (!session.modified() && !options_.save_every_request) return {};
    GALE_RETURN_IF_ERROR(Persist(session, cookie.value));
    if (!options_.expire_at_browser_close) cookie.max_age = options_.cookie_age;
    return http::AddSetCookie(response, cookie);
}

namespace detail {

http::Response RunWithSession(const ManagerSource& source, http::Request& request, const SessionHandler& handler) {
    auto manager = source();
    if (!manager) return http::ErrorResponse(manager.error(), request);
    auto session = (*manager)->Load(request);
    if (!session) return http::ErrorResponse(session.error(), request);
    Result<http::Response> response = handler(request, *session);
    if (!response) return http::ErrorResponse(response.error(), request);
    if (response->status() == 500) return std::move(*response);
    if (auto saved = (*manager)->Save(*session, request, *response); !saved) {
        return http::ErrorResponse(saved.error(), request);
    }
    return std::move(*response);
}

}  // namespace detail

http::Handler WithSession(ManagerSource source, SessionHandler handler) {
    return [source = std::move(source), handler = std::move(handler)](http::Request& request) -> http::Response {
        return detail::RunWithSession(source, request, handler);
    };
}

http::Handler WithSession(std::shared_ptr<SessionManager> manager, SessionHandler handler) {
    return WithSession(
        ManagerSource([manager = std::move(manager)]() -> Result<std::shared_ptr<SessionManager>> { return manager; }),
        std::move(handler));
}

}  // namespace gale::sessions
