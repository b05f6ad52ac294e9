// SPDX-License-Identifier: MIT
/// @file gale/db/sqlite.hpp
/// @brief Compatibility header: Database and Migrator now live in database.hpp and migrator.hpp.
#pragma once

#include <gale/db/database.hpp>
#include <gale/db/migrator.hpp>
