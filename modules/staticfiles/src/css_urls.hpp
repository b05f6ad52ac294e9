// SPDX-License-Identifier: MIT
/// @file css_urls.hpp
/// @brief Private: Django 3.2 HashedFilesMixin's rewriting of url() and @import references in CSS, replicated.
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <string_view>

#include <gale/base/error.hpp>

namespace gale::staticfiles::detail {

/// What the rewriter needs to know of the collected files.
struct CssContext {
    /// STATIC_URL ending in '/'.
    std::string static_url = "/static/";
    /// The hashed name Django's `_stored_name` finds for a normalised name (the name may carry a query, exactly as
    /// Django looks it up): the current name of a collected file, or nullopt.
    std::function<std::optional<std::string>(std::string_view)> stored_name;
    /// The md5 hex of the *original* content of a collected file (Django's hashed_name() fallback), or nullopt.
    std::function<std::optional<std::string>(std::string_view)> original_md5;
    /// Whether `name` is a directory of collected files ("img" when "img/a.png" is collected).
    std::function<bool(std::string_view)> is_directory;
};

/// Rewrites the references in `css` (the content of the collected file `css_name`) as Django does: first every
/// `url(...)` (case-insensitive, up to the first `)`, optional quotes) to `url("<hashed>")`, then every
/// `@import "..."` to `@import url("<hashed>")`. References with a scheme (`data:`, `https:`), absolute paths outside
/// static_url and directory paths are left as they are. kInvalidArgument when a reference names no collected file
/// ("css/app.css: url(img/missing.png): the file 'css/img/missing.png' was not collected").
[[nodiscard]] Result<std::string> RewriteCssUrls(std::string_view css, std::string_view css_name,
                                                 const CssContext& context);

/// posixpath.normpath.
[[nodiscard]] std::string NormPath(std::string_view path);

/// urllib.parse.unquote for the bytes it decodes: valid %XX escapes decoded, anything else kept.
[[nodiscard]] std::string Unquote(std::string_view text);

}  // namespace gale::staticfiles::detail
