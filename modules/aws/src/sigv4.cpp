// SPDX-License-Identifier: MIT
// SigV4 header signing, following AWS's "Create a signed AWS API request" steps:
//   canonical request -> string to sign -> signing key (HMAC chain over date, region, service, "aws4_request")
//   -> signature. Each step is a plain string function so the test suite can check them one by one.
// Canonicalisation rules that the published suite pins down: header values are trimmed and inner runs of spaces
// collapse to one (quotes included); repeated header names join their values with ','; query parameters sort by
// encoded name then value; a parameter without '=' signs as "name="; the path keeps a trailing '/'.
#include <algorithm>
#include <array>
#include <ctime>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <fmt/format.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <gale/aws/sigv4.hpp>
#include <gale/base/dynamic_library.hpp>
#include <gale/base/strings.hpp>

namespace gale::aws {
namespace {

constexpr std::string_view kAlgorithm = "AWS4-HMAC-SHA256";

std::string Hex(const unsigned char* data, std::size_t size) {
    static constexpr char kDigits[] = "0123456789abcdef";
    std::string out;
    out.reserve(size * 2);
    for (std::size_t i = 0; i < size; ++i) {
        out.push_back(kDigits[data[i] >> 4]);
        out.push_back(kDigits[data[i] & 0xF]);
    }
    return out;
}

// libcrypto is loaded on first use (gale/base/dynamic_library.hpp): a service that never signs an AWS request does
// not carry it. Only these symbols are used; their types come from OpenSSL's headers.
struct CryptoApi {
    std::string error;  // empty when loaded
    decltype(&::HMAC) hmac = nullptr;
    decltype(&::EVP_sha256) sha256 = nullptr;
    decltype(&::EVP_Digest) digest = nullptr;
};

const CryptoApi& Crypto() {
    static const CryptoApi api = [] {
        CryptoApi a;
        auto lib = DynamicLibrary::Open({"libcrypto.so.3"}, "libssl3");
        if (!lib) {
            a.error = lib.error().message();
            return a;
        }
        lib->Resolve("HMAC", a.hmac, a.error);
        lib->Resolve("EVP_sha256", a.sha256, a.error);
        lib->Resolve("EVP_Digest", a.digest, a.error);
        return a;
    }();
    return api;
}

std::string HmacSha256(std::string_view key, std::string_view data) {
    std::array<unsigned char, EVP_MAX_MD_SIZE> out{};
    unsigned int size = 0;
    Crypto().hmac(Crypto().sha256(), key.data(), static_cast<int>(key.size()),
                  reinterpret_cast<const unsigned char*>(data.data()), data.size(), out.data(), &size);
    return std::string(reinterpret_cast<const char*>(out.data()), size);
}

int HexValue(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

// Decodes %XX escapes; a '%' not followed by two hex digits is kept literally (and then encoded as %25).
std::string PercentDecode(std::string_view text) {
    std::string out;
    out.reserve(text.size());
    for (std::size_t i = 0; i < text.size(); ++i) {
        if (text[i] == '%' && i + 2 < text.size()) {
            const int hi = HexValue(text[i + 1]);
            const int lo = HexValue(text[i + 2]);
            if (hi >= 0 && lo >= 0) {
                out.push_back(static_cast<char>(hi * 16 + lo));
                i += 2;
                continue;
            }
        }
        out.push_back(text[i]);
    }
    return out;
}

// RFC 3986 section 5.2.4 dot-segment removal plus collapsing of empty segments; keeps a trailing '/'.
std::string NormalizePath(std::string_view path) {
    std::vector<std::string_view> segments;
    std::size_t start = 0;
    while (start <= path.size()) {
        std::size_t end = path.find('/', start);
        if (end == std::string_view::npos) end = path.size();
        const std::string_view segment = path.substr(start, end - start);
        if (segment == "..") {
            if (!segments.empty()) segments.pop_back();
        } else if (!segment.empty() && segment != ".") {
            segments.push_back(segment);
        }
        start = end + 1;
    }
    std::string out;
    for (const auto segment : segments) {
        out += '/';
        out += segment;
    }
    const bool trailing = !path.empty() && (path.back() == '/' || path.ends_with("/.") || path.ends_with("/.."));
    if (out.empty() || trailing) out += '/';
    return out;
}

std::string CanonicalUri(std::string_view path, const SigningParams& params) {
    std::string normalized = path.empty() ? std::string("/") : std::string(path);
    if (normalized.front() != '/') normalized.insert(normalized.begin(), '/');
    if (params.normalize_path) normalized = NormalizePath(normalized);
    std::string encoded = UriEncode(normalized, true);
    if (params.double_encode_path) encoded = UriEncode(encoded, true);
    return encoded;
}

std::string CanonicalQuery(std::string_view query) {
    std::vector<std::pair<std::string, std::string>> params;
    std::size_t start = 0;
    while (start < query.size()) {
        std::size_t end = query.find('&', start);
        if (end == std::string_view::npos) end = query.size();
        const std::string_view part = query.substr(start, end - start);
        if (!part.empty()) {
            const std::size_t eq = part.find('=');
            const std::string_view name = part.substr(0, eq);
            const std::string_view value = eq == std::string_view::npos ? std::string_view{} : part.substr(eq + 1);
            params.emplace_back(UriEncode(PercentDecode(name), false), UriEncode(PercentDecode(value), false));
        }
        start = end + 1;
    }
    std::sort(params.begin(), params.end());
    std::string out;
    for (const auto& [name, value] : params) {
        if (!out.empty()) out += '&';
        out += name;
        out += '=';
        out += value;
    }
    return out;
}

// Trims and collapses runs of spaces and tabs to one space (AWS: "Trimall").
std::string TrimAll(std::string_view value) {
    std::string out;
    bool pending_space = false;
    for (const char c : value) {
        if (c == ' ' || c == '\t' || c == '\r' || c == '\n') {
            pending_space = !out.empty();
            continue;
        }
        if (pending_space) out += ' ';
        pending_space = false;
        out += c;
    }
    return out;
}

bool IsSignerOwned(std::string_view lower_name) {
    return lower_name == "authorization" || lower_name == "x-amz-date" || lower_name == "x-amz-security-token" ||
           lower_name == "x-amz-content-sha256";
}

std::string FormatAmzDate(std::chrono::system_clock::time_point time, bool* ok) {
    const std::time_t seconds = std::chrono::system_clock::to_time_t(time);
    std::tm tm{};
    *ok = gmtime_r(&seconds, &tm) != nullptr && tm.tm_year >= 70 && tm.tm_year + 1900 <= 9999;
    if (!*ok) return {};
    return fmt::format("{:04}{:02}{:02}T{:02}{:02}{:02}Z", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
                       tm.tm_min, tm.tm_sec);
}

// The canonical headers block ("name:value\n" per name, sorted) of `headers` plus the signer's own `extra` ones, and
// the signed-headers list. Lower-case name -> values in order; a stable sort by name keeps repeated headers in the
// order given.
Result<std::string> CanonicalHeaders(const std::vector<std::pair<std::string, std::string>>& given,
                                     std::vector<std::pair<std::string, std::string>> extra,
                                     std::string& signed_headers) {
    std::vector<std::pair<std::string, std::string>> headers;
    bool has_host = false;
    for (const auto& [name, value] : given) {
        std::string lower = ToLower(TrimAll(name));
        if (IsSignerOwned(lower)) {
            return MakeError(ErrorCode::kInvalidArgument,
                             fmt::format("SigV4: the {} header is added by the signer; do not pass it", name));
        }
        has_host = has_host || lower == "host";
        headers.emplace_back(std::move(lower), TrimAll(value));
    }
    if (!has_host) return MakeError(ErrorCode::kInvalidArgument, "SigV4: the request has no Host header");
    for (auto& header : extra) headers.push_back(std::move(header));
    std::stable_sort(headers.begin(), headers.end(), [](const auto& a, const auto& b) { return a.first < b.first; });

    std::string canonical_headers;
    signed_headers.clear();
    for (std::size_t i = 0; i < headers.size(); ++i) {
        if (i > 0 && headers[i].first == headers[i - 1].first) {
            canonical_headers.back() = ',';  // replaces the previous line's '\n'
        } else {
            if (!signed_headers.empty()) signed_headers += ';';
            signed_headers += headers[i].first;
            canonical_headers += headers[i].first;
            canonical_headers += ':';
        }
        canonical_headers += headers[i].second;
        canonical_headers += '\n';
    }
    return canonical_headers;
}

// Hex HMAC of `string_to_sign` under the key derived from the secret, date, region and service.
std::string SignatureOf(const SigningParams& params, std::string_view date, std::string_view string_to_sign) {
    const std::string k_date = HmacSha256("AWS4" + params.credentials.secret_access_key, date);
    const std::string k_region = HmacSha256(k_date, params.region);
    const std::string k_service = HmacSha256(k_region, params.service);
    const std::string k_signing = HmacSha256(k_service, "aws4_request");
    const std::string mac = HmacSha256(k_signing, string_to_sign);
    return Hex(reinterpret_cast<const unsigned char*>(mac.data()), mac.size());
}

// Checks shared by Sign and Presign; sets the date strings.
Result<void> CheckParams(const SigningParams& params, std::string& amz_date) {
    if (!Crypto().error.empty()) return MakeError(ErrorCode::kUnavailable, "SigV4: " + Crypto().error);
    if (params.credentials.access_key_id.empty() || params.credentials.secret_access_key.empty()) {
        return MakeError(ErrorCode::kInvalidArgument, "SigV4: the access key id and secret access key must be set");
    }
    if (params.region.empty() || params.service.empty()) {
        return MakeError(ErrorCode::kInvalidArgument, "SigV4: the region and service must be set");
    }
    bool date_ok = false;
    amz_date = FormatAmzDate(params.time, &date_ok);
    if (!date_ok) return MakeError(ErrorCode::kInvalidArgument, "SigV4: the signing time is out of range");
    return {};
}

}  // namespace

std::string Sha256Hex(std::string_view data) {
    if (!Crypto().error.empty()) return {};  // Sign() reports the load error before any hashing
    std::array<unsigned char, EVP_MAX_MD_SIZE> out{};
    unsigned int size = 0;
    Crypto().digest(data.data(), data.size(), out.data(), &size, Crypto().sha256(), nullptr);
    return Hex(out.data(), size);
}

std::string UriEncode(std::string_view text, bool keep_slash) {
    static constexpr char kDigits[] = "0123456789ABCDEF";
    std::string out;
    out.reserve(text.size());
    for (const char c : text) {
        const auto u = static_cast<unsigned char>(c);
        if ((u >= 'A' && u <= 'Z') || (u >= 'a' && u <= 'z') || (u >= '0' && u <= '9') || u == '-' || u == '.' ||
            u == '_' || u == '~' || (keep_slash && u == '/')) {
            out.push_back(c);
        } else {
            out.push_back('%');
            out.push_back(kDigits[u >> 4]);
            out.push_back(kDigits[u & 0xF]);
        }
    }
    return out;
}

Result<Signature> Sign(const SigningRequest& request, const SigningParams& params) {
    Signature out;
    GALE_RETURN_IF_ERROR(CheckParams(params, out.amz_date));
    const std::string date = out.amz_date.substr(0, 8);

    out.payload_hash = request.payload_hash.empty() ? Sha256Hex(request.payload) : request.payload_hash;

    std::vector<std::pair<std::string, std::string>> extra{{"x-amz-date", out.amz_date}};
    if (!params.credentials.session_token.empty()) {
        extra.emplace_back("x-amz-security-token", params.credentials.session_token);
    }
    if (params.add_content_sha256) extra.emplace_back("x-amz-content-sha256", out.payload_hash);
    GALE_ASSIGN_OR_RETURN(std::string canonical_headers,
                          CanonicalHeaders(request.headers, std::move(extra), out.signed_headers));

    out.canonical_request =
        fmt::format("{}\n{}\n{}\n{}\n{}\n{}", request.method, CanonicalUri(request.path, params),
                    CanonicalQuery(request.query), canonical_headers, out.signed_headers, out.payload_hash);
    const std::string scope = fmt::format("{}/{}/{}/aws4_request", date, params.region, params.service);
    out.string_to_sign =
        fmt::format("{}\n{}\n{}\n{}", kAlgorithm, out.amz_date, scope, Sha256Hex(out.canonical_request));

    out.signature = SignatureOf(params, date, out.string_to_sign);

    out.authorization = fmt::format("{} Credential={}/{}, SignedHeaders={}, Signature={}", kAlgorithm,
                                    params.credentials.access_key_id, scope, out.signed_headers, out.signature);
    out.headers.emplace_back("X-Amz-Date", out.amz_date);
    if (!params.credentials.session_token.empty()) {
        out.headers.emplace_back("X-Amz-Security-Token", params.credentials.session_token);
    }
    if (params.add_content_sha256) out.headers.emplace_back("X-Amz-Content-Sha256", out.payload_hash);
    out.headers.emplace_back("Authorization", out.authorization);
    return out;
}

Result<PresignedQuery> Presign(const SigningRequest& request, const SigningParams& params,
                               std::chrono::seconds expires) {
    std::string amz_date;
    GALE_RETURN_IF_ERROR(CheckParams(params, amz_date));
    if (expires < std::chrono::seconds(1) || expires > std::chrono::seconds(604800)) {
        return MakeError(
            ErrorCode::kInvalidArgument,
            fmt::format("SigV4: a presigned URL expires after 1 to 604800 seconds, not {}", expires.count()));
    }
    for (std::string_view rest = request.query; !rest.empty();) {
        const std::size_t amp = rest.find('&');
        const std::string_view part = rest.substr(0, amp);
        if (ToLower(PercentDecode(part.substr(0, part.find('=')))).starts_with("x-amz-")) {
            return MakeError(ErrorCode::kInvalidArgument,
                             fmt::format("SigV4: the query parameter '{}' is added by the signer; do not pass it",
                                         part.substr(0, part.find('='))));
        }
        if (amp == std::string_view::npos) break;
        rest.remove_prefix(amp + 1);
    }
    const std::string date = amz_date.substr(0, 8);
    const std::string scope = fmt::format("{}/{}/{}/aws4_request", date, params.region, params.service);
    PresignedQuery out;
    std::string signed_headers;
    GALE_ASSIGN_OR_RETURN(std::string canonical_headers, CanonicalHeaders(request.headers, {}, signed_headers));

    std::string query = request.query;
    auto add = [&query](std::string_view name, std::string_view value) {
        if (!query.empty()) query += '&';
        query += name;
        query += '=';
        query += UriEncode(value, false);
    };
    add("X-Amz-Algorithm", kAlgorithm);
    add("X-Amz-Credential", params.credentials.access_key_id + "/" + scope);
    add("X-Amz-Date", amz_date);
    add("X-Amz-Expires", std::to_string(expires.count()));
    if (!params.credentials.session_token.empty()) add("X-Amz-Security-Token", params.credentials.session_token);
    add("X-Amz-SignedHeaders", signed_headers);
    const std::string canonical_query = CanonicalQuery(query);

    const std::string payload_hash = request.payload_hash.empty() ? Sha256Hex(request.payload) : request.payload_hash;
    out.canonical_request = fmt::format("{}\n{}\n{}\n{}\n{}\n{}", request.method, CanonicalUri(request.path, params),
                                        canonical_query, canonical_headers, signed_headers, payload_hash);
    out.string_to_sign = fmt::format("{}\n{}\n{}\n{}", kAlgorithm, amz_date, scope, Sha256Hex(out.canonical_request));
    out.signature = SignatureOf(params, date, out.string_to_sign);
    out.query = canonical_query + "&X-Amz-Signature=" + out.signature;
    return out;
}

Result<Signature> SignClientRequest(http::ClientRequest& request, const SigningParams& params) {
    const std::string_view url = request.url;
    std::size_t authority_start = 0;
    if (url.starts_with("http://")) {
        authority_start = 7;
    } else if (url.starts_with("https://")) {
        authority_start = 8;
    } else {
        return MakeError(ErrorCode::kInvalidArgument,
                         fmt::format("SigV4: '{}' is not an absolute http(s) URL", http::RedactUrl(url)));
    }
    const std::size_t authority_end = url.find_first_of("/?#", authority_start);
    std::string_view authority =
        url.substr(authority_start,
                   authority_end == std::string_view::npos ? std::string_view::npos : authority_end - authority_start);
    if (const std::size_t at = authority.rfind('@'); at != std::string_view::npos) authority.remove_prefix(at + 1);
    if (authority.empty()) {
        return MakeError(ErrorCode::kInvalidArgument, fmt::format("SigV4: '{}' has no host", http::RedactUrl(url)));
    }
    std::string_view rest = authority_end == std::string_view::npos ? std::string_view{} : url.substr(authority_end);
    if (const std::size_t hash = rest.find('#'); hash != std::string_view::npos) rest = rest.substr(0, hash);
    const std::size_t question = rest.find('?');
    const std::string_view path = rest.substr(0, question);
    const std::string_view query = question == std::string_view::npos ? std::string_view{} : rest.substr(question + 1);

    const bool has_host = std::any_of(request.headers.begin(), request.headers.end(),
                                      [](const auto& header) { return EqualsIgnoreCase(header.first, "host"); });
    if (!has_host) request.headers.emplace_back("Host", std::string(authority));

    SigningRequest to_sign{.method = request.method,
                           .path = PercentDecode(path.empty() ? std::string_view("/") : path),
                           .query = std::string(query),
                           .headers = request.headers,
                           .payload = request.body,
                           .payload_hash = {}};
    GALE_ASSIGN_OR_RETURN(Signature signature, Sign(to_sign, params));
    request.headers.insert(request.headers.end(), signature.headers.begin(), signature.headers.end());
    return signature;
}

}  // namespace gale::aws
