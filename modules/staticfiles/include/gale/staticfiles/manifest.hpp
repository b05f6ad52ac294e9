// SPDX-License-Identifier: MIT
/// @file gale/staticfiles/manifest.hpp
/// @brief The static files manifest (`staticfiles.json`, Django's ManifestStaticFilesStorage format) and the resolver
///        that turns "css/app.css" into "/static/css/app.3f2a1b4c5d6e.css" for templates and handlers.
///
/// Format, as Django 3.2 writes and reads it: `{"paths": {"css/app.css": "css/app.3f2a1b4c5d6e.css", ...},
/// "version": "1.0"}`. A manifest written by `gale collectstatic` is read by Django and the other way round.
///
/// Unknown names: Url() fails with kNotFound, as Django's `manifest_strict = True` raises ValueError, so a template
/// that names a missing file fails where it is rendered, not in the browser. With `strict = false` (for a debug run
/// without collectstatic) the unhashed URL is returned instead, as Django does under DEBUG.
///
/// Thread-safety: immutable after Load/Parse; share one instance between threads freely. Plain value.
#pragma once

#include <filesystem>
#include <map>
#include <string>
#include <string_view>

#include <gale/base/error.hpp>

namespace gale::storage {
class Storage;
}

namespace gale::staticfiles {

/// The manifest's file name in STATIC_ROOT, as Django names it.
inline constexpr std::string_view kManifestName = "staticfiles.json";

/// How a manifest resolves names. Plain value.
struct ManifestOptions {
    /// STATIC_URL: prepended to hashed names; a '/' is added when missing ("/static/", "https://cdn.example/s/").
    std::string static_url = "/static/";
    /// true: an unknown name is an error (Django's manifest_strict); false: its unhashed URL.
    bool strict = true;
};

class StaticManifest {
public:
    StaticManifest() = default;
    StaticManifest(std::map<std::string, std::string> paths, ManifestOptions options);

    /// Parses manifest JSON. `where` names the source in errors. Errors (kInvalidArgument): not JSON, not an object,
    /// a version other than "1.0" (the message quotes it), `paths` missing or not an object of strings.
    [[nodiscard]] static Result<StaticManifest> Parse(std::string_view json, std::string_view where,
                                                      ManifestOptions options = {});
    /// Reads and parses a manifest file. kNotFound when it does not exist, kIo when it cannot be read.
    [[nodiscard]] static Result<StaticManifest> Load(const std::filesystem::path& file, ManifestOptions options = {});
    /// Reads `name` (default staticfiles.json) from a storage (where collectstatic wrote it).
    [[nodiscard]] static Result<StaticManifest> Load(storage::Storage& storage, ManifestOptions options = {},
                                                     std::string_view name = kManifestName);

    /// The hashed name of a source name ("css/app.css" → "css/app.3f2a1b4c5d6e.css"). A query or fragment in `name`
    /// is kept ("font.woff#x" → "font.<hash>.woff#x"). kNotFound for an unknown name when strict (the message names
    /// it), else the name itself.
    [[nodiscard]] Result<std::string> HashedName(std::string_view name) const;
    /// static_url + HashedName(name). Errors as HashedName.
    [[nodiscard]] Result<std::string> Url(std::string_view name) const;

    [[nodiscard]] const std::map<std::string, std::string>& paths() const noexcept { return paths_; }
    [[nodiscard]] const ManifestOptions& options() const noexcept { return options_; }

    /// The manifest as Django writes it: `{"paths": {...}, "version": "1.0"}` (keys sorted).
    [[nodiscard]] std::string ToJson() const;

private:
    std::map<std::string, std::string> paths_;
    ManifestOptions options_;
};

}  // namespace gale::staticfiles
