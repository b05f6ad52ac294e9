// SPDX-License-Identifier: MIT
// The sink writes a file part to memory until it passes memory_threshold, then moves what it has to a temporary
// file (mkstemp, 0600, in temp_dir) and appends the rest there; at the part's end it chooses a free name and saves
// from memory (Save) or from the file (SaveFile), then removes the file. Every saved name is remembered so that a
// later failure can delete them: the form is saved whole or not at all (as far as Delete succeeds).
#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <memory>
#include <random>
#include <string>
#include <system_error>
#include <utility>

#include <fmt/format.h>

#include <gale/http/message.hpp>
#include <gale/storage/storage.hpp>
#include <gale/uploads/uploads.hpp>

namespace gale::uploads {
namespace {

constexpr std::size_t kMaxBaseBytes = 200;
constexpr int kNameAttempts = 20;
constexpr std::size_t kStreamPiece = 64 * 1024;  // bytes asked of a streamed body per read

std::string RandomSuffix() {
    static constexpr std::string_view kChars = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
    thread_local std::mt19937 rng{std::random_device{}()};
    std::uniform_int_distribution<std::size_t> pick(0, kChars.size() - 1);
    std::string out;
    for (int i = 0; i < 7; ++i) out += kChars[pick(rng)];
    return out;
}

/// A temporary file that is removed when it goes out of scope.
class TempFile {
public:
    TempFile() = default;
    TempFile(const TempFile&) = delete;
    TempFile& operator=(const TempFile&) = delete;
    ~TempFile() { Close(); }

    Result<void> Open(const std::filesystem::path& dir) {
        std::string pattern = (dir / "gale-upload-XXXXXX").string();
        fd_ = ::mkostemp(pattern.data(), O_CLOEXEC);
        if (fd_ < 0) {
            return MakeError(ErrorCode::kIo, fmt::format("uploads: cannot create a temporary file in {}: {}",
                                                         dir.string(), std::strerror(errno)));
        }
        path_ = pattern;
        return {};
    }
    Result<void> Write(std::string_view bytes) {
        while (!bytes.empty()) {
            ssize_t n = ::write(fd_, bytes.data(), bytes.size());
            if (n < 0 && errno == EINTR) continue;
            if (n < 0) {
                return MakeError(ErrorCode::kIo,
                                 fmt::format("uploads: writing {}: {}", path_.string(), std::strerror(errno)));
            }
            bytes.remove_prefix(static_cast<std::size_t>(n));
        }
        return {};
    }
    [[nodiscard]] bool open() const noexcept { return fd_ >= 0; }
    [[nodiscard]] const std::filesystem::path& path() const noexcept { return path_; }
    void Close() noexcept {
        if (fd_ >= 0) ::close(fd_);
        fd_ = -1;
        if (!path_.empty()) {
            std::error_code ec;
            std::filesystem::remove(path_, ec);
            path_.clear();
        }
    }

private:
    int fd_ = -1;
    std::filesystem::path path_;
};

class UploadSink final : public http::MultipartSink {
public:
    UploadSink(storage::Storage& storage, const UploadOptions& options) : storage_(storage), options_(options) {}

    // gale::http::MultipartSink
    Result<void> OnPartBegin(const http::MultipartPart& part) override {
        is_file_ = part.is_file();
        buffer_.clear();
        size_ = 0;
        if (is_file_ && form_.files.size() == options_.max_files) {
            return MakeError(ErrorCode::kInvalidArgument,
                             fmt::format("uploads: part {}: more than {} files", part.index, options_.max_files));
        }
        current_ = UploadedFile{part.name, part.filename.value_or(""), "", part.content_type, 0};
        return {};
    }
    Result<void> OnPartData(std::string_view bytes) override {
        size_ += bytes.size();
        if (!is_file_ || temp_.open()) {
            if (temp_.open()) return temp_.Write(bytes);
            buffer_.append(bytes);
            return {};
        }
        if (buffer_.size() + bytes.size() <= options_.memory_threshold) {
            buffer_.append(bytes);
            return {};
        }
        GALE_RETURN_IF_ERROR(
            temp_.Open(options_.temp_dir.empty() ? std::filesystem::temp_directory_path() : options_.temp_dir));
        GALE_RETURN_IF_ERROR(temp_.Write(buffer_));
        buffer_.clear();
        buffer_.shrink_to_fit();
        return temp_.Write(bytes);
    }
    Result<void> OnPartEnd() override {
        if (!is_file_) {
            form_.fields.emplace_back(current_.field, std::move(buffer_));
            buffer_.clear();
            return {};
        }
        if (current_.client_filename.empty() && size_ == 0) return {};  // a file input left empty
        GALE_ASSIGN_OR_RETURN(std::string name, FreeName(SanitizeFilename(current_.client_filename)));
        storage::SaveOptions save{.content_type = current_.content_type};
        Result<std::string> saved =
            temp_.open() ? storage_.SaveFile(name, temp_.path(), save) : storage_.Save(name, buffer_, save);
        temp_.Close();
        buffer_.clear();
        if (!saved) return tl::unexpected(saved.error());
        current_.stored_name = *saved;
        current_.size = size_;
        form_.files.push_back(std::move(current_));
        return {};
    }

    /// Deletes what was saved (after a failure).
    void Undo() noexcept {
        temp_.Close();
        for (const UploadedFile& f : form_.files) (void)storage_.Delete(f.stored_name);
        form_.files.clear();
    }

    UploadedForm Take() { return std::move(form_); }

private:
    Result<std::string> FreeName(const std::string& base) {
        std::string name = options_.prefix + base;
        for (int attempt = 0; attempt < kNameAttempts; ++attempt) {
            GALE_ASSIGN_OR_RETURN(bool taken, storage_.Exists(name));
            if (!taken) return name;
            std::size_t dot = base.rfind('.');
            if (dot == 0 || dot == std::string::npos) dot = base.size();
            name = options_.prefix + base.substr(0, dot) + "_" + RandomSuffix() + base.substr(dot);
        }
        return MakeError(ErrorCode::kAlreadyExists,
                         fmt::format("uploads: no free name for '{}' after {} attempts", base, kNameAttempts));
    }

    storage::Storage& storage_;
    const UploadOptions& options_;
    bool is_file_ = false;
    std::string buffer_;
    std::uint64_t size_ = 0;
    TempFile temp_;
    UploadedFile current_;
    UploadedForm form_;
};

}  // namespace

std::optional<std::string_view> UploadedForm::field(std::string_view name) const noexcept {
    for (const auto& [n, v] : fields) {
        if (n == name) return v;
    }
    return std::nullopt;
}

std::string SanitizeFilename(std::string_view client_filename) {
    std::size_t sep = client_filename.find_last_of("/\\");
    std::string_view base = sep == std::string_view::npos ? client_filename : client_filename.substr(sep + 1);
    std::string out;
    for (char c : base) {
        auto u = static_cast<unsigned char>(c);
        if (u < 0x20 || u == 0x7f) continue;
        if (out.empty() && (c == '.' || c == ' ')) continue;
        out += c;
    }
    while (!out.empty() && (out.back() == ' ' || out.back() == '.')) out.pop_back();
    if (out.empty()) return "file";
    if (out.size() > kMaxBaseBytes) {
        std::size_t dot = out.rfind('.');
        std::string ext = dot != std::string::npos && out.size() - dot <= 16 ? out.substr(dot) : "";
        std::size_t keep = kMaxBaseBytes - ext.size();
        // Do not cut a UTF-8 sequence in two.
        while (keep > 0 && (static_cast<unsigned char>(out[keep]) & 0xc0) == 0x80) --keep;
        out = out.substr(0, keep) + ext;
    }
    return out;
}

namespace {

/// Parses the form whose body `feed(parser)` gives the parser (its Feed calls, then Finish), saving the files; a form
/// that fails leaves nothing behind.
template <typename FeedBody>
Result<UploadedForm> Save(std::string_view content_type, storage::Storage& storage, const UploadOptions& options,
                          FeedBody&& feed) {
    GALE_ASSIGN_OR_RETURN(std::string boundary, http::MultipartBoundary(content_type));
    UploadSink sink(storage, options);
    http::MultipartParser parser(std::move(boundary), sink, options.limits);
    Result<void> r = feed(parser);
    if (!r) {
        sink.Undo();
        return tl::unexpected(r.error());
    }
    return sink.Take();
}

}  // namespace

Result<UploadedForm> SaveUploads(std::string_view content_type, std::string_view body, storage::Storage& storage,
                                 const UploadOptions& options) {
    return Save(content_type, storage, options, [&](http::MultipartParser& parser) -> Result<void> {
        GALE_RETURN_IF_ERROR(parser.Feed(body));
        return parser.Finish();
    });
}

Result<UploadedForm> SaveUploads(const http::Request& request, storage::Storage& storage,
                                 const UploadOptions& options) {
    std::optional<std::string_view> content_type = request.header("Content-Type");
    if (!content_type) {
        return MakeError(ErrorCode::kInvalidArgument, "uploads: the request has no Content-Type (multipart/form-data)");
    }
    const std::shared_ptr<http::BodyStream>& stream = request.body_stream();
    if (!stream) return SaveUploads(*content_type, request.body(), storage, options);
    // A streamed body (RouteOptions::stream_body): parsed as it arrives, a piece at a time.
    return Save(*content_type, storage, options, [&](http::MultipartParser& parser) -> Result<void> {
        std::string piece;
        while (true) {
            piece.clear();
            GALE_ASSIGN_OR_RETURN(std::size_t n, stream->Read(piece, kStreamPiece));
            if (n == 0) return parser.Finish();
            GALE_RETURN_IF_ERROR(parser.Feed(piece));
        }
    });
}

}  // namespace gale::uploads
