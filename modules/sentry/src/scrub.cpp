// SPDX-License-Identifier: MIT
#include "gale/sentry/scrub.hpp"

#include <array>
#include <cctype>

#include <gale/base/strings.hpp>

namespace gale::sentry {
namespace {

constexpr std::array<std::string_view, 21> kDenylist = {
    "password",  "passwd",     "secret",          "api_key",   "apikey",      "auth",    "credentials",
    "mysql_pwd", "privatekey", "private_key",     "token",     "session",     "csrf",    "xsrf",
    "sessionid", "cookie",     "x_forwarded_for", "phpsessid", "connect.sid", "symfony", "signature"};

bool KeyChar(char c) { return std::isalnum(static_cast<unsigned char>(c)) != 0 || c == '_' || c == '-' || c == '.'; }

bool ValueEnd(char c) {
    return std::isspace(static_cast<unsigned char>(c)) != 0 || c == '&' || c == ',' || c == ';' || c == '"' ||
           c == '\'';
}

/// Replaces user-info passwords in URLs: "scheme://user:secret@" → "scheme://user:[Filtered]@".
std::string ScrubUrlPasswords(std::string_view text) {
    std::string out;
    out.reserve(text.size());
    std::size_t i = 0;
    while (i < text.size()) {
        std::size_t sep = text.find("://", i);
        if (sep == std::string_view::npos) break;
        std::size_t start = sep + 3;
        std::size_t end = start;
        while (end < text.size() && !ValueEnd(text[end]) && text[end] != '/' && text[end] != '@') ++end;
        std::size_t colon = text.find(':', start);
        if (end < text.size() && text[end] == '@' && colon != std::string_view::npos && colon < end) {
            out.append(text.substr(i, colon + 1 - i));
            out.append(kFiltered);
            i = end;  // from the '@'
        } else {
            out.append(text.substr(i, start - i));
            i = start;
        }
    }
    out.append(text.substr(i));
    return out;
}

}  // namespace

bool IsSensitiveKey(std::string_view key) noexcept {
    if (key.empty() || key.size() > 256) return false;
    char buf[256];
    for (std::size_t i = 0; i < key.size(); ++i) {
        char c = static_cast<char>(std::tolower(static_cast<unsigned char>(key[i])));
        buf[i] = c == '-' ? '_' : c;
    }
    std::string_view k(buf, key.size());
    for (std::string_view d : kDenylist) {
        if (k.find(d) != std::string_view::npos) return true;
    }
    return false;
}

StringPairs ScrubHeaders(const StringPairs& headers) {
    StringPairs out;
    out.reserve(headers.size());
    for (const auto& [name, value] : headers) {
        if (EqualsIgnoreCase(name, "cookie") || EqualsIgnoreCase(name, "set-cookie")) continue;
        if (IsSensitiveKey(name)) {
            out.emplace_back(name, std::string(kFiltered));
        } else {
            out.emplace_back(name, ScrubText(value));
        }
    }
    return out;
}

std::string ScrubQueryString(std::string_view query) {
    std::string out;
    out.reserve(query.size());
    std::size_t i = 0;
    while (i <= query.size()) {
        std::size_t amp = query.find('&', i);
        if (amp == std::string_view::npos) amp = query.size();
        std::string_view pair = query.substr(i, amp - i);
        std::size_t eq = pair.find('=');
        std::string_view name = pair.substr(0, eq);
        std::string decoded(name);
        for (char& c : decoded) {
            if (c == '+') c = ' ';
        }
        auto d = PercentDecode(decoded);
        const bool sensitive = IsSensitiveKey(d ? std::string_view(*d) : std::string_view(decoded));
        if (sensitive && eq != std::string_view::npos) {
            out.append(name);
            out += '=';
            out.append(kFiltered);
        } else {
            out.append(pair);
        }
        if (amp == query.size()) break;
        out += '&';
        i = amp + 1;
    }
    return out;
}

std::string ScrubText(std::string_view text) {
    std::string in = ScrubUrlPasswords(text);
    std::string out;
    out.reserve(in.size());
    std::size_t i = 0;
    while (i < in.size()) {
        // A key: a run of key characters, then '=' or ':' (optionally a space after ':', or quotes around the key
        // as in JSON: "password": "x").
        if (!KeyChar(in[i])) {
            out += in[i++];
            continue;
        }
        std::size_t k = i;
        while (k < in.size() && KeyChar(in[k])) ++k;
        std::string_view key(in.data() + i, k - i);
        out.append(key);
        std::size_t j = k;
        if (j < in.size() && (in[j] == '"' || in[j] == '\'')) ++j;
        if (j < in.size() && (in[j] == '=' || in[j] == ':') && IsSensitiveKey(key)) {
            ++j;
            while (j < in.size() && (in[j] == ' ' || in[j] == '"' || in[j] == '\'')) ++j;
            std::size_t v = j;
            while (v < in.size() && !ValueEnd(in[v])) ++v;
            if (v > j) {
                out.append(in, k, j - k);
                out.append(kFiltered);
                i = v;
                continue;
            }
        }
        i = k;
    }
    return out;
}

}  // namespace gale::sentry
