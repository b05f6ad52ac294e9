// SPDX-License-Identifier: MIT
/// @file gale/storage/storage.hpp
/// @brief Files kept by a service (uploads, generated media, collected static files): the Storage interface that
///        the local-disk, S3 and unique-name storages implement (gale issue 12 §3).
///
/// Names: a storage holds objects under *names*, relative paths with '/' as the separator ("uploads/2026/a.jpg").
/// Names are untrusted (they may come from an upload's filename) and every operation checks them with
/// ValidateName() before doing anything: no absolute path, no empty, "." or ".." segment, no backslash, no NUL or
/// other control character, at most kMaxNameBytes bytes, at most kMaxSegmentBytes per segment. A storage never
/// touches anything outside its root (local: the directory; S3: the bucket under the key prefix) whatever the name.
///
/// Errors (gale::Error), each message naming the storage (Storage::Describe()), the object and what failed:
/// | Code             | When                                                                             |
/// |------------------|----------------------------------------------------------------------------------|
/// | kInvalidArgument | a bad name (ValidateName), bad options, a source file that is not a regular file |
/// | kNotFound        | the object (or, for S3, the bucket) does not exist                               |
/// | kUnavailable     | S3 unreachable, 5xx, throttled; the local root missing or not a directory        |
/// | kTimeout         | S3 did not answer within the storage's timeout                                   |
/// | kIo              | a local read/write failed (disk full, permission denied), S3 refused (403, ...)  |
/// | kInternal        | a response that cannot be understood, or a bug                                   |
/// S3's own error code (NoSuchKey, AccessDenied, ...) is quoted in the message.
///
/// Thread-safety: every implementation is thread-safe; one instance is shared by every handler thread.
/// Ownership: a Storage is owned by whoever created it (usually the runtime, as a resource:
/// `app.AddResource("storage", ...)`, see gale/storage/environment.hpp).
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <gale/base/error.hpp>

namespace gale::storage {

/// Longest name accepted, in bytes (S3's key limit is 1024 bytes, and a prefix may come before the name).
inline constexpr std::size_t kMaxNameBytes = 900;
/// Longest '/'-separated segment accepted, in bytes (NAME_MAX on Linux file systems).
inline constexpr std::size_t kMaxSegmentBytes = 255;

/// Checks an untrusted name (see the file comment for the rules). Returns kInvalidArgument with a message saying which
/// rule failed and where ("storage name 'a/../b': '..' segment at byte 2"); control characters are shown escaped.
[[nodiscard]] Result<void> ValidateName(std::string_view name);

/// Who may read an object.
enum class Visibility {
    kDefault,  ///< the storage's own default (StorageOptions of the implementation: private unless configured)
    kPrivate,  ///< only with credentials, or through a presigned URL
    kPublic,   ///< anyone with the URL (S3: the object is uploaded with `x-amz-acl: public-read`)
};

/// How to store an object. Plain value.
struct SaveOptions {
    /// Content-Type stored with the object (S3) and given back by Stat(); empty: "application/octet-stream".
    std::string content_type{};
    /// Cache-Control stored with the object (S3); empty: none. UniqueStorage sets its own.
    std::string cache_control{};
    Visibility visibility = Visibility::kDefault;
};

/// What a storage knows of one object. Plain value.
/// The type of an object saved without one (SaveOptions::content_type empty), and of every local object.
inline constexpr std::string_view kDefaultContentType = "application/octet-stream";

struct ObjectInfo {
    /// The name, as given to Save (without the storage's root or key prefix).
    std::string name{};
    std::uint64_t size = 0;
    /// As stored (S3); the local storage does not keep content types and reports "" (List) or the SaveOptions
    /// default ("application/octet-stream", Stat).
    std::string content_type{};
    /// Last modification time (local: mtime; S3: Last-Modified, to the second).
    std::chrono::system_clock::time_point modified{};
    /// An opaque version tag that changes when the content does (S3: the ETag without quotes; local: derived from
    /// size and mtime, not a content hash).
    std::string etag{};
};

/// An object's content with its ObjectInfo, both of one version of it (Storage::ReadObject). Plain value.
struct StoredObject {
    ObjectInfo info{};
    std::string bytes{};
};

/// How to build a URL. Plain value.
struct UrlOptions {
    /// Lifetime of a presigned URL (private objects on S3); 1 second to 7 days (SigV4's limit).
    std::chrono::seconds expiry{3600};
    /// Which kind of URL: kDefault follows the storage's default visibility. Say kPublic for an object saved with
    /// Visibility::kPublic in a storage whose default is private, and the URL is not signed.
    Visibility visibility = Visibility::kDefault;
};

/// A real file for code that needs a path (a subprocess, a library that opens files): ixc-django-docker's
/// get_local_file_path(). Move-only RAII value.
///
/// For a local storage it is the stored file itself, and nothing is removed on destruction: do not modify it. For a
/// remote storage it is a private temporary copy (mode 0600, in the storage's temp directory) that is deleted when
/// the LocalFile is destroyed. Thread-safety: none needed (a value owned by one user).
class LocalFile {
public:
    LocalFile() = default;
    /// A file to hand out; `remove_on_destruction` makes it a temporary copy that the destructor deletes.
    LocalFile(std::filesystem::path path, bool remove_on_destruction) noexcept;
    ~LocalFile();
    LocalFile(LocalFile&& other) noexcept;
    LocalFile& operator=(LocalFile&& other) noexcept;
    LocalFile(const LocalFile&) = delete;
    LocalFile& operator=(const LocalFile&) = delete;

    /// The file's path; empty for a default-constructed or moved-from LocalFile.
    [[nodiscard]] const std::filesystem::path& path() const noexcept { return path_; }
    /// Whether the destructor deletes the file (a temporary copy).
    [[nodiscard]] bool temporary() const noexcept { return remove_; }

private:
    void Release() noexcept;

    std::filesystem::path path_{};
    bool remove_ = false;
};

/// A place to keep files: local disk (gale/storage/local_storage.hpp), S3 (gale/storage/s3_storage.hpp), or a
/// decorator over another one (gale/storage/unique_storage.hpp).
///
/// Every member may be called from any thread. Writes are atomic: a reader sees the old content or the new one,
/// never half of a file. A Save to an existing name replaces the object (UniqueStorage aside, whose names carry the
/// content hash).
class Storage {
public:
    Storage() = default;
    virtual ~Storage();
    Storage(const Storage&) = delete;
    Storage& operator=(const Storage&) = delete;

    /// For messages and logs: "local storage /srv/media", "s3 storage s3://bucket/prefix/". Never a secret.
    [[nodiscard]] virtual std::string Describe() const = 0;

    /// Stores `bytes` under `name`. Returns the name actually stored, which callers must keep: it is `name` itself
    /// except for decorators that choose names (UniqueStorage returns "<stem>.<hash>.<ext>").
    [[nodiscard]] virtual Result<std::string> Save(std::string_view name, std::string_view bytes,
                                                   const SaveOptions& options = {}) = 0;
    /// Stores the content of the regular file `source` under `name`, streaming it (S3: a multipart upload above the
    /// storage's threshold, aborted on failure so that no parts are left behind). Returns the stored name as Save.
    /// Errors also: kInvalidArgument when `source` is missing or not a regular file (the message names it).
    [[nodiscard]] virtual Result<std::string> SaveFile(std::string_view name, const std::filesystem::path& source,
                                                       const SaveOptions& options = {}) = 0;

    /// The whole content. kNotFound when there is no such object.
    [[nodiscard]] virtual Result<std::string> Read(std::string_view name) = 0;
    /// The whole content and its info (as Stat gives it), of the same version: one request (S3: one GET), not a
    /// Stat and a Read that a writer in between could make disagree. kNotFound when there is no such object.
    [[nodiscard]] virtual Result<StoredObject> ReadObject(std::string_view name) = 0;
    /// Up to `length` bytes from `offset`: fewer at the end of the object, "" when `offset` is at or past the end
    /// (not an error), the rest of the object when `length` is std::nullopt. kNotFound when there is no such object.
    [[nodiscard]] virtual Result<std::string> ReadRange(std::string_view name, std::uint64_t offset,
                                                        std::optional<std::uint64_t> length) = 0;
    /// Size, type, time and tag of one object. kNotFound when there is none.
    [[nodiscard]] virtual Result<ObjectInfo> Stat(std::string_view name) = 0;
    /// Whether the object exists (a missing object is `false`, not an error).
    [[nodiscard]] virtual Result<bool> Exists(std::string_view name) = 0;
    /// Removes the object; returns whether there was one (S3 cannot tell: it asks Exists first, which a concurrent
    /// writer may race).
    [[nodiscard]] virtual Result<bool> Delete(std::string_view name) = 0;
    /// Every object whose name starts with `prefix` (a plain string prefix, not only whole segments: "a/b" lists
    /// "a/b.txt" and "a/b/c"), sorted by name. An empty prefix lists everything. `prefix` is checked like a name,
    /// except that it may be empty or end with '/'.
    [[nodiscard]] virtual Result<std::vector<ObjectInfo>> List(std::string_view prefix) = 0;

    /// A URL that serves the object: local: the configured base URL plus the percent-encoded name ("/media/a%20b.jpg");
    /// S3: the object's plain URL for public objects, a presigned GET URL valid for `options.expiry` for private ones.
    /// Does not check that the object exists. kInvalidArgument for a bad name or expiry.
    [[nodiscard]] virtual Result<std::string> Url(std::string_view name, const UrlOptions& options = {}) = 0;

    /// A real file with the object's content (see LocalFile). kNotFound when there is no such object.
    [[nodiscard]] virtual Result<LocalFile> LocalPath(std::string_view name) = 0;

    /// A cheap health check: local: the root is a writable directory; S3: the bucket answers (HEAD bucket).
    /// For ResourceOptions::check (gale/storage/environment.hpp has CheckStorage turning it into a CheckResult).
    [[nodiscard]] virtual Result<void> Check() = 0;
};

}  // namespace gale::storage
