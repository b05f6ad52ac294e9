// SPDX-License-Identifier: MIT
// Django 3.2's url() rewriting, replicated so that hashed names match Django's for the same CSS. Its two patterns are
//   (url\(['"]{0,1}\s*(.*?)["']{0,1}\))      template url("%s")
//   (@import\s*["']\s*(.*?)["'])             template @import url("%s")
// applied with re.IGNORECASE one after the other by re.sub. They are matched here by hand rather than with
// std::regex, whose backtracking recursion can exhaust the stack on a long `url(data:...)`; for these patterns
// backtracking never changes the outcome (the optional quote and \s* cannot give back anything the lazy group could
// then end on, and `.` stops at a newline either way), so one forward scan per candidate gives re.sub's result.
#include "css_urls.hpp"

#include <cctype>
#include <string>
#include <string_view>
#include <vector>

#include <fmt/format.h>

#include <gale/staticfiles/collect.hpp>

namespace gale::staticfiles::detail {
namespace {

bool IsQuote(char c) noexcept { return c == '"' || c == '\''; }
bool IsPySpace(char c) noexcept { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v'; }

bool StartsWithIcase(std::string_view s, std::size_t at, std::string_view word) noexcept {
    if (s.size() - at < word.size()) return false;
    for (std::size_t i = 0; i < word.size(); ++i) {
        if (std::tolower(static_cast<unsigned char>(s[at + i])) != word[i]) return false;
    }
    return true;
}

struct Match {
    std::size_t end = 0;   ///< one past the match
    std::string_view url;  ///< group 2
};

/// url\(['"]{0,1}\s*(.*?)["']{0,1}\) at `at`.
std::optional<Match> MatchUrl(std::string_view s, std::size_t at) {
    if (!StartsWithIcase(s, at, "url(")) return std::nullopt;
    std::size_t p = at + 4;
    if (p < s.size() && IsQuote(s[p])) ++p;
    while (p < s.size() && IsPySpace(s[p])) ++p;
    for (std::size_t m = p; m < s.size(); ++m) {
        if (IsQuote(s[m]) && m + 1 < s.size() && s[m + 1] == ')') return Match{m + 2, s.substr(p, m - p)};
        if (s[m] == ')') return Match{m + 1, s.substr(p, m - p)};
        if (s[m] == '\n') return std::nullopt;
    }
    return std::nullopt;
}

/// @import\s*["']\s*(.*?)["'] at `at`.
std::optional<Match> MatchImport(std::string_view s, std::size_t at) {
    if (!StartsWithIcase(s, at, "@import")) return std::nullopt;
    std::size_t p = at + 7;
    while (p < s.size() && IsPySpace(s[p])) ++p;
    if (p >= s.size() || !IsQuote(s[p])) return std::nullopt;
    ++p;
    while (p < s.size() && IsPySpace(s[p])) ++p;
    for (std::size_t m = p; m < s.size(); ++m) {
        if (IsQuote(s[m])) return Match{m + 1, s.substr(p, m - p)};
        if (s[m] == '\n') return std::nullopt;
    }
    return std::nullopt;
}

int HexValue(char c) noexcept {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

std::string_view DirName(std::string_view path) {
    std::size_t slash = path.rfind('/');
    if (slash == std::string_view::npos) return {};
    std::string_view head = path.substr(0, slash + 1);
    while (head.size() > 1 && head.back() == '/') head.remove_suffix(1);  // posixpath.dirname strips trailing '/'
    return head;
}

std::string PosixJoin(std::string_view a, std::string_view b) {
    if (a.empty()) return std::string(b);
    std::string out(a);
    if (out.back() != '/') out += '/';
    out += b;
    return out;
}

std::vector<std::string_view> Split(std::string_view s, char sep) {
    std::vector<std::string_view> out;
    std::size_t start = 0;
    while (true) {
        std::size_t at = s.find(sep, start);
        out.push_back(s.substr(start, at == std::string_view::npos ? std::string_view::npos : at - start));
        if (at == std::string_view::npos) return out;
        start = at + 1;
    }
}

std::string_view StripPy(std::string_view s) {
    while (!s.empty() && IsPySpace(s.front())) s.remove_prefix(1);
    while (!s.empty() && IsPySpace(s.back())) s.remove_suffix(1);
    return s;
}

/// HashedFilesMixin.url_converter's converter: the replacement for one match, or nullopt to keep it as it is.
Result<std::optional<std::string>> Convert(std::string_view url, std::string_view css_name, const CssContext& ctx,
                                           std::string_view matched) {
    // re.match(r'^[a-z]+:', url)
    std::size_t letters = 0;
    while (letters < url.size() && url[letters] >= 'a' && url[letters] <= 'z') ++letters;
    if (letters > 0 && letters < url.size() && url[letters] == ':') return std::optional<std::string>();
    if (url.starts_with('/') && !url.starts_with(ctx.static_url)) return std::optional<std::string>();
    std::size_t hash = url.find('#');
    std::string_view url_path = url.substr(0, hash);
    std::string_view fragment = hash == std::string_view::npos ? std::string_view() : url.substr(hash + 1);
    std::string target = url_path.starts_with('/') ? std::string(url_path.substr(ctx.static_url.size()))
                                                   : PosixJoin(DirName(css_name), url_path);
    target = Unquote(target);
    // _url(self._stored_name, target, force=True, hashed_files=...)
    std::string clean = target.substr(0, target.find('#'));
    std::string_view clean_path = std::string_view(clean).substr(0, clean.find('?'));
    std::string hashed;
    if (clean_path.empty() || clean_path.ends_with('/')) {
        hashed = target;
    } else {
        std::string normalised = NormPath(clean);
        if (std::optional<std::string> stored = ctx.stored_name(normalised)) {
            hashed = *stored;
        } else {
            // hashed_name(): the original file's hash, the query kept.
            std::string unquoted = Unquote(normalised);
            std::size_t q = unquoted.find('?');
            std::string path(StripPy(std::string_view(unquoted).substr(0, q)));
            std::string query = q == std::string::npos ? "" : unquoted.substr(q + 1);
            if (ctx.is_directory(path)) {
                hashed = target;  // Django cannot open a directory and keeps the name
            } else {
                std::optional<std::string> md5 = ctx.original_md5(path);
                if (!md5) {
                    return MakeError(ErrorCode::kInvalidArgument,
                                     fmt::format("{}: {}: the file '{}' was not collected", css_name, matched, path));
                }
                hashed = HashedName(path, *md5);
                if (!query.empty()) hashed += "?" + query;
            }
        }
    }
    std::string hashed_url = ctx.static_url + hashed;
    std::vector<std::string_view> parts = Split(url_path, '/');
    parts.pop_back();
    std::string transformed;
    for (std::string_view p : parts) {
        transformed += p;
        transformed += '/';
    }
    transformed += Split(hashed_url, '/').back();
    if (!fragment.empty()) {
        transformed += url.find("?#") != std::string_view::npos ? "?#" : "#";
        transformed += fragment;
    }
    return std::optional<std::string>(Unquote(transformed));
}

using Matcher = std::optional<Match> (*)(std::string_view, std::size_t);

Result<std::string> Substitute(std::string_view css, std::string_view css_name, const CssContext& ctx, Matcher match,
                               char first, std::string_view prefix) {
    std::string out;
    out.reserve(css.size());
    std::size_t copied = 0;
    for (std::size_t i = 0; i < css.size(); ++i) {
        if (std::tolower(static_cast<unsigned char>(css[i])) != first) continue;
        std::optional<Match> m = match(css, i);
        if (!m) continue;
        std::string_view matched = css.substr(i, m->end - i);
        GALE_ASSIGN_OR_RETURN(std::optional<std::string> replacement, Convert(m->url, css_name, ctx, matched));
        out.append(css.substr(copied, i - copied));
        if (replacement) {
            out.append(prefix);
            out.append("url(\"");
            out.append(*replacement);
            out.append("\")");
        } else {
            out.append(matched);
        }
        copied = m->end;
        i = m->end - 1;
    }
    out.append(css.substr(copied));
    return out;
}

}  // namespace

std::string NormPath(std::string_view path) {
    // posixpath.normpath: two leading slashes are kept (POSIX leaves their meaning open), one or three and more are
    // one.
    std::size_t initial = 0;
    if (path.starts_with('/')) initial = path.starts_with("//") && !path.starts_with("///") ? 2 : 1;
    std::vector<std::string_view> kept;
    for (std::string_view part : Split(path, '/')) {
        if (part.empty() || part == ".") continue;
        if (part != ".." || (initial == 0 && kept.empty()) || (!kept.empty() && kept.back() == "..")) {
            kept.push_back(part);
        } else if (!kept.empty()) {
            kept.pop_back();
        }
    }
    std::string out(initial, '/');
    for (std::size_t i = 0; i < kept.size(); ++i) {
        if (i > 0) out += '/';
        out += kept[i];
    }
    return out.empty() ? "." : out;
}

std::string Unquote(std::string_view text) {
    std::string out;
    out.reserve(text.size());
    for (std::size_t i = 0; i < text.size(); ++i) {
        if (text[i] == '%' && i + 2 < text.size() && HexValue(text[i + 1]) >= 0 && HexValue(text[i + 2]) >= 0) {
            out += static_cast<char>(HexValue(text[i + 1]) * 16 + HexValue(text[i + 2]));
            i += 2;
        } else {
            out += text[i];
        }
    }
    return out;
}

Result<std::string> RewriteCssUrls(std::string_view css, std::string_view css_name, const CssContext& context) {
    GALE_ASSIGN_OR_RETURN(std::string first, Substitute(css, css_name, context, MatchUrl, 'u', ""));
    return Substitute(first, css_name, context, MatchImport, '@', "@import ");
}

}  // namespace gale::staticfiles::detail
