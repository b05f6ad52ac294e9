// SPDX-License-Identifier: MIT
// The table is sorted by extension so lookup is a binary search over static data: no allocation, no start-up cost,
// nothing to configure. It covers what browsers need to render a web app and play media; anything else is served as
// application/octet-stream, which (with nosniff) makes browsers download rather than guess. Text types say UTF-8
// because that is what build tools emit; JSON and XML types carry no charset parameter (RFC 8259 defines none for
// JSON, XML declares its own).
#include "mime_types.hpp"

#include <algorithm>
#include <array>
#include <cstddef>

namespace gale::http::detail {
namespace {

struct MimeEntry {
    std::string_view extension;  // lower case, no dot
    std::string_view content_type;
};

constexpr std::array kMimeTable = {
    MimeEntry{"7z", "application/x-7z-compressed"},
    MimeEntry{"aac", "audio/aac"},
    MimeEntry{"apng", "image/apng"},
    MimeEntry{"atom", "application/atom+xml"},
    MimeEntry{"avif", "image/avif"},
    MimeEntry{"bmp", "image/bmp"},
    MimeEntry{"css", "text/css; charset=utf-8"},
    MimeEntry{"csv", "text/csv; charset=utf-8"},
    MimeEntry{"eot", "application/vnd.ms-fontobject"},
    MimeEntry{"flac", "audio/flac"},
    MimeEntry{"gif", "image/gif"},
    MimeEntry{"glb", "model/gltf-binary"},
    MimeEntry{"gltf", "model/gltf+json"},
    MimeEntry{"gz", "application/gzip"},
    MimeEntry{"heic", "image/heic"},
    MimeEntry{"htm", "text/html; charset=utf-8"},
    MimeEntry{"html", "text/html; charset=utf-8"},
    MimeEntry{"ico", "image/x-icon"},
    MimeEntry{"ics", "text/calendar; charset=utf-8"},
    MimeEntry{"jpeg", "image/jpeg"},
    MimeEntry{"jpg", "image/jpeg"},
    MimeEntry{"js", "text/javascript; charset=utf-8"},  // RFC 9239
    MimeEntry{"json", "application/json"},
    MimeEntry{"jsonld", "application/ld+json"},
    MimeEntry{"jxl", "image/jxl"},
    MimeEntry{"m3u8", "application/vnd.apple.mpegurl"},
    MimeEntry{"m4a", "audio/mp4"},
    MimeEntry{"m4s", "video/iso.segment"},
    MimeEntry{"m4v", "video/mp4"},
    MimeEntry{"map", "application/json"},  // source maps
    MimeEntry{"md", "text/markdown; charset=utf-8"},
    MimeEntry{"mjs", "text/javascript; charset=utf-8"},
    MimeEntry{"mkv", "video/x-matroska"},
    MimeEntry{"mov", "video/quicktime"},
    MimeEntry{"mp3", "audio/mpeg"},
    MimeEntry{"mp4", "video/mp4"},
    MimeEntry{"mpd", "application/dash+xml"},
    MimeEntry{"oga", "audio/ogg"},
    MimeEntry{"ogg", "audio/ogg"},
    MimeEntry{"ogv", "video/ogg"},
    MimeEntry{"opus", "audio/ogg"},
    MimeEntry{"otf", "font/otf"},
    MimeEntry{"pdf", "application/pdf"},
    MimeEntry{"png", "image/png"},
    MimeEntry{"rss", "application/rss+xml"},
    MimeEntry{"svg", "image/svg+xml"},
    MimeEntry{"tar", "application/x-tar"},
    MimeEntry{"ts", "video/mp2t"},  // HLS segments, not TypeScript sources
    MimeEntry{"ttf", "font/ttf"},
    MimeEntry{"txt", "text/plain; charset=utf-8"},
    MimeEntry{"vtt", "text/vtt; charset=utf-8"},
    MimeEntry{"wasm", "application/wasm"},  // required for WebAssembly.instantiateStreaming
    MimeEntry{"wav", "audio/wav"},
    MimeEntry{"weba", "audio/webm"},
    MimeEntry{"webm", "video/webm"},
    MimeEntry{"webmanifest", "application/manifest+json"},
    MimeEntry{"webp", "image/webp"},
    MimeEntry{"woff", "font/woff"},
    MimeEntry{"woff2", "font/woff2"},
    MimeEntry{"xml", "application/xml"},
    MimeEntry{"zip", "application/zip"},
};

constexpr bool ExtensionLess(const MimeEntry& a, const MimeEntry& b) noexcept { return a.extension < b.extension; }
static_assert(std::is_sorted(kMimeTable.begin(), kMimeTable.end(), ExtensionLess), "kMimeTable must stay sorted");

constexpr std::string_view kOctetStream = "application/octet-stream";
constexpr std::size_t kMaxExtension = 16;

}  // namespace

std::string_view ContentTypeForExtension(std::string_view extension) noexcept {
    if (extension.empty() || extension.size() > kMaxExtension) return kOctetStream;
    std::array<char, kMaxExtension> buffer{};
    for (std::size_t i = 0; i < extension.size(); ++i) {
        char c = extension[i];
        buffer[i] = c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c;
    }
    std::string_view key(buffer.data(), extension.size());
    const auto* it = std::lower_bound(kMimeTable.begin(), kMimeTable.end(), key,
                                      [](const MimeEntry& e, std::string_view k) { return e.extension < k; });
    if (it == kMimeTable.end() || it->extension != key) return kOctetStream;
    return it->content_type;
}

std::string_view ContentTypeForPath(std::string_view path) noexcept {
    std::size_t slash = path.rfind('/');
    std::string_view name = slash == std::string_view::npos ? path : path.substr(slash + 1);
    std::size_t dot = name.rfind('.');
    if (dot == std::string_view::npos || dot == 0) return kOctetStream;
    return ContentTypeForExtension(name.substr(dot + 1));
}

}  // namespace gale::http::detail
