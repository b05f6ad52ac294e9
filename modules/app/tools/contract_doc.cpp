// SPDX-License-Identifier: MIT
// gale-app-contract-doc: prints docs/environment.md, generated from gale::app::GaleContract().
//   build/dev/modules/app/gale-app-contract-doc > docs/environment.md
#include <cstdio>
#include <string>

#include "environment_doc.hpp"

int main(int argc, char** argv) {
    if (argc > 1) {
        std::fprintf(stderr, "usage: %s > docs/environment.md\n", argv[0]);
        return 2;
    }
    const std::string doc = gale::app::detail::EnvironmentDoc();
    if (std::fwrite(doc.data(), 1, doc.size(), stdout) != doc.size() || std::fflush(stdout) != 0) {
        std::perror("gale-app-contract-doc: write");
        return 1;
    }
    return 0;
}
