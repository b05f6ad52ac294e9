// SPDX-License-Identifier: MIT
#include "contract_check.hpp"

#include <gale/amqp/settings.hpp>
#include <gale/base/check.hpp>
#include <gale/tasks/settings.hpp>

#include "state.hpp"

namespace gale::app {

const config::Contract& GaleContract() {
    static const config::Contract contract = [] {
        config::Contract c;
        for (const config::GroupSpec& g : config::BuiltinContract().groups()) GALE_CHECK(c.AddGroup(g).has_value());
        GALE_CHECK(c.AddGroup(amqp::ContractGroup()).has_value());
        GALE_CHECK(c.AddGroup(tasks::ContractGroup()).has_value());
        return c;
    }();
    return contract;
}

std::vector<std::string> ValidateContract(const App::State& state, const config::Settings& settings) {
    // gale's groups first, then the service's own; a clash of names is itself a problem to report.
    config::Contract contract;
    std::vector<std::string> problems;
    for (const config::GroupSpec& g : GaleContract().groups()) {
        if (auto r = contract.AddGroup(g); !r) problems.push_back(r.error().message());
    }
    for (const config::GroupSpec& g : state.contract_groups) {
        if (auto r = contract.AddGroup(g); !r) problems.push_back(r.error().message());
    }
    for (auto& p : contract.Validate(settings)) problems.push_back(std::move(p));
    return problems;
}

}  // namespace gale::app
