// SPDX-License-Identifier: MIT
/// @file gale/base/type_name.hpp
/// @brief The readable name of a C++ type, for reports of caught exceptions ("std::runtime_error").
#pragma once

#include <string>
#include <typeinfo>

namespace gale {

/// `type.name()` demangled by the C++ ABI when it can be ("std::runtime_error", "app::OrderError"), else the
/// mangled name as is. Allocates; never throws other than std::bad_alloc. Thread-safe.
[[nodiscard]] std::string TypeName(const std::type_info& type);

}  // namespace gale
