// SPDX-License-Identifier: MIT
/// @file gale/base/check.hpp
/// @brief Invariant checks: GALE_ASSERT (debug only), GALE_CHECK (always; logs and aborts).
#pragma once

namespace gale::detail {
[[noreturn]] void CheckFailed(const char* expr, const char* file, int line) noexcept;
}  // namespace gale::detail

#define GALE_CHECK(cond) ((cond) ? static_cast<void>(0) : ::gale::detail::CheckFailed(#cond, __FILE__, __LINE__))
#ifdef NDEBUG
#define GALE_ASSERT(cond) static_cast<void>(0)
#else
#define GALE_ASSERT(cond) GALE_CHECK(cond)
#endif
