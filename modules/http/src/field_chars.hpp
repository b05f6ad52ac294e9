// SPDX-License-Identifier: MIT
/// @file field_chars.hpp
/// @brief Character classes of HTTP/1.1 fields shared by the parser and the response writer (internal).
#pragma once

namespace gale::http {

/// RFC 9110 §5.6.2 tchar: what header names, methods and cookie names are made of.
inline bool IsTokenChar(char ch) noexcept {
    if ((ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z')) return true;
    for (char t : {'!', '#', '$', '%', '&', '\'', '*', '+', '-', '.', '^', '_', '`', '|', '~'}) {
        if (ch == t) return true;
    }
    return false;
}

/// field-vchar / SP / HTAB / obs-text (RFC 9110 §5.5), also what a reason-phrase is made of (RFC 9112 §4):
/// anything but CTLs (except HTAB) and DEL.
inline bool IsFieldValueChar(char ch) noexcept {
    auto c = static_cast<unsigned char>(ch);
    return c == '\t' || (c >= 0x20 && c != 0x7f);
}

}  // namespace gale::http
