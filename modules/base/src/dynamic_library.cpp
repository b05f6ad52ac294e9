// SPDX-License-Identifier: MIT
#include <dlfcn.h>

#include <fmt/format.h>

#include <gale/base/dynamic_library.hpp>

namespace gale {

Result<DynamicLibrary> DynamicLibrary::Open(std::initializer_list<const char*> sonames, const char* package) {
    std::string last_error;
    for (const char* name : sonames) {
        if (void* handle = dlopen(name, RTLD_NOW | RTLD_LOCAL)) return DynamicLibrary(handle, name);
        const char* e = dlerror();
        last_error = e != nullptr ? e : name;
    }
    std::string names;
    for (const char* name : sonames) names += (names.empty() ? "" : " or ") + std::string(name);
    return MakeError(ErrorCode::kUnavailable,
                     fmt::format("cannot load {} (install Debian's {}): {}", names, package, last_error));
}

void* DynamicLibrary::Symbol(const char* name) const noexcept { return dlsym(handle_, name); }

}  // namespace gale
