// SPDX-License-Identifier: MIT
// A small scanner, not a parser: it only has to know where string literals, quoted identifiers and comments start
// and end, because a `?` or `$1` there is data. PostgreSQL's lexer rules followed: '' doubles a quote inside '…';
// backslash escapes only in E'…'; /* */ comments nest; a dollar-quote tag is $[A-Za-z_][A-Za-z0-9_]*$ or $$ (a tag
// cannot start with a digit, which is what separates `$1` from `$1$`-style quoting).
#include "placeholders.hpp"

#include <algorithm>
#include <cctype>

namespace gale::db::detail {
namespace {

bool IsDigit(char c) { return c >= '0' && c <= '9'; }
bool IsIdentStart(char c) { return std::isalpha(static_cast<unsigned char>(c)) != 0 || c == '_'; }
bool IsIdentChar(char c) { return IsIdentStart(c) || IsDigit(c); }

}  // namespace

TranslatedSql TranslatePlaceholders(std::string_view sql) {
    TranslatedSql out;
    out.sql.reserve(sql.size() + 8);
    const std::size_t n = sql.size();
    std::size_t i = 0;
    auto copy_until = [&](std::size_t end) {
        out.sql.append(sql.substr(i, end - i));
        i = end;
    };
    while (i < n) {
        char c = sql[i];
        if (c == '\'') {
            // E'…' allows backslash escapes; the E was already copied.
            bool escapes = i > 0 && (sql[i - 1] == 'E' || sql[i - 1] == 'e') && (i < 2 || !IsIdentChar(sql[i - 2]));
            std::size_t j = i + 1;
            while (j < n) {
                if (escapes && sql[j] == '\\') {
                    j += 2;
                } else if (sql[j] == '\'') {
                    if (j + 1 < n && sql[j + 1] == '\'') {
                        j += 2;
                    } else {
                        ++j;
                        break;
                    }
                } else {
                    ++j;
                }
            }
            copy_until(std::min(j, n));
        } else if (c == '"') {
            std::size_t j = i + 1;
            while (j < n) {
                if (sql[j] == '"') {
                    if (j + 1 < n && sql[j + 1] == '"') {
                        j += 2;
                        continue;
                    }
                    ++j;
                    break;
                }
                ++j;
            }
            copy_until(std::min(j, n));
        } else if (c == '-' && i + 1 < n && sql[i + 1] == '-') {
            std::size_t j = sql.find('\n', i);
            copy_until(j == std::string_view::npos ? n : j);
        } else if (c == '/' && i + 1 < n && sql[i + 1] == '*') {
            int depth = 1;
            std::size_t j = i + 2;
            while (j < n && depth > 0) {
                if (sql[j] == '/' && j + 1 < n && sql[j + 1] == '*') {
                    ++depth;
                    j += 2;
                } else if (sql[j] == '*' && j + 1 < n && sql[j + 1] == '/') {
                    --depth;
                    j += 2;
                } else {
                    ++j;
                }
            }
            copy_until(j);
        } else if (c == '$' && i + 1 < n && IsDigit(sql[i + 1]) && (i == 0 || !IsIdentChar(sql[i - 1]))) {
            std::size_t j = i + 1;
            int num = 0;
            while (j < n && IsDigit(sql[j])) num = std::min(num * 10 + (sql[j++] - '0'), 1000000);
            out.parameter_count = std::max(out.parameter_count, num);
            copy_until(j);
        } else if (c == '$' && (i == 0 || !IsIdentChar(sql[i - 1]))) {
            // Possible dollar quote: $$ or $tag$.
            std::size_t j = i + 1;
            if (j < n && IsIdentStart(sql[j])) {
                while (j < n && IsIdentChar(sql[j])) ++j;
            }
            if (j < n && sql[j] == '$') {
                std::string_view tag = sql.substr(i, j - i + 1);
                std::size_t close = sql.find(tag, j + 1);
                copy_until(close == std::string_view::npos ? n : close + tag.size());
            } else {
                copy_until(i + 1);
            }
        } else if (c == '?') {
            std::size_t j = i + 1;
            int num = 0;
            while (j < n && IsDigit(sql[j])) num = std::min(num * 10 + (sql[j++] - '0'), 1000000);
            if (j == i + 1) num = out.parameter_count + 1;
            out.parameter_count = std::max(out.parameter_count, num);
            out.sql += '$';
            out.sql += std::to_string(num);
            i = j;
        } else if (IsIdentChar(c)) {
            // Skip whole identifiers so that `a$1` style names are not mistaken for parameters.
            std::size_t j = i;
            while (j < n && (IsIdentChar(sql[j]) || sql[j] == '$')) ++j;
            // Keep a trailing E/e adjacent to a quote out of the identifier so the quote branch sees it.
            copy_until(j);
        } else {
            copy_until(i + 1);
        }
    }
    return out;
}

}  // namespace gale::db::detail
