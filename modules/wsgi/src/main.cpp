// SPDX-License-Identifier: MIT
// gale-wsgi: serves a Python WSGI app (Django, Flask…) with gale's server, probes, metrics and drain.
#include <gale/wsgi/service.hpp>

int main(int argc, char** argv) { return gale::wsgi::RunGaleWsgi(argc, argv); }
