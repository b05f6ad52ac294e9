// SPDX-License-Identifier: MIT
// notes: the service of docs/tutorial.md. Everything it has is declared in notes/service.cpp.
#include <gale/app/app.hpp>

#include "notes/service.hpp"

int main(int argc, char** argv) {
    gale::app::App app("notes", "0.1.0");
    notes::Declare(app);
    return app.Run(argc, argv);
}
