// SPDX-License-Identifier: MIT
/// @file gale/config/contract.hpp
/// @brief The environment contract: which variables a service reads, in groups enabled by their first variable,
///        with types, defaults, secrets and cross-variable rules; validated all at once and rendered as Markdown.
///
/// base-python's rule, kept: variables come in groups, one per piece of functionality; an optional group is enabled
/// when its FIRST variable is set (or one of GroupSpec::enabled_also_by). gale's decisions on top of it:
///  - "set" means present in the Settings with a non-empty value, from any layer but the code's defaults (as in the
///    AWS SDKs and gale::aws, an empty variable counts as unset; `DATABASE_HOST=` in a dotenv template enables
///    nothing; a default, see ApplyDefaults, enables nothing either);
///  - in an enabled group, every set variable is checked against its type, every `required` one must be set, then
///    the group's rules run;
///  - in a disabled group, nothing is type-checked, but each other variable that is set is a problem
///    ("DATABASE_PORT (from environment) is set but the group 'SQL database' is not enabled (set
///    DATABASE_ENGINE)"): the deployer believes the functionality is configured while the service would silently
///    run without it (or with its defaults), which is the misconfiguration the contract exists to catch;
///  - variables the contract does not name (PATH, HOME, GALE_*) are ignored.
#pragma once

#include <cstdint>
#include <functional>
#include <limits>
#include <string>
#include <string_view>
#include <vector>

#include <gale/base/error.hpp>
#include <gale/config/settings.hpp>

namespace gale::config {

/// The type a variable's value must have (checked with the strict parsers of gale/base/strings.hpp).
enum class VariableType {
    kString,    ///< anything
    kInt,       ///< decimal integer in [VariableSpec::min_value, VariableSpec::max_value]
    kBool,      ///< true/false, 1/0, yes/no, on/off (case-insensitive)
    kUrl,       ///< scheme://rest: scheme [A-Za-z][A-Za-z0-9+.-]*, rest non-empty, no whitespace or control bytes
    kEnum,      ///< one of VariableSpec::choices, compared case-insensitively
    kDuration,  ///< 500ms, 30s, 2m, 1h (a bare number is seconds)
    kSize,      ///< bytes, with optional K/M/G suffix
    kPort,      ///< integer in [1, 65535]
};

/// "string", "int", "bool", "url", "enum", "duration", "size", "port".
[[nodiscard]] std::string_view ToString(VariableType type) noexcept;

/// One environment variable of the contract.
struct VariableSpec {
    std::string name;
    VariableType type = VariableType::kString;
    std::string default_value{};  ///< what the service uses when unset; empty = no default
    std::string help{};
    bool secret = false;                 ///< never quoted in problems; see Contract::DeclareSecrets
    std::vector<std::string> choices{};  ///< kEnum only (required for it)
    bool required = false;               ///< must be set when the group is enabled (excludes a default)
    std::int64_t min_value = std::numeric_limits<std::int64_t>::min();  ///< kInt only
    std::int64_t max_value = std::numeric_limits<std::int64_t>::max();  ///< kInt only
};

/// A variable of `type` with its help text and its default ("" for none); the other fields as VariableSpec declares
/// them (set choices, required or bounds on the result).
[[nodiscard]] VariableSpec Var(std::string name, VariableType type, std::string help, std::string default_value = {});
/// `v`, marked secret.
[[nodiscard]] VariableSpec Secret(VariableSpec v);

/// A rule across variables of one group: appends one message per problem. Runs only when the group is enabled,
/// after the type checks; it must tolerate unset and malformed values (a malformed one is already reported).
/// Messages should name each variable with NameWithSource() and never quote a secret.
using Rule = std::function<void(const Settings& settings, std::vector<std::string>& problems)>;

/// A set of variables for one piece of functionality.
struct GroupSpec {
    std::string name;
    std::string description{};
    std::vector<VariableSpec> vars{};
    bool always_enabled = false;  ///< otherwise the group is enabled when its FIRST variable is set (or see below)
    std::vector<Rule> rules{};
    /// Optional groups only: other variables of the group that enable it too, each being a whole configuration
    /// on its own (SQL database: DATABASE_NAME, a SQLite file, and DATABASE_URL). The first variable always does.
    std::vector<std::string> enabled_also_by{};
};

/// "KEY (from environment)", "KEY (from dotenv .env.local)", or "KEY (not set)": how problems name a variable.
[[nodiscard]] std::string NameWithSource(const Settings& settings, std::string_view key);

/// True if `key` has a non-empty value in `settings` (the contract's meaning of "set").
[[nodiscard]] bool IsSet(const Settings& settings, std::string_view key);

/// An ordered list of groups. Value type; thread-compatible: build it, then call the const members from any
/// number of threads (the rules must then be thread-safe, which stateless lambdas are).
class Contract {
public:
    /// Appends a group. Errors (kInvalidArgument, nothing added): empty group or variable name; a group or
    /// variable name already in the contract (in any group) or twice in this one; an optional group without
    /// variables; a kEnum without choices; a variable both `required` and with a default; a default that is not
    /// a valid value of its type (or outside [min_value, max_value]); `enabled_also_by` on an always-enabled group,
    /// or naming the first variable or a variable not in the group.
    [[nodiscard]] Result<void> AddGroup(GroupSpec group);

    /// Checks `settings` against every group (see the file comment for the rules) and returns EVERY problem, in
    /// contract order; empty when all is well. Each message names the variable and its layer, and quotes the bad
    /// value unless the variable is secret (by its spec or by Settings::IsSecret):
    ///   "DATABASE_PORT (from environment): 'x' is not an integer"
    ///   "DATABASE_URL (from environment): the value (secret, not shown) is not a url (scheme://…)"
    ///   "APP_SECRET_KEY is required when APP_DEBUG is false (APP_DEBUG (not set) defaults to false)"
    [[nodiscard]] std::vector<std::string> Validate(const Settings& settings) const;

    /// Gives every variable with a default that no layer set its default (Layer::kDefault), in each group that is
    /// enabled (always, or by a variable someone set), so that Settings' getters and `config` see it. A default
    /// never enables a group.
    void ApplyDefaults(Settings& settings) const;

    /// Marks every secret variable of the contract secret in `settings`, so that Settings::Describe() and
    /// Entries() redact names that do not look secret (DATABASE_URL, SENTRY_DSN).
    void DeclareSecrets(Settings& settings) const;

    /// The variable called `name`, or nullptr.
    [[nodiscard]] const VariableSpec* FindVariable(std::string_view name) const;

    /// One Markdown table (group | variable | type | default | required | secret | description), groups in order,
    /// preceded by a paragraph on how groups are enabled and followed by each group's description. Deterministic.
    [[nodiscard]] std::string RenderMarkdown() const;

    [[nodiscard]] const std::vector<GroupSpec>& groups() const { return groups_; }

private:
    std::vector<GroupSpec> groups_;
};

/// gale's contract: base-python's environment variable sets (run mode, basics, SQL database, Redis
/// sessions, Redis cache, CouchDB, Sentry, AWS, app data in S3) with gale's names (DJANGO_* → APP_*) and types.
/// Built once on first use (thread-safe); docs/environment.md is generated from it.
[[nodiscard]] const Contract& BuiltinContract();

}  // namespace gale::config
