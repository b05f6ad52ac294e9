// SPDX-License-Identifier: MIT
/// @file gale/staticfiles/collect.hpp
/// @brief `collectstatic`: copies static files into a storage, adds content-hashed copies and their manifest
///        (Django's ManifestStaticFilesStorage names), and precompressed `.gz` / `.br` siblings (whitenoise's rule).
///
/// For every regular file under the source directories (the first directory wins when two hold the same name;
/// names starting with '.' and ending with '~', and `CVS`, are skipped, as Django's default ignore patterns do), the
/// destination gets:
/// - the file under its own name ("css/app.css"), as Django's collectstatic copies it;
/// - a copy named by its content ("css/app.3f2a1b4c5d6e.css": md5 of the content, first 12 hex digits, before the
///   last extension, as Django's HashedFilesMixin names it, so that names match Django's for the same files);
/// - in CSS files (`*.css`), every `url(...)` and `@import "..."` that points to another static file rewritten to
///   that file's hashed name, and the CSS file's own hash taken after the rewriting — Django's algorithm, including
///   its repeated passes for CSS that references CSS; a reference to a file that does not exist is an error, as it
///   is in Django (absolute URLs outside STATIC_URL, `data:` and other scheme URLs and fragments are left alone);
/// - `<name>.gz` and `<name>.br` for both names when the type is not already compressed and compression saves more
///   than 5% (whitenoise's rule);
/// - `staticfiles.json` mapping each name to its hashed name (gale/staticfiles/manifest.hpp).
/// `http::StaticFiles` with `immutable_hashed` then serves the hashed names with `Cache-Control: immutable` and picks
/// the `.br`/`.gz` sibling by Accept-Encoding.
///
/// Files are written through gale::storage::Storage (local disk or S3) with Save/SaveFile, so each object replaces
/// its old version atomically; stale files from older runs are not removed (as Django's collectstatic without
/// --clear). The manifest is written last, so a reader that sees the new manifest finds every file it names.
///
/// Thread-safety: CollectStatic is a blocking call that touches only its arguments; run one per destination at a time.
#pragma once

#include <cstddef>
#include <filesystem>
#include <functional>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include <gale/base/error.hpp>

namespace gale::storage {
class Storage;
}

namespace gale::staticfiles {

/// What to collect and how. Plain value.
///
/// | Field          | Description                                                                  | Default     |
/// |----------------|------------------------------------------------------------------------------|-------------|
/// | `sources`      | directories to collect from, in order of precedence (STATIC_SOURCE_DIRS)     | none        |
/// | `static_url`   | STATIC_URL, to recognise absolute references in CSS (`url(/static/a.png)`)   | `/static/`  |
/// | `gzip`         | write `.gz` siblings                                                         | `true`      |
/// | `brotli`       | write `.br` siblings                                                         | `true`      |
/// | `dry_run`      | read, hash and report, write nothing                                         | `false`     |
struct CollectOptions {
    std::vector<std::filesystem::path> sources{};
    std::string static_url = "/static/";
    bool gzip = true;
    bool brotli = true;
    bool dry_run = false;
    /// Called once per collected file with its source name and hashed name (for `-v`-style output); may be empty.
    std::function<void(std::string_view name, std::string_view hashed)> on_file{};
};

/// What a run did. Plain value.
struct CollectReport {
    std::map<std::string, std::string> paths;  ///< name → hashed name, as written to the manifest
    std::size_t files = 0;                     ///< source files collected
    std::size_t rewritten_css = 0;             ///< CSS files whose content changed by url() rewriting
    std::size_t gzipped = 0;                   ///< `.gz` objects written (two per file: both names)
    std::size_t brotli = 0;                    ///< `.br` objects written
    std::size_t skipped_compression = 0;       ///< files not compressed (type, or saving ≤ 5%)
    std::uint64_t bytes = 0;                   ///< bytes of the source files
};

/// The hashed name Django gives `name` for content with md5 `md5_hex`: the first 12 hex digits inserted before the
/// extension as os.path.splitext finds it ("a/b.tar.gz" → "a/b.tar.<h>.gz", "a/.env" → "a/.env.<h>", "LICENSE" →
/// "LICENSE.<h>").
[[nodiscard]] std::string HashedName(std::string_view name, std::string_view md5_hex);

/// Lower-case hex md5 of `data`.
[[nodiscard]] std::string Md5Hex(std::string_view data);

/// Collects `options.sources` into `destination` (see the file comment). Errors: kInvalidArgument for no sources, a
/// source that is not a directory, a CSS reference to a missing file (naming the CSS file and the reference) or CSS
/// references that do not settle in 6 passes (a cycle); kIo when a source cannot be read; the storage's errors,
/// naming the object. Nothing is rolled back on error, but the manifest is only written on success.
[[nodiscard]] Result<CollectReport> CollectStatic(const CollectOptions& options, storage::Storage& destination);

}  // namespace gale::staticfiles
