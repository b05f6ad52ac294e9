// SPDX-License-Identifier: MIT
// S3's XML response bodies, decoded into plain values (private to gale::storage). Every decoder takes untrusted bytes
// and returns an error for anything it cannot use; fuzz/s3_xml_fuzz.cpp runs them all.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <gale/base/error.hpp>

namespace gale::storage::detail {

/// `<Error><Code>NoSuchKey</Code><Message>...</Message>...</Error>`.
struct S3ErrorBody {
    std::string code;
    std::string message;
};
/// The error document of a failed response; nullopt when `body` is not one (empty, HTML from a proxy, ...).
std::optional<S3ErrorBody> ParseS3Error(std::string_view body);

struct S3ListedObject {
    std::string key;
    std::uint64_t size = 0;
    std::chrono::system_clock::time_point modified{};
    std::string etag;  // without quotes
};
/// ListObjectsV2's `<ListBucketResult>`: the objects and, when IsTruncated, the continuation token.
struct S3ListPage {
    std::vector<S3ListedObject> objects;
    bool truncated = false;
    std::string next_token;
};
/// Errors (kInternal): not XML, not a ListBucketResult, a Contents without Key, a Size that is not a number, or
/// truncated without NextContinuationToken.
Result<S3ListPage> ParseListObjectsV2(std::string_view body);

/// InitiateMultipartUpload's `<InitiateMultipartUploadResult><UploadId>`. Errors (kInternal): not XML, no UploadId.
Result<std::string> ParseUploadId(std::string_view body);

/// CompleteMultipartUpload's answer, which can be an Error document *with status 200*: the ETag on success; an error
/// naming S3's code otherwise. Errors: kInternal for a body that is neither.
Result<std::string> ParseCompleteMultipartUpload(std::string_view body);

/// "2026-12-03T13:30:00.000Z" (ListObjects) -> time point; nullopt when malformed.
std::optional<std::chrono::system_clock::time_point> ParseIso8601(std::string_view text);
/// "Thu, 03 Dec 2026 13:30:00 GMT" (Last-Modified) -> time point; nullopt when malformed.
std::optional<std::chrono::system_clock::time_point> ParseHttpDate(std::string_view text);

/// An ETag without its surrounding quotes.
std::string Unquote(std::string_view etag);

}  // namespace gale::storage::detail
