// SPDX-License-Identifier: MIT
/// @file gale/aws/sigv4.hpp
/// @brief AWS Signature Version 4 (header signing, AWS4-HMAC-SHA256) for requests to AWS services.
///
/// Sign() is a pure function of its inputs: no clock, no environment, no I/O. It returns the headers to add to the
/// request and, for tests and debugging, the intermediate canonical request and string to sign. SignClientRequest()
/// applies it to a gale::http::ClientRequest. Both are thread-safe (no shared state).
///
/// What is signed: every header passed in SigningRequest::headers (so pass exactly the ones that will be sent and
/// should be covered, Host included), plus the X-Amz-Date, X-Amz-Security-Token (when the credentials carry a session
/// token) and X-Amz-Content-Sha256 (when asked for) headers that the signer adds itself. Presign() signs in the query
/// string instead (presigned URLs). Chunked payload signing and SigV4a are not implemented.
#pragma once

#include <chrono>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <gale/base/error.hpp>
#include <gale/http/client.hpp>

namespace gale::aws {

/// Static AWS credentials. Plain value; the secret is never logged or copied into error messages by this module.
struct Credentials {
    std::string access_key_id{};
    std::string secret_access_key{};
    /// Temporary credentials (STS, assumed roles) carry a token; empty for long-term keys.
    std::string session_token{};
};

/// The request to sign, as it will be sent.
struct SigningRequest {
    /// HTTP method, sent as given ("GET", "POST").
    std::string method = "GET";
    /// The path *unencoded* ("/example space/ሴ"); it is normalised (see SigningParams::normalize_path) and
    /// URI-encoded segment by segment for the canonical request. Empty means "/".
    std::string path = "/";
    /// The query string as on the wire, without '?' ("Param2=value2&Param1=value1"). Percent-escapes are decoded and
    /// re-encoded canonically, so "a%20b" and "a b" sign the same way; '+' is a literal plus, not a space.
    std::string query{};
    /// Headers to sign (names case-insensitive; repeated names are joined with ',' in order). Must contain Host.
    /// Must not contain Authorization, X-Amz-Date, X-Amz-Security-Token or X-Amz-Content-Sha256: the signer owns them.
    std::vector<std::pair<std::string, std::string>> headers{};
    /// The body; its SHA-256 is the canonical request's last line.
    std::string_view payload{};
    /// When non-empty, used as the payload hash instead of hashing `payload` (e.g. "UNSIGNED-PAYLOAD" for S3).
    std::string payload_hash{};
};

/// Who signs, for which service and when.
struct SigningParams {
    Credentials credentials{};
    /// Region of the credential scope ("us-east-1").
    std::string region{};
    /// Signing name of the service ("kms", "s3", "iam"; the test suite uses "service").
    std::string service{};
    /// Signing time; the signature is valid for about 15 minutes around it.
    std::chrono::system_clock::time_point time{};
    /// Add (and sign) X-Amz-Content-Sha256 with the payload hash. S3 requires it; most services ignore it.
    bool add_content_sha256 = false;
    /// Remove "." and ".." segments and collapse repeated '/' before encoding. Every service but S3 wants this.
    bool normalize_path = true;
    /// URI-encode the (already encoded) path a second time, as AWS expects of every service but S3 when the path
    /// contains characters that need escaping. The published test suite assumes single encoding (false).
    bool double_encode_path = false;
};

/// Sign()'s output: the headers to add, and the intermediate values AWS's test suite publishes.
struct Signature {
    /// "AWS4-HMAC-SHA256 Credential=<key id>/<scope>, SignedHeaders=<names>, Signature=<hex>".
    std::string authorization{};
    /// Signing time as "YYYYMMDDTHHMMSSZ".
    std::string amz_date{};
    /// The payload hash that was signed (hex SHA-256 or SigningRequest::payload_hash).
    std::string payload_hash{};
    /// "host;x-amz-date…": lower-case names of the signed headers, sorted, ';'-separated.
    std::string signed_headers{};
    std::string canonical_request{};
    std::string string_to_sign{};
    /// Hex HMAC-SHA256 of string_to_sign under the derived signing key.
    std::string signature{};
    /// What to add to the request, in this order: X-Amz-Date, X-Amz-Security-Token (if any), X-Amz-Content-Sha256
    /// (if asked for), Authorization.
    std::vector<std::pair<std::string, std::string>> headers{};
};

/// Signs `request` with `params`.
///
/// Errors (kInvalidArgument): no Host header; a signer-owned header given; empty access key id, secret, region or
/// service; a signing time outside years 1970-9999. Never fails for any other input.
[[nodiscard]] Result<Signature> Sign(const SigningRequest& request, const SigningParams& params);

/// Presign()'s output: a query string that carries the signature, and the intermediate values.
struct PresignedQuery {
    /// The query string to send, without '?': the request's own parameters and X-Amz-Algorithm, X-Amz-Credential,
    /// X-Amz-Date, X-Amz-Expires, X-Amz-Security-Token (if any) and X-Amz-SignedHeaders, canonically encoded and
    /// sorted, then X-Amz-Signature. "https://" + host + encoded path + "?" + query is the presigned URL.
    std::string query{};
    std::string canonical_request{};
    std::string string_to_sign{};
    /// Hex HMAC-SHA256 of string_to_sign under the derived signing key.
    std::string signature{};
};

/// SigV4 query signing ("Authenticating Requests: Using Query Parameters"): the URL itself carries the signature, valid
/// for `expires` from params.time, so that a client without credentials (a browser) can use it.
///
/// `request.headers` are signed (Host is required; a client using the URL must send exactly these). The payload hash
/// is request.payload_hash when set, else the SHA-256 of request.payload: S3 callers pass "UNSIGNED-PAYLOAD", as AWS
/// documents for presigned S3 URLs. SigningParams::add_content_sha256 is ignored.
/// Errors (kInvalidArgument): those of Sign(); `expires` outside 1 s to 7 days (604800 s, SigV4's limit); a query
/// parameter of the request whose name starts with X-Amz- (the signer owns those).
[[nodiscard]] Result<PresignedQuery> Presign(const SigningRequest& request, const SigningParams& params,
                                             std::chrono::seconds expires);

/// Signs a ClientRequest in place: takes method, URL and body from it, adds a Host header (host[:port] from the URL,
/// unless one is already there) so that what is sent is what was signed, signs every header already on the request,
/// then appends Signature::headers. Errors: kInvalidArgument for a URL that is not absolute http(s), and Sign's.
[[nodiscard]] Result<Signature> SignClientRequest(http::ClientRequest& request, const SigningParams& params);

/// Hex-encoded lower-case SHA-256 of `data`.
std::string Sha256Hex(std::string_view data);

/// RFC 3986 percent-encoding as SigV4 wants it: A-Z a-z 0-9 - . _ ~ are kept, every other byte becomes %XX
/// (upper-case hex); '/' is kept only when `keep_slash` is true.
std::string UriEncode(std::string_view text, bool keep_slash);

}  // namespace gale::aws
