// SPDX-License-Identifier: MIT
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <string>
#include <system_error>
#include <utility>

#include <fmt/format.h>

#include <gale/aws/sigv4.hpp>
#include <gale/storage/unique_storage.hpp>

namespace gale::storage {

std::string UniqueName(std::string_view name, std::string_view hash) {
    const std::size_t slash = name.rfind('/');
    const std::size_t leaf_start = slash == std::string_view::npos ? 0 : slash + 1;
    const std::string_view leaf = name.substr(leaf_start);
    // os.path.splitext: the last '.', unless the leaf is only dots before it (".htaccess", "..a" keep no extension).
    std::size_t dot = leaf.rfind('.');
    if (dot != std::string_view::npos && leaf.find_first_not_of('.') > dot) dot = std::string_view::npos;
    if (dot == std::string_view::npos) return fmt::format("{}.{}", name, hash);
    return fmt::format("{}.{}{}", name.substr(0, leaf_start + dot), hash, leaf.substr(dot));
}

std::string ContentHash(std::string_view content) { return aws::Sha256Hex(content).substr(0, 12); }

UniqueStorage::UniqueStorage(std::unique_ptr<Storage> inner) noexcept : inner_(std::move(inner)) {}
UniqueStorage::~UniqueStorage() = default;

std::string UniqueStorage::Describe() const { return "unique names over " + inner_->Describe(); }

Result<std::string> UniqueStorage::SaveHashed(
    std::string_view name, std::string_view hash, const SaveOptions& options,
    const std::function<Result<std::string>(const std::string&, const SaveOptions&)>& save) {
    GALE_RETURN_IF_ERROR(ValidateName(name));
    if (hash.size() != 12) {
        return MakeError(ErrorCode::kInternal, fmt::format("{}: save '{}': hashing failed", Describe(), name));
    }
    const std::string unique = UniqueName(name, hash);
    if (auto valid = ValidateName(unique); !valid) {
        return MakeError(ErrorCode::kInvalidArgument,
                         fmt::format("{}: save '{}': with its hash: {}", Describe(), name, valid.error().message()));
    }
    GALE_ASSIGN_OR_RETURN(const bool exists, inner_->Exists(unique));
    if (exists) return unique;  // same name, same content: nothing to do
    SaveOptions immutable = options;
    immutable.cache_control = std::string(kImmutableCacheControl);
    return save(unique, immutable);
}

Result<std::string> UniqueStorage::Save(std::string_view name, std::string_view bytes, const SaveOptions& options) {
    return SaveHashed(name, ContentHash(bytes), options,
                      [&](const std::string& unique, const SaveOptions& o) { return inner_->Save(unique, bytes, o); });
}

Result<std::string> UniqueStorage::SaveFile(std::string_view name, const std::filesystem::path& source,
                                            const SaveOptions& options) {
    auto fail = [&](std::string why) {
        return MakeError(ErrorCode::kInvalidArgument,
                         fmt::format("{}: save '{}' from {}: {}", Describe(), name, source.string(), why));
    };
    const int fd = ::open(source.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0) return fail(std::error_code(errno, std::generic_category()).message());
    struct stat st {};
    if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        ::close(fd);
        return fail("not a regular file");
    }
    std::string hash;
    if (st.st_size == 0) {
        hash = ContentHash("");
    } else {
        void* map = ::mmap(nullptr, static_cast<std::size_t>(st.st_size), PROT_READ, MAP_PRIVATE, fd, 0);
        if (map == MAP_FAILED) {
            const int err = errno;
            ::close(fd);
            return fail(std::error_code(err, std::generic_category()).message());
        }
        hash = ContentHash(std::string_view(static_cast<const char*>(map), static_cast<std::size_t>(st.st_size)));
        ::munmap(map, static_cast<std::size_t>(st.st_size));
    }
    ::close(fd);
    return SaveHashed(name, hash, options, [&](const std::string& unique, const SaveOptions& o) {
        return inner_->SaveFile(unique, source, o);
    });
}

Result<std::string> UniqueStorage::Read(std::string_view name) { return inner_->Read(name); }
Result<StoredObject> UniqueStorage::ReadObject(std::string_view name) { return inner_->ReadObject(name); }
Result<std::string> UniqueStorage::ReadRange(std::string_view name, std::uint64_t offset,
                                             std::optional<std::uint64_t> length) {
    return inner_->ReadRange(name, offset, length);
}
Result<ObjectInfo> UniqueStorage::Stat(std::string_view name) { return inner_->Stat(name); }
Result<bool> UniqueStorage::Exists(std::string_view name) { return inner_->Exists(name); }
Result<bool> UniqueStorage::Delete(std::string_view name) { return inner_->Delete(name); }
Result<std::vector<ObjectInfo>> UniqueStorage::List(std::string_view prefix) { return inner_->List(prefix); }
Result<std::string> UniqueStorage::Url(std::string_view name, const UrlOptions& options) {
    return inner_->Url(name, options);
}
Result<LocalFile> UniqueStorage::LocalPath(std::string_view name) { return inner_->LocalPath(name); }
Result<void> UniqueStorage::Check() { return inner_->Check(); }

}  // namespace gale::storage
