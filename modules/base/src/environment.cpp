// SPDX-License-Identifier: MIT
#include <cstdlib>

#include <gale/base/environment.hpp>

namespace gale {

std::optional<std::string> LookupEnv(const EnvLookup& lookup, std::string_view name) {
    std::optional<std::string> v;
    if (lookup) {
        v = lookup(name);
    } else if (const char* e = std::getenv(std::string(name).c_str())) {
        v = std::string(e);
    }
    if (v && v->empty()) v.reset();
    return v;
}

}  // namespace gale
