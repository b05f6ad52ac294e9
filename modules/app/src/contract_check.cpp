// SPDX-License-Identifier: MIT
#include <gale/config/contract.hpp>

#include "state.hpp"

namespace gale::app {

std::vector<std::string> ValidateContract(const App::State& state, const config::Settings& settings) {
    // gale's groups first, then the service's own; a clash of names is itself a problem to report.
    config::Contract contract;
    std::vector<std::string> problems;
    for (const config::GroupSpec& g : config::BuiltinContract().groups()) {
        if (auto r = contract.AddGroup(g); !r) problems.push_back(r.error().message());
    }
    for (const config::GroupSpec& g : state.contract_groups) {
        if (auto r = contract.AddGroup(g); !r) problems.push_back(r.error().message());
    }
    for (auto& p : contract.Validate(settings)) problems.push_back(std::move(p));
    return problems;
}

}  // namespace gale::app
