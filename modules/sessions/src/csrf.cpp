// SPDX-License-Identifier: MIT
// CSRF after Django 3.2's CsrfViewMiddleware (contract in gale/sessions/csrf.hpp). The mask algorithm is Django's
// exactly (mask + (secret + mask mod 62)), so tokens cross between the two; the comparison unmasks both sides and
// compares the secrets in constant time. Every check runs before the handler; nothing of the body but the form
// field is read (urlencoded, or the text parts of multipart/form-data, which are parsed without keeping the files).
#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <gale/base/strings.hpp>
#include <gale/http/multipart.hpp>
#include <gale/log/log.hpp>
#include <gale/sessions/csrf.hpp>

#include "crypto.hpp"
#include "with_session.hpp"

namespace gale::sessions::csrf {
namespace {

constexpr std::string_view kChars = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
constexpr std::size_t kSecretLength = 32;
constexpr std::size_t kTokenLength = 64;

int Index(char c) noexcept {
    if (c >= 'a' && c <= 'z') return c - 'a';
    if (c >= 'A' && c <= 'Z') return 26 + (c - 'A');
    if (c >= '0' && c <= '9') return 52 + (c - '0');
    return -1;
}

bool AllAllowed(std::string_view s) noexcept {
    for (char c : s) {
        if (Index(c) < 0) return false;
    }
    return true;
}

bool IsSafeMethod(http::Method m) noexcept {
    return m == http::Method::kGet || m == http::Method::kHead || m == http::Method::kOptions ||
           m == http::Method::kTrace;
}

/// scheme and netloc of an absolute URL, as urlparse splits them ("" when absent).
std::pair<std::string_view, std::string_view> SchemeAndHost(std::string_view url) {
    const std::size_t sep = url.find("://");
    if (sep == std::string_view::npos) return {"", ""};
    std::string_view rest = url.substr(sep + 3);
    return {url.substr(0, sep), rest.substr(0, rest.find_first_of("/?#"))};
}

/// A trusted origin as a host pattern: Django 3.2 lists hosts; Django 4's "https://host" and "https://*.host" are
/// read as "host" and ".host".
std::string HostPattern(std::string_view origin) {
    if (auto sep = origin.find("://"); sep != std::string_view::npos) origin.remove_prefix(sep + 3);
    if (origin.starts_with("*.")) origin.remove_prefix(1);
    return ToLower(origin);
}

bool IsSecure(const http::Request& request, const Options& options) {
    if (!options.secure_proxy_header) return false;
    auto value = request.header(options.secure_proxy_header->first);
    return value && *value == options.secure_proxy_header->second;
}

bool HostIsGood(std::string_view netloc, const http::Request& request, const Options& options) {
    if (netloc.empty()) return false;
    for (const std::string& pattern : options.trusted_origins) {
        if (IsSameDomain(netloc, HostPattern(pattern))) return true;
    }
    auto host = request.header("host");
    return host && IsSameDomain(netloc, *host);
}

bool IsFormBody(const http::Request& request) {
    auto type = request.header("content-type");
    return type && ToLower(type->substr(0, type->find(';'))) == "application/x-www-form-urlencoded";
}

/// The first text part named `name` of a multipart/form-data body (Django reads request.POST, which holds a
/// multipart form's fields too); nullopt when there is none or the body is not a well-formed form. File parts are
/// skipped as they stream past; the parser's limits bound what is kept.
std::optional<std::string> MultipartField(const http::Request& request, std::string_view name) {
    auto type = request.header("content-type");
    if (!type) return std::nullopt;
    auto boundary = http::MultipartBoundary(*type);
    if (!boundary) return std::nullopt;
    class FieldSink final : public http::MultipartSink {
    public:
        explicit FieldSink(std::string_view name) : name_(name) {}
        Result<void> OnPartBegin(const http::MultipartPart& part) override {
            in_field_ = !value_ && !part.is_file() && part.name == name_;
            if (in_field_) value_.emplace();
            return {};
        }
        Result<void> OnPartData(std::string_view bytes) override {
            if (in_field_) value_->append(bytes);
            return {};
        }
        Result<void> OnPartEnd() override {
            in_field_ = false;
            return {};
        }
        std::optional<std::string>& value() { return value_; }

    private:
        std::string_view name_;
        bool in_field_ = false;
        std::optional<std::string> value_;
    } sink(name);
    http::MultipartParser parser(std::move(*boundary), sink);
    if (!parser.Feed(request.body()) || !parser.Finish()) return std::nullopt;
    return std::move(sink.value());
}

}  // namespace

Result<Options> OptionsFromEnvironment(const EnvLookup& lookup) {
    auto get = [&](std::string_view name) { return LookupEnv(lookup, name); };
    Options o;
    if (auto v = get("CSRF_COOKIE_NAME")) o.cookie_name = *v;
    if (auto v = get("CSRF_COOKIE_AGE")) {
        GALE_ASSIGN_OR_RETURN(auto age, ParseInt("CSRF_COOKIE_AGE", *v, 1, 10LL * 365 * 86400));
        o.cookie_age = std::chrono::seconds(age);
    }
    if (auto v = get("CSRF_COOKIE_DOMAIN")) o.cookie_domain = *v;
    if (auto v = get("CSRF_COOKIE_PATH")) o.cookie_path = *v;
    if (auto v = get("CSRF_COOKIE_SECURE")) {
        GALE_ASSIGN_OR_RETURN(o.cookie_secure, ParseBool("CSRF_COOKIE_SECURE", *v));
    }
    if (auto v = get("CSRF_COOKIE_HTTPONLY")) {
        GALE_ASSIGN_OR_RETURN(o.cookie_httponly, ParseBool("CSRF_COOKIE_HTTPONLY", *v));
    }
    if (auto v = get("CSRF_COOKIE_SAMESITE")) {
        GALE_ASSIGN_OR_RETURN(o.cookie_samesite, http::ParseSameSite("CSRF_COOKIE_SAMESITE", *v));
    }
    if (auto v = get("CSRF_HEADER_NAME")) {
        std::string name = *v;
        // Django names the header by its WSGI key (HTTP_X_CSRFTOKEN); gale by the header itself.
        if (name.starts_with("HTTP_")) {
            name = name.substr(5);
            for (char& c : name) c = c == '_' ? '-' : c;
        }
        o.header_name = std::move(name);
    }
    if (auto v = get("CSRF_TRUSTED_ORIGINS")) o.trusted_origins = SplitList(*v);
    if (auto v = get("SECURE_PROXY_SSL_HEADER")) {
        const std::size_t colon = v->find(':');
        std::string name = colon == std::string::npos ? "" : std::string(v->substr(0, colon));
        std::string value = colon == std::string::npos ? "" : v->substr(colon + 1);
        while (!value.empty() && value.front() == ' ') value.erase(0, 1);
        if (name.empty() || value.empty() || name.find(' ') != std::string::npos) {
            return MakeError(ErrorCode::kInvalidArgument,
                             fmt::format("SECURE_PROXY_SSL_HEADER: '{}' is not 'Header-Name: value' (e.g. "
                                         "'X-Forwarded-Proto: https')",
                                         *v));
        }
        o.secure_proxy_header.emplace(std::move(name), std::move(value));
    }
    return o;
}

std::string NewSecret() { return sessions::detail::RandomString(kSecretLength, kChars); }

std::string MaskSecretWith(std::string_view secret, std::string_view mask) {
    std::string out(mask);
    for (std::size_t i = 0; i < secret.size() && i < mask.size(); ++i) {
        out.push_back(kChars[static_cast<std::size_t>(Index(secret[i]) + Index(mask[i])) % kChars.size()]);
    }
    return out;
}

std::string MaskSecret(std::string_view secret) { return MaskSecretWith(secret, NewSecret()); }

std::optional<std::string> UnmaskToken(std::string_view token) {
    if (token.size() != kTokenLength || !AllAllowed(token)) return std::nullopt;
    std::string secret;
    secret.reserve(kSecretLength);
    const int n = static_cast<int>(kChars.size());
    for (std::size_t i = 0; i < kSecretLength; ++i) {
        secret.push_back(kChars[static_cast<std::size_t>((Index(token[kSecretLength + i]) - Index(token[i]) + n) % n)]);
    }
    return secret;
}

std::optional<std::string> SanitizeToken(std::string_view token) {
    if (!AllAllowed(token)) return std::nullopt;
    if (token.size() == kTokenLength) return std::string(token);
    if (token.size() == kSecretLength) return MaskSecret(token);
    return std::nullopt;
}

bool TokensMatch(std::string_view request_token, std::string_view cookie_token) {
    auto a = SanitizeToken(request_token);
    auto b = SanitizeToken(cookie_token);
    if (!a || !b) return false;
    return sessions::detail::ConstantTimeEquals(*UnmaskToken(*a), *UnmaskToken(*b));
}

bool IsSameDomain(std::string_view host, std::string_view pattern) {
    if (pattern.empty() || host.empty()) return false;
    const std::string h = ToLower(host);
    const std::string p = ToLower(pattern);
    if (p.front() == '.') return h.ends_with(p) || h == std::string_view(p).substr(1);
    return h == p;
}

std::optional<std::string_view> Check(const http::Request& request, const Options& options,
                                      const std::optional<std::string>& cookie_token) {
    if (IsSafeMethod(request.method())) return std::nullopt;
    if (IsSecure(request, options)) {
        if (auto origin = request.header("origin")) {
            auto [scheme, host] = SchemeAndHost(*origin);
            if (scheme != "https" || !HostIsGood(host, request, options)) return kReasonBadOrigin;
        }
        auto referer = request.header("referer");
        if (!referer) return kReasonNoReferer;
        auto [scheme, host] = SchemeAndHost(*referer);
        if (scheme.empty() || host.empty()) return kReasonMalformedReferer;
        if (scheme != "https") return kReasonInsecureReferer;
        // Django's message quotes the Referer; it is a client's text, so the log gets it as a field instead.
        if (!HostIsGood(host, request, options))
            return "Referer checking failed - Referer does not match any trusted origins.";
    }
    if (!cookie_token) return kReasonNoCookie;
    std::optional<std::string> token;
    if (request.method() == http::Method::kPost) {
        token = IsFormBody(request) ? http::FormValue(request.body(), options.field_name)
                                    : MultipartField(request, options.field_name);
    }
    if (!token || token->empty()) {
        auto header = request.header(options.header_name);
        token = header ? std::string(*header) : std::string();
    }
    if (!TokensMatch(*token, *cookie_token)) return kReasonBadToken;
    return std::nullopt;
}

Csrf::Csrf(std::shared_ptr<const Options> options, std::optional<std::string> cookie_token)
    : options_(std::move(options)), cookie_token_(std::move(cookie_token)) {}

std::string Csrf::Token() {
    if (!cookie_token_) cookie_token_ = MaskSecret(NewSecret());
    used_ = true;
    return MaskSecret(*UnmaskToken(*cookie_token_));
}

void Csrf::Rotate() {
    cookie_token_ = MaskSecret(NewSecret());
    used_ = true;
}

Result<void> Csrf::Finish(http::Response& response) const {
    if (!used_ || !cookie_token_) return {};
    http::SetCookie cookie{.name = options_->cookie_name,
                           .value = *cookie_token_,
                           .max_age = options_->cookie_age,
                           .domain = options_->cookie_domain,
                           .path = options_->cookie_path,
                           .secure = options_->cookie_secure,
                           .http_only = options_->cookie_httponly,
                           .same_site = options_->cookie_samesite};
    GALE_RETURN_IF_ERROR(http::AddSetCookie(response, cookie));
    bool varies = false;
    for (const auto& [name, value] : response.headers()) {
        varies = varies || (EqualsIgnoreCase(name, "vary") && ToLower(value).find("cookie") != std::string::npos);
    }
    if (!varies) response.AddHeader("Vary", "Cookie");
    return {};
}

http::Response Forbidden(const http::Request& request, std::string_view reason) {
    if (log::Enabled(log::Level::kWarning)) {
        log::Write(log::Level::kWarning, "gale.csrf", "Forbidden (CSRF)",
                   {{"request_id", request.request_id()},
                    {"method", request.method_name()},
                    {"path", request.path()},
                    {"reason", reason},
                    {"referer", request.header("referer").value_or("")},
                    {"origin", request.header("origin").value_or("")}});
    }
    nlohmann::ordered_json body = {{"error", "forbidden"}, {"reason", reason}, {"request_id", request.request_id()}};
    return http::Response::Json(403, body);
}

http::Handler Protect(OptionsSource source, CsrfHandler handler) {
    return [source = std::move(source), handler = std::move(handler)](http::Request& request) -> http::Response {
        auto found = source();
        if (!found) return http::ErrorResponse(found.error(), request);
        const std::shared_ptr<const Options>& options = *found;
        std::optional<std::string> cookie_token;
        if (auto cookie = http::FindCookie(request, options->cookie_name)) {
            // As Django's _sanitize_token: a cookie that is not a token is replaced by a new one (which no request
            // token can match), sent if the handler asks for a token.
            cookie_token = SanitizeToken(*cookie);
            if (!cookie_token) cookie_token = MaskSecret(NewSecret());
        }
        if (auto reason = Check(request, *options, cookie_token)) return Forbidden(request, *reason);
        Csrf csrf(options, std::move(cookie_token));
        Result<http::Response> response = handler(request, csrf);
        if (!response) return http::ErrorResponse(response.error(), request);
        if (auto finished = csrf.Finish(*response); !finished) return http::ErrorResponse(finished.error(), request);
        return std::move(*response);
    };
}

http::Handler Protect(std::shared_ptr<const Options> options, CsrfHandler handler) {
    return Protect(
        OptionsSource([options = std::move(options)]() -> Result<std::shared_ptr<const Options>> { return options; }),
        std::move(handler));
}

http::Handler ProtectWithSession(OptionsSource csrf, ManagerSource sessions, SessionCsrfHandler handler) {
    return Protect(std::move(csrf),
                   [sessions = std::move(sessions), handler = std::move(handler)](
                       http::Request& request, Csrf& token) -> Result<http::Response> {
                       return detail::RunWithSession(sessions, request, [&](http::Request& r, Session& session) {
                           return handler(r, session, token);
                       });
                   });
}

}  // namespace gale::sessions::csrf
