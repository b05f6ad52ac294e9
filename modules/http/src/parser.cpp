// SPDX-License-Identifier: MIT
//
// Design: the head parser works on the whole buffer each time it is called. It first locates the end of the head
// ("\r\n\r\n") with memmem, so an incomplete head costs one scan and no validation; only a complete head is
// validated field by field. Limits are checked before the terminator is found, so a client can never make the
// server buffer more than max_head_bytes of head. Every rejection names what was wrong in error_message.
#include <array>
#include <cstring>

#include <gale/base/strings.hpp>
#include <gale/http/parser.hpp>

#include "field_chars.hpp"

namespace gale::http {
namespace {

// RFC 9110 §5.6.2 tchar.
constexpr std::array<bool, 256> MakeTcharTable() {
    std::array<bool, 256> t{};
    for (int c = '0'; c <= '9'; ++c) t[c] = true;
    for (int c = 'a'; c <= 'z'; ++c) t[c] = true;
    for (int c = 'A'; c <= 'Z'; ++c) t[c] = true;
    for (char c : std::string_view("!#$%&'*+-.^_`|~")) t[static_cast<unsigned char>(c)] = true;
    return t;
}
constexpr std::array<bool, 256> kTchar = MakeTcharTable();

inline bool IsTchar(char c) noexcept { return kTchar[static_cast<unsigned char>(c)]; }
// request-target: visible ASCII only, and no '#' (a fragment is never sent: RFC 9112 §3.2).
inline bool IsTargetChar(char ch) noexcept {
    auto c = static_cast<unsigned char>(ch);
    return c > 0x20 && c < 0x7f && c != '#';
}

inline bool IsHexDigit(char c) noexcept {
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

// Host = uri-host [ ":" port ] (RFC 9110 §7.2): reg-name, IPv4 or an IP-literal in brackets; no spaces or controls.
inline bool IsHostChar(char ch) noexcept {
    auto c = static_cast<unsigned char>(ch);
    if ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')) return true;
    return std::string_view("-._~!$&'()*+,;=%:[]").find(static_cast<char>(c)) != std::string_view::npos;
}

inline std::string_view TrimOws(std::string_view v) noexcept {
    while (!v.empty() && (v.front() == ' ' || v.front() == '\t')) v.remove_prefix(1);
    while (!v.empty() && (v.back() == ' ' || v.back() == '\t')) v.remove_suffix(1);
    return v;
}

ParseStatus Fail(ParsedHead& out, int status, const char* message) noexcept {
    out.error_status = status;
    out.error_message = message;
    return ParseStatus::kError;
}

// Parses a Content-Length value: 1*DIGIT, possibly a comma-separated list of identical values (RFC 9110 §8.6).
bool ParseContentLength(std::string_view v, std::uint64_t& out) noexcept {
    bool have = false;
    std::uint64_t first = 0;
    while (true) {
        std::size_t comma = v.find(',');
        std::string_view item = TrimOws(v.substr(0, comma));
        if (item.empty() || item.size() > 19) return false;
        std::uint64_t value = 0;
        for (char c : item) {
            if (c < '0' || c > '9') return false;
            value = value * 10 + static_cast<std::uint64_t>(c - '0');
        }
        if (have && value != first) return false;
        first = value;
        have = true;
        if (comma == std::string_view::npos) break;
        v.remove_prefix(comma + 1);
    }
    out = first;
    return true;
}

// Iterates the comma-separated tokens of a list header; returns false on an empty list.
template <typename F>
void ForEachToken(std::string_view v, F&& f) {
    while (!v.empty()) {
        std::size_t comma = v.find(',');
        std::string_view item = TrimOws(v.substr(0, comma));
        // Drop parameters (";q=…") for the comparisons we make.
        std::size_t semi = item.find(';');
        f(TrimOws(item.substr(0, semi)));
        if (comma == std::string_view::npos) break;
        v.remove_prefix(comma + 1);
    }
}

}  // namespace

ParseStatus ParseRequestHead(std::string_view buf, const ParseLimits& limits, ParsedHead& out) {
    out.headers.clear();
    out.body_kind = BodyKind::kNone;
    out.content_length = 0;
    out.expect_continue = false;
    out.error_status = 0;
    out.error_message = "";

    // RFC 9112 §2.2: ignore at least one empty line before the request-line.
    std::size_t start = 0;
    while (start + 1 < buf.size() && start < 8 && buf[start] == '\r' && buf[start + 1] == '\n') start += 2;
    if (start < buf.size() && (buf[start] == '\r' || buf[start] == '\n') && start + 1 >= buf.size()) {
        return ParseStatus::kIncomplete;
    }
    std::string_view rest = buf.substr(start);

    const char* end_ptr = static_cast<const char*>(memmem(rest.data(), rest.size(), "\r\n\r\n", 4));
    std::size_t line_end = rest.find("\r\n");
    if (end_ptr == nullptr) {
        // Incomplete: check limits on what we have so far.
        if (line_end == std::string_view::npos) {
            if (rest.size() > limits.max_uri_bytes + 32) {
                std::size_t sp = rest.find(' ');
                if (sp != std::string_view::npos && sp < 32) return Fail(out, 414, "request-target too long");
                return Fail(out, 400, "request line too long or malformed");
            }
        } else if (line_end > limits.max_uri_bytes + 32) {
            return Fail(out, 414, "request-target too long");
        }
        if (rest.size() > limits.max_head_bytes) return Fail(out, 431, "request header block too large");
        // Reject obvious garbage early rather than waiting for a terminator that may never come.
        for (std::size_t i = 0; i < rest.size() && i < 16; ++i) {
            if (rest[i] == ' ') break;
            if (!IsTchar(rest[i])) return Fail(out, 400, "malformed request line");
        }
        return ParseStatus::kIncomplete;
    }
    std::size_t head_len = static_cast<std::size_t>(end_ptr - rest.data()) + 4;
    if (line_end > limits.max_uri_bytes + 32) return Fail(out, 414, "request-target too long");
    if (head_len > limits.max_head_bytes) return Fail(out, 431, "request header block too large");
    std::string_view head = rest.substr(0, head_len);

    // --- request-line: method SP request-target SP HTTP-version ---
    std::string_view line = head.substr(0, line_end);
    std::size_t sp1 = line.find(' ');
    if (sp1 == 0 || sp1 == std::string_view::npos) return Fail(out, 400, "malformed request line");
    std::string_view method = line.substr(0, sp1);
    for (char c : method) {
        if (!IsTchar(c)) return Fail(out, 400, "invalid character in method");
    }
    std::size_t sp2 = line.find(' ', sp1 + 1);
    if (sp2 == std::string_view::npos || sp2 == sp1 + 1) return Fail(out, 400, "malformed request line");
    std::string_view target = line.substr(sp1 + 1, sp2 - sp1 - 1);
    if (target.size() > limits.max_uri_bytes) return Fail(out, 414, "request-target too long");
    // Characters, then percent-encoding: every '%' starts two hex digits, and the path never decodes to NUL
    // (so nothing downstream, router or file system, sees a malformed or truncating escape).
    std::size_t query_at = std::string_view::npos;
    for (std::size_t i = 0; i < target.size(); ++i) {
        char c = target[i];
        if (c == '#') return Fail(out, 400, "fragment in request-target");
        if (!IsTargetChar(c)) return Fail(out, 400, "invalid character in request-target");
        if (c == '?' && query_at == std::string_view::npos) query_at = i;
        if (c != '%') continue;
        if (i + 2 >= target.size() || !IsHexDigit(target[i + 1]) || !IsHexDigit(target[i + 2])) {
            return Fail(out, 400, "malformed percent-encoding in request-target");
        }
        if (target[i + 1] == '0' && target[i + 2] == '0' && query_at == std::string_view::npos) {
            return Fail(out, 400, "percent-encoded NUL in the path");
        }
        i += 2;
    }
    std::string_view version = line.substr(sp2 + 1);
    if (version.size() != 8 || version.substr(0, 5) != "HTTP/" || version[6] != '.' || version[5] < '0' ||
        version[5] > '9' || version[7] < '0' || version[7] > '9') {
        return Fail(out, 400, "malformed HTTP version");
    }
    if (version[5] != '1' || (version[7] != '0' && version[7] != '1')) {
        return Fail(out, 505, "HTTP version not supported");
    }
    out.version_minor = version[7] - '0';
    if (target.front() != '/') {
        if (target == "*") {
            if (method != "OPTIONS") return Fail(out, 400, "asterisk-form is only valid for OPTIONS");
        } else if (EqualsIgnoreCase(target.substr(0, 7), "http://") ||
                   EqualsIgnoreCase(target.substr(0, 8), "https://")) {  // schemes are case-insensitive
            // absolute-form: route on what follows the authority (RFC 9112 §3.2.2). That may be empty or start
            // with '?' ("http://x", "http://x?a=1"): the path is then "/" (Request::SetLine). The view stays
            // inside the buffer, as every view the parser returns does.
            std::size_t scheme = target.find("://") + 3;
            std::size_t path_at = target.find_first_of("/?", scheme);
            if (path_at == scheme || scheme == target.size()) return Fail(out, 400, "absolute-form without authority");
            target = target.substr(path_at == std::string_view::npos ? target.size() : path_at);
        } else {
            return Fail(out, 400, "malformed request-target");
        }
    }
    out.method = method;
    out.target = target;

    // --- header fields ---
    bool have_cl = false;
    bool have_te = false;
    bool te_chunked_last = false;
    bool te_unsupported = false;
    int chunked_count = 0;
    bool have_host = false;
    bool conn_close = false;
    bool conn_keep_alive = false;
    std::size_t pos = line_end + 2;
    while (pos < head_len - 2) {
        std::size_t eol = head.find("\r\n", pos);
        std::string_view field = head.substr(pos, eol - pos);
        pos = eol + 2;
        if (field.front() == ' ' || field.front() == '\t') return Fail(out, 400, "obsolete line folding in header");
        std::size_t colon = field.find(':');
        if (colon == 0 || colon == std::string_view::npos) return Fail(out, 400, "malformed header field");
        std::string_view name = field.substr(0, colon);
        for (char c : name) {
            if (!IsTchar(c)) return Fail(out, 400, "invalid character in header name");
        }
        std::string_view value = field.substr(colon + 1);
        for (char c : value) {
            if (!IsFieldValueChar(c)) return Fail(out, 400, "invalid character in header value");
        }
        value = TrimOws(value);
        if (out.headers.size() >= limits.max_headers) return Fail(out, 431, "too many header fields");
        out.headers.push_back({name, value});

        switch (name.size()) {
            case 4:
                if (EqualsIgnoreCase(name, "host")) {
                    if (have_host) return Fail(out, 400, "duplicate Host header");
                    for (char c : value) {
                        if (!IsHostChar(c)) return Fail(out, 400, "invalid Host header");
                    }
                    have_host = true;
                }
                break;
            case 6:
                if (EqualsIgnoreCase(name, "expect")) {
                    if (EqualsIgnoreCase(value, "100-continue")) {
                        out.expect_continue = true;
                    } else {
                        return Fail(out, 417, "unsupported expectation");
                    }
                }
                break;
            case 10:
                if (EqualsIgnoreCase(name, "connection")) {
                    ForEachToken(value, [&](std::string_view t) {
                        if (EqualsIgnoreCase(t, "close")) conn_close = true;
                        if (EqualsIgnoreCase(t, "keep-alive")) conn_keep_alive = true;
                    });
                }
                break;
            case 14:
                if (EqualsIgnoreCase(name, "content-length")) {
                    std::uint64_t n = 0;
                    if (!ParseContentLength(value, n)) return Fail(out, 400, "invalid Content-Length");
                    if (have_cl && n != out.content_length) return Fail(out, 400, "conflicting Content-Length");
                    have_cl = true;
                    out.content_length = n;
                }
                break;
            case 17:
                if (EqualsIgnoreCase(name, "transfer-encoding")) {
                    have_te = true;
                    bool any = false;
                    ForEachToken(value, [&](std::string_view t) {
                        any = true;
                        if (EqualsIgnoreCase(t, "chunked")) {
                            ++chunked_count;
                            te_chunked_last = true;
                        } else {
                            if (!t.empty()) te_unsupported = true;
                            te_chunked_last = t.empty() && te_chunked_last;
                        }
                    });
                    if (!any) return Fail(out, 400, "empty Transfer-Encoding");
                }
                break;
            default:
                break;
        }
    }
    if (out.version_minor == 1 && !have_host) return Fail(out, 400, "missing Host header");
    if (have_te) {
        if (have_cl) return Fail(out, 400, "both Content-Length and Transfer-Encoding");
        if (out.version_minor == 0) return Fail(out, 400, "Transfer-Encoding in an HTTP/1.0 request");
        if (!te_chunked_last || chunked_count != 1) return Fail(out, 400, "Transfer-Encoding must end in chunked");
        if (te_unsupported) return Fail(out, 501, "unsupported transfer coding");
        out.body_kind = BodyKind::kChunked;
    } else if (have_cl && out.content_length > 0) {
        out.body_kind = BodyKind::kContentLength;
    }
    // No body, or HTTP/1.0 (RFC 9110 §10.1.1: a 100-continue expectation in a 1.0 request MUST be ignored).
    if (out.body_kind == BodyKind::kNone || out.version_minor == 0) out.expect_continue = false;
    out.keep_alive = out.version_minor == 1 ? !conn_close : (conn_keep_alive && !conn_close);
    out.head_length = start + head_len;
    return ParseStatus::kComplete;
}

// --- ChunkedDecoder ---

ParseStatus ChunkedDecoder::Fail(int status, const char* message) noexcept {
    error_status_ = status;
    error_message_ = message;
    return ParseStatus::kError;
}

ParseStatus ChunkedDecoder::Feed(std::string_view data, std::string& body, std::uint64_t max_body,
                                 std::size_t& consumed) {
    constexpr std::size_t kMaxExtension = 1024;
    constexpr std::size_t kMaxTrailers = 8 * 1024;
    std::size_t i = 0;
    while (i < data.size()) {
        char c = data[i];
        switch (state_) {
            case State::kSize: {
                int digit = -1;
                if (c >= '0' && c <= '9') digit = c - '0';
                if (c >= 'a' && c <= 'f') digit = c - 'a' + 10;
                if (c >= 'A' && c <= 'F') digit = c - 'A' + 10;
                if (digit >= 0) {
                    if (++size_digits_ > 15) return Fail(400, "chunk size too large");
                    chunk_left_ = chunk_left_ * 16 + static_cast<std::uint64_t>(digit);
                    ++i;
                    break;
                }
                if (size_digits_ == 0) return Fail(400, "invalid chunk size");
                if (c == ';' || c == ' ' || c == '\t') {
                    state_ = State::kExtension;
                    ++i;
                } else if (c == '\r') {
                    state_ = State::kSizeLf;
                    ++i;
                } else {
                    return Fail(400, "invalid chunk size");
                }
                break;
            }
            case State::kExtension:
                if (c == '\r') {
                    state_ = State::kSizeLf;
                } else if (!IsFieldValueChar(c) || ++ext_bytes_ > kMaxExtension) {
                    return Fail(400, "invalid chunk extension");
                }
                ++i;
                break;
            case State::kSizeLf:
                if (c != '\n') return Fail(400, "chunk size line not terminated by CRLF");
                ++i;
                if (chunk_left_ == 0) {
                    last_chunk_ = true;
                    state_ = State::kTrailerLine;
                    trailer_line_empty_ = true;
                    line_bytes_ = 0;
                } else {
                    if (body.size() + chunk_left_ > max_body) return Fail(413, "request body too large");
                    state_ = State::kData;
                }
                break;
            case State::kData: {
                std::size_t n = std::min<std::uint64_t>(chunk_left_, data.size() - i);
                body.append(data.data() + i, n);
                i += n;
                chunk_left_ -= n;
                if (chunk_left_ == 0) state_ = State::kDataCr;
                break;
            }
            case State::kDataCr:
                if (c != '\r') return Fail(400, "chunk data not followed by CRLF");
                state_ = State::kDataLf;
                ++i;
                break;
            case State::kDataLf:
                if (c != '\n') return Fail(400, "chunk data not followed by CRLF");
                state_ = State::kSize;
                size_digits_ = 0;
                ext_bytes_ = 0;
                ++i;
                break;
            case State::kTrailerLine:
                if (++trailer_bytes_ > kMaxTrailers) return Fail(400, "chunked trailer too large");
                if (c == '\r') {
                    state_ = State::kTrailerLf;
                } else {
                    if (line_bytes_ == 0 && (c == ' ' || c == '\t')) return Fail(400, "obsolete line folding");
                    if (!IsFieldValueChar(c)) return Fail(400, "invalid character in trailer");
                    trailer_line_empty_ = false;
                    ++line_bytes_;
                }
                ++i;
                break;
            case State::kTrailerLf:
                if (c != '\n') return Fail(400, "trailer line not terminated by CRLF");
                ++i;
                if (trailer_line_empty_) {
                    state_ = State::kDone;
                    consumed = i;
                    return ParseStatus::kComplete;
                }
                state_ = State::kTrailerLine;
                trailer_line_empty_ = true;
                line_bytes_ = 0;
                break;
            case State::kDone:
                consumed = i;
                return ParseStatus::kComplete;
        }
    }
    consumed = i;
    return state_ == State::kDone ? ParseStatus::kComplete : ParseStatus::kIncomplete;
}

}  // namespace gale::http
