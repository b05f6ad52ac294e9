// SPDX-License-Identifier: MIT
/// @file gale/storage/unique_storage.hpp
/// @brief A Storage decorator that names every saved object by its content: "<stem>.<hash>.<ext>", forever-cacheable
///        (ixc-django-docker's ENABLE_UNIQUE_STORAGE).
///
/// Save("img/logo.png", bytes) stores "img/logo.3f2a1b4c5d6e.png" and returns that name: the hash is the first 12 hex
/// digits of the SHA-256 of the content. SHA-256 because it is the hash gale already has (gale/aws/sigv4.hpp's
/// Sha256Hex, also behind S3's signatures); 12 hex digits (48 bits) as Django's ManifestStaticFilesStorage, which is
/// ample to tell versions of one name apart (the name is part of the key, so only versions of one stem could
/// collide). The stem and extension split as Python's os.path.splitext splits the last segment: "a.tar.gz" gives
/// "a.tar.<hash>.gz", ".htaccess" and "README" get ".<hash>" appended.
///
/// Objects are saved with `Cache-Control: public, max-age=31536000, immutable` (the caller's cache_control is
/// replaced: the content under such a name never changes). Saving content that is already stored (the hashed name
/// exists) sends nothing and returns the same name. Everything else (Read, Stat, List, Url, ...) is passed to the
/// wrapped storage with the name as given, so callers use the names Save returned.
///
/// SaveFile hashes the file through a read-only mmap(2) and then lets the wrapped storage stream it: the file must
/// not change while it is being saved (a change would store content that does not match its name).
///
/// Thread-safety: as the wrapped storage (every member may be called from any thread). Ownership: owns the wrapped
/// storage.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include <gale/storage/storage.hpp>

namespace gale::storage {

/// The value UniqueStorage stores as Cache-Control.
inline constexpr std::string_view kImmutableCacheControl = "public, max-age=31536000, immutable";

/// `name` with `hash` inserted before the last segment's extension ("a/b.css", "0123456789ab" ->
/// "a/b.0123456789ab.css").
[[nodiscard]] std::string UniqueName(std::string_view name, std::string_view hash);

/// The first 12 hex digits of the SHA-256 of `content`.
[[nodiscard]] std::string ContentHash(std::string_view content);

class UniqueStorage final : public Storage {
public:
    /// `inner` must not be null.
    explicit UniqueStorage(std::unique_ptr<Storage> inner) noexcept;
    ~UniqueStorage() override;

    [[nodiscard]] Storage& inner() noexcept { return *inner_; }

    // gale::storage::Storage
    /// "unique names over <inner's description>".
    [[nodiscard]] std::string Describe() const override;
    /// Returns the hashed name. Errors: the inner storage's; kInvalidArgument when the hashed name is not a valid name
    /// (too long once the hash is added).
    [[nodiscard]] Result<std::string> Save(std::string_view name, std::string_view bytes,
                                           const SaveOptions& options = {}) override;
    /// As Save, hashing the file's content. Errors also: kInvalidArgument when `source` is not a readable regular file.
    [[nodiscard]] Result<std::string> SaveFile(std::string_view name, const std::filesystem::path& source,
                                               const SaveOptions& options = {}) override;
    [[nodiscard]] Result<std::string> Read(std::string_view name) override;
    [[nodiscard]] Result<StoredObject> ReadObject(std::string_view name) override;
    [[nodiscard]] Result<std::string> ReadRange(std::string_view name, std::uint64_t offset,
                                                std::optional<std::uint64_t> length) override;
    [[nodiscard]] Result<ObjectInfo> Stat(std::string_view name) override;
    [[nodiscard]] Result<bool> Exists(std::string_view name) override;
    [[nodiscard]] Result<bool> Delete(std::string_view name) override;
    [[nodiscard]] Result<std::vector<ObjectInfo>> List(std::string_view prefix) override;
    [[nodiscard]] Result<std::string> Url(std::string_view name, const UrlOptions& options = {}) override;
    [[nodiscard]] Result<LocalFile> LocalPath(std::string_view name) override;
    [[nodiscard]] Result<void> Check() override;

private:
    Result<std::string> SaveHashed(
        std::string_view name, std::string_view hash, const SaveOptions& options,
        const std::function<Result<std::string>(const std::string&, const SaveOptions&)>& save);

    std::unique_ptr<Storage> inner_;
};

}  // namespace gale::storage
