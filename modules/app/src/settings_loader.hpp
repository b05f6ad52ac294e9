// SPDX-License-Identifier: MIT
/// @file settings_loader.hpp (private)
/// @brief Builds the layered settings of a process and exports them to its environment.
///
/// Layers, lowest first: gale's built-in defaults → the chosen profile's values (Layer::kProfile) → settings files
/// (`$GALE_SETTINGS_DIR/base.env`, `project.env`, `<profile>.env`) → dotenv files (ixc-django-docker's chain in
/// `$GALE_DOTENV_DIR`) → the process environment → the command line (applied by each sub-command).
/// With GALE_KMS_DECRYPT=true, values that are base64 and decrypt through AWS KMS are replaced by their plaintext
/// (base-python's rule) and marked secret.
/// Everything not already in the process environment is then exported with setenv(), so the service's own code and
/// `env exec` children see one environment. Call before any thread starts (setenv is not thread-safe).
#pragma once

#include <string>
#include <vector>

#include <gale/base/error.hpp>
#include <gale/config/settings.hpp>

namespace gale::app {

/// The bundled profiles, chosen by GALE_PROFILE.
inline const std::vector<std::string> kProfiles = {"develop", "test", "staging", "production"};

struct LoadedSettings {
    config::Settings settings;
    std::string profile;
    std::vector<std::string> exported_defaults;  ///< defaults the environment should carry too (GALE_PROFILE)
};

/// Loads every layer below the command line. Errors (bad profile, dotenv syntax, wrong secret password, KMS
/// failure) name the file, line or variable.
[[nodiscard]] Result<LoadedSettings> LoadSettings(const config::Environment& env);

/// setenv() for every setting that did not come from the environment (or whose value KMS decrypted), except the
/// serve options' defaults.
void ExportToEnvironment(const LoadedSettings& loaded, const config::Environment& env);

}  // namespace gale::app
