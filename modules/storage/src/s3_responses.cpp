// SPDX-License-Identifier: MIT
// Dates are parsed with strptime(3) and timegm(3) in the C locale's month and day names (gale never calls
// setlocale, and S3 sends English names). TODO(gale): gale::http has a private HTTP-date parser in static_files.cpp;
// both belong in gale::base.
#include "s3_responses.hpp"

#include <ctime>
#include <string>
#include <utility>

#include <fmt/format.h>

#include <gale/base/strings.hpp>

#include "xml.hpp"

namespace gale::storage::detail {
namespace {

std::optional<std::chrono::system_clock::time_point> ParseWith(std::string_view text, const char* format,
                                                               std::size_t max_rest) {
    if (text.size() > 64) return std::nullopt;
    const std::string copy(text);
    std::tm tm{};
    const char* end = ::strptime(copy.c_str(), format, &tm);
    if (end == nullptr) return std::nullopt;
    const std::string_view rest(end);
    if (rest.size() > max_rest || (!rest.empty() && rest.front() != '.' && rest.front() != 'Z')) return std::nullopt;
    const std::time_t seconds = ::timegm(&tm);
    if (seconds == static_cast<std::time_t>(-1)) return std::nullopt;
    return std::chrono::system_clock::from_time_t(seconds);
}

}  // namespace

std::optional<S3ErrorBody> ParseS3Error(std::string_view body) {
    auto root = ParseXml(body);
    if (!root || root->name != "Error") return std::nullopt;
    S3ErrorBody out{std::string(root->ChildText("Code")), std::string(root->ChildText("Message"))};
    if (out.code.empty()) return std::nullopt;
    return out;
}

Result<S3ListPage> ParseListObjectsV2(std::string_view body) {
    GALE_ASSIGN_OR_RETURN(auto root, ParseXml(body));
    if (root.name != "ListBucketResult") {
        return MakeError(ErrorCode::kInternal,
                         fmt::format("ListObjectsV2: <{}> instead of <ListBucketResult>", root.name.substr(0, 64)));
    }
    S3ListPage page;
    for (const auto& child : root.children) {
        if (child.name != "Contents") continue;
        S3ListedObject object;
        const XmlElement* key = child.Child("Key");
        if (key == nullptr) return MakeError(ErrorCode::kInternal, "ListObjectsV2: a <Contents> without <Key>");
        object.key = key->text;
        auto size = ParseInt("ListObjectsV2 <Size>", child.ChildText("Size"), 0, INT64_MAX);
        if (!size) return MakeError(ErrorCode::kInternal, size.error().message());
        object.size = static_cast<std::uint64_t>(*size);
        if (auto modified = ParseIso8601(child.ChildText("LastModified"))) object.modified = *modified;
        object.etag = Unquote(child.ChildText("ETag"));
        page.objects.push_back(std::move(object));
    }
    page.truncated = root.ChildText("IsTruncated") == "true";
    page.next_token = std::string(root.ChildText("NextContinuationToken"));
    if (page.truncated && page.next_token.empty()) {
        return MakeError(ErrorCode::kInternal, "ListObjectsV2: truncated without <NextContinuationToken>");
    }
    return page;
}

Result<std::string> ParseUploadId(std::string_view body) {
    GALE_ASSIGN_OR_RETURN(auto root, ParseXml(body));
    const std::string_view id = root.ChildText("UploadId");
    if (root.name != "InitiateMultipartUploadResult" || id.empty()) {
        return MakeError(ErrorCode::kInternal, "InitiateMultipartUpload: no <UploadId> in the answer");
    }
    return std::string(id);
}

Result<std::string> ParseCompleteMultipartUpload(std::string_view body) {
    GALE_ASSIGN_OR_RETURN(auto root, ParseXml(body));
    if (root.name == "Error") {
        const std::string_view code = root.ChildText("Code");
        const bool transient = code == "InternalError" || code == "SlowDown" || code == "ServiceUnavailable";
        return MakeError(transient ? ErrorCode::kUnavailable : ErrorCode::kInvalidArgument,
                         fmt::format("{}: {}", code, root.ChildText("Message")));
    }
    // AWS answers <CompleteMultipartUploadResult>; moto <CompleteMultipartUploadResponse>.
    if (root.name != "CompleteMultipartUploadResult" && root.name != "CompleteMultipartUploadResponse") {
        return MakeError(ErrorCode::kInternal,
                         fmt::format("CompleteMultipartUpload: <{}> instead of a result", root.name.substr(0, 64)));
    }
    return Unquote(root.ChildText("ETag"));
}

std::optional<std::chrono::system_clock::time_point> ParseIso8601(std::string_view text) {
    // "2026-12-03T13:30:00.000Z" or without fraction; the fraction is dropped (S3 stores seconds).
    return ParseWith(text, "%Y-%m-%dT%H:%M:%S", 8);
}

std::optional<std::chrono::system_clock::time_point> ParseHttpDate(std::string_view text) {
    return ParseWith(text, "%a, %d %b %Y %H:%M:%S GMT", 0);
}

std::string Unquote(std::string_view etag) {
    if (etag.size() >= 2 && etag.front() == '"' && etag.back() == '"') etag = etag.substr(1, etag.size() - 2);
    return std::string(etag);
}

}  // namespace gale::storage::detail
