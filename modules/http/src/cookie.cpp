// SPDX-License-Identifier: MIT
// Cookie header parsing and Set-Cookie building (contract in gale/http/cookie.hpp). The parser only slices its
// input (no allocation beyond the vector of views) and has no failure path: whatever a client sends, the worst
// outcome is a cookie not found.
#include <fmt/format.h>

#include <gale/base/strings.hpp>
#include <gale/http/cookie.hpp>

#include "field_chars.hpp"

namespace gale::http {
namespace {

std::string_view Trim(std::string_view s) noexcept {
    while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
    while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
    return s;
}

/// RFC 6265 §4.1.1 cookie-octet: %x21 / %x23-2B / %x2D-3A / %x3C-5B / %x5D-7E.
bool IsCookieOctet(char ch) noexcept {
    const auto c = static_cast<unsigned char>(ch);
    return c == 0x21 || (c >= 0x23 && c <= 0x2B) || (c >= 0x2D && c <= 0x3A) || (c >= 0x3C && c <= 0x5B) ||
           (c >= 0x5D && c <= 0x7E);
}

/// Domain and Path: any CHAR except CTLs and ';' (RFC 6265 §4.1.1 av-octet), so they cannot add an attribute.
bool IsAttributeValue(std::string_view s) noexcept {
    for (char ch : s) {
        const auto c = static_cast<unsigned char>(ch);
        if (c < 0x20 || c >= 0x7F || ch == ';') return false;
    }
    return true;
}

}  // namespace

std::vector<CookiePair> ParseCookieHeader(std::string_view header) {
    std::vector<CookiePair> out;
    while (!header.empty()) {
        const std::size_t end = header.find(';');
        std::string_view piece = header.substr(0, end);
        header = end == std::string_view::npos ? std::string_view() : header.substr(end + 1);
        const std::size_t eq = piece.find('=');
        if (eq == std::string_view::npos) continue;
        std::string_view name = Trim(piece.substr(0, eq));
        std::string_view value = Trim(piece.substr(eq + 1));
        if (name.empty()) continue;
        if (value.size() >= 2 && value.front() == '"' && value.back() == '"') value = value.substr(1, value.size() - 2);
        out.push_back({name, value});
    }
    return out;
}

std::optional<std::string_view> FindCookie(const Request& request, std::string_view name) {
    for (const Header& h : request.headers()) {
        if (!EqualsIgnoreCase(h.name, "cookie")) continue;
        for (const CookiePair& pair : ParseCookieHeader(h.value)) {
            if (pair.name == name) return pair.value;
        }
    }
    return std::nullopt;
}

std::string_view ToString(SameSite same_site) noexcept {
    switch (same_site) {
        case SameSite::kLax:
            return "Lax";
        case SameSite::kStrict:
            return "Strict";
        case SameSite::kNone:
            return "None";
        case SameSite::kUnset:
            break;
    }
    return "";
}

Result<SameSite> ParseSameSite(std::string_view what, std::string_view text) {
    if (text.empty() || EqualsIgnoreCase(text, "false")) return SameSite::kUnset;
    if (EqualsIgnoreCase(text, "lax")) return SameSite::kLax;
    if (EqualsIgnoreCase(text, "strict")) return SameSite::kStrict;
    if (EqualsIgnoreCase(text, "none")) return SameSite::kNone;
    return MakeError(ErrorCode::kInvalidArgument,
                     fmt::format("{}: '{}' is not one of Lax, Strict, None, false", what, text));
}

Result<std::string> FormatSetCookie(const SetCookie& c) {
    if (c.name.empty()) return MakeError(ErrorCode::kInvalidArgument, "Set-Cookie: the cookie has no name");
    for (char ch : c.name) {
        if (!IsTokenChar(ch)) {
            return MakeError(ErrorCode::kInvalidArgument,
                             fmt::format("Set-Cookie: the name '{}' is not an HTTP token", c.name));
        }
    }
    for (char ch : c.value) {
        if (!IsCookieOctet(ch)) {
            // The value may be a secret (a session): never quoted.
            return MakeError(ErrorCode::kInvalidArgument,
                             fmt::format("Set-Cookie {}: the value has a byte that a cookie value cannot hold "
                                         "(CTL, space, '\"', ',', ';', '\\\\' or non-ASCII)",
                                         c.name));
        }
    }
    if (!IsAttributeValue(c.domain)) {
        return MakeError(ErrorCode::kInvalidArgument, fmt::format("Set-Cookie {}: Domain has ';' or a CTL", c.name));
    }
    if (!IsAttributeValue(c.path)) {
        return MakeError(ErrorCode::kInvalidArgument, fmt::format("Set-Cookie {}: Path has ';' or a CTL", c.name));
    }
    if (c.same_site == SameSite::kNone && !c.secure) {
        return MakeError(ErrorCode::kInvalidArgument,
                         fmt::format("Set-Cookie {}: SameSite=None needs Secure (browsers drop the cookie)", c.name));
    }
    std::string out = c.name + "=" + c.value;
    if (c.max_age) {
        if (c.max_age->count() <= 0) {
            out += "; expires=Thu, 01 Jan 1970 00:00:00 GMT; Max-Age=0";
        } else {
            out += fmt::format("; Max-Age={}", c.max_age->count());
        }
    }
    if (!c.domain.empty()) out += "; Domain=" + c.domain;
    if (!c.path.empty()) out += "; Path=" + c.path;
    if (c.secure) out += "; Secure";
    if (c.http_only) out += "; HttpOnly";
    if (c.same_site != SameSite::kUnset) out += fmt::format("; SameSite={}", ToString(c.same_site));
    return out;
}

Result<void> AddSetCookie(Response& response, const SetCookie& cookie) {
    GALE_ASSIGN_OR_RETURN(std::string value, FormatSetCookie(cookie));
    response.AddHeader("Set-Cookie", std::move(value));
    return {};
}

}  // namespace gale::http
