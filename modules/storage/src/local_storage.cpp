// SPDX-License-Identifier: MIT
// Design and invariants.
//
// Confinement. A name has passed ValidateName before anything touches the disk: relative, no '.', '..' or empty
// segment, no control characters. It is then resolved from the root's directory descriptor one segment at a time:
// openat(dir, segment, O_DIRECTORY | O_NOFOLLOW) for each directory, then the leaf is opened, stat'ed, unlinked or
// renamed relative to the last directory's descriptor with O_NOFOLLOW / AT_SYMLINK_NOFOLLOW. Each step works on a
// descriptor, never on a path string, so a symlink or a rename of a directory beneath the root cannot redirect a
// later step outside it. Symlinks beneath the root are refused, not followed (ELOOP -> kInvalidArgument).
//
// Atomicity. Writes go to ".gale-tmp-<16 hex>" in the target's directory (same file system, so rename(2) is atomic),
// are fsync'ed, then renamed over the leaf. A failure at any step unlinks the temporary file. List skips names that
// start with ".gale-tmp-".
//
// Reads open with O_NONBLOCK (a FIFO planted beneath the root must not block) and check S_ISREG with fstat of the
// opened descriptor, so what is read is what was checked.
#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <random>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>
#include <vector>

#include <fmt/format.h>

#include <gale/base/strings.hpp>
#include <gale/storage/local_storage.hpp>

namespace gale::storage {
namespace {

constexpr std::string_view kTempPrefix = ".gale-tmp-";
constexpr std::size_t kChunk = 1 << 20;

std::string ErrnoText(int err) { return std::error_code(err, std::generic_category()).message(); }

// An owned descriptor.
class Fd {
public:
    Fd() = default;
    explicit Fd(int fd) noexcept : fd_(fd) {}
    ~Fd() {
        if (fd_ >= 0) ::close(fd_);
    }
    Fd(Fd&& other) noexcept : fd_(std::exchange(other.fd_, -1)) {}
    Fd& operator=(Fd&& other) noexcept {
        if (this != &other) {
            if (fd_ >= 0) ::close(fd_);
            fd_ = std::exchange(other.fd_, -1);
        }
        return *this;
    }
    Fd(const Fd&) = delete;
    Fd& operator=(const Fd&) = delete;
    [[nodiscard]] int get() const noexcept { return fd_; }
    int release() noexcept { return std::exchange(fd_, -1); }

private:
    int fd_ = -1;
};

std::vector<std::string_view> Segments(std::string_view name) {
    std::vector<std::string_view> out;
    std::size_t start = 0;
    while (start <= name.size()) {
        std::size_t end = name.find('/', start);
        if (end == std::string_view::npos) end = name.size();
        if (end > start) out.push_back(name.substr(start, end - start));
        start = end + 1;
    }
    return out;
}

std::chrono::system_clock::time_point MTime(const struct stat& st) {
    return std::chrono::system_clock::time_point(std::chrono::duration_cast<std::chrono::system_clock::duration>(
        std::chrono::seconds(st.st_mtim.tv_sec) + std::chrono::nanoseconds(st.st_mtim.tv_nsec)));
}

ObjectInfo InfoOf(std::string name, const struct stat& st) {
    ObjectInfo info;
    info.name = std::move(name);
    info.size = static_cast<std::uint64_t>(st.st_size);
    info.modified = MTime(st);
    info.etag = fmt::format("{:x}-{:x}{:09}", static_cast<std::uint64_t>(st.st_size),
                            static_cast<std::uint64_t>(st.st_mtim.tv_sec), st.st_mtim.tv_nsec);
    return info;
}

std::string TempName() {
    static std::atomic<std::uint64_t> counter{0};
    thread_local std::mt19937_64 rng(std::random_device{}());
    return fmt::format("{}{:016x}", kTempPrefix, rng() ^ counter.fetch_add(1));
}

Result<void> WriteAll(int fd, std::string_view bytes) {
    while (!bytes.empty()) {
        const ssize_t n = ::write(fd, bytes.data(), bytes.size());
        if (n < 0) {
            if (errno == EINTR) continue;
            return MakeError(ErrorCode::kIo, "write: " + ErrnoText(errno));
        }
        bytes.remove_prefix(static_cast<std::size_t>(n));
    }
    return {};
}

// Up to `length` bytes from `offset` of `fd` (fewer at the end).
Result<std::string> ReadAt(int fd, std::uint64_t offset, std::uint64_t length) {
    std::string out;
    while (length > 0) {
        const std::size_t want = static_cast<std::size_t>(std::min<std::uint64_t>(length, kChunk));
        const std::size_t have = out.size();
        out.resize(have + want);
        const ssize_t n = ::pread(fd, out.data() + have, want, static_cast<off_t>(offset));
        if (n < 0) {
            out.resize(have);
            if (errno == EINTR) continue;
            return MakeError(ErrorCode::kIo, "read: " + ErrnoText(errno));
        }
        out.resize(have + static_cast<std::size_t>(n));
        if (n == 0) break;
        offset += static_cast<std::uint64_t>(n);
        length -= static_cast<std::uint64_t>(n);
    }
    return out;
}

// The resolution of a name from the root: the directory holding the leaf, and the leaf's name.
struct Resolved {
    Fd dir;
    std::string leaf;
};

// The failure of one step, as an error naming the storage, the object and the step.
Error StepError(const std::string& storage, std::string_view name, std::string_view what, int err) {
    ErrorCode code = ErrorCode::kIo;
    std::string why = ErrnoText(err);
    if (err == ENOENT || err == ENOTDIR) {
        code = ErrorCode::kNotFound;
        why = "no such object";
    } else if (err == ELOOP) {
        code = ErrorCode::kInvalidArgument;
        why = "a symbolic link beneath the root (refused)";
    } else if (err == EISDIR) {
        code = ErrorCode::kInvalidArgument;
        why = "a directory, not an object";
    } else if (err == ENAMETOOLONG) {
        code = ErrorCode::kInvalidArgument;
    }
    return Error(code, fmt::format("{}: {} '{}': {}", storage, what, name, why));
}

// Walks the directories of `name` from `root_fd`; creates the missing ones when `create`.
Result<Resolved> Resolve(int root_fd, const std::string& storage, std::string_view name, bool create,
                         std::string_view what) {
    auto segments = Segments(name);
    Fd dir(::fcntl(root_fd, F_DUPFD_CLOEXEC, 0));
    if (dir.get() < 0) return tl::unexpected(StepError(storage, name, what, errno));
    for (std::size_t i = 0; i + 1 < segments.size(); ++i) {
        const std::string segment(segments[i]);
        int fd = ::openat(dir.get(), segment.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (fd < 0 && errno == ENOENT && create) {
            if (::mkdirat(dir.get(), segment.c_str(), 0755) != 0 && errno != EEXIST) {
                return tl::unexpected(StepError(storage, name, what, errno));
            }
            fd = ::openat(dir.get(), segment.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        }
        if (fd < 0) {
            int err = errno;
            // O_DIRECTORY | O_NOFOLLOW on a symlink gives ELOOP or ENOTDIR depending on the kernel: tell them apart.
            struct stat st {};
            if (err == ENOTDIR && ::fstatat(dir.get(), segment.c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0 &&
                S_ISLNK(st.st_mode)) {
                err = ELOOP;
            }
            if (err == ENOTDIR && create) {
                return MakeError(ErrorCode::kInvalidArgument,
                                 fmt::format("{}: {} '{}': '{}' is a file, not a directory", storage, what, name,
                                             name.substr(0, static_cast<std::size_t>(segments[i].data() - name.data()) +
                                                                segments[i].size())));
            }
            return tl::unexpected(StepError(storage, name, what, err));
        }
        dir = Fd(fd);
    }
    return Resolved{std::move(dir), std::string(segments.back())};
}

// Opens the object for reading: a regular file, not a symlink, not a FIFO.
Result<std::pair<Fd, struct stat>> OpenObject(int root_fd, const std::string& storage, std::string_view name,
                                              std::string_view what) {
    GALE_RETURN_IF_ERROR(ValidateName(name));
    GALE_ASSIGN_OR_RETURN(auto resolved, Resolve(root_fd, storage, name, false, what));
    Fd fd(::openat(resolved.dir.get(), resolved.leaf.c_str(), O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC));
    if (fd.get() < 0) return tl::unexpected(StepError(storage, name, what, errno));
    struct stat st {};
    if (::fstat(fd.get(), &st) != 0) return tl::unexpected(StepError(storage, name, what, errno));
    if (S_ISDIR(st.st_mode)) return tl::unexpected(StepError(storage, name, what, EISDIR));
    if (!S_ISREG(st.st_mode)) {
        return MakeError(ErrorCode::kInvalidArgument,
                         fmt::format("{}: {} '{}': not a regular file (refused)", storage, what, name));
    }
    return std::pair<Fd, struct stat>(std::move(fd), st);
}

void ListDir(int dir_fd, const std::string& relative, std::string_view prefix, std::vector<ObjectInfo>& out) {
    // A new open file description (not dup: that would share the directory offset with the root's descriptor).
    Fd owned(::openat(dir_fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (owned.get() < 0) return;
    DIR* dir = ::fdopendir(owned.get());
    if (dir == nullptr) return;
    owned.release();  // closedir closes it
    std::vector<std::pair<std::string, bool>> entries;
    while (dirent* entry = ::readdir(dir)) {
        const std::string_view leaf = entry->d_name;
        if (leaf == "." || leaf == ".." || leaf.starts_with(kTempPrefix)) continue;
        const std::string name = relative + std::string(leaf);
        // Only entries that can lead to a match: the name starts with the prefix, or the prefix goes on below it.
        const bool match = name.starts_with(prefix);
        const bool below = prefix.starts_with(name + "/");
        if (!match && !below) continue;
        struct stat st {};
        if (::fstatat(::dirfd(dir), entry->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0) continue;
        if (S_ISREG(st.st_mode) && match) {
            out.push_back(InfoOf(name, st));
        } else if (S_ISDIR(st.st_mode)) {
            const int child = ::openat(::dirfd(dir), entry->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
            if (child >= 0) {
                Fd child_fd(child);
                ListDir(child_fd.get(), name + "/", prefix, out);
            }
        }
        // Symlinks, FIFOs, sockets and devices are not objects: skipped.
    }
    ::closedir(dir);
}

}  // namespace

LocalStorage::LocalStorage(LocalStorageOptions options, std::filesystem::path root, int root_fd) noexcept
    : options_(std::move(options)), root_(std::move(root)), root_fd_(root_fd) {}

LocalStorage::~LocalStorage() {
    if (root_fd_ >= 0) ::close(root_fd_);
}

Result<std::unique_ptr<LocalStorage>> LocalStorage::Create(LocalStorageOptions options) {
    if (options.root.empty()) return MakeError(ErrorCode::kInvalidArgument, "local storage: the root is empty");
    std::error_code ec;
    std::filesystem::path root = std::filesystem::absolute(options.root, ec);
    if (ec) root = options.root;
    if (options.create_root) {
        std::filesystem::create_directories(root, ec);
        if (ec) {
            return MakeError(ErrorCode::kUnavailable,
                             fmt::format("local storage {}: cannot create the root: {}", root.string(), ec.message()));
        }
    }
    const int fd = ::open(root.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) {
        return MakeError(ErrorCode::kUnavailable,
                         fmt::format("local storage {}: cannot open the root: {}", root.string(), ErrnoText(errno)));
    }
    if (options.base_url.empty() || options.base_url.back() != '/') options.base_url += '/';
    return std::unique_ptr<LocalStorage>(new LocalStorage(std::move(options), std::move(root), fd));
}

std::string LocalStorage::Describe() const { return "local storage " + root_.string(); }

Result<std::string> LocalStorage::Write(std::string_view name, const std::function<Result<void>(int fd)>& fill) {
    GALE_RETURN_IF_ERROR(ValidateName(name));
    const std::string storage = Describe();
    GALE_ASSIGN_OR_RETURN(auto resolved, Resolve(root_fd_, storage, name, true, "save"));
    const std::string temp = TempName();
    Fd fd(::openat(resolved.dir.get(), temp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644));
    if (fd.get() < 0) return tl::unexpected(StepError(storage, name, "save", errno));
    auto fail = [&](Error error) -> Result<std::string> {
        ::unlinkat(resolved.dir.get(), temp.c_str(), 0);
        return tl::unexpected(std::move(error));
    };
    if (auto filled = fill(fd.get()); !filled) {
        return fail(
            Error(filled.error().code(), fmt::format("{}: save '{}': {}", storage, name, filled.error().message())));
    }
    if (::fsync(fd.get()) != 0) return fail(StepError(storage, name, "save (fsync)", errno));
    if (::close(fd.release()) != 0) return fail(StepError(storage, name, "save (close)", errno));
    if (::renameat(resolved.dir.get(), temp.c_str(), resolved.dir.get(), resolved.leaf.c_str()) != 0) {
        return fail(StepError(storage, name, "save (rename)", errno));
    }
    return std::string(name);
}

Result<std::string> LocalStorage::Save(std::string_view name, std::string_view bytes, const SaveOptions& /*options*/) {
    return Write(name, [bytes](int fd) { return WriteAll(fd, bytes); });
}

Result<std::string> LocalStorage::SaveFile(std::string_view name, const std::filesystem::path& source,
                                           const SaveOptions& /*options*/) {
    Fd in(::open(source.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC));
    struct stat st {};
    if (in.get() < 0 || ::fstat(in.get(), &st) != 0) {
        return MakeError(ErrorCode::kInvalidArgument,
                         fmt::format("{}: save '{}' from {}: {}", Describe(), name, source.string(), ErrnoText(errno)));
    }
    if (!S_ISREG(st.st_mode)) {
        return MakeError(ErrorCode::kInvalidArgument,
                         fmt::format("{}: save '{}' from {}: not a regular file", Describe(), name, source.string()));
    }
    return Write(name, [&in](int fd) -> Result<void> {
        std::string buffer(kChunk, '\0');
        while (true) {
            const ssize_t n = ::read(in.get(), buffer.data(), buffer.size());
            if (n < 0) {
                if (errno == EINTR) continue;
                return MakeError(ErrorCode::kIo, "reading the source: " + ErrnoText(errno));
            }
            if (n == 0) return {};
            GALE_RETURN_IF_ERROR(WriteAll(fd, std::string_view(buffer.data(), static_cast<std::size_t>(n))));
        }
    });
}

Result<std::string> LocalStorage::Read(std::string_view name) { return ReadRange(name, 0, std::nullopt); }

Result<std::string> LocalStorage::ReadRange(std::string_view name, std::uint64_t offset,
                                            std::optional<std::uint64_t> length) {
    const std::string storage = Describe();
    GALE_ASSIGN_OR_RETURN(auto opened, OpenObject(root_fd_, storage, name, "read"));
    const auto size = static_cast<std::uint64_t>(opened.second.st_size);
    if (offset >= size) return std::string();
    auto bytes = ReadAt(opened.first.get(), offset, std::min(size - offset, length.value_or(size - offset)));
    if (!bytes) {
        return MakeError(bytes.error().code(),
                         fmt::format("{}: read '{}': {}", storage, name, bytes.error().message()));
    }
    return bytes;
}

Result<StoredObject> LocalStorage::ReadObject(std::string_view name) {
    const std::string storage = Describe();
    GALE_ASSIGN_OR_RETURN(auto opened, OpenObject(root_fd_, storage, name, "read"));
    StoredObject object;
    object.info = InfoOf(std::string(name), opened.second);
    object.info.content_type = kDefaultContentType;
    // From the file opened once: a Save that replaces the name meanwhile renames a new file over it, this one stays.
    auto bytes = ReadAt(opened.first.get(), 0, object.info.size);
    if (!bytes) {
        return MakeError(bytes.error().code(),
                         fmt::format("{}: read '{}': {}", storage, name, bytes.error().message()));
    }
    object.bytes = std::move(*bytes);
    return object;
}

Result<ObjectInfo> LocalStorage::Stat(std::string_view name) {
    GALE_ASSIGN_OR_RETURN(auto opened, OpenObject(root_fd_, Describe(), name, "stat"));
    ObjectInfo info = InfoOf(std::string(name), opened.second);
    info.content_type = kDefaultContentType;
    return info;
}

Result<bool> LocalStorage::Exists(std::string_view name) {
    auto info = Stat(name);
    if (info) return true;
    if (info.error().code() == ErrorCode::kNotFound) return false;
    return tl::unexpected(std::move(info).error());
}

Result<bool> LocalStorage::Delete(std::string_view name) {
    GALE_RETURN_IF_ERROR(ValidateName(name));
    const std::string storage = Describe();
    auto resolved = Resolve(root_fd_, storage, name, false, "delete");
    if (!resolved) {
        if (resolved.error().code() == ErrorCode::kNotFound) return false;
        return tl::unexpected(std::move(resolved).error());
    }
    struct stat st {};
    if (::fstatat(resolved->dir.get(), resolved->leaf.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) {
        if (errno == ENOENT) return false;
        return tl::unexpected(StepError(storage, name, "delete", errno));
    }
    if (S_ISDIR(st.st_mode)) return tl::unexpected(StepError(storage, name, "delete", EISDIR));
    if (::unlinkat(resolved->dir.get(), resolved->leaf.c_str(), 0) != 0) {
        if (errno == ENOENT) return false;
        return tl::unexpected(StepError(storage, name, "delete", errno));
    }
    return true;
}

Result<std::vector<ObjectInfo>> LocalStorage::List(std::string_view prefix) {
    const std::string storage = Describe();
    std::string directory;  // the prefix's directory part, walked like a name's
    if (!prefix.empty()) {
        std::string_view check = prefix;
        if (check.back() == '/') check.remove_suffix(1);
        if (!check.empty()) {
            if (auto valid = ValidateName(check); !valid) {
                return MakeError(ErrorCode::kInvalidArgument,
                                 fmt::format("{}: list: prefix: {}", storage, valid.error().message()));
            }
        } else {
            return MakeError(ErrorCode::kInvalidArgument, fmt::format("{}: list: prefix '/' is absolute", storage));
        }
        directory = std::string(prefix.substr(0, prefix.rfind('/') + 1));
    }
    std::vector<ObjectInfo> out;
    Fd dir(::fcntl(root_fd_, F_DUPFD_CLOEXEC, 0));
    if (!directory.empty()) {
        auto resolved = Resolve(root_fd_, storage, directory + "x", false, "list");
        if (!resolved) {
            if (resolved.error().code() == ErrorCode::kNotFound) return out;
            return tl::unexpected(std::move(resolved).error());
        }
        dir = std::move(resolved->dir);
    }
    if (dir.get() < 0) return tl::unexpected(StepError(storage, prefix, "list", errno));
    ListDir(dir.get(), directory, prefix, out);
    std::sort(out.begin(), out.end(), [](const ObjectInfo& a, const ObjectInfo& b) { return a.name < b.name; });
    return out;
}

Result<std::string> LocalStorage::Url(std::string_view name, const UrlOptions& /*options*/) {
    GALE_RETURN_IF_ERROR(ValidateName(name));
    std::string url = options_.base_url;
    bool first = true;
    for (const auto segment : Segments(name)) {
        if (!first) url += '/';
        first = false;
        url += PercentEncode(segment);
    }
    return url;
}

Result<LocalFile> LocalStorage::LocalPath(std::string_view name) {
    GALE_ASSIGN_OR_RETURN(auto opened, OpenObject(root_fd_, Describe(), name, "local path"));
    return LocalFile(root_ / std::filesystem::path(std::string(name)), false);
}

Result<void> LocalStorage::Check() {
    struct stat st {};
    if (::fstat(root_fd_, &st) != 0 || !S_ISDIR(st.st_mode)) {
        return MakeError(ErrorCode::kUnavailable, Describe() + ": the root is no longer a directory");
    }
    if (st.st_nlink == 0) return MakeError(ErrorCode::kUnavailable, Describe() + ": the root was removed");
    if (::faccessat(root_fd_, ".", W_OK, AT_EACCESS) != 0) {
        return MakeError(ErrorCode::kUnavailable,
                         fmt::format("{}: the root is not writable: {}", Describe(), ErrnoText(errno)));
    }
    return {};
}

}  // namespace gale::storage
