// SPDX-License-Identifier: MIT
// collectstatic. Three phases, so that nothing is written before every name is known:
// 1. Walk the sources (first directory wins), read each file, hash it (md5, as Django); CSS content is kept.
// 2. Settle the CSS names: each CSS file's hashed name is the hash of its content after its references were
//    rewritten with the current names, repeated until no name changes (Django's passes; 6 at most, then a cycle).
//    The fixed point is Django's result whatever order the files are visited in, for reference graphs without cycles.
// 3. Write: the original, the hashed copy (CSS: rewritten), their .gz/.br siblings, and finally the manifest.
// Only CSS is held in memory across phases; other files are hashed streaming and read again one at a time to be
// written. Files over kInMemoryLimit are copied by streaming (SaveFile) and are not precompressed.
#include <algorithm>
#include <array>
#include <fstream>
#include <iterator>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>
#include <vector>

#include <fmt/format.h>
#include <openssl/evp.h>

#include <gale/staticfiles/collect.hpp>
#include <gale/staticfiles/manifest.hpp>
#include <gale/storage/storage.hpp>

#include "compress.hpp"
#include "css_urls.hpp"

namespace gale::staticfiles {
namespace {

namespace fs = std::filesystem;

constexpr std::uint64_t kInMemoryLimit = 16 * 1024 * 1024;
constexpr int kMaxPasses = 6;  // Django: one pass over everything, then up to max_post_process_passes (5) over CSS

struct Md5 {
    Md5() : ctx(EVP_MD_CTX_new(), EVP_MD_CTX_free) { EVP_DigestInit_ex(ctx.get(), EVP_md5(), nullptr); }
    void Update(std::string_view data) { EVP_DigestUpdate(ctx.get(), data.data(), data.size()); }
    std::string HexDigest() {
        std::array<unsigned char, EVP_MAX_MD_SIZE> digest{};
        unsigned int size = 0;
        EVP_DigestFinal_ex(ctx.get(), digest.data(), &size);
        std::string out;
        for (unsigned int i = 0; i < size; ++i) out += fmt::format("{:02x}", digest[i]);
        return out;
    }
    std::unique_ptr<EVP_MD_CTX, void (*)(EVP_MD_CTX*)> ctx;
};

struct SourceFile {
    std::string name;  ///< relative, '/'-separated
    fs::path path;
    std::uint64_t size = 0;
    std::string md5;
    bool css = false;
    std::optional<std::string> content;  ///< kept for CSS and files up to kInMemoryLimit in phase 3
    std::string hashed;
    std::string rewritten;  ///< CSS after rewriting
};

/// Django's default ignore patterns: 'CVS', '.*', '*~' against the base name.
bool Ignored(std::string_view base) noexcept { return base == "CVS" || base.starts_with('.') || base.ends_with('~'); }

Result<std::string> ReadAll(const fs::path& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) return MakeError(ErrorCode::kIo, fmt::format("collectstatic: cannot open {}", path.string()));
    std::string data((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    if (in.bad()) return MakeError(ErrorCode::kIo, fmt::format("collectstatic: cannot read {}", path.string()));
    return data;
}

Result<std::string> Md5File(const fs::path& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) return MakeError(ErrorCode::kIo, fmt::format("collectstatic: cannot open {}", path.string()));
    Md5 md5;
    std::array<char, 65536> buf{};
    while (in) {
        in.read(buf.data(), buf.size());
        md5.Update(std::string_view(buf.data(), static_cast<std::size_t>(in.gcount())));
    }
    if (in.bad()) return MakeError(ErrorCode::kIo, fmt::format("collectstatic: cannot read {}", path.string()));
    return md5.HexDigest();
}

Result<void> Walk(const fs::path& root, std::map<std::string, SourceFile>& files) {
    std::error_code ec;
    if (!fs::is_directory(root, ec)) {
        return MakeError(ErrorCode::kInvalidArgument,
                         fmt::format("collectstatic: source {} is not a directory", root.string()));
    }
    fs::recursive_directory_iterator it(root, fs::directory_options::follow_directory_symlink, ec);
    for (; !ec && it != fs::recursive_directory_iterator(); it.increment(ec)) {
        std::string base = it->path().filename().string();
        if (Ignored(base)) {
            if (it->is_directory(ec)) it.disable_recursion_pending();
            continue;
        }
        if (!it->is_regular_file(ec)) continue;  // directories, sockets, broken links
        std::string name = it->path().lexically_relative(root).generic_string();
        if (files.contains(name)) continue;  // an earlier source has it
        SourceFile f;
        f.name = name;
        f.path = it->path();
        f.size = it->file_size(ec);
        if (ec) break;
        f.css = name.ends_with(".css");  // Django: fnmatchcase '*.css'
        files.emplace(name, std::move(f));
    }
    if (ec) {
        return MakeError(ErrorCode::kIo, fmt::format("collectstatic: walking {}: {}", root.string(), ec.message()));
    }
    return {};
}

Result<void> Put(storage::Storage& dest, std::string_view name, std::string_view bytes) {
    Result<std::string> saved = dest.Save(name, bytes);
    if (!saved)
        return tl::unexpected(
            Error(saved.error().code(), fmt::format("collectstatic: saving {}", name), saved.error()));
    return {};
}

}  // namespace

std::string Md5Hex(std::string_view data) {
    Md5 md5;
    md5.Update(data);
    return md5.HexDigest();
}

std::string HashedName(std::string_view name, std::string_view md5_hex) {
    std::size_t slash = name.rfind('/');
    std::string_view dir = slash == std::string_view::npos ? std::string_view() : name.substr(0, slash + 1);
    std::string_view base = slash == std::string_view::npos ? name : name.substr(slash + 1);
    // os.path.splitext: the last dot, unless everything before it is dots (".env", "..x").
    std::size_t dot = base.rfind('.');
    std::size_t first = base.find_first_not_of('.');
    std::string_view stem = base;
    std::string_view ext;
    if (dot != std::string_view::npos && first != std::string_view::npos && dot > first) {
        stem = base.substr(0, dot);
        ext = base.substr(dot);
    }
    return fmt::format("{}{}.{}{}", dir, stem, md5_hex.substr(0, 12), ext);
}

Result<CollectReport> CollectStatic(const CollectOptions& options, storage::Storage& destination) {
    if (options.sources.empty()) {
        return MakeError(ErrorCode::kInvalidArgument, "collectstatic: no source directories (STATIC_SOURCE_DIRS)");
    }
    std::string static_url = options.static_url;
    if (static_url.empty() || static_url.back() != '/') static_url += '/';

    // Phase 1.
    std::map<std::string, SourceFile> files;
    for (const fs::path& source : options.sources) GALE_RETURN_IF_ERROR(Walk(source, files));
    CollectReport report;
    for (auto& [name, f] : files) {
        if (f.css) {
            GALE_ASSIGN_OR_RETURN(std::string data, ReadAll(f.path));
            f.size = data.size();
            f.md5 = Md5Hex(data);
            f.content = std::move(data);
        } else {
            GALE_ASSIGN_OR_RETURN(f.md5, Md5File(f.path));
        }
        f.hashed = HashedName(name, f.md5);
        report.bytes += f.size;
    }

    // Phase 2.
    detail::CssContext ctx;
    ctx.static_url = static_url;
    ctx.stored_name = [&](std::string_view n) -> std::optional<std::string> {
        auto it = files.find(std::string(n));
        if (it == files.end()) return std::nullopt;
        return it->second.hashed;
    };
    ctx.original_md5 = [&](std::string_view n) -> std::optional<std::string> {
        auto it = files.find(std::string(n));
        if (it == files.end()) return std::nullopt;
        return it->second.md5;
    };
    ctx.is_directory = [&](std::string_view n) {
        std::string prefix = std::string(n) + "/";
        auto it = files.lower_bound(prefix);
        return it != files.end() && it->first.starts_with(prefix);
    };
    bool changed = true;
    for (int pass = 0; pass < kMaxPasses && changed; ++pass) {
        changed = false;
        for (auto& [name, f] : files) {
            if (!f.css) continue;
            GALE_ASSIGN_OR_RETURN(f.rewritten, detail::RewriteCssUrls(*f.content, name, ctx));
            std::string hashed = HashedName(name, Md5Hex(f.rewritten));
            if (hashed != f.hashed) {
                f.hashed = std::move(hashed);
                changed = true;
            }
        }
    }
    if (changed) {
        std::string css;
        for (const auto& [name, f] : files) {
            if (f.css) css += (css.empty() ? "" : ", ") + name;
        }
        return MakeError(ErrorCode::kInvalidArgument,
                         fmt::format("collectstatic: CSS references did not settle after {} passes (a cycle of "
                                     "url() references among: {})",
                                     kMaxPasses, css));
    }

    // Phase 3.
    for (auto& [name, f] : files) {
        report.paths.emplace(name, f.hashed);
        ++report.files;
        if (f.css && f.rewritten != *f.content) ++report.rewritten_css;
        if (options.on_file) options.on_file(name, f.hashed);
        if (options.dry_run) continue;
        if (!f.css && f.size <= kInMemoryLimit) {
            GALE_ASSIGN_OR_RETURN(std::string data, ReadAll(f.path));
            if (Md5Hex(data) != f.md5) {
                return MakeError(ErrorCode::kIo, fmt::format("collectstatic: {} changed while it was collected", name));
            }
            f.content = std::move(data);
        }
        if (!f.content) {
            for (const std::string& n : {name, f.hashed}) {
                Result<std::string> saved = destination.SaveFile(n, f.path);
                if (!saved) {
                    return tl::unexpected(
                        Error(saved.error().code(), fmt::format("collectstatic: saving {}", n), saved.error()));
                }
            }
            ++report.skipped_compression;
            continue;
        }
        std::string_view original = *f.content;
        std::string_view hashed_bytes = f.css ? std::string_view(f.rewritten) : original;
        GALE_RETURN_IF_ERROR(Put(destination, name, original));
        GALE_RETURN_IF_ERROR(Put(destination, f.hashed, hashed_bytes));
        if (!detail::WorthCompressing(name) || (!options.gzip && !options.brotli)) {
            ++report.skipped_compression;
            continue;
        }
        bool any = false;
        // The original and the hashed copy differ only for rewritten CSS; compress each distinct content once.
        std::vector<std::pair<std::string_view, std::vector<std::string>>> contents;
        if (hashed_bytes == original) {
            contents.push_back({original, {name, f.hashed}});
        } else {
            contents.push_back({original, {name}});
            contents.push_back({hashed_bytes, {f.hashed}});
        }
        for (const auto& [bytes, names] : contents) {
            if (options.gzip) {
                GALE_ASSIGN_OR_RETURN(std::string gz, detail::Gzip(bytes));
                if (detail::SavesEnough(bytes.size(), gz.size())) {
                    for (const std::string& n : names) {
                        GALE_RETURN_IF_ERROR(Put(destination, n + ".gz", gz));
                        ++report.gzipped;
                    }
                    any = true;
                }
            }
            if (options.brotli) {
                GALE_ASSIGN_OR_RETURN(std::string br, detail::Brotli(bytes, f.css || name.ends_with(".js")));
                if (detail::SavesEnough(bytes.size(), br.size())) {
                    for (const std::string& n : names) {
                        GALE_RETURN_IF_ERROR(Put(destination, n + ".br", br));
                        ++report.brotli;
                    }
                    any = true;
                }
            }
        }
        if (!any) ++report.skipped_compression;
        f.content.reset();
        f.rewritten.clear();
    }
    if (!options.dry_run) {
        StaticManifest manifest(report.paths, ManifestOptions{.static_url = static_url});
        GALE_RETURN_IF_ERROR(Put(destination, kManifestName, manifest.ToJson()));
    }
    return report;
}

}  // namespace gale::staticfiles
