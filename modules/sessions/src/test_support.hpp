// SPDX-License-Identifier: MIT
/// @file test_support.hpp (sessions' tests)
/// @brief Requests with cookies, Set-Cookie lookups, an environment map and a temporary SQLite store for the
///        sessions tests.
#pragma once

#include <unistd.h>

#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include <gale/db/pool.hpp>
#include <gale/http/cookie.hpp>
#include <gale/http/message.hpp>
#include <gale/sessions/database_store.hpp>

namespace gale::sessions::testing {

/// A request whose headers live in the object (Request holds views).
struct OwnedRequest {
    std::vector<std::pair<std::string, std::string>> headers;
    http::Request request;

    explicit OwnedRequest(http::Method method = http::Method::kGet,
                          std::vector<std::pair<std::string, std::string>> h = {})
        : headers(std::move(h)) {
        request.SetLine(method, http::ToString(method), "/", 1);
        request.SetRequestId("test-request");
        for (const auto& [n, v] : headers) request.AddHeader(n, v);
    }
    OwnedRequest(const OwnedRequest&) = delete;
};

/// The value of the Set-Cookie header for `name`, or "" when the response sets none.
inline std::string SetCookieFor(const http::Response& r, std::string_view name) {
    for (const auto& [n, v] : r.headers()) {
        if (n == "Set-Cookie" && v.starts_with(std::string(name) + "=")) return v;
    }
    return "";
}

/// The cookie's value in a Set-Cookie header value: its first pair, as the Cookie parser reads it.
inline std::string CookieValue(std::string_view set_cookie) {
    const auto pairs = http::ParseCookieHeader(set_cookie);
    return pairs.empty() ? std::string() : std::string(pairs.front().value);
}

inline EnvLookup MapLookup(const std::map<std::string, std::string, std::less<>>& env) {
    return [env](std::string_view name) -> std::optional<std::string> {
        auto it = env.find(name);
        return it == env.end() ? std::nullopt : std::optional<std::string>(it->second);
    };
}

/// A directory removed with its contents at destruction.
class TempDir {
public:
    TempDir() {
        std::string templ = (std::filesystem::temp_directory_path() / "gale-sessions-XXXXXX").string();
        path_ = ::mkdtemp(templ.data());
    }
    ~TempDir() {
        std::error_code ec;
        std::filesystem::remove_all(path_, ec);
    }
    TempDir(const TempDir&) = delete;
    TempDir& operator=(const TempDir&) = delete;
    [[nodiscard]] std::string path() const { return path_; }

private:
    std::string path_;
};

}  // namespace gale::sessions::testing
