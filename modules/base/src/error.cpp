// SPDX-License-Identifier: MIT
#include <atomic>
#include <cstdio>
#include <cstdlib>

#include <gale/base/check.hpp>
#include <gale/base/error.hpp>

namespace gale {

std::string_view ToString(ErrorCode code) noexcept {
    switch (code) {
        case ErrorCode::kInvalidArgument:
            return "invalid_argument";
        case ErrorCode::kNotFound:
            return "not_found";
        case ErrorCode::kAlreadyExists:
            return "already_exists";
        case ErrorCode::kUnavailable:
            return "unavailable";
        case ErrorCode::kTimeout:
            return "timeout";
        case ErrorCode::kIo:
            return "io";
        case ErrorCode::kInternal:
            return "internal";
        case ErrorCode::kCancelled:
            return "cancelled";
    }
    return "unknown";
}

std::string Error::ToString() const {
    std::string out = message_;
    for (const Error* c = cause(); c != nullptr; c = c->cause()) {
        out += ": ";
        out += c->message();
    }
    return out;
}

namespace {
std::atomic<std::uint64_t> bugs_reported{0};
}  // namespace

std::uint64_t BugsReported() noexcept { return bugs_reported.load(std::memory_order_relaxed); }

namespace detail {
void CheckFailed(const char* expr, const char* file, int line) noexcept {
    std::fprintf(stderr, "gale: check failed: %s at %s:%d\n", expr, file, line);
    std::abort();
}

void BugReached(const char* what, const char* file, int line) noexcept {
    std::fprintf(stderr, "gale: bug: %s at %s:%d\n", what, file, line);
#ifndef NDEBUG
    std::abort();
#else
    bugs_reported.fetch_add(1, std::memory_order_relaxed);
#endif
}
}  // namespace detail

}  // namespace gale
