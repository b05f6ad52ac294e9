// SPDX-License-Identifier: MIT
/// @file gale/wsgi/service.hpp
/// @brief `gale-wsgi`: a Python WSGI app (a Django project, Flask…) run by gale's App, so that every `serve`
///        option, setting, probe, metric, webhook and drain works as for a C++ service.
///
/// Options of its own, anywhere on the command line (or from the environment):
/// | Option            | Environment        | Meaning                                                        |
/// |-------------------|--------------------|----------------------------------------------------------------|
/// | --app SPEC        | GALE_WSGI_APP      | "module:callable"; default with DJANGO_SETTINGS_MODULE: Django |
/// | --pythonpath DIR  | GALE_PYTHONPATH    | put DIR first on sys.path (repeatable; ':'-separated list)     |
/// | --script-name P   | GALE_SCRIPT_NAME   | mount prefix: SCRIPT_NAME for paths under P                    |
/// | --name NAME       | GALE_WSGI_NAME     | the service's name; default: the Django project's package      |
/// PYTHONPATH and VIRTUAL_ENV work as for `python3`. With DJANGO_SETTINGS_MODULE set: Django's checks tagged
/// liveness/readiness/startup and its database feed the probes, `--check-migrations` waits for its migrations,
/// `manage ARGS…` (and every Django command by name unless gale has one) runs a management command, and
/// STATIC_ROOT/STATIC_URL and MEDIA_ROOT/MEDIA_URL are the default `--static` and `--media`.
#pragma once

namespace gale::wsgi {

/// The whole of gale-wsgi's main: returns the process exit code (2 for a start-up error, after printing it with
/// the Python traceback).
int RunGaleWsgi(int argc, char** argv);

}  // namespace gale::wsgi
