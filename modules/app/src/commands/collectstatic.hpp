// SPDX-License-Identifier: MIT
// The built-in `collectstatic` command: gale::staticfiles::CollectStatic from STATIC_SOURCE_DIRS into STATIC_ROOT
// (a local directory), with Django's command-line flags. A service that declares its own command of that name keeps
// it (App::Run adds this one only when the name is free).
#pragma once

#include <gale/app/app.hpp>

#include "../state.hpp"

namespace gale::app::detail {

/// The entry App::Run registers: `collectstatic [--noinput] [--dry-run] [--no-compress] [-v] [--verbosity N]`.
/// Exit codes: 0 done; 1 the collection failed (a CSS reference to a missing file, an unreadable source, a write
/// error: printed with what and where); 2 bad arguments or settings (STATIC_ROOT or STATIC_SOURCE_DIRS unset).
[[nodiscard]] CommandEntry CollectStaticCommand(const EnvLookup& lookup = {});

}  // namespace gale::app::detail
