// SPDX-License-Identifier: MIT
/// @file gale/http/parser.hpp
/// @brief Strict, allocation-free HTTP/1.1 request-head parser and chunked body decoder (RFC 9110 / 9112).
///
/// The parser is stateless: it is re-run on the whole buffer until the head is complete (as picohttpparser is), so
/// a head split across reads costs a re-scan of at most the header limit. It never throws and never allocates
/// beyond the caller's header vector. Header views point into the caller's buffer.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include <gale/http/message.hpp>

namespace gale::http {

enum class ParseStatus { kComplete, kIncomplete, kError };

struct ParseLimits {
    std::size_t max_head_bytes = 8 * 1024;  ///< request line + headers; over it: 431
    std::size_t max_uri_bytes = 8 * 1024;   ///< request-target; over it: 414
    std::size_t max_headers = 100;          ///< header fields; over it: 431
};

enum class BodyKind { kNone, kContentLength, kChunked };

/// The result of parsing a request head. On kError, `error_status` (400, 414, 431, 501, 505, 417) and
/// `error_message` (a static string naming the problem) are set.
///
/// Invariant: every view (method, target, header names and values) points into the buffer that was parsed, never
/// at static storage, so a caller may rebase them onto a copy of the buffer by offset.
struct ParsedHead {
    std::string_view method;
    /// origin-form "/path?query"; for absolute-form the part after the authority, which may be empty or start with
    /// '?' (the path is then "/"). Percent-encoding is valid, the path has no %00 and there is no fragment.
    std::string_view target;
    int version_minor = 1;
    std::vector<Header> headers;
    std::size_t head_length = 0;  ///< bytes consumed, including the blank line and leading empty lines
    BodyKind body_kind = BodyKind::kNone;
    std::uint64_t content_length = 0;
    bool keep_alive = true;
    bool expect_continue = false;
    int error_status = 0;
    const char* error_message = "";
};

/// Parses a request head at the start of `buffer`.
/// @return kComplete (out is filled, out.head_length bytes consumed), kIncomplete (need more bytes; no limit hit
///         yet), or kError (out.error_status/out.error_message say why; the connection must be closed after the
///         error response).
ParseStatus ParseRequestHead(std::string_view buffer, const ParseLimits& limits, ParsedHead& out);

/// Incremental decoder of a chunked message body. Feed it bytes as they arrive; it appends the payload to `body`.
/// Trailer fields are validated and discarded.
class ChunkedDecoder {
public:
    /// Consumes bytes from `data`, appending payload to `body`; `consumed` is set to the bytes used.
    /// @return kComplete once the last chunk and trailers were read, kIncomplete when all of `data` was used,
    ///         kError on malformed framing (error_status() is 400) or a body over `max_body` (413).
    ParseStatus Feed(std::string_view data, std::string& body, std::uint64_t max_body, std::size_t& consumed);
    int error_status() const noexcept { return error_status_; }
    const char* error_message() const noexcept { return error_message_; }
    void Reset() noexcept { *this = ChunkedDecoder(); }

private:
    enum class State { kSize, kExtension, kSizeLf, kData, kDataCr, kDataLf, kTrailerLine, kTrailerLf, kDone };
    ParseStatus Fail(int status, const char* message) noexcept;

    State state_ = State::kSize;
    std::uint64_t chunk_left_ = 0;
    int size_digits_ = 0;
    std::size_t ext_bytes_ = 0;
    std::size_t trailer_bytes_ = 0;
    std::size_t line_bytes_ = 0;
    bool trailer_line_empty_ = true;
    bool last_chunk_ = false;
    int error_status_ = 0;
    const char* error_message_ = "";
};

}  // namespace gale::http
