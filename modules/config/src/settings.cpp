// SPDX-License-Identifier: MIT
// Values are kept as strings with their source and parsed on access, so an error can always say where the bad
// value came from. Precedence is by layer, not by call order, so callers may load sources in any order.
#include <cerrno>
#include <cstring>
#include <fstream>
#include <iterator>
#include <map>

#include <fmt/format.h>

#include <gale/base/strings.hpp>
#include <gale/config/dotenv.hpp>
#include <gale/config/secrets.hpp>
#include <gale/config/settings.hpp>

extern char** environ;  // NOLINT(readability-redundant-declaration): POSIX, not declared by <unistd.h> in C++

namespace gale::config {
namespace {

constexpr std::string_view kRedacted = "********";

bool NameLooksSecret(std::string_view key) {
    std::string upper(key);
    for (char& c : upper) {
        if (c >= 'a' && c <= 'z') c = static_cast<char>(c - 'a' + 'A');
    }
    std::string_view u(upper);
    return u.find("PASSWORD") != std::string_view::npos || u.find("SECRET") != std::string_view::npos ||
           u.find("TOKEN") != std::string_view::npos || (u.size() >= 4 && u.substr(u.size() - 4) == "_KEY");
}

void AppendEscaped(std::string& out, std::string_view value) {
    for (char c : value) {
        auto u = static_cast<unsigned char>(c);
        if (c == '\n') {
            out += "\\n";
        } else if (c == '\t') {
            out += "\\t";
        } else if (c == '\\') {
            out += "\\\\";
        } else if (u < 0x20 || u == 0x7F) {
            out += fmt::format("\\x{:02x}", u);
        } else {
            out += c;
        }
    }
}

Result<std::string> ReadWholeFile(const std::filesystem::path& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) {
        return MakeError(ErrorCode::kIo, fmt::format("{}: cannot open: {}", path.string(), std::strerror(errno)));
    }
    std::string text{std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
    if (in.bad()) return MakeError(ErrorCode::kIo, fmt::format("{}: read error", path.string()));
    return text;
}

}  // namespace

std::string_view ToString(Layer layer) noexcept {
    switch (layer) {
        case Layer::kDefault:
            return "default";
        case Layer::kProfile:
            return "profile";
        case Layer::kFile:
            return "file";
        case Layer::kDotenv:
            return "dotenv";
        case Layer::kEnvironment:
            return "environment";
        case Layer::kCommandLine:
            return "command line";
    }
    return "unknown";
}

Environment CurrentEnvironment() {
    Environment env;
    for (char** e = environ; e != nullptr && *e != nullptr; ++e) {
        std::string_view entry(*e);
        auto eq = entry.find('=');
        if (eq == std::string_view::npos) continue;
        env.emplace(std::string(entry.substr(0, eq)), std::string(entry.substr(eq + 1)));
    }
    return env;
}

void Settings::Set(std::string_view key, std::string value, Layer layer, std::string_view file) {
    auto it = values_.find(key);
    if (it == values_.end()) {
        values_.emplace(std::string(key), Value{std::move(value), layer, std::string(file)});
        return;
    }
    if (layer < it->second.layer) return;
    it->second = Value{std::move(value), layer, std::string(file)};
}

void Settings::LoadEnvironment(const Environment& env, std::string_view prefix) {
    for (const auto& [name, value] : env) {
        if (name.starts_with(prefix)) Set(name, value, Layer::kEnvironment);
    }
}

Result<void> Settings::LoadDotenvText(std::string_view text, std::string_view file_name, const Environment& env) {
    Lookup lookup = [this, &env](std::string_view name) -> std::optional<std::string> {
        if (auto it = values_.find(name); it != values_.end()) return it->second.value;
        if (auto it = env.find(name); it != env.end()) return it->second;
        return std::nullopt;
    };
    GALE_ASSIGN_OR_RETURN(auto entries, ParseDotenv(text, file_name, lookup));
    for (auto& [key, value] : entries) Set(key, std::move(value), Layer::kDotenv, file_name);
    return {};
}

Result<void> Settings::LoadDotenvFile(const std::filesystem::path& path, const Environment& env, bool* found) {
    std::error_code ec;
    *found = std::filesystem::is_regular_file(path, ec);
    if (!*found) return {};
    GALE_ASSIGN_OR_RETURN(auto text, ReadWholeFile(path));
    return LoadDotenvText(text, path.string(), env);
}

Result<void> Settings::LoadDotenvChain(const std::filesystem::path& dir, const Environment& env) {
    bool found = false;
    const auto local = dir / ".env.local";
    GALE_RETURN_IF_ERROR(LoadDotenvFile(local, env, &found));
    // The environment layer outranks dotenv, so it also decides DOTENV and the password.
    auto learn = [&](std::string_view name) -> std::optional<std::string> {
        if (auto it = env.find(name); it != env.end() && !it->second.empty()) return it->second;
        if (auto it = values_.find(name); it != values_.end() && !it->second.value.empty()) return it->second.value;
        return std::nullopt;
    };
    const auto dotenv = learn("DOTENV");
    const auto password = learn("TRANSCRYPT_PASSWORD");

    GALE_RETURN_IF_ERROR(LoadDotenvFile(dir / ".env.base", env, &found));

    if (dotenv) {
        const auto secret_path = dir / (".env." + *dotenv + ".secret");
        std::error_code ec;
        if (std::filesystem::is_regular_file(secret_path, ec)) {
            const std::string name = secret_path.string();
            GALE_ASSIGN_OR_RETURN(auto text, ReadWholeFile(secret_path));
            if (IsTranscryptEncrypted(text)) {
                if (!password) {
                    return MakeError(ErrorCode::kInvalidArgument,
                                     fmt::format("{}: encrypted, but TRANSCRYPT_PASSWORD is set neither in {} nor "
                                                 "in the environment",
                                                 name, local.string()));
                }
                GALE_ASSIGN_OR_RETURN(text, DecryptTranscrypt(text, *password, name));
            }
            Lookup no_lookup;
            GALE_ASSIGN_OR_RETURN(auto keys, ParseDotenv(text, name, no_lookup));  // syntax first: nothing half-set
            for (const auto& entry : keys) secrets_.insert(entry.first);
            GALE_RETURN_IF_ERROR(LoadDotenvText(text, name, env));
        }
    }

    return LoadDotenvFile(local, env, &found);
}

void Settings::DeclareSecret(std::string_view key) { secrets_.emplace(key); }

void Settings::NoteUnset(std::string_view key, std::string meaning) {
    unset_notes_.insert_or_assign(std::string(key), std::move(meaning));
}

bool Settings::IsSecret(std::string_view key) const {
    return secrets_.find(key) != secrets_.end() || NameLooksSecret(key);
}

std::optional<std::string> Settings::Find(std::string_view key) const {
    auto it = values_.find(key);
    if (it == values_.end()) return std::nullopt;
    return it->second.value;
}

std::optional<SettingInfo> Settings::Info(std::string_view key) const {
    auto it = values_.find(key);
    if (it == values_.end()) return std::nullopt;
    return SettingInfo{it->first, it->second.value, it->second.layer, it->second.file, IsSecret(key)};
}

Result<const Settings::Value*> Settings::FindValue(std::string_view key) const {
    auto it = values_.find(key);
    if (it == values_.end()) return MakeError(ErrorCode::kNotFound, fmt::format("{} is not set", key));
    return &it->second;
}

std::string Settings::What(std::string_view key, const Value& v) const {
    if (v.file.empty()) return fmt::format("{} (from {})", key, ToString(v.layer));
    return fmt::format("{} (from {} {})", key, ToString(v.layer), v.file);
}

Result<std::string> Settings::GetString(std::string_view key) const {
    GALE_ASSIGN_OR_RETURN(const Value* v, FindValue(key));
    return v->value;
}

// The parsers quote the offending text in their messages; a secret's value must not appear there.
#define GALE_CONFIG_PARSE_(parse_call)                                                                              \
    GALE_ASSIGN_OR_RETURN(const Value* v, FindValue(key));                                                          \
    const std::string what = What(key, *v);                                                                         \
    auto parsed = (parse_call);                                                                                     \
    if (!parsed && IsSecret(key)) {                                                                                 \
        return MakeError(parsed.error().code(), fmt::format("{}: the value (secret, not shown) is invalid", what)); \
    }                                                                                                               \
    return parsed

Result<std::int64_t> Settings::GetInt(std::string_view key, std::int64_t min, std::int64_t max) const {
    GALE_CONFIG_PARSE_(ParseInt(what, v->value, min, max));
}

Result<bool> Settings::GetBool(std::string_view key) const { GALE_CONFIG_PARSE_(ParseBool(what, v->value)); }

Result<std::chrono::milliseconds> Settings::GetDuration(std::string_view key) const {
    GALE_CONFIG_PARSE_(ParseDuration(what, v->value));
}

Result<std::uint64_t> Settings::GetSize(std::string_view key) const { GALE_CONFIG_PARSE_(ParseSize(what, v->value)); }

#undef GALE_CONFIG_PARSE_

std::vector<SettingInfo> Settings::Entries(bool redacted) const {
    std::vector<SettingInfo> out;
    out.reserve(values_.size());
    for (const auto& [key, v] : values_) {
        const bool secret = IsSecret(key);
        out.push_back(
            SettingInfo{key, (secret && redacted) ? std::string(kRedacted) : v.value, v.layer, v.file, secret});
    }
    return out;
}

std::string Settings::Describe() const {
    // One sorted list: the settings, and the noted keys that have no value (as comments).
    std::map<std::string_view, std::string> lines;
    for (const auto& info : Entries(/*redacted=*/true)) {
        std::string line = info.key + "=";
        if (info.secret) {
            line += kRedacted;
        } else {
            AppendEscaped(line, info.value);
        }
        line += "  # ";
        line += ToString(info.layer);
        if (!info.file.empty()) {
            line += ' ';
            line += info.file;
        }
        lines.emplace(values_.find(info.key)->first, std::move(line));
    }
    for (const auto& [key, meaning] : unset_notes_) {
        if (values_.find(key) != values_.end()) continue;
        std::string line = "# " + key + " is not set: ";
        AppendEscaped(line, meaning);
        lines.emplace(key, std::move(line));
    }
    std::string out;
    for (const auto& [key, line] : lines) {
        out += line;
        out += '\n';
    }
    return out;
}

}  // namespace gale::config
