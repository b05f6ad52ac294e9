// SPDX-License-Identifier: MIT
// The Storage interface's shared parts: the name rules every implementation applies first, and LocalFile.
#include <string>
#include <string_view>
#include <system_error>
#include <utility>

#include <fmt/format.h>

#include <gale/storage/storage.hpp>

namespace gale::storage {
namespace {

// The name as it may be shown in a message: printable ASCII kept, everything else as \xNN, cut at 120 bytes.
std::string Printable(std::string_view name) {
    std::string out;
    for (const char c : name.substr(0, 120)) {
        const auto u = static_cast<unsigned char>(c);
        if (u >= 0x20 && u < 0x7f && c != '\\') {
            out.push_back(c);
        } else {
            out += fmt::format("\\x{:02x}", u);
        }
    }
    if (name.size() > 120) out += "...";
    return out;
}

Result<void> Refuse(std::string_view name, std::string_view why) {
    return MakeError(ErrorCode::kInvalidArgument, fmt::format("storage name '{}': {}", Printable(name), why));
}

}  // namespace

Result<void> ValidateName(std::string_view name) {
    if (name.empty()) return Refuse(name, "empty");
    if (name.size() > kMaxNameBytes) {
        return Refuse(name, fmt::format("{} bytes long, more than the {} allowed", name.size(), kMaxNameBytes));
    }
    if (name.front() == '/') return Refuse(name, "an absolute path (starts with '/')");
    for (std::size_t i = 0; i < name.size(); ++i) {
        const auto u = static_cast<unsigned char>(name[i]);
        if (u < 0x20 || u == 0x7f) return Refuse(name, fmt::format("control character 0x{:02x} at byte {}", u, i));
        if (name[i] == '\\') return Refuse(name, fmt::format("backslash at byte {}", i));
    }
    std::size_t start = 0;
    while (true) {
        const std::size_t end = name.find('/', start);
        const std::string_view segment = name.substr(start, end == std::string_view::npos ? end : end - start);
        if (segment.empty()) {
            return Refuse(name, end == std::string_view::npos ? "ends with '/'"
                                                              : fmt::format("empty segment ('//') at byte {}", start));
        }
        if (segment == "." || segment == "..") {
            return Refuse(name, fmt::format("'{}' segment at byte {}", segment, start));
        }
        if (segment.size() > kMaxSegmentBytes) {
            return Refuse(name, fmt::format("segment at byte {} is {} bytes long, more than the {} allowed", start,
                                            segment.size(), kMaxSegmentBytes));
        }
        if (end == std::string_view::npos) break;
        start = end + 1;
    }
    return {};
}

Storage::~Storage() = default;

LocalFile::LocalFile(std::filesystem::path path, bool remove_on_destruction) noexcept
    : path_(std::move(path)), remove_(remove_on_destruction) {}

LocalFile::~LocalFile() { Release(); }

LocalFile::LocalFile(LocalFile&& other) noexcept
    : path_(std::exchange(other.path_, {})), remove_(std::exchange(other.remove_, false)) {}

LocalFile& LocalFile::operator=(LocalFile&& other) noexcept {
    if (this != &other) {
        Release();
        path_ = std::exchange(other.path_, {});
        remove_ = std::exchange(other.remove_, false);
    }
    return *this;
}

void LocalFile::Release() noexcept {
    if (remove_ && !path_.empty()) {
        std::error_code ignored;
        std::filesystem::remove(path_, ignored);
    }
    path_.clear();
    remove_ = false;
}

}  // namespace gale::storage
