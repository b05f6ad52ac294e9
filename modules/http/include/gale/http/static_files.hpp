// SPDX-License-Identifier: MIT
/// @file gale/http/static_files.hpp
/// @brief Serves files under one directory for a URL prefix: content types, validators, ranges, precompressed files.
///
/// | Option             | Description                                                                  | Default      |
/// |--------------------|------------------------------------------------------------------------------|--------------|
/// | `root`             | directory to serve; must exist; resolved with realpath(3) once, at Create    | (required)   |
/// | `url_prefix`       | request paths starting with it are served; must start with '/'; a missing    | `/static/`   |
/// |                    | trailing '/' is added                                                        |              |
/// | `immutable_hashed` | names with a hex content hash (`app.3f9a2c1b.css`, `app-3f9a2c1b8d.js`) get  | `true`       |
/// |                    | `Cache-Control: public, max-age=31536000, immutable`                         |              |
/// | `max_age`          | `Cache-Control: public, max-age=<seconds>` for every other file              | 3600 s       |
#pragma once

#include <chrono>
#include <string>
#include <string_view>

#include <gale/base/error.hpp>
#include <gale/http/message.hpp>

namespace gale::http {

/// True for a name (the last path segment) that carries a content hash, which `immutable_hashed` serves immutable:
/// a '.' or '-', then at least 8 hex digits mixing digits and letters, then the extension (`app.3f9a2c1b.css`,
/// `app-3f9a2c1b8d.js`); or Django's form, a '.' and exactly 12 lower-case hex digits, which may be all digits
/// (`app.012345678901.css`; gale's collectstatic writes the same names). Date stamps such as `photo-20240101.jpg`
/// do not count.
[[nodiscard]] bool HasContentHash(std::string_view name) noexcept;

/// Answers GET and HEAD requests for the files under a root directory.
///
/// Ownership: holds an O_PATH descriptor of the root, closed by the destructor; every Response it returns owns the
/// descriptor of the file it sends. Move-only. Thread-safety: Serve() and Matches() are const and keep no state
/// between calls, so one StaticFiles may serve requests from any number of threads at once.
///
/// What is reachable: regular files beneath the root, named by a request path whose segments, once percent-decoded,
/// are not `.`, `..` or empty, contain no `/` or `\`, and do not start with `.` (dot files such as `.env` or `.git/`
/// are never served). Symlinks are followed only while they stay beneath the root: with openat2(2) and
/// RESOLVE_BENEATH on Linux 5.6+, otherwise (openat2 missing: ENOSYS) by realpath(3) and a prefix check. Directories
/// are never listed and `index.html` is not substituted for them: both give 404. See uses_openat2().
class StaticFiles {
public:
    struct Options {
        std::string root;
        std::string url_prefix = "/static/";
        bool immutable_hashed = true;
        std::chrono::seconds max_age{3600};
    };

    /// Resolves and opens `options.root`. Errors: kNotFound if it does not exist, kInvalidArgument if it is not a
    /// directory or `url_prefix` does not start with '/' or `max_age` is negative, kIo for other failures; the
    /// message names the path.
    [[nodiscard]] static Result<StaticFiles> Create(Options options);

    StaticFiles(StaticFiles&& other) noexcept;
    StaticFiles& operator=(StaticFiles&& other) noexcept;
    StaticFiles(const StaticFiles&) = delete;
    StaticFiles& operator=(const StaticFiles&) = delete;
    ~StaticFiles();

    /// True if `path` (the raw, still percent-encoded request path) starts with the URL prefix.
    [[nodiscard]] bool Matches(std::string_view path) const noexcept;

    /// Answers a request whose path Matches(). Never throws for bad input; the status says what happened:
    /// - 200 with the file as a FileBody (also for HEAD: the server omits the body and keeps Content-Length);
    /// - 206 for a satisfiable single byte range on GET, 416 (`Content-Range: bytes */<size>`) for an unsatisfiable
    ///   one; a malformed or multi-range Range header is ignored (200);
    /// - 304 when If-None-Match matches (weak comparison) or, without If-None-Match, If-Modified-Since is not older
    ///   than the file; 412 when If-Match or If-Unmodified-Since fails;
    /// - 400 for a path that is malformed (bad escape, NUL) or tries to leave its directory (`.`, `..`, `%2F`, `\`);
    /// - 403 if the file cannot be read (EACCES); 404 for a missing file, a directory, a dot file, something that is
    ///   not a regular file, or a symlink leading outside the root; 405 with `Allow: GET, HEAD` for other methods;
    /// - 503 when out of file descriptors, 500 for other system errors.
    /// Successful responses carry Content-Type, ETag (strong, from size and mtime), Last-Modified, Cache-Control,
    /// `X-Content-Type-Options: nosniff`, and `Accept-Ranges: bytes` unless they are content-encoded; the
    /// precompressed sibling `<file>.br` or `<file>.gz` is sent with Content-Encoding when Accept-Encoding allows it
    /// and the request has no Range, and `Vary: Accept-Encoding` is sent whenever such a sibling exists.
    [[nodiscard]] Response Serve(const Request& req) const;

    /// The resolved root directory (no trailing '/', except for "/" itself).
    [[nodiscard]] const std::string& root() const noexcept { return root_; }
    /// The URL prefix, always ending in '/'.
    [[nodiscard]] const std::string& url_prefix() const noexcept { return options_.url_prefix; }

    /// True if paths are confined by the kernel (openat2 with RESOLVE_BENEATH); false if Create found openat2
    /// unavailable (ENOSYS on Linux < 5.6, or EPERM from a container's seccomp filter) and chose the realpath(3)
    /// fallback, which cannot rule out a race with someone renaming directories inside the root at the same time.
    /// The embedding server should log a warning and count it when this is false.
    [[nodiscard]] bool uses_openat2() const noexcept { return use_openat2_; }

    /// Makes this instance resolve paths with the realpath(3) fallback even where openat2(2) works.
    void UseRealpathFallbackForTest() noexcept { use_openat2_ = false; }

private:
    StaticFiles(Options options, std::string root, int root_fd, bool use_openat2) noexcept;

    /// Opens `relative` (validated, decoded, '/'-separated) beneath the root for reading; -1 with errno set on error.
    int OpenBeneath(const std::string& relative) const;

    Options options_;
    std::string root_;
    int root_fd_ = -1;
    bool use_openat2_ = false;
};

}  // namespace gale::http
