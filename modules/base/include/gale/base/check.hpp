// SPDX-License-Identifier: MIT
/// @file gale/base/check.hpp
/// @brief Invariant checks: GALE_ASSERT (debug only), GALE_CHECK (always; logs and aborts), GALE_BUG (a state that
///        must never happen but can be survived: aborts in debug builds; in release builds writes one line to stderr
///        and counts it in BugsReported(), which the runtime exports as gale_bugs_total).
#pragma once

#include <cstdint>

namespace gale {
/// How many GALE_BUG sites were reached in this process (release builds; debug builds abort at the first).
std::uint64_t BugsReported() noexcept;
}  // namespace gale

namespace gale::detail {
[[noreturn]] void CheckFailed(const char* expr, const char* file, int line) noexcept;
void BugReached(const char* what, const char* file, int line) noexcept;
}  // namespace gale::detail

#define GALE_CHECK(cond) ((cond) ? static_cast<void>(0) : ::gale::detail::CheckFailed(#cond, __FILE__, __LINE__))
#ifdef NDEBUG
#define GALE_ASSERT(cond) static_cast<void>(0)
#else
#define GALE_ASSERT(cond) GALE_CHECK(cond)
#endif
#define GALE_BUG(what) ::gale::detail::BugReached(what, __FILE__, __LINE__)
