// SPDX-License-Identifier: MIT
/// @file gale/storage/local_storage.hpp
/// @brief A Storage on local disk: one directory (the root) holds the objects as files under their names.
///
/// Confinement: the root is opened once (a directory descriptor kept for the storage's lifetime, so renaming or
/// replacing the root's path later does not move the storage). Every name is checked with ValidateName and then
/// walked one segment at a time with openat(2) and O_NOFOLLOW from that descriptor, so no name can leave the root:
/// `..` is refused before any system call, and a symbolic link anywhere beneath the root (planted by someone else)
/// is refused at the step that meets it (kInvalidArgument "... is a symbolic link"), with no window between a check
/// and a use. Symbolic links in the root's own path are followed once, when the root is opened.
///
/// Atomic writes: Save and SaveFile write a temporary file (".gale-tmp-<random>", mode 0644 less the umask) in the
/// object's directory, fsync(2) it and rename(2) it over the name, so a reader sees the old file or the new one,
/// never a part; a failed write removes its temporary file. Missing directories are created (mode 0755 less the
/// umask). List never shows the temporary files. Content types and Cache-Control are not stored (SaveOptions'
/// visibility is meaningless here: what serves the files decides).
///
/// Thread-safety: every member may be called from any thread (no state but the root descriptor). Concurrent Saves to
/// one name: the last rename wins, each reader sees one whole version.
///
/// | LocalStorageOptions | Meaning                                                             | Default    |
/// |---------------------|---------------------------------------------------------------------|------------|
/// | root                | the directory; created (with its parents) when missing              | required   |
/// | base_url            | what Url() puts before the percent-encoded name                     | "/media/"  |
/// | create_root         | create the root when it does not exist (false: kUnavailable)        | true       |
#pragma once

#include <filesystem>
#include <functional>
#include <memory>
#include <string>

#include <gale/base/error.hpp>
#include <gale/storage/storage.hpp>

namespace gale::storage {

struct LocalStorageOptions {
    std::filesystem::path root{};
    /// Ends with '/' (one is added when missing): "/media/", "https://cdn.example.com/media/".
    std::string base_url = "/media/";
    bool create_root = true;
};

/// Objects as files under a root directory. Create with LocalStorage::Create; owns the root's descriptor.
class LocalStorage final : public Storage {
public:
    /// Opens (and with create_root, creates) the root. Errors: kInvalidArgument for an empty root;
    /// kUnavailable when the root cannot be created or opened or is not a directory (the message names the path
    /// and the reason).
    [[nodiscard]] static Result<std::unique_ptr<LocalStorage>> Create(LocalStorageOptions options);

    ~LocalStorage() override;

    /// The root as given (made absolute).
    [[nodiscard]] const std::filesystem::path& root() const noexcept { return root_; }

    // gale::storage::Storage
    [[nodiscard]] std::string Describe() const override;
    [[nodiscard]] Result<std::string> Save(std::string_view name, std::string_view bytes,
                                           const SaveOptions& options = {}) override;
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
    /// base_url + the name with each segment percent-encoded ('/' kept).
    [[nodiscard]] Result<std::string> Url(std::string_view name, const UrlOptions& options = {}) override;
    /// The stored file itself (LocalFile::temporary() is false); do not modify it. The path goes through the root's
    /// path as given, so it is only as stable as that path.
    [[nodiscard]] Result<LocalFile> LocalPath(std::string_view name) override;
    /// The root is still a directory that this process may write to.
    [[nodiscard]] Result<void> Check() override;

private:
    LocalStorage(LocalStorageOptions options, std::filesystem::path root, int root_fd) noexcept;

    Result<std::string> Write(std::string_view name, const std::function<Result<void>(int fd)>& fill);

    LocalStorageOptions options_;
    std::filesystem::path root_;
    int root_fd_ = -1;
};

}  // namespace gale::storage
