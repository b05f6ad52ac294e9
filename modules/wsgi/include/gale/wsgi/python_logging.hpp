// SPDX-License-Identifier: MIT
/// @file gale/wsgi/python_logging.hpp
/// @brief Python's `logging` into gale's log: one JSON (or text) stream for the server and the app, each record with
///        the id of the request it was logged in and its traceback.
#pragma once

#include <gale/base/error.hpp>

namespace gale::wsgi {

/// Adds gale's handler to the root logger when the app configured none there (Django's default LOGGING, a bare
/// Flask app), so that what would reach Python's last-resort stderr handler — Django's "Internal Server Error"
/// with its traceback, Flask's "Exception on /path" — is a gale log record: level, logger name, message,
/// `request_id` and `traceback`. An app whose LOGGING configures the root logger keeps its own handlers. Requires a
/// started interpreter; takes the GIL. Call after the app is imported (Django's setup applies LOGGING).
[[nodiscard]] Result<void> RoutePythonLogging();

}  // namespace gale::wsgi
