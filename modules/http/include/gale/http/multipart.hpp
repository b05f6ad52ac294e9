// SPDX-License-Identifier: MIT
/// @file gale/http/multipart.hpp
/// @brief Streaming, bounded parser of `multipart/form-data` bodies (RFC 7578 over RFC 2046).
///
/// The parser is fed the body in chunks of any size (one whole body, or one byte at a time: the parts reported are
/// the same) and reports each part to a MultipartSink as it goes: the part's headers once they are complete, then its
/// body bytes as they arrive, then its end. It keeps back at most the bytes that could still be the start of a
/// boundary delimiter (≤ 74) and the current part's unfinished header section (≤ max_header_bytes), so a large file
/// part never sits in memory whole.
///
/// What is accepted: an optional preamble (discarded), the first boundary at the very start or after a CRLF,
/// transport padding (spaces, tabs) after each boundary, header lines ended by CRLF, the closing `--boundary--` and
/// an epilogue (discarded). Every part must carry `Content-Disposition: form-data; name="…"`. Header lines must end
/// in CRLF and may not be folded; bytes other than padding and CRLF after a boundary are an error (RFC 2046 forbids
/// the delimiter inside a body, so a body that contains it is malformed, not silently cut). A body that ends before
/// the closing boundary is an error from Finish().
///
/// Quoted parameter values (`name="a b"`) undo `\"` and `\\` only, as Django does: browsers do not escape a backslash
/// in a file name (they send `"` as `%22`, which is kept as sent). `filename*` (RFC 5987 / RFC 8187,
/// `UTF-8''na%C3%AFve.txt`) is decoded and wins over `filename`; a `filename*` in another charset is an error. The file
/// name is reported as the client sent it: it is untrusted, sanitise it (gale::uploads does) before using it as a name.
///
/// Errors name the part (1-based) and what was wrong, e.g. "multipart: part 3: headers longer than 8192 bytes".
/// After an error the parser stays failed: every further Feed/Finish returns the same error.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <gale/base/error.hpp>

namespace gale::http {

/// Bounds of one multipart body. Each one, when crossed, fails the parse with an error that names it.
struct MultipartLimits {
    std::size_t max_parts = 1000;                            ///< parts in the body
    std::size_t max_header_bytes = 8 * 1024;                 ///< one part's header section, all lines with their CRLFs
    std::size_t max_field_bytes = 1024 * 1024;               ///< body of one part without a filename (a form field)
    std::uint64_t max_total_bytes = std::uint64_t{1} << 32;  ///< the whole multipart body, preamble and epilogue too
};

/// The headers of one part, as the parser reports them at its start.
struct MultipartPart {
    std::size_t index = 0;  ///< 1-based position in the body
    std::string name;       ///< Content-Disposition `name` (required; may be empty if sent empty)
    /// Content-Disposition `filename*` (decoded) or `filename`, exactly as the client sent it. Present (possibly
    /// empty: a file input left empty) iff the part is a file; untrusted.
    std::optional<std::string> filename;
    std::string content_type = "text/plain";  ///< the part's Content-Type, or RFC 7578's default text/plain
    std::vector<std::pair<std::string, std::string>> headers;  ///< every header line (name as sent, value trimmed)

    [[nodiscard]] bool is_file() const noexcept { return filename.has_value(); }
};

/// Receives the parts of a body. Calls come in order: for each part OnPartBegin, zero or more OnPartData, OnPartEnd.
/// An error returned by a callback stops the parse; Feed/Finish then return that error unchanged.
class MultipartSink {
public:
    virtual ~MultipartSink() = default;
    /// The headers of the next part are complete.
    [[nodiscard]] virtual Result<void> OnPartBegin(const MultipartPart& part) = 0;
    /// More of the current part's body (never empty). The view is valid only during the call.
    [[nodiscard]] virtual Result<void> OnPartData(std::string_view bytes) = 0;
    /// The current part's body is complete.
    [[nodiscard]] virtual Result<void> OnPartEnd() = 0;
};

/// The boundary of a `multipart/form-data` Content-Type value (`multipart/form-data; boundary=----x` or
/// `boundary="a b"`). Errors (kInvalidArgument): another media type, no boundary parameter, a boundary that is
/// empty, longer than 70 characters, or has characters RFC 2046 does not allow (or ends in a space).
[[nodiscard]] Result<std::string> MultipartBoundary(std::string_view content_type);

/// The incremental parser. Owns a copy of the boundary and at most the bounded tail described above; the sink is
/// borrowed and must outlive the parser. Not thread-safe: one body, fed by one thread at a time.
class MultipartParser {
public:
    /// `boundary` as MultipartBoundary returns it (it is checked again: an invalid one fails the first Feed).
    MultipartParser(std::string boundary, MultipartSink& sink, MultipartLimits limits = {});

    /// Consumes the next bytes of the body. Errors (kInvalidArgument for malformed or over-limit input, or the sink's
    /// own) are sticky.
    [[nodiscard]] Result<void> Feed(std::string_view data);

    /// Declares the end of the body: an error unless the closing boundary was seen.
    [[nodiscard]] Result<void> Finish();

    /// Parts begun so far.
    [[nodiscard]] std::size_t parts() const noexcept { return part_index_; }
    /// True once the closing boundary was read (what follows is epilogue).
    [[nodiscard]] bool closed() const noexcept { return state_ == State::kEpilogue; }

private:
    enum class State { kPreamble, kAfterBoundary, kPadding, kHeaders, kBody, kEpilogue, kFailed };

    /// Consumes a prefix of `view` and returns its length; what is left must wait for more bytes.
    std::size_t Process(std::string_view view);
    std::size_t ProcessPreamble(std::string_view view);
    std::size_t ProcessAfterBoundary(std::string_view view);
    std::size_t ProcessPadding(std::string_view view);
    std::size_t ProcessHeaders(std::string_view view);
    std::size_t ProcessBody(std::string_view view);
    /// Index in `view` where a proper prefix of the delimiter starts at the end, or view.size().
    std::size_t HeldBackStart(std::string_view view) const noexcept;
    bool ParseHeaderLine(std::string_view line);
    bool BeginPart();
    bool EmitData(std::string_view bytes);
    bool Fail(std::string message);
    bool FailWith(Error error);

    std::string delimiter_;  ///< "\r\n--" + boundary
    MultipartSink& sink_;
    MultipartLimits limits_;
    State state_ = State::kPreamble;
    bool at_start_ = true;  ///< nothing consumed yet: the first boundary may come without its CRLF
    std::string tail_;      ///< bytes fed but not yet consumed
    std::uint64_t total_ = 0;
    std::size_t part_index_ = 0;
    std::size_t header_bytes_ = 0;
    std::size_t field_bytes_ = 0;
    MultipartPart part_;
    std::optional<Error> error_;
};

}  // namespace gale::http
