// SPDX-License-Identifier: MIT
/// @file notes/settings.hpp
/// @brief The service's own settings (NOTES_*): declared for `notes config check`, read from app.settings().
#pragma once

#include <cstdint>
#include <string>

#include <gale/base/error.hpp>
#include <gale/config/contract.hpp>
#include <gale/config/settings.hpp>

namespace notes {

/// The service's own settings, with their defaults. A plain value, read once.
struct Options {
    std::int64_t max_length = 2000;           ///< NOTES_MAX_LENGTH: the longest note text accepted, in bytes
    std::string pipe_path = "notes-pipe.db";  ///< NOTES_PIPE_PATH: the embedded log's SQLite file
};

/// The service's group of the environment contract. gale validates it with its own groups before any role starts
/// and in `notes config check` (every problem at once, naming the variable and where its value came from), and
/// `notes deploy k8s` lists its variables in the ConfigMap.
gale::config::GroupSpec SettingsGroup();

/// The options from the layered settings (defaults, settings files, dotenv, environment); an unset or empty
/// variable keeps its default. Errors (kInvalidArgument) name the variable and its source:
/// "NOTES_MAX_LENGTH (from environment): 'ten' is not an integer".
gale::Result<Options> ReadOptions(const gale::config::Settings& settings);

}  // namespace notes
