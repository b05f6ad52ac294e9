// SPDX-License-Identifier: MIT
#include "gale/sentry/rate_limit.hpp"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <vector>

namespace gale::sentry {
namespace {

std::string_view Trim(std::string_view s) {
    while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
    while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
    return s;
}

/// A non-negative number of seconds ("60", "2.5"), at most a day; nullopt otherwise.
std::optional<std::chrono::milliseconds> Seconds(std::string_view s) {
    s = Trim(s);
    if (s.empty() || s.size() > 20) return std::nullopt;
    double v = 0;
    auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
    if (ec != std::errc() || end != s.data() + s.size() || !std::isfinite(v) || v < 0) return std::nullopt;
    v = std::min(v, 86400.0);
    return std::chrono::milliseconds(static_cast<std::int64_t>(std::ceil(v * 1000)));
}

std::vector<std::string_view> Split(std::string_view s, char sep) {
    std::vector<std::string_view> out;
    while (true) {
        std::size_t p = s.find(sep);
        out.push_back(s.substr(0, p));
        if (p == std::string_view::npos) break;
        s.remove_prefix(p + 1);
    }
    return out;
}

}  // namespace

void RateLimits::Extend(const std::string& category, SteadyTime until) {
    auto [it, inserted] = until_.emplace(category, until);
    if (!inserted) it->second = std::max(it->second, until);
}

void RateLimits::Update(int status, std::optional<std::string_view> retry_after,
                        std::optional<std::string_view> sentry_rate_limits, SteadyTime now) {
    if (sentry_rate_limits && !Trim(*sentry_rate_limits).empty()) {
        for (std::string_view group : Split(*sentry_rate_limits, ',')) {
            std::vector<std::string_view> parts = Split(Trim(group), ':');
            if (parts.size() < 2) continue;
            auto delay = Seconds(parts[0]);
            if (!delay) continue;
            std::string_view categories = Trim(parts[1]);
            if (categories.empty()) {
                Extend("", now + *delay);
                continue;
            }
            for (std::string_view c : Split(categories, ';')) {
                c = Trim(c);
                if (!c.empty()) Extend(std::string(c), now + *delay);
            }
        }
        return;
    }
    if (status == 429) {
        auto delay = retry_after ? Seconds(*retry_after) : std::nullopt;
        Extend("", now + (delay ? *delay : std::chrono::milliseconds(kDefaultRetryAfter)));
    }
}

SteadyTime RateLimits::LimitedUntil(std::string_view category) const {
    SteadyTime until{};
    if (auto it = until_.find(std::string_view()); it != until_.end()) until = it->second;
    if (auto it = until_.find(category); it != until_.end()) until = std::max(until, it->second);
    return until;
}

bool RateLimits::IsLimited(std::string_view category, SteadyTime now) const { return LimitedUntil(category) > now; }

EventBudget::EventBudget(std::uint32_t per_minute)
    : capacity_(std::max<double>(1, per_minute)), tokens_(std::max<double>(1, per_minute)) {}

double EventBudget::TokensAt(SteadyTime now) const {
    if (!started_ || now <= last_) return tokens_;
    const double elapsed_min = std::chrono::duration<double>(now - last_).count() / 60.0;
    return std::min(capacity_, tokens_ + elapsed_min * capacity_);
}

bool EventBudget::HasToken(SteadyTime now) const {
    std::lock_guard lock(mu_);
    return TokensAt(now) >= 1;
}

bool EventBudget::TryTake(SteadyTime now) {
    std::lock_guard lock(mu_);
    tokens_ = TokensAt(now);
    if (!started_ || now > last_) last_ = now;
    started_ = true;
    if (tokens_ < 1) return false;
    tokens_ -= 1;
    return true;
}

}  // namespace gale::sentry
