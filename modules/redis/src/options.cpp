// SPDX-License-Identifier: MIT
#include <charconv>
#include <cmath>
#include <optional>
#include <string>

#include <fmt/format.h>

#include <gale/base/strings.hpp>
#include <gale/redis/options.hpp>

namespace gale::redis {
namespace {

tl::unexpected<Error> Invalid(std::string message) {
    return MakeError(ErrorCode::kInvalidArgument, std::move(message));
}

std::optional<int> ParseNumber(std::string_view text, int min, int max) {
    int value = 0;
    const auto* end = text.data() + text.size();
    auto [ptr, ec] = std::from_chars(text.data(), end, value);
    if (text.empty() || ec != std::errc() || ptr != end || value < min || value > max) return std::nullopt;
    return value;
}

// Seconds as redis-py takes them ("2", "0.5"), to milliseconds; nullopt unless in (0, 86400].
std::optional<std::chrono::milliseconds> ParseSeconds(std::string_view text) {
    double value = 0;
    const auto* end = text.data() + text.size();
    auto [ptr, ec] = std::from_chars(text.data(), end, value);
    if (text.empty() || ec != std::errc() || ptr != end || !std::isfinite(value) || value <= 0 || value > 86400) {
        return std::nullopt;
    }
    return std::chrono::milliseconds(static_cast<std::int64_t>(std::ceil(value * 1000)));
}

}  // namespace

Result<ConnectionOptions> ParseUrl(std::string_view url, std::string_view what) {
    ConnectionOptions o;
    o.source = std::string(what);
    std::string_view rest;
    if (url.starts_with("redis://")) {
        rest = url.substr(8);
    } else if (url.starts_with("rediss://")) {
        return Invalid(
            fmt::format("{}: rediss:// (TLS) is not supported: Debian's hiredis 0.14 has no SSL library", what));
    } else {
        return Invalid(fmt::format("{}: the scheme must be redis://", what));
    }
    std::string_view query;
    if (auto q = rest.find('?'); q != std::string_view::npos) {
        query = rest.substr(q + 1);
        rest = rest.substr(0, q);
    }
    // The path (the db) starts at the first '/' after the userinfo: find the userinfo's end first (the LAST '@'
    // before any '/' that follows it; a password may contain '/', so look for '@' in the whole authority+path).
    std::string_view authority = rest;
    std::string_view path;
    bool has_path = false;
    const auto at = rest.rfind('@');
    const auto slash = rest.find('/', at == std::string_view::npos ? 0 : at + 1);
    if (slash != std::string_view::npos) {
        authority = rest.substr(0, slash);
        path = rest.substr(slash + 1);
        has_path = true;
    }
    if (at != std::string_view::npos) {
        std::string_view userinfo = authority.substr(0, at);
        authority = authority.substr(at + 1);
        std::string_view user = userinfo;
        std::string_view password;
        bool has_password = false;
        if (auto colon = userinfo.find(':'); colon != std::string_view::npos) {
            user = userinfo.substr(0, colon);
            password = userinfo.substr(colon + 1);
            has_password = true;
        }
        auto u = PercentDecode(user);
        auto p = PercentDecode(password);
        if (!u || !p) return Invalid(fmt::format("{}: bad percent-escape in the user or password", what));
        o.username = std::move(*u);
        o.password = std::move(*p);
        if (!has_password && !o.username.empty()) {
            // redis://secret@host: redis-py reads a lone userinfo as the password only when it has a ':' (":secret");
            // "user@" alone would send AUTH user with no password, which servers refuse: say so now.
            return Invalid(
                fmt::format("{}: a user without a password (write redis://:password@host for a password)", what));
        }
    }
    std::string_view host = authority;
    std::string_view port;
    if (authority.starts_with('[')) {
        const auto close = authority.find(']');
        if (close == std::string_view::npos) return Invalid(fmt::format("{}: unclosed '[' in the host", what));
        host = authority.substr(1, close - 1);
        std::string_view after = authority.substr(close + 1);
        if (!after.empty()) {
            if (!after.starts_with(':')) return Invalid(fmt::format("{}: junk after the IPv6 host", what));
            port = after.substr(1);
            if (port.empty()) return Invalid(fmt::format("{}: empty port", what));
        }
    } else if (auto colon = authority.rfind(':'); colon != std::string_view::npos) {
        host = authority.substr(0, colon);
        port = authority.substr(colon + 1);
        if (port.empty()) return Invalid(fmt::format("{}: empty port", what));
    }
    if (host.empty()) return Invalid(fmt::format("{}: no host", what));
    o.host = std::string(host);
    if (!port.empty()) {
        auto p = ParseNumber(port, 1, 65535);
        if (!p) return Invalid(fmt::format("{}: the port '{}' is not a number from 1 to 65535", what, port));
        o.port = *p;
    }
    if (has_path && !path.empty()) {
        auto db = ParseNumber(path, 0, 1 << 20);
        if (!db) return Invalid(fmt::format("{}: the database '{}' is not a number (redis://host:port/0)", what, path));
        o.db = *db;
    }
    while (!query.empty()) {
        std::string_view item = query.substr(0, query.find('&'));
        query = item.size() < query.size() ? query.substr(item.size() + 1) : std::string_view();
        if (item.empty()) continue;
        const auto eq = item.find('=');
        std::string_view name = item.substr(0, eq);
        std::string_view value = eq == std::string_view::npos ? std::string_view() : item.substr(eq + 1);
        if (name == "socket_connect_timeout" || name == "socket_timeout") {
            auto ms = ParseSeconds(value);
            if (!ms) return Invalid(fmt::format("{}: {} must be seconds above 0, not '{}'", what, name, value));
            (name == "socket_timeout" ? o.command_timeout : o.connect_timeout) = *ms;
        } else if (name == "db") {
            auto db = ParseNumber(value, 0, 1 << 20);
            if (!db) return Invalid(fmt::format("{}: db must be a number, not '{}'", what, value));
            o.db = *db;
        } else if (name == "client_name") {
            o.client_name = std::string(value);
        } else {
            return Invalid(fmt::format(
                "{}: unknown parameter '{}' (known: socket_connect_timeout, socket_timeout, db, client_name)", what,
                name));
        }
    }
    return o;
}

std::string Describe(const ConnectionOptions& options) {
    const bool v6 = options.host.find(':') != std::string::npos;
    return fmt::format("redis://{}{}{}{}:{}/{}", options.username.empty() ? "" : options.username + "@", v6 ? "[" : "",
                       options.host, v6 ? "]" : "", options.port, options.db);
}

}  // namespace gale::redis
