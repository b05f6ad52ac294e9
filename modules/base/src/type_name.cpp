// SPDX-License-Identifier: MIT
#include <cxxabi.h>

#include <cstdlib>
#include <memory>

#include <gale/base/type_name.hpp>

namespace gale {

std::string TypeName(const std::type_info& type) {
    int status = 0;
    std::unique_ptr<char, decltype(&std::free)> demangled(abi::__cxa_demangle(type.name(), nullptr, nullptr, &status),
                                                          &std::free);
    if (status == 0 && demangled != nullptr) return demangled.get();
    return type.name();
}

}  // namespace gale
