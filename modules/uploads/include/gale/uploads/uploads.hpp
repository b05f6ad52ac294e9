// SPDX-License-Identifier: MIT
/// @file gale/uploads/uploads.hpp
/// @brief Form uploads: a request's `multipart/form-data` body parsed (gale/http/multipart.hpp) and each file part
///        written to a gale::storage::Storage under a sanitised name; the text fields returned.
///
/// | UploadOptions field | Description                                                                  | Default |
/// |---------------------|------------------------------------------------------------------------------|------------------|
/// | `limits`            | the parser's bounds (parts, header bytes, field size, total)                 |
/// MultipartLimits  | | `prefix`            | prepended to every stored name (a "directory" in the storage) |
/// `uploads/`       | | `memory_threshold`  | a file part up to this size is saved from memory (Save); a larger one is
/// | 1 MiB            | |                     | spooled to a temporary file and saved with SaveFile, so it never sits
/// whole  |                  | |                     | in memory |                  | | `temp_dir`          | where
/// large parts are spooled (mode 0600, removed after saving)              | TMPDIR or /tmp   | | `max_files`         |
/// file parts accepted (more: kInvalidArgument)                                 | 100              |
///
/// Names. The client's file name is untrusted: SanitizeFilename() keeps its last path segment (after '/' or '\\'),
/// drops control characters, leading dots and spaces, and refuses nothing (an unusable name becomes "file"); the
/// storage's ValidateName() then checks the full name again. When the name is taken, "_" and 7 random letters and
/// digits go before the extension (Django's get_available_name), tried up to 20 times; a concurrent upload of the
/// same name between the existence check and the save can still replace the other's file (Storage has no
/// create-exclusive operation). A file input left empty (filename "" and no bytes) is skipped, as Django does.
///
/// Failure. Malformed or over-limit bodies give kInvalidArgument naming the part (map it to 400); storage errors are
/// passed on. Files saved before the failure are deleted again (best effort: a failed Delete is not reported), so a
/// rejected upload leaves nothing behind.
///
/// Thread-safety: stateless functions; the storage must be thread-safe (every gale Storage is).
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <gale/base/error.hpp>
#include <gale/http/message.hpp>
#include <gale/http/multipart.hpp>

namespace gale::storage {
class Storage;
}

namespace gale::uploads {

struct UploadOptions {
    http::MultipartLimits limits{};
    std::string prefix = "uploads/";
    std::size_t memory_threshold = 1024 * 1024;
    std::filesystem::path temp_dir{};  ///< empty: std::filesystem::temp_directory_path()
    std::size_t max_files = 100;
};

/// One saved file part. Plain value.
struct UploadedFile {
    std::string field;            ///< the form field's name
    std::string client_filename;  ///< as the client sent it (untrusted; for display only)
    std::string stored_name;      ///< the name in the storage (prefix + sanitised, maybe made unique)
    std::string content_type;     ///< as the client sent it (untrusted)
    std::uint64_t size = 0;
};

/// A parsed form. Plain value.
struct UploadedForm {
    std::vector<std::pair<std::string, std::string>> fields;  ///< text fields in body order (names may repeat)
    std::vector<UploadedFile> files;                          ///< saved files in body order

    /// The first text field called `name`, if any.
    [[nodiscard]] std::optional<std::string_view> field(std::string_view name) const noexcept;
};

/// A safe base name for a client's file name (see the file comment). Never empty, at most 200 bytes (the extension
/// kept when shortening), no '/', '\\', control character, leading '.' or space; "." and ".." become "file".
[[nodiscard]] std::string SanitizeFilename(std::string_view client_filename);

/// Parses `body` (the bytes of a body whose Content-Type is `content_type`) and saves its files to `storage`.
[[nodiscard]] Result<UploadedForm> SaveUploads(std::string_view content_type, std::string_view body,
                                               storage::Storage& storage, const UploadOptions& options = {});

/// The same for a request: its Content-Type header (kInvalidArgument when missing) and body(), or, on a route
/// registered with RouteOptions::stream_body, its body_stream() parsed as it arrives (memory bounded by the server's
/// read-ahead and memory_threshold, whatever the upload's size; a broken or stalled body is the stream's error).
[[nodiscard]] Result<UploadedForm> SaveUploads(const http::Request& request, storage::Storage& storage,
                                               const UploadOptions& options = {});

}  // namespace gale::uploads
