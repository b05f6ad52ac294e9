// SPDX-License-Identifier: MIT
/// @file input.hpp
/// @brief wsgi.input (internal to gale::wsgi): the request body as a file-like object that reads it as it arrives.
///
/// `read(size=-1)`, `readline(size=-1)`, `readlines(hint=-1)` and iteration by lines, as PEP 3333 asks. A read
/// waits for the body's bytes with the GIL released; read(n) returns n bytes unless the body ends first. A body
/// that cannot be read to its end (malformed chunked framing, over max_body_size, no byte for body_timeout, the
/// client gone) raises OSError naming why, which Django turns into UnreadablePostError. Requires the GIL.
#pragma once

#include <memory>
#include <string>

#include <gale/http/message.hpp>

#include "python_ref.hpp"

namespace gale::wsgi {

/// The type gale_wsgi.Input, made once per app; null with the Python error pending on failure.
Ref NewInputType();

/// An Input of `type` reading `buffered` first, then `stream` (null: the body is just `buffered`).
Ref NewInput(const Ref& type, std::string buffered, std::shared_ptr<http::BodyStream> stream);

}  // namespace gale::wsgi
