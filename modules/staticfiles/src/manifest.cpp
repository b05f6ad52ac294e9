// SPDX-License-Identifier: MIT
#include <fstream>
#include <iterator>
#include <sstream>
#include <string>
#include <system_error>
#include <utility>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <gale/staticfiles/manifest.hpp>
#include <gale/storage/storage.hpp>

namespace gale::staticfiles {
namespace {

std::string WithSlash(std::string url) {
    if (url.empty() || url.back() != '/') url += '/';
    return url;
}

}  // namespace

StaticManifest::StaticManifest(std::map<std::string, std::string> paths, ManifestOptions options)
    : paths_(std::move(paths)), options_(std::move(options)) {
    options_.static_url = WithSlash(std::move(options_.static_url));
}

Result<StaticManifest> StaticManifest::Parse(std::string_view json, std::string_view where, ManifestOptions options) {
    nlohmann::json doc = nlohmann::json::parse(json.begin(), json.end(), nullptr, /*allow_exceptions=*/false);
    auto bad = [&](std::string what) {
        return MakeError(ErrorCode::kInvalidArgument, fmt::format("static manifest {}: {}", where, what));
    };
    if (doc.is_discarded()) return bad("not valid JSON");
    if (!doc.is_object()) return bad("not a JSON object");
    auto version = doc.find("version");
    if (version == doc.end() || !version->is_string() || version->get<std::string>() != "1.0") {
        return bad(fmt::format("version is {}, not \"1.0\"", version == doc.end() ? "missing" : version->dump()));
    }
    auto paths = doc.find("paths");
    if (paths == doc.end() || !paths->is_object()) return bad("\"paths\" is missing or not an object");
    std::map<std::string, std::string> out;
    for (const auto& [key, value] : paths->items()) {
        if (!value.is_string()) return bad(fmt::format("paths[\"{}\"] is not a string", key));
        out.emplace(key, value.get<std::string>());
    }
    return StaticManifest(std::move(out), std::move(options));
}

Result<StaticManifest> StaticManifest::Load(const std::filesystem::path& file, ManifestOptions options) {
    std::ifstream in(file, std::ios::binary);
    if (!in) {
        std::error_code ec;
        bool exists = std::filesystem::exists(file, ec);
        return MakeError(exists ? ErrorCode::kIo : ErrorCode::kNotFound,
                         fmt::format("static manifest {}: {}", file.string(), exists ? "cannot be read" : "not found"));
    }
    std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    if (in.bad()) return MakeError(ErrorCode::kIo, fmt::format("static manifest {}: read failed", file.string()));
    return Parse(text, file.string(), std::move(options));
}

Result<StaticManifest> StaticManifest::Load(storage::Storage& storage, ManifestOptions options, std::string_view name) {
    Result<std::string> text = storage.Read(name);
    if (!text) {
        return tl::unexpected(Error(text.error().code(),
                                    fmt::format("static manifest {} in {}", name, storage.Describe()), text.error()));
    }
    return Parse(*text, fmt::format("{} in {}", name, storage.Describe()), std::move(options));
}

Result<std::string> StaticManifest::HashedName(std::string_view name) const {
    std::size_t cut = name.find_first_of("?#");
    std::string_view path = name.substr(0, cut);
    std::string_view suffix = cut == std::string_view::npos ? std::string_view() : name.substr(cut);
    auto it = paths_.find(std::string(path));
    if (it == paths_.end()) {
        if (!options_.strict) return std::string(name);
        return MakeError(
            ErrorCode::kNotFound,
            fmt::format("static: no manifest entry for '{}' (run collectstatic; {} entries)", path, paths_.size()));
    }
    return it->second + std::string(suffix);
}

Result<std::string> StaticManifest::Url(std::string_view name) const {
    GALE_ASSIGN_OR_RETURN(std::string hashed, HashedName(name));
    return options_.static_url + hashed;
}

std::string StaticManifest::ToJson() const {
    nlohmann::ordered_json doc;
    doc["paths"] = nlohmann::ordered_json::object();
    for (const auto& [k, v] : paths_) doc["paths"][k] = v;
    doc["version"] = "1.0";
    return doc.dump(-1, ' ', false, nlohmann::ordered_json::error_handler_t::replace);
}

}  // namespace gale::staticfiles
