// SPDX-License-Identifier: MIT
#include "gale/sentry/dsn.hpp"

#include <algorithm>
#include <cctype>

#include <fmt/format.h>

namespace gale::sentry {
namespace {

Result<Dsn> Bad(std::string_view why) {
    return MakeError(ErrorCode::kInvalidArgument, fmt::format("SENTRY_DSN: {} (the value is secret, not shown)", why));
}

bool AllDigits(std::string_view s) {
    return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

bool KeyChars(std::string_view s) {
    return std::all_of(s.begin(), s.end(), [](char c) {
        return std::isalnum(static_cast<unsigned char>(c)) != 0 || c == '-' || c == '_' || c == '.';
    });
}

}  // namespace

std::string Dsn::EnvelopeUrl() const {
    std::string url = scheme + "://" + host;
    if (!port.empty()) url += ":" + port;
    url += path_prefix;
    url += "/api/" + project_id + "/envelope/";
    return url;
}

std::string Dsn::AuthHeader(std::string_view client) const {
    std::string h = fmt::format("Sentry sentry_version=7, sentry_client={}, sentry_key={}", client, public_key);
    if (!secret_key.empty()) h += ", sentry_secret=" + secret_key;
    return h;
}

Result<Dsn> ParseDsn(std::string_view text) {
    for (char c : text) {
        if (static_cast<unsigned char>(c) <= 0x20 || c == 0x7f) return Bad("contains whitespace or control bytes");
    }
    Dsn d;
    std::size_t sep = text.find("://");
    if (sep == std::string_view::npos) return Bad("not a URL (scheme://key@host/project_id)");
    std::string scheme(text.substr(0, sep));
    std::transform(scheme.begin(), scheme.end(), scheme.begin(),
                   [](char c) { return static_cast<char>(std::tolower(static_cast<unsigned char>(c))); });
    if (scheme != "https" && scheme != "http") return Bad("the scheme must be https or http");
    d.scheme = std::move(scheme);
    std::string_view rest = text.substr(sep + 3);
    if (rest.find_first_of("?#") != std::string_view::npos) return Bad("a query string or fragment is not allowed");
    std::size_t slash = rest.find('/');
    std::string_view authority = rest.substr(0, slash);
    std::string_view path = slash == std::string_view::npos ? std::string_view() : rest.substr(slash);
    std::size_t at = authority.rfind('@');
    if (at == std::string_view::npos) return Bad("no public key (scheme://key@host/project_id)");
    std::string_view userinfo = authority.substr(0, at);
    std::string_view hostport = authority.substr(at + 1);
    std::size_t colon = userinfo.find(':');
    std::string_view key = userinfo.substr(0, colon);
    std::string_view secret = colon == std::string_view::npos ? std::string_view() : userinfo.substr(colon + 1);
    if (key.empty()) return Bad("the public key is empty");
    if (!KeyChars(key) || !KeyChars(secret)) return Bad("the key holds characters other than letters, digits, -_.");
    d.public_key = std::string(key);
    d.secret_key = std::string(secret);
    // host[:port], host possibly an [IPv6] literal.
    std::string_view host = hostport;
    std::string_view port;
    if (!hostport.empty() && hostport.front() == '[') {
        std::size_t close = hostport.find(']');
        if (close == std::string_view::npos) return Bad("an IPv6 host lacks its closing ']'");
        host = hostport.substr(0, close + 1);
        std::string_view after = hostport.substr(close + 1);
        if (!after.empty()) {
            if (after.front() != ':') return Bad("junk after the IPv6 host");
            port = after.substr(1);
            if (port.empty()) return Bad("the port is empty");
        }
    } else if (std::size_t pc = hostport.rfind(':'); pc != std::string_view::npos) {
        host = hostport.substr(0, pc);
        port = hostport.substr(pc + 1);
        if (port.empty()) return Bad("the port is empty");
    }
    if (host.empty() || host == "[]") return Bad("the host is empty");
    if (host.front() != '[' && host.find_first_of("[]@") != std::string_view::npos) return Bad("the host is malformed");
    if (!port.empty()) {
        if (!AllDigits(port) || port.size() > 5 || std::stoi(std::string(port)) > 65535 ||
            std::stoi(std::string(port)) == 0) {
            return Bad("the port is not a number in 1-65535");
        }
    }
    d.host = std::string(host);
    d.port = std::string(port);
    // path = [prefix]/<project_id>, a trailing slash tolerated.
    while (path.size() > 1 && path.back() == '/') path.remove_suffix(1);
    std::size_t last = path.rfind('/');
    if (path.empty() || last == std::string_view::npos || last + 1 >= path.size()) return Bad("no project id");
    std::string_view project = path.substr(last + 1);
    if (!AllDigits(project)) return Bad("the project id is not a number");
    d.project_id = std::string(project);
    d.path_prefix = std::string(path.substr(0, last));
    return d;
}

}  // namespace gale::sentry
