// SPDX-License-Identifier: MIT
/// @file with_session.hpp (private)
/// @brief One request through WithSession's steps, for WithSession and csrf::ProtectWithSession.
#pragma once

#include <gale/http/message.hpp>
#include <gale/sessions/manager.hpp>

namespace gale::sessions::detail {

/// Finds the manager, loads the request's session, runs `handler`, saves the session onto the response; every error
/// answered by http::ErrorResponse.
[[nodiscard]] http::Response RunWithSession(const ManagerSource& source, http::Request& request,
                                            const SessionHandler& handler);

}  // namespace gale::sessions::detail
