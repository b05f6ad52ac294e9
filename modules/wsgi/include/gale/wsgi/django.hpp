// SPDX-License-Identifier: MIT
/// @file gale/wsgi/django.hpp
/// @brief Django as django-hurricane integrates it: system checks tagged liveness/readiness/startup as probes, a
///        database check, migrations, management commands, STATIC_*/MEDIA_* settings.
///
/// Every function takes the GIL itself and may block (they run on a check thread or a command's thread).
/// Requires a started interpreter and DJANGO_SETTINGS_MODULE.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include <gale/base/error.hpp>
#include <gale/health/checks.hpp>

namespace gale::wsgi::django {

/// django.setup(). Errors (kInvalidArgument, with the traceback): DJANGO_SETTINGS_MODULE unset or not importable,
/// an app that fails to load.
[[nodiscard]] Result<void> Setup();

/// The probe tags ("liveness", "readiness", "startup") that at least one registered check carries.
std::vector<std::string> ProbeTags();
/// Runs the checks tagged `tag` (deployment checks included, silenced ones skipped, as hurricane does): an error
/// names each serious message ("myapp.E001: …"); warnings alone are a warning.
health::CheckResult RunChecks(const std::string& tag);
/// The default database answers SELECT 1 (a broken connection is closed, so the next run reconnects).
health::CheckResult CheckDatabase();
/// The ENGINE of DATABASES["default"] ("django.db.backends.postgresql"), or nullopt when there is no default
/// database. Reads the settings only: nothing connects.
std::optional<std::string> DatabaseEngine();
/// The migrations not yet applied on the default database ("app_label.0002_name"), or why that is unknown.
Result<std::vector<std::string>> PendingMigrations();

/// Every management command Django knows (its own and the installed apps').
std::vector<std::string> Commands();
/// Runs `manage.py ARGS…` in this process (execute_from_command_line); returns its exit status.
int RunCommand(const std::vector<std::string>& args);

struct FilesSetting {
    std::string root;  ///< STATIC_ROOT / MEDIA_ROOT
    std::string url;   ///< STATIC_URL / MEDIA_URL, a path starting with '/'
};
/// STATIC_ROOT and STATIC_URL ("static") or MEDIA_ROOT and MEDIA_URL ("media") when both are set and the URL is
/// a local path.
std::optional<FilesSetting> Files(const std::string& kind);

}  // namespace gale::wsgi::django
