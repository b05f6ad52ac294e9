// SPDX-License-Identifier: MIT
#include "compress.hpp"

#include <zlib.h>

#include <algorithm>
#include <array>
#include <climits>
#include <string>
#include <string_view>

#include <brotli/encode.h>
#include <fmt/format.h>

#include <gale/base/strings.hpp>

namespace gale::staticfiles::detail {

Result<std::string> Gzip(std::string_view data) {
    z_stream zs{};
    // windowBits 15 + 16: a gzip wrapper; deflateInit2 writes mtime 0 and no name unless deflateSetHeader is called.
    if (deflateInit2(&zs, Z_BEST_COMPRESSION, Z_DEFLATED, 15 + 16, 9, Z_DEFAULT_STRATEGY) != Z_OK) {
        return MakeError(ErrorCode::kInternal, "gzip: deflateInit2 failed");
    }
    std::string out;
    out.resize(deflateBound(&zs, static_cast<uLong>(data.size())) + 64);
    zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(data.data()));
    zs.avail_in = static_cast<uInt>(data.size());
    zs.next_out = reinterpret_cast<Bytef*>(out.data());
    zs.avail_out = static_cast<uInt>(out.size());
    int rc = data.size() > UINT_MAX / 2 ? Z_BUF_ERROR : deflate(&zs, Z_FINISH);
    std::size_t produced = zs.total_out;
    deflateEnd(&zs);
    if (rc != Z_STREAM_END) return MakeError(ErrorCode::kInternal, fmt::format("gzip: deflate failed ({})", rc));
    out.resize(produced);
    return out;
}

Result<std::string> Brotli(std::string_view data, bool text) {
    std::string out;
    out.resize(BrotliEncoderMaxCompressedSize(data.size()) + 1024);
    std::size_t size = out.size();
    if (BrotliEncoderCompress(BROTLI_MAX_QUALITY, BROTLI_DEFAULT_WINDOW, text ? BROTLI_MODE_TEXT : BROTLI_MODE_GENERIC,
                              data.size(), reinterpret_cast<const std::uint8_t*>(data.data()), &size,
                              reinterpret_cast<std::uint8_t*>(out.data())) != BROTLI_TRUE) {
        return MakeError(ErrorCode::kInternal, "brotli: BrotliEncoderCompress failed");
    }
    out.resize(size);
    return out;
}

bool WorthCompressing(std::string_view name) noexcept {
    // whitenoise.compress.Compressor.SKIP_COMPRESS_EXTENSIONS, plus avif and ico's PNG-packed cousins stay in.
    static constexpr std::array<std::string_view, 27> kSkip = {
        "jpg", "jpeg", "png",  "gif",   "webp", "avif", "zip", "gz",  "tgz", "bz2", "tbz", "xz",   "br",  "zst",
        "swf", "flv",  "woff", "woff2", "3gp",  "3gpp", "asf", "avi", "m4v", "mov", "mp4", "mpeg", "webm"};
    std::size_t slash = name.rfind('/');
    std::string_view base = slash == std::string_view::npos ? name : name.substr(slash + 1);
    std::size_t dot = base.rfind('.');
    if (dot == std::string_view::npos) return true;
    std::string ext = ToLower(base.substr(dot + 1));
    if (ext == "mpg" || ext == "wmv" || ext == "mp3" || ext == "ogg" || ext == "opus") return false;
    return std::find(kSkip.begin(), kSkip.end(), ext) == kSkip.end();
}

}  // namespace gale::staticfiles::detail
