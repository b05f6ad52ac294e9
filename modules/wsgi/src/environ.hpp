// SPDX-License-Identifier: MIT
/// @file environ.hpp
/// @brief The PEP 3333 environ of a request (internal to gale::wsgi). Requires the GIL.
#pragma once

#include <string>

#include <gale/base/error.hpp>
#include <gale/http/message.hpp>

#include "python_ref.hpp"

namespace gale::wsgi {

/// What every environ of one app shares: the constants and the objects PEP 3333 names.
struct EnvironShared {
    std::string script_name;  ///< the mount prefix, "" at the root; PATH_INFO is what follows it
    bool multiprocess = false;
    Ref version;       ///< (1, 0)
    Ref errors;        ///< wsgi.errors: lines go to gale's log with the request id
    Ref file_wrapper;  ///< wsgi.file_wrapper: the class whose instances are sent with sendfile
    Ref input_type;    ///< gale_wsgi.Input, the type of wsgi.input (input.hpp)
};

/// Builds the environ dict. CGI variables are str decoded as Latin-1 (PEP 3333's "native strings"): PATH_INFO is
/// the percent-decoded path after SCRIPT_NAME; QUERY_STRING stays encoded; each header becomes HTTP_<NAME>
/// (repeated ones joined with ", ", cookies with "; "). Headers whose name contains '_' are dropped, as nginx and
/// gunicorn do, so `X_Forwarded_For` cannot pose as `X-Forwarded-For`. Errors: kInvalidArgument for a path whose
/// escapes are malformed or decode to NUL (the caller answers 400); a Python failure (kInternal, its traceback).
Result<Ref> BuildEnviron(const http::Request& request, const EnvironShared& shared);

/// The header's CGI name: "content-type" → "CONTENT_TYPE", "x-api-key" → "HTTP_X_API_KEY"; "" when the name has
/// '_' (dropped, see above).
std::string CgiName(std::string_view header);

}  // namespace gale::wsgi
