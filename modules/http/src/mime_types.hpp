// SPDX-License-Identifier: MIT
/// @file mime_types.hpp
/// @brief Private: the Content-Type to send for a file name, from a fixed table of common web and media types.
#pragma once

#include <string_view>

namespace gale::http::detail {

/// The Content-Type for a file extension without the dot ("css", "PNG"; matched case-insensitively). Text types carry
/// `; charset=utf-8`. Unknown or empty extensions give "application/octet-stream". The view is to static storage.
std::string_view ContentTypeForExtension(std::string_view extension) noexcept;

/// The Content-Type for a file name or path: the extension is what follows the last '.' of the last segment.
/// A name without an extension, or a dot file such as ".profile", gives "application/octet-stream".
std::string_view ContentTypeForPath(std::string_view path) noexcept;

}  // namespace gale::http::detail
