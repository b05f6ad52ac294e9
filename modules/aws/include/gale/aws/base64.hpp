// SPDX-License-Identifier: MIT
/// @file gale/aws/base64.hpp
/// @brief Standard base64 (RFC 4648 section 4, padded), as AWS JSON protocols carry binary blobs.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace gale::aws {

/// Encodes `data` with the standard alphabet and '=' padding.
std::string Base64Encode(std::string_view data);

/// Decodes strict base64: standard alphabet, length a multiple of 4, '=' padding only at the end (at most two), no
/// whitespace, and zero bits in the padding positions. Returns nullopt for anything else. "" decodes to "".
std::optional<std::string> Base64Decode(std::string_view text);

}  // namespace gale::aws
