// SPDX-License-Identifier: MIT
#include "notes/settings.hpp"

#include <string>

namespace notes {
namespace {

constexpr const char* kMaxLength = "NOTES_MAX_LENGTH";
constexpr const char* kPipePath = "NOTES_PIPE_PATH";
constexpr std::int64_t kMaxLengthLimit = 1'000'000;

}  // namespace

gale::config::GroupSpec SettingsGroup() {
    using gale::config::VariableType;
    const Options defaults;
    return {
        .name = "Notes",
        .description = "The notes service's own settings.",
        .vars = {{.name = kMaxLength,
                  .type = VariableType::kInt,
                  .default_value = std::to_string(defaults.max_length),
                  .help = "the longest note text accepted, in bytes",
                  .min_value = 1,
                  .max_value = kMaxLengthLimit},
                 {.name = kPipePath,
                  .type = VariableType::kString,
                  .default_value = defaults.pipe_path,
                  .help = "the SQLite file of the embedded log the note consumer reads"}},
        .always_enabled = true,  // settings with defaults: there is nothing to switch on
    };
}

gale::Result<Options> ReadOptions(const gale::config::Settings& settings) {
    // The defaults in SettingsGroup() are documentation: an unset variable is absent from the settings, so the code
    // keeps Options{}'s own.
    Options options;
    if (gale::config::IsSet(settings, kMaxLength)) {
        GALE_ASSIGN_OR_RETURN(options.max_length, settings.GetInt(kMaxLength, 1, kMaxLengthLimit));
    }
    if (gale::config::IsSet(settings, kPipePath)) {
        GALE_ASSIGN_OR_RETURN(options.pipe_path, settings.GetString(kPipePath));
    }
    return options;
}

}  // namespace notes
