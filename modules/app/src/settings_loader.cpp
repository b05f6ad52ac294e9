// SPDX-License-Identifier: MIT
#include "settings_loader.hpp"

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>

#include <fmt/format.h>

#include <gale/aws/kms.hpp>
#include <gale/base/strings.hpp>
#include <gale/config/dotenv.hpp>

#include "serve_options.hpp"

namespace gale::app {
namespace {

/// What each bundled profile sets, in Layer::kProfile (above the code's defaults; every file, dotenv file, the
/// environment and the command line override it). `production` is safe by default: debug off (so APP_SECRET_KEY is
/// required by the contract), security headers on, and the session and CSRF cookies HTTPS-only (as `staging`).
const std::map<std::string, std::vector<std::pair<std::string, std::string>>>& ProfileDefaults() {
    static const std::map<std::string, std::vector<std::pair<std::string, std::string>>> profiles = {
        {"develop", {{"APP_DEBUG", "true"}, {"GALE_SECURITY_HEADERS", "false"}}},
        {"test", {{"APP_DEBUG", "true"}, {"GALE_SECURITY_HEADERS", "false"}}},
        {"staging",
         {{"APP_DEBUG", "false"},
          {"GALE_SECURITY_HEADERS", "true"},
          {"SESSION_COOKIE_SECURE", "true"},
          {"CSRF_COOKIE_SECURE", "true"}}},
        {"production",
         {{"APP_DEBUG", "false"},
          {"GALE_SECURITY_HEADERS", "true"},
          {"SESSION_COOKIE_SECURE", "true"},
          {"CSRF_COOKIE_SECURE", "true"}}},
    };
    return profiles;
}

Result<void> LoadSettingsFile(config::Settings& s, const std::filesystem::path& path, const config::Environment& env) {
    std::error_code ec;
    if (!std::filesystem::exists(path, ec)) return {};
    std::ifstream in(path);
    if (!in) return MakeError(ErrorCode::kIo, fmt::format("{}: cannot read settings file", path.string()));
    std::stringstream text;
    text << in.rdbuf();
    config::Lookup lookup = [&](std::string_view key) -> std::optional<std::string> {
        if (auto v = s.Find(key)) return v;
        if (auto it = env.find(key); it != env.end()) return it->second;
        return std::nullopt;
    };
    GALE_ASSIGN_OR_RETURN(auto entries, config::ParseDotenv(text.str(), path.string(), lookup));
    for (auto& [k, v] : entries) s.Set(k, std::move(v), config::Layer::kFile, path.string());
    return {};
}

std::string Get(const config::Settings& s, std::string_view key, const std::string& fallback) {
    auto v = s.Find(key);
    return v && !v->empty() ? *v : fallback;
}

}  // namespace

Result<LoadedSettings> LoadSettings(const config::Environment& env) {
    LoadedSettings out;
    config::Settings& s = out.settings;
    s.LoadEnvironment(env);
    // Dotenv first: it may choose the profile and the settings directory.
    std::filesystem::path dotenv_dir = Get(s, "GALE_DOTENV_DIR", ".");
    GALE_RETURN_IF_ERROR(s.LoadDotenvChain(dotenv_dir, env));

    out.profile = Get(s, "GALE_PROFILE", "develop");
    const auto& profiles = ProfileDefaults();
    auto profile = profiles.find(out.profile);
    if (profile == profiles.end()) {
        return MakeError(
            ErrorCode::kInvalidArgument,
            fmt::format("GALE_PROFILE: '{}' is not one of develop, test, staging, production", out.profile));
    }
    s.SetDefault("GALE_PROFILE", "develop");
    out.exported_defaults.push_back("GALE_PROFILE");
    for (const auto& [k, v] : profile->second) s.Set(k, v, config::Layer::kProfile, out.profile);
    for (const OptionSpec& o : ServeOptionSpecs()) {
        // Real values only (`config` shows them as defaults); what an option without one means is a note, shown as
        // a comment, so that no help text ("the app port + 1") can pass for a value.
        if (*o.default_value != '\0') s.SetDefault(EnvName(o.flag), o.default_value);
        if (*o.when_unset != '\0') s.NoteUnset(EnvName(o.flag), o.when_unset);
    }

    std::filesystem::path settings_dir = Get(s, "GALE_SETTINGS_DIR", "settings");
    for (const std::string& name : {std::string("base.env"), std::string("project.env"), out.profile + ".env"}) {
        GALE_RETURN_IF_ERROR(LoadSettingsFile(s, settings_dir / name, env));
    }

    auto kms_flag = s.Find("GALE_KMS_DECRYPT");
    if (kms_flag) {
        GALE_ASSIGN_OR_RETURN(bool kms_on, ParseBool("GALE_KMS_DECRYPT", *kms_flag));
        if (kms_on) {
            GALE_ASSIGN_OR_RETURN(auto kms, aws::KmsClient::FromEnvironment());
            for (const config::SettingInfo& e : s.Entries(/*redacted=*/false)) {
                if (e.layer <= config::Layer::kProfile || e.value.size() < 24) continue;  // gale's own values
                auto plain = aws::DecryptIfKms(kms, e.value);
                if (!plain) {
                    return tl::unexpected(
                        Error(ErrorCode::kUnavailable, fmt::format("{}: KMS decryption failed", e.key), plain.error()));
                }
                if (*plain != e.value) {
                    s.Set(e.key, std::move(*plain), e.layer, e.file);
                    s.DeclareSecret(e.key);
                }
            }
        }
    }
    return out;
}

void ExportToEnvironment(const LoadedSettings& loaded, const config::Environment& env) {
    for (const config::SettingInfo& e : loaded.settings.Entries(/*redacted=*/false)) {
        auto it = env.find(e.key);
        if (it != env.end() && it->second == e.value) continue;
        bool exported_default = std::find(loaded.exported_defaults.begin(), loaded.exported_defaults.end(), e.key) !=
                                loaded.exported_defaults.end();
        // The serve options' defaults stay out of the environment: the option parser applies them itself, and a
        // GALE_* variable in the environment would count as set by the deployer.
        if (e.layer == config::Layer::kDefault && !exported_default) continue;
        ::setenv(e.key.c_str(), e.value.c_str(), 1);
    }
}

}  // namespace gale::app
