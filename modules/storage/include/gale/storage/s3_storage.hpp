// SPDX-License-Identifier: MIT
/// @file gale/storage/s3_storage.hpp
/// @brief A Storage in an S3 bucket (AWS S3, or anything that speaks its REST API: moto, MinIO), under a key prefix.
///
/// Requests are signed with SigV4 (gale/aws/sigv4.hpp; X-Amz-Content-Sha256 is the SHA-256 of the real body, never
/// UNSIGNED-PAYLOAD: every body is in memory when it is signed, one part at a time for multipart uploads) and sent with
/// gale::http::Client over a small pool of keep-alive connections. Object keys are `prefix + name`.
///
/// Uploads: Save is one PUT. SaveFile PUTs files up to `multipart_threshold` whole; larger ones go up as a multipart
/// upload of `part_size` parts (S3: 5 MiB to 5 GiB each, the last may be smaller; at most 10000 parts), read from the
/// file one part at a time so memory stays at about one part per concurrent upload. If any step fails, the upload is
/// aborted (DELETE ?uploadId=...) so no parts are left to be billed; the error names the step.
/// Reads: Read is one GET; ReadRange sends `Range: bytes=a-b`; LocalPath downloads into a temporary file
/// (mode 0600, `temp_dir`) in `part_size` ranges, so a large object is never held in memory whole.
/// URLs: objects of a public storage (default_visibility kPublic, or UrlOptions::visibility kPublic) get their plain
/// URL (`public_base_url` + key when set, e.g. a CDN; else the endpoint's object URL); private ones get a presigned
/// GET URL (SigV4 query signing, aws::Presign) valid for UrlOptions::expiry.
/// Public objects are uploaded with `x-amz-acl: public-read` (the bucket must allow ACLs for that to work on AWS;
/// a bucket made public by policy needs no ACL: then set `send_acl = false`).
///
/// Errors map S3's answers: 404 NoSuchKey -> kNotFound (the object), 404 NoSuchBucket -> kNotFound naming the bucket,
/// 403 -> kIo (AccessDenied, SignatureDoesNotMatch, ...), 5xx and 429/503 SlowDown -> kUnavailable, other 4xx ->
/// kInvalidArgument; transport failures keep the http::Client's code (kUnavailable, kTimeout). Messages read
/// "s3 storage s3://bucket/prefix/: <operation> '<name>': <S3 code>: <S3 message> (HTTP <status>)".
/// No retries: a failed request fails the operation (the caller, or the task queue, retries).
///
/// Thread-safety: every member may be called from any thread; requests from several threads run in parallel on up to
/// `max_idle_connections` pooled connections (more are opened when needed, the extras closed after use).
///
/// | S3StorageOptions      | Meaning                                                                  | Default |
/// |-----------------------|--------------------------------------------------------------------------|-----------------------|
/// | bucket                | bucket name                                                              | required | |
/// prefix                | key prefix ("app/media"; a '/' is added between it and names)            | "" | | region |
/// signing region                                                           | required              | | endpoint |
/// "http(s)://host[:port]"; empty: https://s3.<region>.amazonaws.com        | ""                    | | addressing |
/// kPath (endpoint/bucket/key), kVirtualHosted (bucket.host/key), kAuto     | kAuto                 | | credentials |
/// access key id, secret, session token                                     | required              | |
/// default_visibility    | what Visibility::kDefault means for uploads and URLs                     | kPrivate | |
/// public_base_url       | base of public URLs (a CDN); the key is appended                         | "" | | send_acl
/// | send x-amz-acl: public-read for public uploads                           | true                  | |
/// multipart_threshold   | SaveFile uses multipart above this size                                  | 64 MiB | |
/// part_size             | multipart part size and LocalPath's download chunk (>= 5 MiB)             | 8 MiB | |
/// timeout               | limit on each request (connect, send, receive)                           | 60 s | |
/// connect_timeout       | limit on connecting                                                      | 3 s | |
/// max_idle_connections  | keep-alive connections kept for reuse                                    | 8 | | temp_dir |
/// where LocalPath puts its copies                                          | system temp directory | kAuto is
/// virtual-hosted for AWS's own endpoint and a DNS-compatible bucket name without dots, path-style otherwise (custom
/// endpoints such as moto or MinIO usually need path-style).
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <string>

#include <gale/aws/sigv4.hpp>
#include <gale/base/error.hpp>
#include <gale/storage/storage.hpp>

namespace gale::storage {

enum class S3Addressing { kAuto, kPath, kVirtualHosted };

struct S3StorageOptions {
    std::string bucket{};
    std::string prefix{};
    std::string region{};
    std::string endpoint{};
    S3Addressing addressing = S3Addressing::kAuto;
    aws::Credentials credentials{};
    Visibility default_visibility = Visibility::kPrivate;
    std::string public_base_url{};
    bool send_acl = true;
    std::uint64_t multipart_threshold = 64ull << 20;
    std::uint64_t part_size = 8ull << 20;
    std::chrono::milliseconds timeout{60000};
    std::chrono::milliseconds connect_timeout{3000};
    std::size_t max_idle_connections = 8;
    std::filesystem::path temp_dir{};
    /// The signing clock; tests inject one. Empty: std::chrono::system_clock::now.
    std::function<std::chrono::system_clock::time_point()> clock{};
};

/// Smallest part S3 accepts in a multipart upload (all parts but the last).
inline constexpr std::uint64_t kS3MinPartSize = 5ull << 20;

/// Objects in an S3 bucket. Create with S3Storage::Create; owns its connection pool.
class S3Storage final : public Storage {
public:
    /// Checks the options (nothing is sent). Errors (kInvalidArgument, naming the option): empty bucket, region or
    /// credentials; a bucket name S3 would refuse; an endpoint that is not http(s)://host[:port]; part_size below
    /// kS3MinPartSize or above 5 GiB; multipart_threshold below part_size; kVirtualHosted with a bucket that cannot be
    /// a host name label; a prefix that is not a valid name.
    [[nodiscard]] static Result<std::unique_ptr<S3Storage>> Create(S3StorageOptions options);

    ~S3Storage() override;

    /// The URL of the bucket ("http://127.0.0.1:5000/bucket", "https://bucket.s3.eu-west-1.amazonaws.com").
    [[nodiscard]] const std::string& bucket_url() const noexcept;

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
    [[nodiscard]] Result<std::string> Url(std::string_view name, const UrlOptions& options = {}) override;
    [[nodiscard]] Result<LocalFile> LocalPath(std::string_view name) override;
    /// HEAD on the bucket: kNotFound when it does not exist, kIo when access is denied, kUnavailable when S3 cannot
    /// be reached.
    [[nodiscard]] Result<void> Check() override;

private:
    struct Impl;
    explicit S3Storage(std::unique_ptr<Impl> impl) noexcept;
    std::unique_ptr<Impl> impl_;
};

}  // namespace gale::storage
