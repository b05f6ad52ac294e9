// SPDX-License-Identifier: MIT
#include <fmt/format.h>
#include <fmt/ranges.h>

#include <gale/base/strings.hpp>
#include <gale/config/run_mode.hpp>

namespace gale::config {

std::string_view ToString(RunMode mode) noexcept {
    switch (mode) {
        case RunMode::kWeb:
            return "WEB";
        case RunMode::kTask:
            return "TASK";
        case RunMode::kWorker:
            return "WORKER";
        case RunMode::kBeat:
            return "BEAT";
        case RunMode::kConsume:
            return "CONSUME";
    }
    return "WEB";
}

std::vector<std::string> RunModeNames() {
    std::vector<std::string> names;
    for (RunMode m : kRunModes) names.emplace_back(ToString(m));
    return names;
}

Result<RunMode> ParseRunMode(std::string_view text, std::string_view what) {
    for (RunMode m : kRunModes) {
        if (EqualsIgnoreCase(text, ToString(m))) return m;
    }
    return MakeError(ErrorCode::kInvalidArgument,
                     fmt::format("{}: '{}' is not one of {}", what, text, fmt::join(RunModeNames(), ", ")));
}

}  // namespace gale::config
