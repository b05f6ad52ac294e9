// SPDX-License-Identifier: MIT
#include "contract_check.hpp"

#include <gale/amqp/settings.hpp>
#include <gale/base/check.hpp>
#include <gale/sentry/settings.hpp>
#include <gale/sessions/settings.hpp>
#include <gale/tasks/settings.hpp>

#include "state.hpp"

namespace gale::app {
namespace {

/// What gale::sentry reads from the Sentry group, checked as it reads it (the DSN's parts, SENTRY_SAMPLE_RATE in
/// [0, 1]); a DSN that is not even a URL is left to the type check.
void SentryRule(const config::Settings& settings, std::vector<std::string>& problems) {
    if (settings.Find("SENTRY_DSN").value_or("").find("://") == std::string::npos) return;
    auto lookup = [&settings](std::string_view name) { return settings.Find(name); };
    auto options = sentry::ReporterOptionsFromEnvironment(lookup, "service", "0");
    if (options) return;
    std::string message = options.error().message();  // "VAR: what" (never the DSN's value)
    const std::size_t colon = message.find(": ");
    if (colon != std::string::npos) {
        message = config::NameWithSource(settings, message.substr(0, colon)) + message.substr(colon);
    }
    problems.push_back(std::move(message));
}

}  // namespace

const config::Contract& GaleContract() {
    static const config::Contract contract = [] {
        config::Contract c;
        for (config::GroupSpec g : config::BuiltinContract().groups()) {
            if (g.name == "Sentry") g.rules.push_back(SentryRule);
            GALE_CHECK(c.AddGroup(g).has_value());
        }
        GALE_CHECK(c.AddGroup(amqp::ContractGroup()).has_value());
        GALE_CHECK(c.AddGroup(tasks::ContractGroup()).has_value());
        GALE_CHECK(c.AddGroup(sessions::ContractGroup()).has_value());
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
