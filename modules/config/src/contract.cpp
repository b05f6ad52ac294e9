// SPDX-License-Identifier: MIT
// The contract keeps specs only; values stay in Settings, which knows where each came from, so every message can
// name the layer (and file). Validation never stops at the first problem: a deployer fixes a whole environment in
// one round. Secret values are never formatted into a message: type errors for secrets use a fixed text, and the
// rules below only ever quote non-secret variables.
#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <limits>
#include <set>
#include <tuple>

#include <fmt/format.h>

#include <gale/base/check.hpp>
#include <gale/base/strings.hpp>
#include <gale/config/contract.hpp>
#include <gale/config/run_mode.hpp>

namespace gale::config {
namespace {

bool IsUrl(std::string_view text) {
    const auto sep = text.find("://");
    if (sep == std::string_view::npos || sep == 0 || sep + 3 == text.size()) return false;
    for (std::size_t i = 0; i < sep; ++i) {
        const char c = text[i];
        const bool alpha = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
        const bool other = (c >= '0' && c <= '9') || c == '+' || c == '.' || c == '-';
        if (!alpha && (i == 0 || !other)) return false;
    }
    for (char c : text) {
        const auto u = static_cast<unsigned char>(c);
        if (u <= 0x20 || u == 0x7F) return false;
    }
    return true;
}

std::string JoinChoices(const std::vector<std::string>& choices, std::string_view sep) {
    std::string out;
    for (const auto& c : choices) {
        if (!out.empty()) out += sep;
        out += c;
    }
    return out;
}

/// Checks `value` against `spec`; the error's message starts with `what` and quotes the value.
Result<void> CheckValue(const VariableSpec& spec, std::string_view what, std::string_view value) {
    switch (spec.type) {
        case VariableType::kString:
            return {};
        case VariableType::kInt:
            GALE_RETURN_IF_ERROR(ParseInt(what, value, spec.min_value, spec.max_value));
            return {};
        case VariableType::kPort:
            GALE_RETURN_IF_ERROR(ParseInt(what, value, 1, 65535));
            return {};
        case VariableType::kBool:
            GALE_RETURN_IF_ERROR(ParseBool(what, value));
            return {};
        case VariableType::kDuration:
            GALE_RETURN_IF_ERROR(ParseDuration(what, value));
            return {};
        case VariableType::kSize:
            GALE_RETURN_IF_ERROR(ParseSize(what, value));
            return {};
        case VariableType::kUrl:
            if (IsUrl(value)) return {};
            return MakeError(ErrorCode::kInvalidArgument,
                             fmt::format("{}: '{}' is not a url (scheme://…)", what, value));
        case VariableType::kEnum:
            for (const auto& choice : spec.choices) {
                if (EqualsIgnoreCase(choice, value)) return {};
            }
            return MakeError(ErrorCode::kInvalidArgument,
                             fmt::format("{}: '{}' is not one of {}", what, value, JoinChoices(spec.choices, ", ")));
    }
    return MakeError(ErrorCode::kInternal, fmt::format("{}: unknown type", what));
}

std::string TypeText(const VariableSpec& spec) {
    switch (spec.type) {
        case VariableType::kEnum:
            return "enum: " + JoinChoices(spec.choices, ", ");
        case VariableType::kInt:
            if (spec.min_value != std::numeric_limits<std::int64_t>::min() &&
                spec.max_value != std::numeric_limits<std::int64_t>::max()) {
                return fmt::format("int {}–{}", spec.min_value, spec.max_value);
            }
            if (spec.min_value != std::numeric_limits<std::int64_t>::min()) {
                return fmt::format("int ≥ {}", spec.min_value);
            }
            if (spec.max_value != std::numeric_limits<std::int64_t>::max()) {
                return fmt::format("int ≤ {}", spec.max_value);
            }
            return "int";
        default:
            return std::string(ToString(spec.type));
    }
}

/// Markdown table cell: '|' escaped, line breaks flattened.
std::string Cell(std::string_view text) {
    std::string out;
    for (char c : text) {
        if (c == '|') {
            out += "\\|";
        } else if (c == '\n' || c == '\r') {
            out += ' ';
        } else {
            out += c;
        }
    }
    return out;
}

std::string Code(std::string_view text) { return text.empty() ? std::string() : "`" + Cell(text) + "`"; }

}  // namespace

std::string_view ToString(VariableType type) noexcept {
    switch (type) {
        case VariableType::kString:
            return "string";
        case VariableType::kInt:
            return "int";
        case VariableType::kBool:
            return "bool";
        case VariableType::kUrl:
            return "url";
        case VariableType::kEnum:
            return "enum";
        case VariableType::kDuration:
            return "duration";
        case VariableType::kSize:
            return "size";
        case VariableType::kPort:
            return "port";
    }
    return "unknown";
}

std::string NameWithSource(const Settings& settings, std::string_view key) {
    const auto info = settings.Info(key);
    if (!info) return fmt::format("{} (not set)", key);
    if (info->file.empty()) return fmt::format("{} (from {})", key, ToString(info->layer));
    return fmt::format("{} (from {} {})", key, ToString(info->layer), info->file);
}

// Set by someone: a value from any layer but the code's defaults (ApplyDefaults puts a group's defaults there, and a
// default must neither enable a group nor count as "set while the group is off").
bool IsSet(const Settings& settings, std::string_view key) {
    const auto info = settings.Info(key);
    return info && info->layer != Layer::kDefault && !info->value.empty();
}

Result<void> Contract::AddGroup(GroupSpec group) {
    auto invalid = [&group](std::string message) {
        return MakeError(ErrorCode::kInvalidArgument, fmt::format("group '{}': {}", group.name, message));
    };
    if (group.name.empty()) return invalid("the group name is empty");
    if (!group.always_enabled && group.vars.empty()) {
        return invalid("an optional group needs at least one variable (its first enables it)");
    }
    std::set<std::string_view> seen;
    for (const auto& g : groups_) {
        if (g.name == group.name) return invalid("a group of this name already exists");
        for (const auto& v : g.vars) seen.insert(v.name);
    }
    for (const auto& name : group.enabled_also_by) {
        if (group.always_enabled) return invalid("enabled_also_by is for optional groups (this one is always enabled)");
        if (name == group.vars.front().name) {
            return invalid(fmt::format("enabled_also_by names {}, the first variable (which always enables)", name));
        }
        bool found = false;
        for (const auto& v : group.vars) found = found || v.name == name;
        if (!found) return invalid(fmt::format("enabled_also_by names {}, which is not a variable of the group", name));
    }
    for (const auto& v : group.vars) {
        if (v.name.empty()) return invalid("a variable name is empty");
        if (!seen.insert(v.name).second) return invalid(fmt::format("variable {} is already in the contract", v.name));
        if (v.type == VariableType::kEnum && v.choices.empty()) {
            return invalid(fmt::format("enum variable {} has no choices", v.name));
        }
        if (v.required && !v.default_value.empty()) {
            return invalid(fmt::format("variable {} is required and has a default", v.name));
        }
        if (!v.default_value.empty()) {
            if (auto r = CheckValue(v, fmt::format("variable {} default", v.name), v.default_value); !r) {
                return invalid(r.error().message());
            }
        }
    }
    groups_.push_back(std::move(group));
    return {};
}

std::vector<std::string> Contract::Validate(const Settings& settings) const {
    std::vector<std::string> problems;
    for (const auto& group : groups_) {
        // The variable that enables the group: the first, else the first set one of enabled_also_by.
        const std::string* enabler = IsSet(settings, group.vars.front().name) ? &group.vars.front().name : nullptr;
        for (const auto& name : group.enabled_also_by) {
            if (enabler == nullptr && IsSet(settings, name)) enabler = &name;
        }
        const bool enabled = group.always_enabled || enabler != nullptr;
        if (!enabled) {
            const auto& first = group.vars.front().name;
            for (std::size_t i = 1; i < group.vars.size(); ++i) {
                const auto& name = group.vars[i].name;
                if (!IsSet(settings, name)) continue;
                problems.push_back(fmt::format("{} is set but the group '{}' is not enabled (set {})",
                                               NameWithSource(settings, name), group.name, first));
            }
            continue;
        }
        for (const auto& spec : group.vars) {
            if (!IsSet(settings, spec.name)) {
                if (!spec.required) continue;
                if (group.always_enabled) {
                    problems.push_back(fmt::format("{} is required (group '{}')", spec.name, group.name));
                } else {
                    problems.push_back(fmt::format("{} is required when the group '{}' is enabled (by {})", spec.name,
                                                   group.name, NameWithSource(settings, *enabler)));
                }
                continue;
            }
            const std::string what = NameWithSource(settings, spec.name);
            auto checked = CheckValue(spec, what, *settings.Find(spec.name));
            if (checked) continue;
            if (spec.secret || settings.IsSecret(spec.name)) {
                std::string expected =
                    spec.type == VariableType::kUrl ? "a url (scheme://…)" : fmt::format("a valid {}", TypeText(spec));
                problems.push_back(fmt::format("{}: the value (secret, not shown) is not {}", what, expected));
            } else {
                problems.push_back(checked.error().message());
            }
        }
        for (const auto& rule : group.rules) rule(settings, problems);
    }
    return problems;
}

void Contract::ApplyDefaults(Settings& settings) const {
    for (const auto& group : groups_) {
        bool enabled = group.always_enabled || IsSet(settings, group.vars.front().name);
        for (const auto& name : group.enabled_also_by) enabled = enabled || IsSet(settings, name);
        if (!enabled) continue;
        for (const auto& spec : group.vars) {
            if (!spec.default_value.empty() && !settings.Contains(spec.name)) {
                settings.SetDefault(spec.name, spec.default_value);
            }
        }
    }
}

void Contract::DeclareSecrets(Settings& settings) const {
    for (const auto& group : groups_) {
        for (const auto& spec : group.vars) {
            if (spec.secret) settings.DeclareSecret(spec.name);
        }
    }
}

const VariableSpec* Contract::FindVariable(std::string_view name) const {
    for (const auto& group : groups_) {
        for (const auto& spec : group.vars) {
            if (spec.name == name) return &spec;
        }
    }
    return nullptr;
}

std::string Contract::RenderMarkdown() const {
    std::string out;
    out +=
        "Each group is enabled by its first variable: the group's functionality is configured when that variable is "
        "set (to a non-empty value; an empty variable counts as unset). A few other variables, each a whole "
        "configuration on its own, enable their group too; they are marked *enables group* as well. Groups marked "
        "*(always)* are always enabled. "
        "In an enabled group, every set variable must be a valid value of its type, every required variable must be "
        "set, and the group's rules (below the table) must hold. In a disabled group, any other variable that is set "
        "is reported as a problem, because the service would run without that functionality. Variables not listed "
        "here are ignored. Secret values are never shown in messages.\n\n";
    out += "| group | variable | type | default | required | secret | description |\n";
    out += "|---|---|---|---|---|---|---|\n";
    for (const auto& group : groups_) {
        for (std::size_t i = 0; i < group.vars.size(); ++i) {
            const auto& spec = group.vars[i];
            std::string group_cell;
            if (i == 0) group_cell = Cell(group.name) + (group.always_enabled ? " *(always)*" : "");
            std::string required = spec.required ? "yes" : "no";
            const bool enables = std::find(group.enabled_also_by.begin(), group.enabled_also_by.end(), spec.name) !=
                                 group.enabled_also_by.end();
            if ((i == 0 && !group.always_enabled) || enables) required = "enables group";
            out +=
                fmt::format("| {} | {} | {} | {} | {} | {} | {} |\n", group_cell, Code(spec.name), Cell(TypeText(spec)),
                            Code(spec.default_value), required, spec.secret ? "yes" : "no", Cell(spec.help));
        }
    }
    out += "\n";
    for (const auto& group : groups_) {
        out += fmt::format("- **{}**", group.name);
        if (!group.description.empty()) out += ": " + group.description;
        out += "\n";
    }
    return out;
}

// ---------------------------------------------------------------------------------------------------------------
// The builtin contract.

VariableSpec Var(std::string name, VariableType type, std::string help, std::string default_value) {
    VariableSpec v;
    v.name = std::move(name);
    v.type = type;
    v.help = std::move(help);
    v.default_value = std::move(default_value);
    return v;
}

VariableSpec Secret(VariableSpec v) {
    v.secret = true;
    return v;
}

namespace {

std::string Lower(const Settings& settings, std::string_view key) { return ToLower(settings.Find(key).value_or("")); }

/// APP_SECRET_KEY is required when APP_DEBUG is false (base-python's DJANGO_SECRET_KEY rule); an unset APP_DEBUG
/// is false; a malformed one is already reported, so the rule stays silent.
void SecretKeyRule(const Settings& settings, std::vector<std::string>& problems) {
    bool debug = false;
    std::string because = "APP_DEBUG (not set) defaults to false";
    if (IsSet(settings, "APP_DEBUG")) {
        auto parsed = ParseBool("APP_DEBUG", *settings.Find("APP_DEBUG"));
        if (!parsed) return;
        debug = *parsed;
        because = fmt::format("{} is '{}'", NameWithSource(settings, "APP_DEBUG"), *settings.Find("APP_DEBUG"));
    }
    if (!debug && !IsSet(settings, "APP_SECRET_KEY")) {
        problems.push_back(fmt::format("APP_SECRET_KEY is required when APP_DEBUG is false ({})", because));
    }
}

void TaskCommandsRule(const Settings& settings, std::vector<std::string>& problems) {
    if (Lower(settings, "APP_RUN_MODE") != "task" || IsSet(settings, "APP_TASK_COMMANDS")) return;
    problems.push_back(
        fmt::format("APP_TASK_COMMANDS is required when APP_RUN_MODE is TASK ({} is '{}'), e.g. "
                    "\"migrate; collectstatic --noinput\"",
                    NameWithSource(settings, "APP_RUN_MODE"), *settings.Find("APP_RUN_MODE")));
}

/// The engine, as gale::db::OptionsFromEnvironment chooses it: DATABASE_ENGINE; else DATABASE_URL's scheme; else
/// sqlite. postgresql: DATABASE_URL, or DATABASE_HOST + DATABASE_NAME + DATABASE_USERNAME. sqlite: only
/// DATABASE_NAME (a file path) or a sqlite:///path DATABASE_URL; network settings are a mistake. A DATABASE_URL's
/// scheme must match the engine (the scheme is not secret; the rest of the URL is never shown).
void DatabaseRule(const Settings& settings, std::vector<std::string>& problems) {
    std::string scheme;  // of DATABASE_URL, lower case; empty when unset or malformed (already reported)
    if (IsSet(settings, "DATABASE_URL")) {
        const std::string url = *settings.Find("DATABASE_URL");
        if (IsUrl(url)) scheme = ToLower(std::string_view(url).substr(0, url.find("://")));
    }
    const bool url_is_postgresql = scheme == "postgres" || scheme == "postgresql";
    const std::string url_what = NameWithSource(settings, "DATABASE_URL");
    std::string engine;
    std::string engine_is;  // "DATABASE_ENGINE (from environment) is sqlite", for messages
    if (IsSet(settings, "DATABASE_ENGINE")) {
        engine = Lower(settings, "DATABASE_ENGINE");
        engine_is = fmt::format("{} is {}", NameWithSource(settings, "DATABASE_ENGINE"), engine);
    } else if (!scheme.empty()) {
        if (!url_is_postgresql && scheme != "sqlite") {
            problems.push_back(
                fmt::format("{}: the scheme '{}' is not postgres://, postgresql:// or sqlite://", url_what, scheme));
            return;
        }
        engine = url_is_postgresql ? "postgresql" : "sqlite";
        engine_is = fmt::format("the scheme of {} is {}", url_what, scheme);
    } else if (IsSet(settings, "DATABASE_URL")) {
        return;  // malformed URL and no engine: already reported
    } else {
        engine = "sqlite";
        engine_is = "DATABASE_ENGINE is not set, so the engine is sqlite";
    }

    if (engine == "postgresql") {
        if (!IsSet(settings, "DATABASE_URL")) {
            std::vector<std::string> missing;
            for (const char* key : {"DATABASE_HOST", "DATABASE_NAME", "DATABASE_USERNAME"}) {
                if (!IsSet(settings, key)) missing.emplace_back(key);
            }
            if (!missing.empty()) {
                problems.push_back(
                    fmt::format("{}: set DATABASE_URL, or DATABASE_HOST, DATABASE_NAME and DATABASE_USERNAME "
                                "(missing: {})",
                                engine_is, JoinChoices(missing, ", ")));
            }
        }
    } else if (engine == "sqlite") {
        const bool engine_set = IsSet(settings, "DATABASE_ENGINE") || !scheme.empty();
        for (const char* key : {"DATABASE_HOST", "DATABASE_PORT", "DATABASE_USERNAME", "DATABASE_PASSWORD"}) {
            if (!IsSet(settings, key)) continue;
            problems.push_back(fmt::format("{} is set but {}, which uses only DATABASE_NAME (a file path){}",
                                           NameWithSource(settings, key), engine_is,
                                           engine_set ? "" : "; set DATABASE_ENGINE=postgresql for a server"));
        }
    } else {
        return;  // malformed engine: already reported
    }
    if (scheme.empty()) return;  // no URL, or a malformed one (already reported, without the value)
    const bool ok = engine == "postgresql" ? url_is_postgresql : scheme == "sqlite";
    if (!ok) {
        problems.push_back(fmt::format("{}: the scheme '{}' does not match {} '{}' (expected {})", url_what, scheme,
                                       NameWithSource(settings, "DATABASE_ENGINE"), engine,
                                       engine == "postgresql" ? "postgres:// or postgresql://" : "sqlite://"));
        return;
    }
    // sqlite:///relative.db or sqlite:////absolute.db, as dj-database-url and gale::db read it.
    const std::string url = *settings.Find("DATABASE_URL");
    if (scheme == "sqlite" && (url.size() <= 10 || url.compare(6, 4, ":///") != 0)) {
        problems.push_back(fmt::format(
            "{}: a sqlite URL is sqlite:///relative/path or sqlite:////absolute/path (value not shown)", url_what));
    }
}

/// Static credentials come as a pair; a session token needs the pair (gale::aws::CredentialsFromEnvironment).
void AwsCredentialsRule(const Settings& settings, std::vector<std::string>& problems) {
    const bool id = IsSet(settings, "AWS_ACCESS_KEY_ID");
    const bool key = IsSet(settings, "AWS_SECRET_ACCESS_KEY");
    if (id && !key) {
        problems.push_back(fmt::format("AWS_SECRET_ACCESS_KEY is required when {} is set",
                                       NameWithSource(settings, "AWS_ACCESS_KEY_ID")));
    } else if (key && !id) {
        problems.push_back(fmt::format("AWS_ACCESS_KEY_ID is required when {} is set",
                                       NameWithSource(settings, "AWS_SECRET_ACCESS_KEY")));
    } else if (!id && IsSet(settings, "AWS_SESSION_TOKEN")) {
        problems.push_back(fmt::format("{} is set without AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY",
                                       NameWithSource(settings, "AWS_SESSION_TOKEN")));
    }
}

/// S3 storage needs its bucket (gale::storage::StorageSettingsFromEnvironment).
void S3StorageRule(const Settings& settings, std::vector<std::string>& problems) {
    auto s3 = ParseBool("ENABLE_S3_STORAGE", settings.Find("ENABLE_S3_STORAGE").value_or("false"));
    if (!s3 || !*s3 || IsSet(settings, "APPDATA_BUCKET")) return;  // not a boolean: the type check says so
    problems.push_back(
        fmt::format("APPDATA_BUCKET is required when {} is true", NameWithSource(settings, "ENABLE_S3_STORAGE")));
}

std::vector<GroupSpec> RedisGroups() {
    std::vector<GroupSpec> out;
    // base-python's order: session caching, then general caching.
    for (const auto& [prefix, name, use] :
         {std::tuple<std::string, std::string, std::string>{"SESSION", "Redis sessions", "session store"},
          std::tuple<std::string, std::string, std::string>{"CACHE", "Redis cache", "general cache"}}) {
        GroupSpec g;
        g.name = name;
        g.description =
            fmt::format("base-python's \"Redis {}\" set ({}_REDIS_HOST, _PORT, _DB). gale adds {}_REDIS_PASSWORD.",
                        prefix == "SESSION" ? "session caching" : "general caching", prefix, prefix);
        g.vars = {Var(prefix + "_REDIS_HOST", VariableType::kString, "Redis host of the " + use + "."),
                  Var(prefix + "_REDIS_PORT", VariableType::kPort, "Redis port.", "6379"),
                  Var(prefix + "_REDIS_DB", VariableType::kInt, "Redis database number.", "0"),
                  Secret(Var(prefix + "_REDIS_PASSWORD", VariableType::kString, "Redis password (AUTH)."))};
        g.vars[2].min_value = 0;
        g.vars[2].max_value = 2147483647;  // redis.conf `databases` is an int
        out.push_back(std::move(g));
    }
    return out;
}

std::vector<GroupSpec> BuiltinGroups() {
    std::vector<GroupSpec> groups;

    GroupSpec run_mode;
    run_mode.name = "run mode";
    run_mode.description =
        "base-python's \"Run mode for codeontap\": which role the binary plays when started without a sub-command. "
        "gale adds APP_TASK_COMMANDS (what TASK runs) and the CONSUME role (a message consumer).";
    run_mode.always_enabled = true;
    run_mode.vars = {
        Var("APP_RUN_MODE", VariableType::kEnum,
            "Role: WEB serves HTTP; TASK runs APP_TASK_COMMANDS to completion; WORKER, BEAT, CONSUME run "
            "task workers, the scheduler, a message consumer. Case-insensitive.",
            std::string(ToString(RunMode::kWeb))),
        Var("APP_WORKER_COUNT", VariableType::kInt,
            "WEB: `serve --workers` (unless GALE_WORKERS is set); WORKER: the number of task workers."),
        Var("APP_TASK_COMMANDS", VariableType::kString,
            "TASK mode: commands run in order, `;`-separated, e.g. `migrate; collectstatic --noinput`. Required when "
            "APP_RUN_MODE is TASK."),
    };
    run_mode.vars[0].choices = RunModeNames();
    run_mode.vars[1].min_value = 1;
    run_mode.vars[1].max_value = 4096;
    run_mode.rules = {TaskCommandsRule};
    groups.push_back(std::move(run_mode));

    GroupSpec basics;
    basics.name = "basics";
    basics.description =
        "base-python's \"Basic django settings\", renamed: DJANGO_DEBUG is APP_DEBUG, DJANGO_SECRET_KEY is "
        "APP_SECRET_KEY. Rule: APP_SECRET_KEY is required when APP_DEBUG is false.";
    basics.always_enabled = true;
    basics.vars = {
        Var("APP_DEBUG", VariableType::kBool, "Debug mode: never in production.", "false"),
        Secret(Var("APP_SECRET_KEY", VariableType::kString,
                   "Key for signing (sessions, tokens). Required when APP_DEBUG is false.")),
    };
    basics.rules = {SecretKeyRule};
    groups.push_back(std::move(basics));

    GroupSpec sql;
    sql.name = "SQL database";
    sql.description =
        "base-python's \"SQL Database\" set, with two changes: DATABASE_ENGINE comes first and enables the group "
        "(base-python defaulted it to postgresql; gale's default engine is sqlite, so a PostgreSQL deployment must "
        "say so, by DATABASE_ENGINE or a postgresql:// DATABASE_URL), and gale adds DATABASE_URL and "
        "DATABASE_POOL_SIZE. "
        "DATABASE_NAME alone "
        "(a SQLite file) and DATABASE_URL alone (whose scheme then names the engine) enable the group too, as "
        "gale::db reads them; a host, port, username or password alone does not. Rules: postgresql needs "
        "DATABASE_URL, or DATABASE_HOST, DATABASE_NAME and DATABASE_USERNAME; sqlite uses only DATABASE_NAME (a file "
        "path) or a sqlite:///path DATABASE_URL, so a host, port, username or password is an error; a "
        "DATABASE_URL's scheme must match the engine.";
    sql.vars = {
        Var("DATABASE_ENGINE", VariableType::kEnum, "Database engine.", "sqlite"),
        Var("DATABASE_HOST", VariableType::kString, "postgresql: server host."),
        Var("DATABASE_PORT", VariableType::kPort, "postgresql: server port.", "5432"),
        Var("DATABASE_NAME", VariableType::kString,
            "sqlite: the database file path; postgresql: the database name (no default).", "app.db"),
        Var("DATABASE_USERNAME", VariableType::kString, "postgresql: user name."),
        Secret(Var("DATABASE_PASSWORD", VariableType::kString, "postgresql: password.")),
        Secret(Var("DATABASE_URL", VariableType::kUrl,
                   "All of the above in one URL (`postgresql://user:password@host:5432/name`, `sqlite:///app.db`); "
                   "wins over the separate variables.")),
        Var("DATABASE_POOL_SIZE", VariableType::kInt,
            "Connections of the pool (gale/db/pool.hpp): postgresql, in all; sqlite, readers beside its "
            "one writer.",
            "4"),
    };
    sql.vars.back().min_value = 1;
    sql.vars.back().max_value = 1000;
    sql.vars[0].choices = {"sqlite", "postgresql"};
    sql.enabled_also_by = {"DATABASE_NAME", "DATABASE_URL"};
    sql.rules = {DatabaseRule};
    groups.push_back(std::move(sql));

    // RabbitMQ (base-python's RABBITMQ_*, with AMQP_URL and hurricane's AMQP_*) is the amqp module's own group:
    // gale::amqp::ContractGroup(), added by the runtime (modules/app/src/contract_check.cpp).
    for (auto& g : RedisGroups()) groups.push_back(std::move(g));

    GroupSpec couch;
    couch.name = "CouchDB";
    couch.description =
        "base-python's \"CouchDB\" set, kept so that existing deployments validate; gale has no CouchDB client.";
    couch.vars = {
        Var("COUCHDB_USERNAME", VariableType::kString, "User name."),
        Secret(Var("COUCHDB_PASSWORD", VariableType::kString, "Password.")),
    };
    groups.push_back(std::move(couch));

    GroupSpec sentry;
    sentry.name = "Sentry";
    sentry.description =
        "base-python's \"Sentry\" set (SENTRY_DSN). gale adds SENTRY_ENVIRONMENT, SENTRY_RELEASE, SENTRY_SAMPLE_RATE "
        "and SENTRY_MAX_EVENTS_PER_MINUTE (read by gale::sentry, which also checks the DSN's form and the rate).";
    sentry.vars = {
        Secret(Var("SENTRY_DSN", VariableType::kUrl,
                   "Project DSN (`https://key@o0.ingest.sentry.io/0`); it embeds the key, so it is secret. Set: "
                   "errors, 5xx answers, failed tasks and dead letters are reported.")),
        Var("SENTRY_ENVIRONMENT", VariableType::kString,
            "Environment name reported with events (unset: `production`, as Sentry's SDKs)."),
        Var("SENTRY_RELEASE", VariableType::kString, "Release reported with events (unset: `<service>@<version>`)."),
        Var("SENTRY_SAMPLE_RATE", VariableType::kString,
            "Share of error events sent, a number from 0 to 1 (unset: 1)."),
        Var("SENTRY_MAX_EVENTS_PER_MINUTE", VariableType::kInt,
            "Events sent per minute at most (a token bucket; the rest are dropped and counted)."),
    };
    sentry.vars.back().default_value = "60";
    sentry.vars.back().min_value = 1;
    sentry.vars.back().max_value = 100000;
    groups.push_back(std::move(sentry));

    GroupSpec aws;
    aws.name = "AWS";
    aws.description =
        "base-python's \"AWS service access\" set (AWS_REGION). In codeontap environments the service runs under a "
        "role and needs no credentials; gale adds the standard AWS_ENDPOINT_URL and static credentials for local "
        "testing (read by gale::aws). Rule: AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY come together, and "
        "AWS_SESSION_TOKEN needs both.";
    aws.vars = {
        Var("AWS_REGION", VariableType::kString, "Region, e.g. `ap-southeast-2`."),
        Var("AWS_ENDPOINT_URL", VariableType::kUrl, "Endpoint override for every service (LocalStack, moto)."),
        Var("AWS_ACCESS_KEY_ID", VariableType::kString, "Static credentials: access key id."),
        Secret(Var("AWS_SECRET_ACCESS_KEY", VariableType::kString, "Static credentials: secret access key.")),
        Secret(Var("AWS_SESSION_TOKEN", VariableType::kString, "Session token of temporary credentials.")),
    };
    aws.rules = {AwsCredentialsRule};
    groups.push_back(std::move(aws));

    GroupSpec appdata;
    appdata.name = "app data in S3";
    appdata.description =
        "base-python's \"Application specific data storage in S3\" set. The structure under the prefix is up to the "
        "application; in higher environments several instances share the bucket.";
    appdata.vars = {
        Var("APPDATA_BUCKET", VariableType::kString, "S3 bucket for application data."),
        Var("APPDATA_PREFIX", VariableType::kString, "Key prefix within the bucket."),
    };
    groups.push_back(std::move(appdata));

    GroupSpec static_files;
    static_files.name = "static files";
    static_files.description =
        "Django's STATIC_ROOT and STATIC_URL, and STATICFILES_DIRS as STATIC_SOURCE_DIRS: the built-in `collectstatic` "
        "command (gale::staticfiles) copies the source directories into STATIC_ROOT with content-hashed names, "
        "`staticfiles.json` and `.gz`/`.br` files; serve them with `serve --static <STATIC_ROOT>` (GALE_STATIC).";
    static_files.vars = {
        Var("STATIC_ROOT", VariableType::kString, "Directory collectstatic writes (created if missing)."),
        Var("STATIC_SOURCE_DIRS", VariableType::kString,
            "Directories collectstatic reads, comma- or space-separated; the first one wins for a name in several."),
        Var("STATIC_URL", VariableType::kString,
            "URL prefix of static files: in the manifest's URLs and in CSS `url(/static/...)` references.", "/static/"),
    };
    static_files.enabled_also_by = {"STATIC_URL"};
    groups.push_back(std::move(static_files));

    GroupSpec media;
    media.name = "files";
    media.description =
        "Where the service keeps its files (uploads, generated media), read by gale::storage's "
        "StorageFromEnvironment: ixc-django-docker's ENABLE_S3_STORAGE and ENABLE_UNIQUE_STORAGE, Django's "
        "MEDIA_ROOT and MEDIA_URL. With S3, the bucket and prefix are the \"app data in S3\" group's and the "
        "credentials the AWS group's. Rule: ENABLE_S3_STORAGE=true needs APPDATA_BUCKET. Enabled by any of its "
        "variables.";
    media.vars = {
        Var("ENABLE_S3_STORAGE", VariableType::kBool,
            "true: files live in S3 (APPDATA_BUCKET under APPDATA_PREFIX); false or unset: on local disk under "
            "MEDIA_ROOT."),
        Var("ENABLE_UNIQUE_STORAGE", VariableType::kBool,
            "Store every file under a content-hashed name (<stem>.<sha256:12>.<ext>) with an immutable "
            "Cache-Control."),
        Var("MEDIA_ROOT", VariableType::kString,
            "Local disk: the directory of the files (relative: to the working directory); `media` when unset."),
        Var("MEDIA_URL", VariableType::kString, "Local disk: the URL prefix of the files; `/media/` when unset."),
        Var("S3_ADDRESSING_STYLE", VariableType::kEnum,
            "S3: `auto` (virtual-hosted on AWS's own endpoint for a bucket name without dots, path-style otherwise), "
            "`path` or `virtual`; `auto` when unset."),
    };
    media.vars.back().choices = {"auto", "path", "virtual"};
    media.enabled_also_by = {"ENABLE_UNIQUE_STORAGE", "MEDIA_ROOT", "MEDIA_URL", "S3_ADDRESSING_STYLE"};
    media.rules = {S3StorageRule};
    groups.push_back(std::move(media));

    return groups;
}

Contract MakeBuiltinContract() {
    Contract contract;
    for (auto& group : BuiltinGroups()) {
        auto added = contract.AddGroup(std::move(group));
        if (!added) std::fprintf(stderr, "gale: builtin environment contract: %s\n", added.error().message().c_str());
        GALE_CHECK(added.has_value());
    }
    return contract;
}

}  // namespace

const Contract& BuiltinContract() {
    static const Contract contract = MakeBuiltinContract();
    return contract;
}

}  // namespace gale::config
