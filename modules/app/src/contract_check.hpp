// SPDX-License-Identifier: MIT
/// @file contract_check.hpp (private)
/// @brief gale's whole environment contract: config's groups and the groups each module exports for its own
///        settings (the amqp module's broker group), assembled here, at the top of the module order.
#pragma once

#include <gale/config/contract.hpp>

namespace gale::app {

/// config::BuiltinContract()'s groups, then gale::amqp::ContractGroup(). Built once; never fails (a clash of names
/// between modules is a bug caught by the tests).
const config::Contract& GaleContract();

}  // namespace gale::app
