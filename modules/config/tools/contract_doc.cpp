// SPDX-License-Identifier: MIT
// gale-config-contract-doc: prints docs/environment.md, generated from gale::config::BuiltinContract().
//   build/dev/modules/config/gale-config-contract-doc > docs/environment.md
#include <cstdio>
#include <string>

#include "environment_doc.hpp"

int main(int argc, char** argv) {
    if (argc > 1) {
        std::fprintf(stderr, "usage: %s > docs/environment.md\n", argv[0]);
        return 2;
    }
    const std::string doc = gale::config::detail::EnvironmentDoc();
    if (std::fwrite(doc.data(), 1, doc.size(), stdout) != doc.size() || std::fflush(stdout) != 0) {
        std::perror("gale-config-contract-doc: write");
        return 1;
    }
    return 0;
}
