// SPDX-License-Identifier: MIT
// The smallest gale service, built against an installed gale: proves the headers, the exported targets and their
// link dependencies are complete. The packaging test runs it with --help.
#include <gale/app/app.hpp>

int main(int argc, char** argv) {
    gale::app::App app("consumer", "0.0.1");
    app.Get("/", [](gale::http::Request&) { return gale::http::Response::Text(200, "Hello from a consumer\n"); },
            {.inline_handler = true});
    return app.Run(argc, argv);
}
