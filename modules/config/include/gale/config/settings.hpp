// SPDX-License-Identifier: MIT
/// @file gale/config/settings.hpp
/// @brief Layered settings: string values from defaults, files, dotenv, the environment and the command line, each
///        remembering where it came from, with strict typed getters and secret redaction.
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <gale/base/error.hpp>

namespace gale::config {

/// Where a value came from, lowest precedence first: a higher layer overrides a lower one whatever the order of
/// the calls; within one layer the later Set wins. kProfile holds what a named profile (GALE_PROFILE) chose: above
/// the code's own defaults, below every file and the environment.
enum class Layer { kDefault, kProfile, kFile, kDotenv, kEnvironment, kCommandLine };

/// "default", "profile", "file", "dotenv", "environment", "command line".
[[nodiscard]] std::string_view ToString(Layer layer) noexcept;

/// Environment variables, name → value (e.g. from CurrentEnvironment()).
using Environment = std::map<std::string, std::string, std::less<>>;

/// A copy of the process environment (environ). Not thread-safe against concurrent setenv().
[[nodiscard]] Environment CurrentEnvironment();

/// One effective setting, as Describe() and Entries() report it.
struct SettingInfo {
    std::string key;
    std::string value;  ///< "********" in Entries(redacted=true) when the key is secret
    Layer layer = Layer::kDefault;
    std::string file;  ///< the file for kFile / kDotenv, the profile's name for kProfile, else empty
    bool secret = false;
};

/// A store of string settings with their source. Value type; thread-compatible: build it at start-up, then any
/// number of threads may call the const members concurrently.
///
/// Secrets: a key is secret if DeclareSecret() named it, if it was loaded from a `*.secret` file, or if its
/// upper-cased name contains PASSWORD, SECRET or TOKEN, or ends with _KEY. Describe() and Entries(true) never
/// show a secret's value.
class Settings {
public:
    /// Sets key to value from `layer` (and `file`: the file for kFile/kDotenv, the profile's name for kProfile).
    /// Ignored when the key already holds a value from a higher layer.
    void Set(std::string_view key, std::string value, Layer layer, std::string_view file = {});
    /// Shorthand for Set(key, value, Layer::kDefault).
    void SetDefault(std::string_view key, std::string value) { Set(key, std::move(value), Layer::kDefault); }

    /// Sets every variable of `env` from Layer::kEnvironment. With a non-empty `prefix`, only names starting with it.
    void LoadEnvironment(const Environment& env, std::string_view prefix = {});

    /// Parses `text` as a dotenv file (ParseDotenv) and sets its keys from Layer::kDotenv with `file_name`.
    /// Expansion sees, after the file's own earlier keys, this store's current values, then `env`.
    [[nodiscard]] Result<void> LoadDotenvText(std::string_view text, std::string_view file_name,
                                              const Environment& env);

    /// ixc-django-docker's dotenv order, in `dir`:
    ///  1. `.env.local`, to learn DOTENV and TRANSCRYPT_PASSWORD (a value in `env` wins, as the environment layer
    ///     does over dotenv);
    ///  2. `.env.base`;
    ///  3. `.env.$DOTENV.secret` when DOTENV is known and the file exists: decrypted with TRANSCRYPT_PASSWORD if it
    ///     is transcrypt-encrypted (an error if no password is known), used as is if it is already plaintext (a
    ///     checkout whose git filter has smudged it); every key it sets is marked secret;
    ///  4. `.env.local` again, so that its values win over the others.
    /// Missing files are skipped. Every value lands in Layer::kDotenv with its file (as `dir / name`).
    /// @return the first error: unreadable file, syntax error ("<file>:<line>: …"), missing password, wrong
    ///         password. Settings loaded before the error stay.
    [[nodiscard]] Result<void> LoadDotenvChain(const std::filesystem::path& dir, const Environment& env);

    /// Describe() lists `key` while it has no value, as the comment line `# KEY is not set: <meaning>`, so that
    /// what an unset key means ("the app port + 1") is shown without ever looking like a value. No effect on the
    /// getters, Contains() or Entries().
    void NoteUnset(std::string_view key, std::string meaning);

    /// Marks a key secret (whatever its name).
    void DeclareSecret(std::string_view key);
    /// True if the key is secret (declared, from a secret file, or by its name; see the class comment).
    [[nodiscard]] bool IsSecret(std::string_view key) const;

    [[nodiscard]] bool Contains(std::string_view key) const { return values_.find(key) != values_.end(); }
    /// The value, or std::nullopt when unset.
    [[nodiscard]] std::optional<std::string> Find(std::string_view key) const;
    /// The setting and its source, or std::nullopt when unset.
    [[nodiscard]] std::optional<SettingInfo> Info(std::string_view key) const;

    /// Typed getters. Errors (kNotFound when unset, kInvalidArgument when malformed) name the key and its source:
    /// "PORT (from dotenv config/.env.local): 'abc' is not an integer". Parsing is strict (gale/base/strings.hpp).
    [[nodiscard]] Result<std::string> GetString(std::string_view key) const;
    [[nodiscard]] Result<std::int64_t> GetInt(std::string_view key, std::int64_t min, std::int64_t max) const;
    [[nodiscard]] Result<bool> GetBool(std::string_view key) const;
    [[nodiscard]] Result<std::chrono::milliseconds> GetDuration(std::string_view key) const;
    [[nodiscard]] Result<std::uint64_t> GetSize(std::string_view key) const;

    /// Every effective setting, sorted by key; secret values replaced by "********" when `redacted`.
    [[nodiscard]] std::vector<SettingInfo> Entries(bool redacted = true) const;

    /// Text for a `config` sub-command: one line per setting, sorted by key, `KEY=value  # layer[ file]` (the source
    /// as errors name it: `# dotenv ./.env.local`, `# profile production`), secrets as `********`, control
    /// characters in values escaped (\n, \t, \xNN); keys given to NoteUnset() and unset as `# KEY is not set: …`.
    [[nodiscard]] std::string Describe() const;

private:
    struct Value {
        std::string value;
        Layer layer = Layer::kDefault;
        std::string file;
    };
    [[nodiscard]] Result<const Value*> FindValue(std::string_view key) const;
    [[nodiscard]] std::string What(std::string_view key, const Value& v) const;
    [[nodiscard]] Result<void> LoadDotenvFile(const std::filesystem::path& path, const Environment& env, bool* found);

    std::map<std::string, Value, std::less<>> values_;
    std::set<std::string, std::less<>> secrets_;
    std::map<std::string, std::string, std::less<>> unset_notes_;
};

}  // namespace gale::config
