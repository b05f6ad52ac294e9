// SPDX-License-Identifier: MIT
// Design and invariants.
//
// Addressing. Everything is derived once in Create: the origin ("https://bucket.s3.eu-west-1.amazonaws.com" or
// "http://127.0.0.1:5000"), the bucket's path on it ("" virtual-hosted, "/bucket" path-style), and the key prefix
// ("app/media/"). An object's URL is origin + bucket path + "/" + UriEncode(key, keep '/'); names have passed
// ValidateName, so a key never holds "..", "//" or control characters, and the encoded path is the path S3 sees
// (SigV4's S3 rules: no normalisation, single encoding).
//
// Signing. Each request is signed just before it is sent, with the SHA-256 of its real body (all bodies are in
// memory: multipart uploads read one part at a time), X-Amz-Content-Sha256 added, normalize_path off.
//
// Connections. http::Client is not thread-safe, so each request borrows a Client from a mutex-guarded stack of idle
// ones (a new one when the stack is empty) and gives it back afterwards; at most max_idle_connections stay open.
//
// Multipart. Initiate -> UploadPart x N (each part's ETag kept) -> Complete; any failure after Initiate sends
// AbortMultipartUpload (best effort: its own failure is added to the error) so that no parts stay stored. Complete
// may answer 200 with an <Error> body; that is a failure too.
//
// LocalPath downloads in part_size ranges with If-Match on the first response's ETag, so an object replaced during the
// download fails it (412) instead of yielding a mix of two versions.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <mutex>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>
#include <vector>

#include <fmt/format.h>

#include <gale/aws/sigv4.hpp>
#include <gale/base/strings.hpp>
#include <gale/http/client.hpp>
#include <gale/storage/s3_storage.hpp>

#include "s3_responses.hpp"

namespace gale::storage {
namespace {

using Headers = std::vector<std::pair<std::string, std::string>>;

constexpr std::uint64_t kMaxPartSize = 5ull << 30;
constexpr std::uint64_t kMaxParts = 10000;

std::string ErrnoText(int err) { return std::error_code(err, std::generic_category()).message(); }

std::string_view HeaderOf(const http::ClientResponse& response, std::string_view name) {
    for (const auto& [key, value] : response.headers) {
        if (EqualsIgnoreCase(key, name)) return value;
    }
    return {};
}

/// An object's info from the answer to a HEAD of it (its size from Content-Length) or a GET (the body's size, as the
/// client framed it); `storage`, `op` and `name` for the error.
Result<ObjectInfo> InfoFromHeaders(const std::string& storage, std::string_view op, std::string_view name,
                                   const http::ClientResponse& response, bool size_from_body) {
    ObjectInfo info;
    info.name = std::string(name);
    if (size_from_body) {
        info.size = response.body.size();
    } else {
        auto size = ParseInt("Content-Length", HeaderOf(response, "Content-Length"), 0, INT64_MAX);
        if (!size) {
            return MakeError(ErrorCode::kInternal,
                             fmt::format("{}: {} '{}': {}", storage, op, name, size.error().message()));
        }
        info.size = static_cast<std::uint64_t>(*size);
    }
    info.content_type = std::string(HeaderOf(response, "Content-Type"));
    if (auto modified = detail::ParseHttpDate(HeaderOf(response, "Last-Modified"))) info.modified = *modified;
    info.etag = detail::Unquote(HeaderOf(response, "ETag"));
    return info;
}

bool DnsCompatible(std::string_view bucket) {
    if (bucket.size() < 3 || bucket.size() > 63) return false;
    for (const char c : bucket) {
        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '.')) return false;
    }
    const auto edge = [](char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'); };
    return edge(bucket.front()) && edge(bucket.back()) && bucket.find("..") == std::string_view::npos;
}

std::string XmlEscape(std::string_view text) {
    std::string out;
    for (const char c : text) {
        switch (c) {
            case '&':
                out += "&amp;";
                break;
            case '<':
                out += "&lt;";
                break;
            case '>':
                out += "&gt;";
                break;
            case '"':
                out += "&quot;";
                break;
            default:
                out += c;
        }
    }
    return out;
}

ErrorCode CodeForStatus(int status) {
    if (status == 404) return ErrorCode::kNotFound;
    if (status == 403 || status == 401) return ErrorCode::kIo;
    if (status == 429 || status >= 500) return ErrorCode::kUnavailable;
    if (status >= 400) return ErrorCode::kInvalidArgument;
    return ErrorCode::kInternal;
}

// A temporary file removed on scope exit unless released.
class TempFile {
public:
    TempFile(std::string path, int fd) : path_(std::move(path)), fd_(fd) {}
    ~TempFile() {
        if (fd_ >= 0) ::close(fd_);
        if (!path_.empty()) ::unlink(path_.c_str());
    }
    TempFile(const TempFile&) = delete;
    TempFile& operator=(const TempFile&) = delete;
    [[nodiscard]] int fd() const { return fd_; }
    std::string Release() {
        ::close(std::exchange(fd_, -1));
        return std::exchange(path_, {});
    }

private:
    std::string path_;
    int fd_;
};

}  // namespace

struct S3Storage::Impl {
    S3StorageOptions options;
    std::string origin;       // scheme://host[:port], the bucket's host when virtual-hosted
    std::string bucket_path;  // "/bucket" (path-style) or "" (virtual-hosted)
    std::string bucket_url;   // origin + bucket_path
    std::string key_prefix;   // "" or "prefix/"
    std::string describe;

    std::mutex mutex;
    std::vector<http::Client> idle;

    std::string Key(std::string_view name) const { return key_prefix + std::string(name); }
    std::string ObjectPath(std::string_view name) const { return bucket_path + "/" + Key(name); }
    std::string ObjectUrl(std::string_view name) const { return origin + aws::UriEncode(ObjectPath(name), true); }

    http::Client Borrow() {
        std::lock_guard lock(mutex);
        if (idle.empty()) return http::Client();
        http::Client client = std::move(idle.back());
        idle.pop_back();
        return client;
    }
    void GiveBack(http::Client client) {
        std::lock_guard lock(mutex);
        if (idle.size() < options.max_idle_connections) idle.push_back(std::move(client));
    }

    // Signs and sends; `url` is absolute, `query` without '?'. A transport failure becomes an error naming the
    // operation; any HTTP status is returned.
    Result<http::ClientResponse> Send(std::string_view operation, std::string_view name, std::string method,
                                      std::string url, Headers headers = {}, std::string body = {}) {
        http::ClientRequest request{.method = std::move(method),
                                    .url = std::move(url),
                                    .headers = std::move(headers),
                                    .body = std::move(body),
                                    .timeout = options.timeout,
                                    .connect_timeout = options.connect_timeout};
        const aws::SigningParams params{.credentials = options.credentials,
                                        .region = options.region,
                                        .service = "s3",
                                        .time = options.clock ? options.clock() : std::chrono::system_clock::now(),
                                        .add_content_sha256 = true,
                                        .normalize_path = false};
        if (auto signed_request = aws::SignClientRequest(request, params); !signed_request) {
            return tl::unexpected(Error(signed_request.error().code(),
                                        fmt::format("{}: {} '{}': signing failed", describe, operation, name),
                                        signed_request.error()));
        }
        http::Client client = Borrow();
        auto response = client.Send(request);
        if (!response) {
            return tl::unexpected(Error(response.error().code(),
                                        fmt::format("{}: {} '{}': S3 unreachable", describe, operation, name),
                                        response.error()));
        }
        GiveBack(std::move(client));
        return response;
    }

    Error Failure(std::string_view operation, std::string_view name, const http::ClientResponse& response) const {
        auto body = detail::ParseS3Error(response.body);
        ErrorCode code = CodeForStatus(response.status);
        std::string why;
        if (body) {
            why = body->message.empty() ? body->code : fmt::format("{}: {}", body->code, body->message);
            if (body->code == "NoSuchBucket") {
                why = fmt::format("NoSuchBucket: bucket '{}' does not exist", options.bucket);
            }
        } else if (response.status == 404) {
            why = "no such object";
        } else if (response.status == 403) {
            why = "access denied";
        } else {
            why = "unexpected answer";
        }
        return Error(code, fmt::format("{}: {} '{}': {} (HTTP {})", describe, operation, name, why, response.status));
    }

    Result<http::ClientResponse> Expect(std::string_view operation, std::string_view name,
                                        Result<http::ClientResponse> response,
                                        std::initializer_list<int> ok = {200}) const {
        if (!response) return response;
        if (std::find(ok.begin(), ok.end(), response->status) == ok.end()) {
            return tl::unexpected(Failure(operation, name, *response));
        }
        return response;
    }

    Headers UploadHeaders(const SaveOptions& save) const {
        Headers headers{
            {"Content-Type", save.content_type.empty() ? std::string(kDefaultContentType) : save.content_type}};
        if (!save.cache_control.empty()) headers.emplace_back("Cache-Control", save.cache_control);
        const Visibility visibility =
            save.visibility == Visibility::kDefault ? options.default_visibility : save.visibility;
        if (visibility == Visibility::kPublic && options.send_acl) headers.emplace_back("x-amz-acl", "public-read");
        return headers;
    }

    Result<std::string> Put(std::string_view name, std::string body, const SaveOptions& save) {
        GALE_RETURN_IF_ERROR(
            Expect("save", name, Send("save", name, "PUT", ObjectUrl(name), UploadHeaders(save), std::move(body))));
        return std::string(name);
    }

    Result<std::string> Multipart(std::string_view name, int fd, std::uint64_t size, const SaveOptions& save);
};

Result<std::string> S3Storage::Impl::Multipart(std::string_view name, int fd, std::uint64_t size,
                                               const SaveOptions& save) {
    const std::uint64_t part_size = std::max(options.part_size, (size + kMaxParts - 1) / kMaxParts);
    const std::string url = ObjectUrl(name);
    GALE_ASSIGN_OR_RETURN(auto initiated, Expect("save (initiate multipart upload)", name,
                                                 Send("save", name, "POST", url + "?uploads", UploadHeaders(save))));
    auto upload_id = detail::ParseUploadId(initiated.body);
    if (!upload_id) {
        return MakeError(ErrorCode::kInternal,
                         fmt::format("{}: save '{}': {}", describe, name, upload_id.error().message()));
    }
    const std::string id_query = "uploadId=" + aws::UriEncode(*upload_id, false);
    auto abort = [&](Error error) -> Result<std::string> {
        auto aborted = Expect("save (abort multipart upload)", name, Send("save", name, "DELETE", url + "?" + id_query),
                              {204, 200});
        if (!aborted) {
            return tl::unexpected(Error(
                error.code(), error.message() + "; aborting the upload failed too: " + aborted.error().message()));
        }
        return tl::unexpected(std::move(error));
    };

    std::string complete = "<CompleteMultipartUpload>";
    std::uint64_t offset = 0;
    for (std::uint64_t number = 1; offset < size || number == 1; ++number) {
        const std::uint64_t length = std::min(part_size, size - offset);
        std::string part(static_cast<std::size_t>(length), '\0');
        std::size_t have = 0;
        while (have < part.size()) {
            const ssize_t n = ::pread(fd, part.data() + have, part.size() - have, static_cast<off_t>(offset + have));
            if (n < 0 && errno == EINTR) continue;
            if (n <= 0) {
                return abort(Error(ErrorCode::kIo,
                                   fmt::format("{}: save '{}': reading the source at byte {}: {}", describe, name,
                                               offset + have, n == 0 ? "the file shrank" : ErrnoText(errno))));
            }
            have += static_cast<std::size_t>(n);
        }
        auto uploaded = Expect(
            fmt::format("save (part {})", number), name,
            Send("save", name, "PUT", fmt::format("{}?partNumber={}&{}", url, number, id_query), {}, std::move(part)));
        if (!uploaded) return abort(std::move(uploaded).error());
        const std::string etag(HeaderOf(*uploaded, "ETag"));
        if (etag.empty()) {
            return abort(Error(ErrorCode::kInternal,
                               fmt::format("{}: save '{}': part {}: no ETag in S3's answer", describe, name, number)));
        }
        complete += fmt::format("<Part><PartNumber>{}</PartNumber><ETag>{}</ETag></Part>", number, XmlEscape(etag));
        offset += length;
        if (size == 0) break;
    }
    complete += "</CompleteMultipartUpload>";
    auto completed = Expect(
        "save (complete multipart upload)", name,
        Send("save", name, "POST", url + "?" + id_query, {{"Content-Type", "application/xml"}}, std::move(complete)));
    if (!completed) return abort(std::move(completed).error());
    if (auto result = detail::ParseCompleteMultipartUpload(completed->body); !result) {
        return abort(Error(result.error().code(), fmt::format("{}: save '{}': complete multipart upload: {}", describe,
                                                              name, result.error().message())));
    }
    return std::string(name);
}

S3Storage::S3Storage(std::unique_ptr<Impl> impl) noexcept : impl_(std::move(impl)) {}
S3Storage::~S3Storage() = default;

Result<std::unique_ptr<S3Storage>> S3Storage::Create(S3StorageOptions options) {
    auto invalid = [](std::string what) {
        return MakeError(ErrorCode::kInvalidArgument, "s3 storage: " + std::move(what));
    };
    if (options.bucket.empty()) return invalid("the bucket is empty");
    if (options.bucket.size() > 63 || options.bucket.find_first_of("/?#% \t\r\n") != std::string::npos) {
        return invalid(fmt::format("'{}' is not a valid bucket name", options.bucket));
    }
    if (options.region.empty()) return invalid("the region is empty");
    if (options.credentials.access_key_id.empty() || options.credentials.secret_access_key.empty()) {
        return invalid("the access key id and secret access key must be set");
    }
    if (options.part_size < kS3MinPartSize || options.part_size > kMaxPartSize) {
        return invalid(fmt::format("part_size {} is outside S3's limits ({} to {} bytes)", options.part_size,
                                   kS3MinPartSize, kMaxPartSize));
    }
    if (options.multipart_threshold < options.part_size) {
        return invalid(fmt::format("multipart_threshold {} is below part_size {}", options.multipart_threshold,
                                   options.part_size));
    }
    if (options.timeout.count() <= 0 || options.connect_timeout.count() <= 0)
        return invalid("timeouts must be positive");
    while (!options.prefix.empty() && options.prefix.back() == '/') options.prefix.pop_back();
    if (!options.prefix.empty()) {
        if (auto valid = ValidateName(options.prefix); !valid) return invalid("prefix: " + valid.error().message());
    }
    if (options.temp_dir.empty()) {
        std::error_code ec;
        options.temp_dir = std::filesystem::temp_directory_path(ec);
        if (ec) options.temp_dir = "/tmp";
    }

    auto impl = std::make_unique<Impl>();
    std::string endpoint = options.endpoint;
    while (!endpoint.empty() && endpoint.back() == '/') endpoint.pop_back();
    const bool aws_endpoint = endpoint.empty() || endpoint.ends_with(".amazonaws.com");
    if (endpoint.empty()) endpoint = fmt::format("https://s3.{}.amazonaws.com", options.region);
    std::string scheme;
    if (endpoint.starts_with("http://")) {
        scheme = "http://";
    } else if (endpoint.starts_with("https://")) {
        scheme = "https://";
    } else {
        return invalid(fmt::format("endpoint '{}' is not http(s)://host[:port]", http::RedactUrl(endpoint)));
    }
    const std::string host = endpoint.substr(scheme.size());
    if (host.empty() || host.find_first_of("/?#@ ") != std::string::npos) {
        return invalid(fmt::format("endpoint '{}' is not http(s)://host[:port]", http::RedactUrl(endpoint)));
    }
    const bool dns_label = DnsCompatible(options.bucket) && options.bucket.find('.') == std::string::npos;
    bool virtual_hosted = false;
    switch (options.addressing) {
        case S3Addressing::kAuto:
            virtual_hosted = aws_endpoint && dns_label;
            break;
        case S3Addressing::kVirtualHosted:
            if (!dns_label) {
                return invalid(
                    fmt::format("bucket '{}' cannot be a host name: use path-style addressing", options.bucket));
            }
            virtual_hosted = true;
            break;
        case S3Addressing::kPath:
            break;
    }
    if (virtual_hosted) {
        impl->origin = scheme + options.bucket + "." + host;
    } else {
        impl->origin = endpoint;
        impl->bucket_path = "/" + aws::UriEncode(options.bucket, false);
    }
    impl->bucket_url = impl->origin + impl->bucket_path;
    impl->key_prefix = options.prefix.empty() ? "" : options.prefix + "/";
    impl->describe = fmt::format("s3 storage s3://{}/{}", options.bucket, impl->key_prefix);
    impl->options = std::move(options);
    return std::unique_ptr<S3Storage>(new S3Storage(std::move(impl)));
}

const std::string& S3Storage::bucket_url() const noexcept { return impl_->bucket_url; }

std::string S3Storage::Describe() const { return impl_->describe; }

Result<std::string> S3Storage::Save(std::string_view name, std::string_view bytes, const SaveOptions& options) {
    GALE_RETURN_IF_ERROR(ValidateName(name));
    return impl_->Put(name, std::string(bytes), options);
}

Result<std::string> S3Storage::SaveFile(std::string_view name, const std::filesystem::path& source,
                                        const SaveOptions& options) {
    GALE_RETURN_IF_ERROR(ValidateName(name));
    const int fd = ::open(source.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC);
    struct stat st {};
    if (fd < 0 || ::fstat(fd, &st) != 0) {
        const int err = errno;
        if (fd >= 0) ::close(fd);
        return MakeError(ErrorCode::kInvalidArgument,
                         fmt::format("{}: save '{}' from {}: {}", Describe(), name, source.string(), ErrnoText(err)));
    }
    TempFile guard("", fd);  // closes fd
    if (!S_ISREG(st.st_mode)) {
        return MakeError(ErrorCode::kInvalidArgument,
                         fmt::format("{}: save '{}' from {}: not a regular file", Describe(), name, source.string()));
    }
    const auto size = static_cast<std::uint64_t>(st.st_size);
    if (size > impl_->options.multipart_threshold) return impl_->Multipart(name, fd, size, options);
    std::string body(static_cast<std::size_t>(size), '\0');
    std::size_t have = 0;
    while (have < body.size()) {
        const ssize_t n = ::pread(fd, body.data() + have, body.size() - have, static_cast<off_t>(have));
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) {
            return MakeError(ErrorCode::kIo, fmt::format("{}: save '{}' from {}: {}", Describe(), name, source.string(),
                                                         n == 0 ? "the file shrank" : ErrnoText(errno)));
        }
        have += static_cast<std::size_t>(n);
    }
    return impl_->Put(name, std::move(body), options);
}

Result<std::string> S3Storage::Read(std::string_view name) {
    GALE_RETURN_IF_ERROR(ValidateName(name));
    GALE_ASSIGN_OR_RETURN(auto response,
                          impl_->Expect("read", name, impl_->Send("read", name, "GET", impl_->ObjectUrl(name))));
    return std::move(response.body);
}

Result<std::string> S3Storage::ReadRange(std::string_view name, std::uint64_t offset,
                                         std::optional<std::uint64_t> length) {
    GALE_RETURN_IF_ERROR(ValidateName(name));
    if (length && *length == 0) {
        GALE_RETURN_IF_ERROR(Stat(name));  // a missing object is still kNotFound
        return std::string();
    }
    std::string range = fmt::format("bytes={}-", offset);
    if (length && *length - 1 <= UINT64_MAX - offset) range += std::to_string(offset + *length - 1);
    GALE_ASSIGN_OR_RETURN(
        auto response,
        impl_->Expect("read", name, impl_->Send("read", name, "GET", impl_->ObjectUrl(name), {{"Range", range}}),
                      {200, 206, 416}));
    if (response.status == 416) return std::string();  // the object exists; the offset is at or past its end
    if (response.status == 200) {                      // the server ignored Range: cut it here
        if (offset >= response.body.size()) return std::string();
        return response.body.substr(
            static_cast<std::size_t>(offset),
            length ? static_cast<std::size_t>(std::min<std::uint64_t>(*length, SIZE_MAX)) : std::string::npos);
    }
    return std::move(response.body);
}

Result<StoredObject> S3Storage::ReadObject(std::string_view name) {
    GALE_RETURN_IF_ERROR(ValidateName(name));
    GALE_ASSIGN_OR_RETURN(auto response,
                          impl_->Expect("read", name, impl_->Send("read", name, "GET", impl_->ObjectUrl(name))));
    StoredObject object;
    GALE_ASSIGN_OR_RETURN(object.info, InfoFromHeaders(Describe(), "read", name, response, /*size_from_body=*/true));
    object.bytes = std::move(response.body);
    return object;
}

Result<ObjectInfo> S3Storage::Stat(std::string_view name) {
    GALE_RETURN_IF_ERROR(ValidateName(name));
    GALE_ASSIGN_OR_RETURN(auto response,
                          impl_->Expect("stat", name, impl_->Send("stat", name, "HEAD", impl_->ObjectUrl(name))));
    return InfoFromHeaders(Describe(), "stat", name, response, /*size_from_body=*/false);
}

Result<bool> S3Storage::Exists(std::string_view name) {
    auto info = Stat(name);
    if (info) return true;
    if (info.error().code() == ErrorCode::kNotFound) return false;
    return tl::unexpected(std::move(info).error());
}

Result<bool> S3Storage::Delete(std::string_view name) {
    GALE_ASSIGN_OR_RETURN(const bool existed, Exists(name));
    if (!existed) return false;
    GALE_RETURN_IF_ERROR(
        impl_->Expect("delete", name, impl_->Send("delete", name, "DELETE", impl_->ObjectUrl(name)), {204, 200}));
    return true;
}

Result<std::vector<ObjectInfo>> S3Storage::List(std::string_view prefix) {
    if (!prefix.empty()) {
        std::string_view check = prefix;
        if (check.back() == '/') check.remove_suffix(1);
        auto valid = check.empty() ? Result<void>(MakeError(ErrorCode::kInvalidArgument, "prefix '/' is absolute"))
                                   : ValidateName(check);
        if (!valid) {
            return MakeError(ErrorCode::kInvalidArgument,
                             fmt::format("{}: list: prefix: {}", Describe(), valid.error().message()));
        }
    }
    const std::string key_prefix = impl_->key_prefix + std::string(prefix);
    std::vector<ObjectInfo> out;
    std::string token;
    for (int page_number = 0;; ++page_number) {
        std::string query = "list-type=2&prefix=" + aws::UriEncode(key_prefix, false);
        if (!token.empty()) query += "&continuation-token=" + aws::UriEncode(token, false);
        GALE_ASSIGN_OR_RETURN(
            auto response,
            impl_->Expect("list", prefix, impl_->Send("list", prefix, "GET", impl_->bucket_url + "/?" + query)));
        auto page = detail::ParseListObjectsV2(response.body);
        if (!page) {
            return MakeError(ErrorCode::kInternal,
                             fmt::format("{}: list '{}': {}", Describe(), prefix, page.error().message()));
        }
        for (auto& object : page->objects) {
            if (!object.key.starts_with(impl_->key_prefix)) continue;
            std::string name = object.key.substr(impl_->key_prefix.size());
            if (!ValidateName(name)) continue;  // "dir/" placeholders and keys no Storage name can reach
            out.push_back(ObjectInfo{.name = std::move(name),
                                     .size = object.size,
                                     .content_type = {},
                                     .modified = object.modified,
                                     .etag = std::move(object.etag)});
        }
        if (!page->truncated) break;
        if (page->next_token == token || page_number > 1000000) {
            return MakeError(ErrorCode::kInternal,
                             fmt::format("{}: list '{}': S3 repeated a continuation token", Describe(), prefix));
        }
        token = std::move(page->next_token);
    }
    std::sort(out.begin(), out.end(), [](const ObjectInfo& a, const ObjectInfo& b) { return a.name < b.name; });
    return out;
}

Result<std::string> S3Storage::Url(std::string_view name, const UrlOptions& options) {
    GALE_RETURN_IF_ERROR(ValidateName(name));
    Visibility visibility =
        options.visibility == Visibility::kDefault ? impl_->options.default_visibility : options.visibility;
    if (visibility == Visibility::kPublic) {
        if (impl_->options.public_base_url.empty()) return impl_->ObjectUrl(name);
        std::string base = impl_->options.public_base_url;
        if (base.back() != '/') base += '/';
        return base + aws::UriEncode(impl_->Key(name), true);
    }
    const std::string& origin = impl_->origin;
    const std::string host = origin.substr(origin.find("://") + 3);
    const aws::SigningParams params{
        .credentials = impl_->options.credentials,
        .region = impl_->options.region,
        .service = "s3",
        .time = impl_->options.clock ? impl_->options.clock() : std::chrono::system_clock::now(),
        .add_content_sha256 = false,
        .normalize_path = false};
    auto presigned = aws::Presign({.method = "GET",
                                   .path = impl_->ObjectPath(name),
                                   .headers = {{"Host", host}},
                                   .payload_hash = "UNSIGNED-PAYLOAD"},
                                  params, options.expiry);
    if (!presigned) {
        return tl::unexpected(Error(presigned.error().code(),
                                    fmt::format("{}: url '{}': {}", Describe(), name, presigned.error().message())));
    }
    return impl_->ObjectUrl(name) + "?" + presigned->query;
}

Result<LocalFile> S3Storage::LocalPath(std::string_view name) {
    GALE_ASSIGN_OR_RETURN(auto info, Stat(name));
    std::string pattern = (impl_->options.temp_dir / "gale-s3-XXXXXX").string();
    const int fd = ::mkstemp(pattern.data());  // mode 0600
    if (fd < 0) {
        return MakeError(ErrorCode::kIo, fmt::format("{}: local path '{}': cannot create a file in {}: {}", Describe(),
                                                     name, impl_->options.temp_dir.string(), ErrnoText(errno)));
    }
    TempFile temp(pattern, fd);
    const std::uint64_t chunk = impl_->options.part_size;
    for (std::uint64_t offset = 0; offset < info.size; offset += chunk) {
        Headers headers{{"Range", fmt::format("bytes={}-{}", offset, std::min(info.size, offset + chunk) - 1)}};
        if (!info.etag.empty()) headers.emplace_back("If-Match", "\"" + info.etag + "\"");
        GALE_ASSIGN_OR_RETURN(
            auto response,
            impl_->Expect("local path", name, impl_->Send("local path", name, "GET", impl_->ObjectUrl(name), headers),
                          {206, 200}));
        std::string_view bytes = response.body;
        if (response.status == 200) bytes = bytes.substr(std::min<std::size_t>(offset, bytes.size()), chunk);
        while (!bytes.empty()) {
            const ssize_t n = ::write(temp.fd(), bytes.data(), bytes.size());
            if (n < 0 && errno == EINTR) continue;
            if (n < 0) {
                return MakeError(ErrorCode::kIo, fmt::format("{}: local path '{}': writing {}: {}", Describe(), name,
                                                             pattern, ErrnoText(errno)));
            }
            bytes.remove_prefix(static_cast<std::size_t>(n));
        }
        if (response.status == 200) break;
    }
    return LocalFile(temp.Release(), true);
}

Result<void> S3Storage::Check() {
    GALE_RETURN_IF_ERROR(
        impl_->Expect("check", impl_->options.bucket,
                      impl_->Send("check", impl_->options.bucket, "HEAD",
                                  impl_->bucket_path.empty() ? impl_->origin + "/" : impl_->bucket_url)));
    return {};
}

}  // namespace gale::storage
