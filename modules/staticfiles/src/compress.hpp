// SPDX-License-Identifier: MIT
/// @file compress.hpp
/// @brief Private: gzip (zlib) and brotli (libbrotlienc) compression of whole files for collectstatic.
#pragma once

#include <string>
#include <string_view>

#include <gale/base/error.hpp>

namespace gale::staticfiles::detail {

/// A gzip member (RFC 1952) of `data` at zlib's best compression, with no file name and mtime 0, so the output
/// depends on the content only. Errors: kInternal if zlib fails (it does not for in-memory input short of OOM).
[[nodiscard]] Result<std::string> Gzip(std::string_view data);

/// A brotli stream of `data` at quality 11 (the best; collectstatic runs once per deploy), window 22, mode generic
/// (text mode for text types is chosen by `text`). Errors: kInternal if the encoder fails.
[[nodiscard]] Result<std::string> Brotli(std::string_view data, bool text);

/// Whether a file of this name is worth compressing: false for types that are compressed already (images but
/// SVG, fonts in WOFF/WOFF2, archives, audio, video), the list whitenoise skips.
[[nodiscard]] bool WorthCompressing(std::string_view name) noexcept;

/// whitenoise's rule: keep a compressed copy only if it saves more than 5% of the original's size.
[[nodiscard]] constexpr bool SavesEnough(std::size_t original, std::size_t compressed) noexcept {
    return compressed * 100 < original * 95;
}

}  // namespace gale::staticfiles::detail
