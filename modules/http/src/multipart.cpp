// SPDX-License-Identifier: MIT
// Design and invariants.
//
// The body is read as a stream that starts with a virtual CRLF, so every boundary is the same delimiter
// "\r\n--" + boundary (RFC 2046 §5.1.1); only the very first one may also come without its CRLF (at_start_).
//
// Feed() keeps what Process() could not yet decide in tail_. Process() consumes a prefix of what it is given and
// leaves only: in a body or the preamble, the longest end that is a proper prefix of the delimiter (< 74 bytes); in
// the header section, the unfinished line (bounded by max_header_bytes, checked before waiting); after a boundary, a
// lone '-' or '\r'. When tail_ is not empty Feed() appends the new bytes to it a step at a time, and as soon as
// everything that was in tail_ before the step is consumed it goes back to parsing the caller's bytes in place, so a
// large chunk is never copied whole. Process() is a function of the state and the bytes only, never of how they were
// split, which is what makes one chunk and byte-at-a-time feeding report the same parts (the fuzz target checks it).
#include <string.h>  // memmem (GNU)

#include <algorithm>
#include <cstddef>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <fmt/format.h>

#include <gale/base/strings.hpp>
#include <gale/http/message.hpp>
#include <gale/http/multipart.hpp>

namespace gale::http {
namespace {

constexpr std::size_t kMaxBoundary = 70;  // RFC 2046 §5.1.1
constexpr std::size_t kStep = 4096;       // bytes appended to a non-empty tail at a time

bool IsOws(char c) noexcept { return c == ' ' || c == '\t'; }

std::string_view TrimOws(std::string_view s) noexcept {
    while (!s.empty() && IsOws(s.front())) s.remove_prefix(1);
    while (!s.empty() && IsOws(s.back())) s.remove_suffix(1);
    return s;
}

bool IsTokenChar(char c) noexcept {
    if ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')) return true;
    return std::string_view("!#$%&'*+-.^_`|~").find(c) != std::string_view::npos;
}

bool IsBoundaryChar(char c) noexcept {
    if ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')) return true;
    return std::string_view("'()+_,-./:=? ").find(c) != std::string_view::npos;
}

/// A short printable excerpt of untrusted bytes for an error message.
std::string Excerpt(std::string_view s) {
    std::string out;
    for (char c : s.substr(0, 40)) {
        auto u = static_cast<unsigned char>(c);
        out += (u >= 0x20 && u < 0x7f) ? c : '?';
    }
    if (s.size() > 40) out += "...";
    return out;
}

/// Parses `; key=value` parameters (value a token or a quoted-string) into lower-cased keys and values. In a quoted
/// value only `\"` and `\\` are escapes (Django's rule); any other backslash is kept. Returns an error text, or "".
std::string ParseParams(std::string_view s, std::vector<std::pair<std::string, std::string>>& out) {
    std::size_t i = 0;
    auto skip_ows = [&] {
        while (i < s.size() && IsOws(s[i])) ++i;
    };
    while (true) {
        skip_ows();
        if (i == s.size()) return "";
        if (s[i] != ';') return fmt::format("expected ';' before '{}'", Excerpt(s.substr(i)));
        ++i;
        skip_ows();
        if (i == s.size()) return "";  // a trailing ';' is harmless
        std::size_t key_start = i;
        while (i < s.size() && IsTokenChar(s[i])) ++i;
        std::string key = ToLower(s.substr(key_start, i - key_start));
        if (key.empty()) return fmt::format("expected a parameter name at '{}'", Excerpt(s.substr(i)));
        skip_ows();
        if (i == s.size() || s[i] != '=') return fmt::format("parameter '{}' has no value", key);
        ++i;
        skip_ows();
        std::string value;
        if (i < s.size() && s[i] == '"') {
            ++i;
            bool closed = false;
            while (i < s.size()) {
                char c = s[i++];
                if (c == '"') {
                    closed = true;
                    break;
                }
                if (c == '\\' && i < s.size() && (s[i] == '"' || s[i] == '\\')) c = s[i++];
                value += c;
            }
            if (!closed) return fmt::format("parameter '{}' has an unterminated quoted value", key);
        } else {
            std::size_t value_start = i;
            while (i < s.size() && s[i] != ';') ++i;
            value = std::string(TrimOws(s.substr(value_start, i - value_start)));
        }
        for (const auto& [k, v] : out) {
            if (k == key) return fmt::format("parameter '{}' appears twice", key);
        }
        out.emplace_back(std::move(key), std::move(value));
    }
}

const std::string* FindParam(const std::vector<std::pair<std::string, std::string>>& params, std::string_view key) {
    for (const auto& [k, v] : params) {
        if (k == key) return &v;
    }
    return nullptr;
}

/// Decodes an RFC 8187 ext-value (`UTF-8'lang'pct-encoded`); ISO-8859-1 is converted to UTF-8. "" on success.
std::string DecodeExtValue(std::string_view value, std::string& out) {
    std::size_t q1 = value.find('\'');
    std::size_t q2 = q1 == std::string_view::npos ? q1 : value.find('\'', q1 + 1);
    if (q2 == std::string_view::npos) return "filename* is not of the form charset'language'value";
    std::string charset = ToLower(value.substr(0, q1));
    std::optional<std::string> decoded = PercentDecode(value.substr(q2 + 1));
    if (!decoded) return "filename* has a malformed %-escape or a NUL";
    if (charset == "utf-8") {
        out = std::move(*decoded);
    } else if (charset == "iso-8859-1") {
        out.clear();
        for (char c : *decoded) {
            auto u = static_cast<unsigned char>(c);
            if (u < 0x80) {
                out += c;
            } else {
                out += static_cast<char>(0xc0 | (u >> 6));
                out += static_cast<char>(0x80 | (u & 0x3f));
            }
        }
    } else {
        return fmt::format("filename* charset '{}' is not UTF-8 or ISO-8859-1", Excerpt(charset));
    }
    return "";
}

}  // namespace

Result<std::string> MultipartBoundary(std::string_view content_type) {
    std::size_t semi = content_type.find(';');
    std::string_view media = TrimOws(content_type.substr(0, semi));
    if (!EqualsIgnoreCase(media, "multipart/form-data")) {
        return MakeError(ErrorCode::kInvalidArgument,
                         fmt::format("multipart: Content-Type '{}' is not multipart/form-data", Excerpt(media)));
    }
    std::vector<std::pair<std::string, std::string>> params;
    if (semi != std::string_view::npos) {
        std::string problem = ParseParams(content_type.substr(semi), params);
        if (!problem.empty()) {
            return MakeError(ErrorCode::kInvalidArgument, fmt::format("multipart: Content-Type: {}", problem));
        }
    }
    const std::string* boundary = FindParam(params, "boundary");
    if (boundary == nullptr) {
        return MakeError(ErrorCode::kInvalidArgument, "multipart: Content-Type has no boundary parameter");
    }
    if (boundary->empty() || boundary->size() > kMaxBoundary) {
        return MakeError(
            ErrorCode::kInvalidArgument,
            fmt::format("multipart: boundary is {} characters long (1 to {} allowed)", boundary->size(), kMaxBoundary));
    }
    if (!std::all_of(boundary->begin(), boundary->end(), IsBoundaryChar) || boundary->back() == ' ') {
        return MakeError(
            ErrorCode::kInvalidArgument,
            fmt::format("multipart: boundary '{}' has characters RFC 2046 does not allow", Excerpt(*boundary)));
    }
    return *boundary;
}

MultipartParser::MultipartParser(std::string boundary, MultipartSink& sink, MultipartLimits limits)
    : delimiter_("\r\n--" + boundary), sink_(sink), limits_(limits) {
    if (boundary.empty() || boundary.size() > kMaxBoundary ||
        !std::all_of(boundary.begin(), boundary.end(), IsBoundaryChar) || boundary.back() == ' ') {
        error_ = Error(
            ErrorCode::kInvalidArgument,
            fmt::format("multipart: invalid boundary '{}' (1 to 70 characters of RFC 2046's set)", Excerpt(boundary)));
        state_ = State::kFailed;
    }
}

bool MultipartParser::Fail(std::string message) {
    return FailWith(Error(ErrorCode::kInvalidArgument, std::move(message)));
}

bool MultipartParser::FailWith(Error error) {
    if (!error_) error_ = std::move(error);
    state_ = State::kFailed;
    tail_.clear();
    return false;
}

Result<void> MultipartParser::Feed(std::string_view data) {
    if (error_) return tl::unexpected(*error_);
    total_ += data.size();
    if (total_ > limits_.max_total_bytes) {
        Fail(fmt::format("multipart: body longer than {} bytes", limits_.max_total_bytes));
        return tl::unexpected(*error_);
    }
    while (!tail_.empty() && !data.empty()) {
        std::size_t old = tail_.size();
        std::size_t take = std::min(data.size(), kStep);
        tail_.append(data.data(), take);
        std::size_t used = Process(tail_);
        if (error_) return tl::unexpected(*error_);
        if (used >= old) {  // everything held before is consumed: parse the rest in place
            data.remove_prefix(used - old);
            tail_.clear();
            break;
        }
        tail_.erase(0, used);
        data.remove_prefix(take);
    }
    if (tail_.empty() && !data.empty()) {
        std::size_t used = Process(data);
        if (error_) return tl::unexpected(*error_);
        tail_.assign(data.substr(used));
    }
    return {};
}

Result<void> MultipartParser::Finish() {
    if (error_) return tl::unexpected(*error_);
    switch (state_) {
        case State::kEpilogue:
            return {};
        case State::kPreamble:
            Fail(fmt::format("multipart: no boundary '{}' in the body", Excerpt(delimiter_.substr(2))));
            break;
        case State::kAfterBoundary:
        case State::kPadding:
            Fail(fmt::format("multipart: body ended after the boundary of part {}, without the closing '{}--'",
                             part_index_ + 1, Excerpt(delimiter_.substr(2))));
            break;
        case State::kHeaders:
            Fail(fmt::format("multipart: part {}: body ended inside the part's headers", part_index_));
            break;
        case State::kBody:
            Fail(fmt::format("multipart: part {}: body ended before the closing boundary '{}--'", part_index_,
                             Excerpt(delimiter_.substr(2))));
            break;
        case State::kFailed:
            break;
    }
    return tl::unexpected(*error_);
}

std::size_t MultipartParser::Process(std::string_view view) {
    std::size_t pos = 0;
    while (pos < view.size() && !error_) {
        State before = state_;
        std::string_view rest = view.substr(pos);
        std::size_t used = 0;
        switch (state_) {
            case State::kPreamble:
                used = ProcessPreamble(rest);
                break;
            case State::kAfterBoundary:
                used = ProcessAfterBoundary(rest);
                break;
            case State::kPadding:
                used = ProcessPadding(rest);
                break;
            case State::kHeaders:
                used = ProcessHeaders(rest);
                break;
            case State::kBody:
                used = ProcessBody(rest);
                break;
            case State::kEpilogue:
                used = rest.size();
                break;
            case State::kFailed:
                return pos;
        }
        if (used == 0 && state_ == before) break;  // needs more bytes
        pos += used;
    }
    return pos;
}

std::size_t MultipartParser::HeldBackStart(std::string_view view) const noexcept {
    std::size_t from = view.size() >= delimiter_.size() ? view.size() - delimiter_.size() + 1 : 0;
    for (std::size_t i = from; i < view.size(); ++i) {
        if (view[i] == '\r' && std::string_view(delimiter_).starts_with(view.substr(i))) return i;
    }
    return view.size();
}

std::size_t MultipartParser::ProcessPreamble(std::string_view view) {
    if (at_start_) {
        std::string_view dash_boundary = std::string_view(delimiter_).substr(2);
        if (view.size() < dash_boundary.size() && dash_boundary.starts_with(view)) return 0;
        at_start_ = false;
        if (view.starts_with(dash_boundary)) {
            state_ = State::kAfterBoundary;
            return dash_boundary.size();
        }
    }
    const void* hit = ::memmem(view.data(), view.size(), delimiter_.data(), delimiter_.size());
    if (hit != nullptr) {
        state_ = State::kAfterBoundary;
        return static_cast<std::size_t>(static_cast<const char*>(hit) - view.data()) + delimiter_.size();
    }
    return HeldBackStart(view);  // the preamble is discarded
}

std::size_t MultipartParser::ProcessAfterBoundary(std::string_view view) {
    header_bytes_ = 0;
    if (view[0] != '-') {
        state_ = State::kPadding;
        return 0;
    }
    if (view.size() < 2) return 0;
    if (view[1] != '-') {
        Fail(fmt::format("multipart: part {}: '{}' after the boundary (expected CRLF or '--')", part_index_ + 1,
                         Excerpt(view.substr(0, 2))));
        return 0;
    }
    state_ = State::kEpilogue;
    return 2;
}

std::size_t MultipartParser::ProcessPadding(std::string_view view) {
    std::size_t i = 0;
    while (i < view.size() && IsOws(view[i])) ++i;
    header_bytes_ += i;
    if (header_bytes_ > limits_.max_header_bytes) {
        Fail(
            fmt::format("multipart: part {}: headers longer than {} bytes", part_index_ + 1, limits_.max_header_bytes));
        return 0;
    }
    if (i == view.size()) return i;
    if (view[i] != '\r') {
        Fail(fmt::format("multipart: part {}: '{}' after the boundary (expected CRLF or '--')", part_index_ + 1,
                         Excerpt(view.substr(i, 1))));
        return 0;
    }
    if (i + 1 == view.size()) return i;
    if (view[i + 1] != '\n') {
        Fail(fmt::format("multipart: part {}: CR without LF after the boundary", part_index_ + 1));
        return 0;
    }
    if (part_index_ == limits_.max_parts) {
        Fail(fmt::format("multipart: more than {} parts", limits_.max_parts));
        return 0;
    }
    ++part_index_;
    part_ = MultipartPart{};
    part_.index = part_index_;
    field_bytes_ = 0;
    header_bytes_ += 2;
    state_ = State::kHeaders;
    return i + 2;
}

std::size_t MultipartParser::ProcessHeaders(std::string_view view) {
    std::size_t eol = view.find("\r\n");
    std::size_t line_bytes = eol == std::string_view::npos ? view.size() : eol + 2;
    if (header_bytes_ + line_bytes > limits_.max_header_bytes) {
        Fail(fmt::format("multipart: part {}: headers longer than {} bytes", part_index_, limits_.max_header_bytes));
        return 0;
    }
    if (eol == std::string_view::npos) return 0;
    header_bytes_ += line_bytes;
    std::string_view line = view.substr(0, eol);
    if (line.empty()) {
        if (!BeginPart()) return 0;
        state_ = State::kBody;
    } else if (!ParseHeaderLine(line)) {
        return 0;
    }
    return line_bytes;
}

bool MultipartParser::ParseHeaderLine(std::string_view line) {
    if (IsOws(line[0])) return Fail(fmt::format("multipart: part {}: folded header line", part_index_));
    std::size_t colon = line.find(':');
    std::string_view name = line.substr(0, colon);
    if (colon == std::string_view::npos || name.empty() || !std::all_of(name.begin(), name.end(), IsTokenChar)) {
        return Fail(fmt::format("multipart: part {}: malformed header line '{}'", part_index_, Excerpt(line)));
    }
    std::string_view value = TrimOws(line.substr(colon + 1));
    for (char c : value) {
        auto u = static_cast<unsigned char>(c);
        if ((u < 0x20 && c != '\t') || u == 0x7f) {
            return Fail(
                fmt::format("multipart: part {}: control character in header '{}'", part_index_, Excerpt(name)));
        }
    }
    for (const auto& [n, v] : part_.headers) {
        if (EqualsIgnoreCase(n, name) &&
            (EqualsIgnoreCase(name, "Content-Disposition") || EqualsIgnoreCase(name, "Content-Type"))) {
            return Fail(fmt::format("multipart: part {}: header '{}' appears twice", part_index_, Excerpt(name)));
        }
    }
    if (EqualsIgnoreCase(name, "Content-Type")) part_.content_type = std::string(value);
    part_.headers.emplace_back(std::string(name), std::string(value));
    return true;
}

bool MultipartParser::BeginPart() {
    const std::string* disposition = nullptr;
    for (const auto& [n, v] : part_.headers) {
        if (EqualsIgnoreCase(n, "Content-Disposition")) disposition = &v;
    }
    if (disposition == nullptr) {
        return Fail(fmt::format("multipart: part {}: no Content-Disposition header", part_index_));
    }
    std::string_view value = *disposition;
    std::size_t semi = value.find(';');
    std::string_view type = TrimOws(value.substr(0, semi));
    if (!EqualsIgnoreCase(type, "form-data")) {
        return Fail(
            fmt::format("multipart: part {}: Content-Disposition is '{}', not form-data", part_index_, Excerpt(type)));
    }
    std::vector<std::pair<std::string, std::string>> params;
    if (semi != std::string_view::npos) {
        std::string problem = ParseParams(value.substr(semi), params);
        if (!problem.empty()) {
            return Fail(fmt::format("multipart: part {}: Content-Disposition: {}", part_index_, problem));
        }
    }
    const std::string* name = FindParam(params, "name");
    if (name == nullptr) return Fail(fmt::format("multipart: part {}: Content-Disposition has no name", part_index_));
    part_.name = *name;
    if (const std::string* ext = FindParam(params, "filename*")) {
        std::string decoded;
        std::string problem = DecodeExtValue(*ext, decoded);
        if (!problem.empty()) return Fail(fmt::format("multipart: part {}: {}", part_index_, problem));
        part_.filename = std::move(decoded);
    } else if (const std::string* filename = FindParam(params, "filename")) {
        part_.filename = *filename;
    }
    Result<void> r = sink_.OnPartBegin(part_);
    if (!r) return FailWith(std::move(r).error());
    return true;
}

bool MultipartParser::EmitData(std::string_view bytes) {
    if (bytes.empty()) return true;
    if (!part_.is_file()) {
        field_bytes_ += bytes.size();
        if (field_bytes_ > limits_.max_field_bytes) {
            return Fail(fmt::format("multipart: part {} (field '{}'): value longer than {} bytes", part_index_,
                                    Excerpt(part_.name), limits_.max_field_bytes));
        }
    }
    Result<void> r = sink_.OnPartData(bytes);
    if (!r) return FailWith(std::move(r).error());
    return true;
}

std::size_t MultipartParser::ProcessBody(std::string_view view) {
    const void* hit = ::memmem(view.data(), view.size(), delimiter_.data(), delimiter_.size());
    if (hit != nullptr) {
        auto at = static_cast<std::size_t>(static_cast<const char*>(hit) - view.data());
        if (!EmitData(view.substr(0, at))) return 0;
        Result<void> r = sink_.OnPartEnd();
        if (!r) {
            FailWith(std::move(r).error());
            return 0;
        }
        state_ = State::kAfterBoundary;
        return at + delimiter_.size();
    }
    std::size_t keep_from = HeldBackStart(view);
    if (!EmitData(view.substr(0, keep_from))) return 0;
    return keep_from;
}

}  // namespace gale::http
