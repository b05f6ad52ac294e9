// SPDX-License-Identifier: MIT
// A single forward pass over the text with a cursor and a line counter. Each assignment is parsed in three steps:
// key (after an optional `export`), '=', value (unquoted, '…' or "…"). Expansion happens while the value is read,
// so an escaped `\$` in "…" is never expanded and an expanded value is never re-scanned (bash does the same).
// Names resolve against the assignments already made in this text (latest first), then the caller's Lookup.
//
// Bounds: `${A}${A}` on each line doubles the size per line, so a few lines of text could otherwise ask for
// gigabytes. Every append of an expansion is checked against kMaxDotenvValueBytes *before* it is made, and each
// finished value against the file's remaining kMaxDotenvTotalBytes, so memory stays within a small multiple of
// those limits whatever the input (the fuzzer checks both).
#include <cstddef>
#include <map>

#include <fmt/format.h>

#include <gale/config/dotenv.hpp>

namespace gale::config {
namespace {

bool IsNameStart(char c) { return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || c == '_'; }
bool IsNameChar(char c) { return IsNameStart(c) || (c >= '0' && c <= '9'); }
bool IsBlank(char c) { return c == ' ' || c == '\t'; }

class Parser {
public:
    Parser(std::string_view text, std::string_view file_name, const Lookup& lookup)
        : text_(text), file_name_(file_name), lookup_(lookup) {}

    Result<DotenvEntries> Run() {
        if (text_.find('\0') != std::string_view::npos) {
            line_ = 1 + Count(text_.substr(0, text_.find('\0')), '\n');
            return Fail("NUL byte in file");
        }
        DotenvEntries entries;
        while (true) {
            SkipBlanksAndNewlines();
            if (AtEnd()) break;
            if (Peek() == '#') {
                SkipToEndOfLine();
                continue;
            }
            GALE_ASSIGN_OR_RETURN(auto entry, ParseAssignment());
            if (entry.second.size() > kMaxDotenvTotalBytes - total_bytes_) {
                return FailAt(assignment_line_,
                              fmt::format("{}: the values of this file exceed {} bytes in total once ${{...}} is "
                                          "expanded (the limit for one file)",
                                          entry.first, kMaxDotenvTotalBytes));
            }
            total_bytes_ += entry.second.size();
            assigned_[entry.first] = entry.second;
            entries.push_back(std::move(entry));
        }
        return entries;
    }

private:
    static std::size_t Count(std::string_view s, char c) {
        std::size_t n = 0;
        for (char x : s) n += (x == c) ? 1 : 0;
        return n;
    }

    tl::unexpected<Error> Fail(std::string_view what) const { return FailAt(line_, what); }
    tl::unexpected<Error> FailAt(std::size_t line, std::string_view what) const {
        return MakeError(ErrorCode::kInvalidArgument, fmt::format("{}:{}: {}", file_name_, line, what));
    }

    bool AtEnd() const { return pos_ >= text_.size(); }
    char Peek() const { return text_[pos_]; }
    // True at '\n', "\r\n" or the end: the end of a logical line.
    bool AtLineEnd() const {
        return AtEnd() || Peek() == '\n' || (Peek() == '\r' && pos_ + 1 < text_.size() && text_[pos_ + 1] == '\n') ||
               (Peek() == '\r' && pos_ + 1 == text_.size());
    }
    void Advance() {
        if (text_[pos_] == '\n') ++line_;
        ++pos_;
    }
    void SkipBlanks() {
        while (!AtEnd() && IsBlank(Peek())) ++pos_;
    }
    void SkipBlanksAndNewlines() {
        while (!AtEnd() && (IsBlank(Peek()) || Peek() == '\n' || Peek() == '\r')) Advance();
    }
    void SkipToEndOfLine() {
        while (!AtEnd() && Peek() != '\n') ++pos_;
    }

    std::string_view ReadName() {
        std::size_t start = pos_;
        if (!AtEnd() && IsNameStart(Peek())) {
            while (!AtEnd() && IsNameChar(Peek())) ++pos_;
        }
        return text_.substr(start, pos_ - start);
    }

    Result<std::pair<std::string, std::string>> ParseAssignment() {
        assignment_line_ = line_;
        std::string_view key = ReadName();
        if (key == "export" && !AtEnd() && IsBlank(Peek())) {
            SkipBlanks();
            key = ReadName();
        }
        if (key.empty() && !AtEnd() && Peek() == '=') return Fail("missing key before '='");
        if (key.empty() || (!AtEnd() && !IsBlank(Peek()) && Peek() != '=' && !AtLineEnd())) {
            // Show the offending word, up to the '=' or the end of the line.
            std::size_t start = pos_ - key.size();
            std::size_t end = start;
            while (end < text_.size() && text_[end] != '=' && text_[end] != '\n' && !IsBlank(text_[end])) ++end;
            return Fail(fmt::format("invalid key '{}'", text_.substr(start, end - start)));
        }
        SkipBlanks();
        if (AtEnd() || Peek() != '=') return Fail(fmt::format("missing '=' after {}", key));
        ++pos_;
        SkipBlanks();
        key_ = key;
        std::string value;
        if (!AtEnd() && Peek() == '\'') {
            GALE_ASSIGN_OR_RETURN(value, ParseSingleQuoted());
            GALE_RETURN_IF_ERROR(ExpectEndAfterQuote());
        } else if (!AtEnd() && Peek() == '"') {
            GALE_ASSIGN_OR_RETURN(value, ParseDoubleQuoted());
            GALE_RETURN_IF_ERROR(ExpectEndAfterQuote());
        } else {
            GALE_ASSIGN_OR_RETURN(value, ParseUnquoted());
        }
        if (value.size() > kMaxDotenvValueBytes) return ValueTooLong();  // a literal: expansions are checked as made
        return std::pair<std::string, std::string>(std::string(key), std::move(value));
    }

    Result<std::string> ParseSingleQuoted() {
        std::size_t open_line = line_;
        ++pos_;  // '
        std::size_t start = pos_;
        while (!AtEnd() && Peek() != '\'') Advance();
        if (AtEnd()) return FailAt(open_line, "unterminated single quote");
        std::string value(text_.substr(start, pos_ - start));
        ++pos_;  // '
        return value;
    }

    Result<std::string> ParseDoubleQuoted() {
        std::size_t open_line = line_;
        ++pos_;  // "
        std::string value;
        while (!AtEnd() && Peek() != '"') {
            char c = Peek();
            if (c == '\\' && pos_ + 1 < text_.size()) {
                char e = text_[pos_ + 1];
                pos_ += 2;
                switch (e) {
                    case 'n':
                        value += '\n';
                        break;
                    case 't':
                        value += '\t';
                        break;
                    case 'r':
                        value += '\r';
                        break;
                    case '"':
                    case '\\':
                    case '$':
                    case '\'':
                        value += e;
                        break;
                    case '\n':  // a backslash-newline continues the line, as in bash
                        ++line_;
                        break;
                    default:
                        value += '\\';
                        value += e;
                }
            } else if (c == '$') {
                GALE_RETURN_IF_ERROR(Expand(value));
            } else {
                value += c;
                Advance();
            }
        }
        if (AtEnd()) return FailAt(open_line, "unterminated double quote");
        ++pos_;  // "
        return value;
    }

    Result<std::string> ParseUnquoted() {
        std::string value;
        while (!AtLineEnd()) {
            char c = Peek();
            if (c == '#' && IsBlank(text_[pos_ - 1])) break;  // pos_ > 0: '=' precedes the value
            if (c == '$') {
                GALE_RETURN_IF_ERROR(Expand(value));
            } else {
                value += c;
                ++pos_;
            }
        }
        while (!value.empty() && (IsBlank(value.back()) || value.back() == '\r')) value.pop_back();
        return value;
    }

    // After a closing quote only blanks, then a comment or the end of the line, may follow.
    Result<void> ExpectEndAfterQuote() {
        std::size_t before = pos_;
        SkipBlanks();
        if (AtLineEnd()) return {};
        if (Peek() == '#' && pos_ > before) {
            SkipToEndOfLine();
            return {};
        }
        return Fail("unexpected text after closing quote");
    }

    tl::unexpected<Error> ValueTooLong() const {
        return FailAt(assignment_line_, fmt::format("{}: longer than {} bytes once ${{...}} is expanded (the limit "
                                                    "for one value)",
                                                    key_, kMaxDotenvValueBytes));
    }

    // Appends an expansion to the value being read, unless that would make it longer than one value may be.
    Result<void> AppendExpansion(std::string& out, std::string_view piece) const {
        if (piece.size() > kMaxDotenvValueBytes || out.size() > kMaxDotenvValueBytes - piece.size()) {
            return ValueTooLong();
        }
        out += piece;
        return {};
    }

    // At '$': appends the expansion of $NAME, ${NAME} or ${NAME:-default}; a '$' not followed by a name is literal.
    Result<void> Expand(std::string& out) {
        ++pos_;  // $
        if (!AtEnd() && Peek() == '{') {
            std::size_t open = pos_;
            ++pos_;
            std::string_view name = ReadName();
            if (AtEnd() || Peek() == '\n') return Fail("unterminated ${");
            if (name.empty()) return Fail("bad substitution: expected a name after ${");
            if (Peek() == '}') {
                ++pos_;
                return AppendExpansion(out, Resolve(name).value_or(""));
            }
            if (Peek() == ':' && pos_ + 1 < text_.size() && text_[pos_ + 1] == '-') {
                pos_ += 2;
                std::size_t close = text_.find('}', pos_);
                std::size_t newline = text_.find('\n', pos_);
                if (close == std::string_view::npos || newline < close) return Fail("unterminated ${");
                std::string_view fallback = text_.substr(pos_, close - pos_);
                pos_ = close + 1;
                auto value = Resolve(name);
                return AppendExpansion(out, (value && !value->empty()) ? std::string_view(*value) : fallback);
            }
            std::size_t close = text_.find('}', open);
            std::size_t end = close == std::string_view::npos ? pos_ : close + 1;
            return Fail(fmt::format("bad substitution '{}' (use ${{NAME}} or ${{NAME:-default}})",
                                    text_.substr(open - 1, end - open + 1)));
        }
        std::string_view name = ReadName();
        if (name.empty()) {
            out += '$';
            return {};
        }
        return AppendExpansion(out, Resolve(name).value_or(""));
    }

    std::optional<std::string> Resolve(std::string_view name) const {
        if (auto it = assigned_.find(name); it != assigned_.end()) return it->second;
        if (lookup_) return lookup_(name);
        return std::nullopt;
    }

    std::string_view text_;
    std::string_view file_name_;
    const Lookup& lookup_;
    std::size_t pos_ = 0;
    std::size_t line_ = 1;
    std::size_t assignment_line_ = 1;  // where the assignment being read starts (its key)
    std::string_view key_;             // its key, once read
    std::size_t total_bytes_ = 0;      // of the values accepted so far
    std::map<std::string, std::string, std::less<>> assigned_;
};

}  // namespace

Result<DotenvEntries> ParseDotenv(std::string_view text, std::string_view file_name, const Lookup& lookup) {
    return Parser(text, file_name, lookup).Run();
}

}  // namespace gale::config
