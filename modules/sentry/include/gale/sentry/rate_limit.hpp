// SPDX-License-Identifier: MIT
/// @file gale/sentry/rate_limit.hpp
/// @brief Sentry's rate limits as its responses state them (429 + Retry-After, X-Sentry-Rate-Limits), and the
///        client's own budget of events per minute.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>

namespace gale::sentry {

using SteadyTime = std::chrono::steady_clock::time_point;

/// How long to wait when Sentry says 429 without a usable Retry-After (Sentry's SDKs use 60 s).
inline constexpr std::chrono::seconds kDefaultRetryAfter{60};

/// What Sentry told us to hold back, per data category ("error" for events; "" means every category).
///
/// Update() reads a response the way Sentry's SDKs do: an `X-Sentry-Rate-Limits` header, when present, wins and is
/// `<seconds>:<categories>:<scope>[:<reason>…]` groups separated by ',', categories separated by ';' (empty: all);
/// else a 429 takes `Retry-After` (delay-seconds; an HTTP-date or junk counts as kDefaultRetryAfter); limits only
/// ever extend. Malformed groups are skipped (the header is untrusted input: fuzzed). Not thread-safe (the
/// Reporter's sender thread owns it).
class RateLimits {
public:
    /// Folds in one response: its status and the values of the two headers (nullopt: absent).
    void Update(int status, std::optional<std::string_view> retry_after,
                std::optional<std::string_view> sentry_rate_limits, SteadyTime now);
    /// True while `category` (or every category) is held back.
    [[nodiscard]] bool IsLimited(std::string_view category, SteadyTime now) const;
    /// When `category` may be sent again (now or earlier when it is not limited).
    [[nodiscard]] SteadyTime LimitedUntil(std::string_view category) const;

private:
    void Extend(const std::string& category, SteadyTime until);
    std::map<std::string, SteadyTime, std::less<>> until_;
};

/// The client's own limit: at most `per_minute` events in any sliding window of 60 s, as a token bucket (refilled
/// continuously, bursts up to `per_minute`). Thread-safe (a mutex around two numbers).
class EventBudget {
public:
    explicit EventBudget(std::uint32_t per_minute);
    /// Takes one event's token; false when the budget is spent (the event is to be dropped).
    [[nodiscard]] bool TryTake(SteadyTime now);
    /// True when TryTake(now) would succeed; takes nothing.
    [[nodiscard]] bool HasToken(SteadyTime now) const;

private:
    [[nodiscard]] double TokensAt(SteadyTime now) const;
    mutable std::mutex mu_;
    double capacity_;
    double tokens_;
    SteadyTime last_{};
    bool started_ = false;
};

}  // namespace gale::sentry
