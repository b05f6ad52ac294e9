// SPDX-License-Identifier: MIT
#include <algorithm>
#include <string>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <gale/config/contract.hpp>

#include "test_util.hpp"

namespace gale::config {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

/// A one-group contract with one optional variable of `spec`'s type behind an enabling variable.
Contract OneVariable(VariableSpec spec) {
    Contract c;
    GroupSpec g;
    g.name = "test";
    g.vars = {VariableSpec{.name = "T_ENABLE"}, std::move(spec)};
    EXPECT_TRUE(c.AddGroup(std::move(g)).has_value());
    return c;
}

std::vector<std::string> ValidateOne(const Contract& c, const std::string& name, const std::string& value) {
    Settings s;
    s.Set("T_ENABLE", "1", Layer::kEnvironment);
    s.Set(name, value, Layer::kEnvironment);
    return c.Validate(s);
}

Settings Env(std::initializer_list<std::pair<const char*, const char*>> vars) {
    Settings s;
    for (const auto& [k, v] : vars) s.Set(k, v, Layer::kEnvironment);
    return s;
}

/// A valid production-like environment for the builtin contract.
Settings GoodEnv() { return Env({{"APP_SECRET_KEY", "s3cr3t-key-value"}}); }

TEST(Contract, EachTypeIsValidated) {
    struct Case {
        VariableType type;
        std::vector<std::string> good;
        std::vector<std::pair<std::string, std::string>> bad;  // value, expected message
    };
    const std::vector<Case> cases = {
        {VariableType::kString, {"anything at all", "x"}, {}},
        {VariableType::kInt, {"0", "-12", "42"}, {{"x", "T_VAR (from environment): 'x' is not an integer"}}},
        {VariableType::kBool, {"true", "False", "1", "no", "ON"}, {{"maybe", "T_VAR (from environment): 'maybe'"}}},
        {VariableType::kUrl,
         {"https://example.com/x", "postgresql://u:p@h:5432/db", "sqlite:///app.db"},
         {{"example.com", "T_VAR (from environment): 'example.com' is not a url (scheme://…)"},
          {"://host", "is not a url"},
          {"1http://host", "is not a url"},
          {"http://", "is not a url"},
          {"http://a b", "is not a url"}}},
        {VariableType::kDuration, {"500ms", "30s", "2m", "1.5h", "10"}, {{"soon", "T_VAR (from environment): 'soon'"}}},
        {VariableType::kSize, {"1048576", "10M", "1GiB"}, {{"big", "T_VAR (from environment): 'big'"}}},
        {VariableType::kPort,
         {"1", "8000", "65535"},
         {{"x", "T_VAR (from environment): 'x' is not an integer"},
          {"0", "T_VAR (from environment): 0 is out of range [1, 65535]"},
          {"65536", "out of range"}}},
    };
    for (const auto& c : cases) {
        SCOPED_TRACE(std::string(ToString(c.type)));
        const auto contract = OneVariable(VariableSpec{.name = "T_VAR", .type = c.type});
        for (const auto& v : c.good) EXPECT_THAT(ValidateOne(contract, "T_VAR", v), IsEmpty()) << v;
        for (const auto& [v, message] : c.bad) {
            EXPECT_THAT(ValidateOne(contract, "T_VAR", v), ElementsAre(HasSubstr(message))) << v;
        }
    }
}

TEST(Contract, IntRangeAndEnumChoices) {
    const auto ints =
        OneVariable(VariableSpec{.name = "T_N", .type = VariableType::kInt, .min_value = 1, .max_value = 8});
    EXPECT_THAT(ValidateOne(ints, "T_N", "8"), IsEmpty());
    EXPECT_THAT(ValidateOne(ints, "T_N", "9"), ElementsAre("T_N (from environment): 9 is out of range [1, 8]"));

    const auto enums =
        OneVariable(VariableSpec{.name = "T_MODE", .type = VariableType::kEnum, .choices = {"WEB", "TASK"}});
    EXPECT_THAT(ValidateOne(enums, "T_MODE", "task"), IsEmpty());  // case-insensitive
    EXPECT_THAT(ValidateOne(enums, "T_MODE", "BATCH"),
                ElementsAre("T_MODE (from environment): 'BATCH' is not one of WEB, TASK"));
}

TEST(Contract, ProblemsNameTheLayerAndFile) {
    const auto c = OneVariable(VariableSpec{.name = "T_PORT", .type = VariableType::kPort});
    Settings s;
    s.Set("T_ENABLE", "1", Layer::kEnvironment);
    s.Set("T_PORT", "abc", Layer::kDotenv, "config/.env.local");
    EXPECT_THAT(c.Validate(s), ElementsAre("T_PORT (from dotenv config/.env.local): 'abc' is not an integer"));
    s.Set("T_PORT", "http", Layer::kCommandLine);
    EXPECT_THAT(c.Validate(s), ElementsAre("T_PORT (from command line): 'http' is not an integer"));
}

TEST(Contract, EnabledByFirstVariable) {
    Contract c;
    GroupSpec g;
    g.name = "queue";
    g.vars = {VariableSpec{.name = "Q_HOST"}, VariableSpec{.name = "Q_PORT", .type = VariableType::kPort},
              VariableSpec{.name = "Q_USER", .required = true}};
    ASSERT_TRUE(c.AddGroup(std::move(g)));

    // Disabled and untouched: nothing to say, even though Q_USER is required.
    EXPECT_THAT(c.Validate(Env({{"PATH", "/bin"}})), IsEmpty());
    // Disabled, but another variable is set: reported once, not type-checked, value not quoted.
    EXPECT_THAT(c.Validate(Env({{"Q_PORT", "x"}})),
                ElementsAre("Q_PORT (from environment) is set but the group 'queue' is not enabled (set Q_HOST)"));
    // An empty first variable does not enable the group, and empty variables are not "set".
    EXPECT_THAT(c.Validate(Env({{"Q_HOST", ""}, {"Q_PORT", ""}})), IsEmpty());
    // Enabled: types and required variables are checked.
    EXPECT_THAT(c.Validate(Env({{"Q_HOST", "mq"}, {"Q_PORT", "x"}})),
                ElementsAre("Q_PORT (from environment): 'x' is not an integer",
                            "Q_USER is required when the group 'queue' is enabled (by Q_HOST (from environment))"));
    EXPECT_THAT(c.Validate(Env({{"Q_HOST", "mq"}, {"Q_PORT", "5672"}, {"Q_USER", "u"}})), IsEmpty());
}

TEST(Contract, AlwaysEnabledGroupAndRulesRunOnlyWhenEnabled) {
    Contract c;
    int runs = 0;
    GroupSpec always;
    always.name = "always";
    always.always_enabled = true;
    always.vars = {VariableSpec{.name = "A_NAME", .required = true}};
    GroupSpec optional;
    optional.name = "optional";
    optional.vars = {VariableSpec{.name = "O_ON"}};
    optional.rules = {[&runs](const Settings&, std::vector<std::string>& problems) {
        ++runs;
        problems.emplace_back("rule ran");
    }};
    ASSERT_TRUE(c.AddGroup(std::move(always)));
    ASSERT_TRUE(c.AddGroup(std::move(optional)));
    EXPECT_THAT(c.Validate(Settings{}), ElementsAre("A_NAME is required (group 'always')"));
    EXPECT_EQ(runs, 0);
    EXPECT_THAT(c.Validate(Env({{"A_NAME", "x"}, {"O_ON", "1"}})), ElementsAre("rule ran"));
    EXPECT_EQ(runs, 1);
}

TEST(Contract, DuplicateAndMalformedSpecsAreRejected) {
    Contract c;
    ASSERT_TRUE(c.AddGroup(GroupSpec{.name = "a", .vars = {VariableSpec{.name = "X"}, VariableSpec{.name = "Y"}}}));
    auto dup_group = c.AddGroup(GroupSpec{.name = "a", .vars = {VariableSpec{.name = "Z"}}});
    ASSERT_FALSE(dup_group);
    EXPECT_EQ(dup_group.error().code(), ErrorCode::kInvalidArgument);
    EXPECT_THAT(dup_group.error().message(), HasSubstr("already exists"));
    auto dup_var_across =
        c.AddGroup(GroupSpec{.name = "b", .vars = {VariableSpec{.name = "Z"}, VariableSpec{.name = "Y"}}});
    ASSERT_FALSE(dup_var_across);
    EXPECT_EQ(dup_var_across.error().message(), "group 'b': variable Y is already in the contract");
    auto dup_var_within =
        c.AddGroup(GroupSpec{.name = "c", .vars = {VariableSpec{.name = "W"}, VariableSpec{.name = "W"}}});
    ASSERT_FALSE(dup_var_within);
    EXPECT_THAT(dup_var_within.error().message(), HasSubstr("W is already"));
    EXPECT_FALSE(c.AddGroup(GroupSpec{.name = ""}));
    EXPECT_FALSE(c.AddGroup(GroupSpec{.name = "empty"}));  // optional without a first variable
    EXPECT_TRUE(c.AddGroup(GroupSpec{.name = "empty-always", .always_enabled = true}));
    EXPECT_FALSE(c.AddGroup(GroupSpec{.name = "d", .vars = {VariableSpec{.name = "E", .type = VariableType::kEnum}}}));
    auto bad_default = c.AddGroup(
        GroupSpec{.name = "e", .vars = {VariableSpec{.name = "P", .type = VariableType::kPort, .default_value = "x"}}});
    ASSERT_FALSE(bad_default);
    EXPECT_THAT(bad_default.error().message(), HasSubstr("'x' is not an integer"));
    EXPECT_FALSE(c.AddGroup(
        GroupSpec{.name = "f", .vars = {VariableSpec{.name = "R", .default_value = "1", .required = true}}}));
    // Nothing of the failed groups was added: Z is still free.
    EXPECT_TRUE(c.AddGroup(GroupSpec{.name = "g", .vars = {VariableSpec{.name = "Z"}}}));
    std::vector<std::string> names;
    for (const auto& g : c.groups()) names.push_back(g.name);
    EXPECT_THAT(names, ElementsAre("a", "empty-always", "g"));
}

TEST(Contract, SecretsNeverAppearInMessages) {
    const std::string secret = "hunter2-not-a-url";
    // By spec (the name does not look secret), and by name (Settings::IsSecret).
    const auto by_spec = OneVariable(VariableSpec{.name = "T_DSN", .type = VariableType::kUrl, .secret = true});
    auto problems = ValidateOne(by_spec, "T_DSN", secret);
    ASSERT_EQ(problems.size(), 1U);
    EXPECT_EQ(problems[0], "T_DSN (from environment): the value (secret, not shown) is not a url (scheme://…)");
    const auto by_name = OneVariable(VariableSpec{.name = "T_PASSWORD", .type = VariableType::kInt});
    problems = ValidateOne(by_name, "T_PASSWORD", secret);
    ASSERT_EQ(problems.size(), 1U);
    EXPECT_EQ(problems[0], "T_PASSWORD (from environment): the value (secret, not shown) is not a valid int");

    // The builtin contract, with every secret set to a bad or misplaced value.
    Settings s = Env({{"APP_DEBUG", "false"},
                      {"APP_SECRET_KEY", "hunter2-app"},
                      {"DATABASE_ENGINE", "sqlite"},
                      {"DATABASE_PASSWORD", "hunter2-db"},
                      {"DATABASE_URL", "mysql://u:hunter2-url@h/db"},
                      {"SENTRY_DSN", "hunter2-dsn"},
                      {"AWS_SESSION_TOKEN", "hunter2-token"},
                      {"COUCHDB_PASSWORD", "hunter2-couch"},
                      {"CACHE_REDIS_PASSWORD", "hunter2-redis"}});
    problems = BuiltinContract().Validate(s);
    EXPECT_GE(problems.size(), 5U);
    for (const auto& p : problems) EXPECT_THAT(p, ::testing::Not(HasSubstr("hunter2"))) << p;
}

TEST(Contract, DeclareSecretsRedactsDescribe) {
    Settings s = Env({{"DATABASE_URL", "postgresql://u:hunter2@db/app"}, {"SENTRY_DSN", "https://k@sentry/1"}});
    EXPECT_FALSE(s.IsSecret("DATABASE_URL"));
    BuiltinContract().DeclareSecrets(s);
    EXPECT_TRUE(s.IsSecret("DATABASE_URL"));
    EXPECT_TRUE(s.IsSecret("SENTRY_DSN"));
    EXPECT_THAT(s.Describe(), ::testing::Not(HasSubstr("hunter2")));
}

TEST(Contract, ApplyDefaultsFillsEnabledGroupsOnlyAndADefaultEnablesNothing) {
    Settings s = Env({{"CACHE_REDIS_HOST", "redis"}});
    BuiltinContract().ApplyDefaults(s);
    EXPECT_EQ(s.Find("CACHE_REDIS_PORT"), "6379");          // its group is on
    EXPECT_EQ(s.Find("APP_RUN_MODE"), "WEB");               // always on
    EXPECT_EQ(s.Find("SESSION_REDIS_PORT"), std::nullopt);  // off: no defaults
    EXPECT_EQ(s.Info("CACHE_REDIS_PORT")->layer, Layer::kDefault);
    EXPECT_FALSE(IsSet(s, "CACHE_REDIS_PORT"));  // a default is not "set"
    Settings only_defaults;
    only_defaults.SetDefault("SESSION_REDIS_PORT", "6379");  // would be "set but the group is not enabled" if set
    EXPECT_THAT(BuiltinContract().Validate(only_defaults), ::testing::Each(::testing::Not(HasSubstr("SESSION_REDIS"))));
}

TEST(BuiltinContract, GoodEnvironmentsPass) {
    EXPECT_THAT(BuiltinContract().Validate(GoodEnv()), IsEmpty());
    EXPECT_THAT(BuiltinContract().Validate(Env({{"APP_DEBUG", "true"}})), IsEmpty());
    Settings full = Env({{"APP_RUN_MODE", "worker"},       {"APP_WORKER_COUNT", "3"},
                         {"APP_SECRET_KEY", "k"},          {"DATABASE_ENGINE", "postgresql"},
                         {"DATABASE_HOST", "db"},          {"DATABASE_PORT", "5432"},
                         {"DATABASE_NAME", "app"},         {"DATABASE_USERNAME", "app"},
                         {"DATABASE_PASSWORD", "p"},       {"SESSION_REDIS_HOST", "redis"},
                         {"SESSION_REDIS_DB", "1"},        {"CACHE_REDIS_HOST", "redis"},
                         {"CACHE_REDIS_PORT", "6379"},     {"CACHE_REDIS_DB", "0"},
                         {"COUCHDB_USERNAME", "couch"},    {"SENTRY_DSN", "https://key@o0.ingest.sentry.io/0"},
                         {"AWS_REGION", "ap-southeast-2"}, {"AWS_ENDPOINT_URL", "http://127.0.0.1:5000"},
                         {"AWS_ACCESS_KEY_ID", "AKID"},    {"AWS_SECRET_ACCESS_KEY", "secret"},
                         {"APPDATA_BUCKET", "bucket"},     {"APPDATA_PREFIX", "app/"}});
    EXPECT_THAT(BuiltinContract().Validate(full), IsEmpty());
}

TEST(BuiltinContract, SecretKeyRequiredWhenDebugIsFalse) {
    const auto& c = BuiltinContract();
    EXPECT_THAT(c.Validate(Settings{}),
                ElementsAre("APP_SECRET_KEY is required when APP_DEBUG is false (APP_DEBUG (not set) defaults to "
                            "false)"));
    EXPECT_THAT(c.Validate(Env({{"APP_DEBUG", "no"}})),
                ElementsAre("APP_SECRET_KEY is required when APP_DEBUG is false (APP_DEBUG (from environment) is "
                            "'no')"));
    EXPECT_THAT(c.Validate(Env({{"APP_DEBUG", "False"}, {"APP_SECRET_KEY", ""}})),
                ElementsAre(HasSubstr("APP_SECRET_KEY is required when APP_DEBUG is false")));
    EXPECT_THAT(c.Validate(Env({{"APP_DEBUG", "1"}})), IsEmpty());
    // A malformed APP_DEBUG is reported once, as a type error; the rule stays silent.
    EXPECT_THAT(c.Validate(Env({{"APP_DEBUG", "maybe"}})),
                ElementsAre(HasSubstr("APP_DEBUG (from environment): 'maybe'")));
}

TEST(BuiltinContract, DatabaseRules) {
    const auto& c = BuiltinContract();
    auto with = [](std::initializer_list<std::pair<const char*, const char*>> vars) {
        Settings s = GoodEnv();
        for (const auto& [k, v] : vars) s.Set(k, v, Layer::kEnvironment);
        return s;
    };
    EXPECT_THAT(c.Validate(with({{"DATABASE_ENGINE", "postgresql"}, {"DATABASE_HOST", "db"}})),
                ElementsAre("DATABASE_ENGINE (from environment) is postgresql: set DATABASE_URL, or DATABASE_HOST, "
                            "DATABASE_NAME and DATABASE_USERNAME (missing: DATABASE_NAME, DATABASE_USERNAME)"));
    EXPECT_THAT(c.Validate(with({{"DATABASE_ENGINE", "PostgreSQL"}, {"DATABASE_URL", "postgres://u:p@db/app"}})),
                IsEmpty());
    EXPECT_THAT(c.Validate(with({{"DATABASE_ENGINE", "postgresql"}, {"DATABASE_URL", "sqlite:///x.db"}})),
                ElementsAre("DATABASE_URL (from environment): the scheme 'sqlite' does not match DATABASE_ENGINE (from "
                            "environment) 'postgresql' (expected postgres:// or postgresql://)"));
    // sqlite: DATABASE_NAME is a file path (default app.db); network settings are mistakes.
    EXPECT_THAT(c.Validate(with({{"DATABASE_ENGINE", "sqlite"}})), IsEmpty());
    EXPECT_THAT(c.Validate(with({{"DATABASE_ENGINE", "sqlite"}, {"DATABASE_NAME", "/var/lib/app/app.db"}})), IsEmpty());
    EXPECT_THAT(c.Validate(with({{"DATABASE_ENGINE", "sqlite"}, {"DATABASE_HOST", "db"}, {"DATABASE_PASSWORD", "p"}})),
                ElementsAre("DATABASE_HOST (from environment) is set but DATABASE_ENGINE (from environment) is "
                            "sqlite, which uses only DATABASE_NAME (a file path)",
                            "DATABASE_PASSWORD (from environment) is set but DATABASE_ENGINE (from environment) is "
                            "sqlite, which uses only DATABASE_NAME (a file path)"));
    // Disabled group: the brief's example.
    EXPECT_THAT(c.Validate(with({{"DATABASE_PORT", "5432"}})),
                ElementsAre("DATABASE_PORT (from environment) is set but the group 'SQL database' is not enabled (set "
                            "DATABASE_ENGINE)"));
    // A malformed engine is one problem; the rule does not pile on.
    EXPECT_THAT(c.Validate(with({{"DATABASE_ENGINE", "mysql"}, {"DATABASE_HOST", "db"}})),
                ElementsAre("DATABASE_ENGINE (from environment): 'mysql' is not one of sqlite, postgresql"));
}

// Issue 8: DATABASE_NAME alone was refused ("not enabled (set DATABASE_ENGINE)") although gale::db opens SQLite at
// that path, and examples/hello says so. DATABASE_NAME and DATABASE_URL are each a whole configuration on their
// own, so each enables the group; the engine is then the URL's scheme, or sqlite (as db::OptionsFromEnvironment).
TEST(BuiltinContract, DatabaseNameOrUrlAloneEnablesTheGroup) {
    const auto& c = BuiltinContract();
    auto with = [](std::initializer_list<std::pair<const char*, const char*>> vars) {
        Settings s = GoodEnv();
        for (const auto& [k, v] : vars) s.Set(k, v, Layer::kEnvironment);
        return s;
    };
    EXPECT_THAT(c.Validate(with({{"DATABASE_NAME", "/var/lib/hello/hello.db"}})), IsEmpty());
    EXPECT_THAT(c.Validate(with({{"DATABASE_URL", "sqlite:///hello.db"}})), IsEmpty());
    EXPECT_THAT(c.Validate(with({{"DATABASE_URL", "postgresql://u:hunter2@db:5432/app"}})), IsEmpty());
    EXPECT_THAT(c.Validate(with({{"DATABASE_URL", "postgres://u@db/app"}, {"DATABASE_PORT", "x"}})),
                ElementsAre("DATABASE_PORT (from environment): 'x' is not an integer"));  // enabled: type-checked

    // The engine is sqlite when nothing names another one: network settings are then mistakes, with the fix.
    EXPECT_THAT(
        c.Validate(with({{"DATABASE_NAME", "app"}, {"DATABASE_HOST", "db"}, {"DATABASE_USERNAME", "u"}})),
        ElementsAre("DATABASE_HOST (from environment) is set but DATABASE_ENGINE is not set, so the engine is sqlite, "
                    "which uses only DATABASE_NAME (a file path); set DATABASE_ENGINE=postgresql for a server",
                    "DATABASE_USERNAME (from environment) is set but DATABASE_ENGINE is not set, so the engine is "
                    "sqlite, which uses only DATABASE_NAME (a file path); set DATABASE_ENGINE=postgresql for a "
                    "server"));
    // A URL's scheme must be one gale knows, and a sqlite URL must name a path (the URL is secret: never quoted).
    EXPECT_THAT(c.Validate(with({{"DATABASE_URL", "mysql://u:hunter2@db/app"}})),
                ElementsAre("DATABASE_URL (from environment): the scheme 'mysql' is not postgres://, postgresql:// "
                            "or sqlite://"));
    EXPECT_THAT(c.Validate(with({{"DATABASE_URL", "sqlite://hello.db"}})),
                ElementsAre("DATABASE_URL (from environment): a sqlite URL is sqlite:///relative/path or "
                            "sqlite:////absolute/path (value not shown)"));
    // Variables that need a server still do not enable the group by themselves.
    EXPECT_THAT(c.Validate(with({{"DATABASE_HOST", "db"}})),
                ElementsAre("DATABASE_HOST (from environment) is set but the group 'SQL database' is not enabled (set "
                            "DATABASE_ENGINE)"));
}

TEST(Contract, FurtherEnablingVariablesMustBeOtherVariablesOfTheGroup) {
    Contract c;
    GroupSpec g{.name = "g", .vars = {VariableSpec{.name = "G_A"}, VariableSpec{.name = "G_B"}}};
    g.enabled_also_by = {"G_C"};
    auto r = c.AddGroup(g);
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().message(), "group 'g': enabled_also_by names G_C, which is not a variable of the group");
    g.enabled_also_by = {"G_A"};
    r = c.AddGroup(g);
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().message(), "group 'g': enabled_also_by names G_A, the first variable (which always enables)");
    g.enabled_also_by = {"G_B"};
    ASSERT_TRUE(c.AddGroup(g));
    GroupSpec always{.name = "always", .vars = {{.name = "X_A"}, {.name = "X_B"}}, .always_enabled = true};
    always.enabled_also_by = {"X_B"};
    r = c.AddGroup(always);
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().message(),
              "group 'always': enabled_also_by is for optional groups (this one is always enabled)");

    Settings s;
    s.Set("G_B", "1", Layer::kEnvironment);
    EXPECT_THAT(c.Validate(s), IsEmpty());
}

TEST(BuiltinContract, RunModeAndAwsRules) {
    const auto& c = BuiltinContract();
    Settings task = GoodEnv();
    task.Set("APP_RUN_MODE", "task", Layer::kEnvironment);
    EXPECT_THAT(c.Validate(task), ElementsAre(HasSubstr("APP_TASK_COMMANDS is required when APP_RUN_MODE is TASK "
                                                        "(APP_RUN_MODE (from environment) is 'task')")));
    task.Set("APP_TASK_COMMANDS", "migrate", Layer::kEnvironment);
    EXPECT_THAT(c.Validate(task), IsEmpty());

    Settings aws = GoodEnv();
    aws.Set("AWS_REGION", "eu-west-1", Layer::kEnvironment);
    aws.Set("AWS_ACCESS_KEY_ID", "AKID", Layer::kEnvironment);
    EXPECT_THAT(c.Validate(aws),
                ElementsAre("AWS_SECRET_ACCESS_KEY is required when AWS_ACCESS_KEY_ID (from environment) is set"));
    Settings token = GoodEnv();
    token.Set("AWS_REGION", "eu-west-1", Layer::kEnvironment);
    token.Set("AWS_SESSION_TOKEN", "t", Layer::kEnvironment);
    EXPECT_THAT(c.Validate(token), ElementsAre("AWS_SESSION_TOKEN (from environment) is set without "
                                               "AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY"));
}

TEST(BuiltinContract, FilesGroupRules) {
    const auto& c = BuiltinContract();
    Settings local = GoodEnv();
    local.Set("MEDIA_ROOT", "/srv/media", Layer::kEnvironment);  // enables the group alone
    EXPECT_THAT(c.Validate(local), IsEmpty());

    Settings s3 = GoodEnv();
    s3.Set("ENABLE_S3_STORAGE", "true", Layer::kEnvironment);
    EXPECT_THAT(c.Validate(s3), ElementsAre("APPDATA_BUCKET is required when ENABLE_S3_STORAGE (from environment) is "
                                            "true"));
    s3.Set("APPDATA_BUCKET", "media-bucket", Layer::kEnvironment);
    EXPECT_THAT(c.Validate(s3), IsEmpty());

    Settings bad = GoodEnv();
    bad.Set("ENABLE_S3_STORAGE", "maybe", Layer::kEnvironment);
    bad.Set("S3_ADDRESSING_STYLE", "sideways", Layer::kEnvironment);
    EXPECT_THAT(c.Validate(bad), ElementsAre(HasSubstr("ENABLE_S3_STORAGE (from environment): 'maybe'"),
                                             HasSubstr("S3_ADDRESSING_STYLE (from environment): 'sideways' is not "
                                                       "one of auto, path, virtual")));
}

TEST(BuiltinContract, AllProblemsAtOnce) {
    Settings s;
    s.Set("APP_RUN_MODE", "SERVE", Layer::kEnvironment);
    s.Set("APP_WORKER_COUNT", "many", Layer::kDotenv, ".env.local");
    s.Set("DATABASE_ENGINE", "postgresql", Layer::kEnvironment);
    s.Set("DATABASE_PORT", "x", Layer::kEnvironment);
    s.Set("SESSION_REDIS_PORT", "6379", Layer::kEnvironment);  // group disabled: SESSION_REDIS_HOST is not set
    s.Set("CACHE_REDIS_HOST", "redis", Layer::kEnvironment);
    s.Set("CACHE_REDIS_DB", "-1", Layer::kEnvironment);
    s.Set("SENTRY_DSN", "not a url", Layer::kEnvironment);
    EXPECT_THAT(BuiltinContract().Validate(s),
                ElementsAre("APP_RUN_MODE (from environment): 'SERVE' is not one of WEB, TASK, WORKER, BEAT, CONSUME",
                            "APP_WORKER_COUNT (from dotenv .env.local): 'many' is not an integer",
                            HasSubstr("APP_SECRET_KEY is required when APP_DEBUG is false"),
                            "DATABASE_PORT (from environment): 'x' is not an integer",
                            HasSubstr("DATABASE_ENGINE (from environment) is postgresql: set DATABASE_URL"),
                            "SESSION_REDIS_PORT (from environment) is set but the group 'Redis sessions' is not "
                            "enabled (set SESSION_REDIS_HOST)",
                            "CACHE_REDIS_DB (from environment): -1 is out of range [0, 2147483647]",
                            "SENTRY_DSN (from environment): the value (secret, not shown) is not a url (scheme://…)"));
}

TEST(BuiltinContract, FaithfulToBasePython) {
    // Every variable of base-python's contract, with DJANGO_* renamed APP_*, and each group's first variable; gale's
    // additions (DATABASE_URL, DATABASE_POOL_SIZE) come after base-python's, and gale's own groups (static files,
    // files) after base-python's groups.
    const std::vector<std::pair<std::string, std::vector<std::string>>> expected = {
        {"run mode", {"APP_RUN_MODE", "APP_WORKER_COUNT", "APP_TASK_COMMANDS"}},
        {"basics", {"APP_DEBUG", "APP_SECRET_KEY"}},
        {"SQL database",
         {"DATABASE_ENGINE", "DATABASE_HOST", "DATABASE_PORT", "DATABASE_NAME", "DATABASE_USERNAME",
          "DATABASE_PASSWORD", "DATABASE_URL", "DATABASE_POOL_SIZE"}},
        {"Redis sessions", {"SESSION_REDIS_HOST", "SESSION_REDIS_PORT", "SESSION_REDIS_DB", "SESSION_REDIS_PASSWORD"}},
        {"Redis cache", {"CACHE_REDIS_HOST", "CACHE_REDIS_PORT", "CACHE_REDIS_DB", "CACHE_REDIS_PASSWORD"}},
        {"CouchDB", {"COUCHDB_USERNAME", "COUCHDB_PASSWORD"}},
        {"Sentry",
         {"SENTRY_DSN", "SENTRY_ENVIRONMENT", "SENTRY_RELEASE", "SENTRY_SAMPLE_RATE", "SENTRY_MAX_EVENTS_PER_MINUTE"}},
        {"AWS", {"AWS_REGION", "AWS_ENDPOINT_URL", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"}},
        {"app data in S3", {"APPDATA_BUCKET", "APPDATA_PREFIX"}},
        {"static files", {"STATIC_ROOT", "STATIC_SOURCE_DIRS", "STATIC_URL"}},
        {"files", {"ENABLE_S3_STORAGE", "ENABLE_UNIQUE_STORAGE", "MEDIA_ROOT", "MEDIA_URL", "S3_ADDRESSING_STYLE"}},
    };
    const auto& groups = BuiltinContract().groups();
    ASSERT_EQ(groups.size(), expected.size());
    for (std::size_t i = 0; i < groups.size(); ++i) {
        EXPECT_EQ(groups[i].name, expected[i].first);
        std::vector<std::string> names;
        for (const auto& v : groups[i].vars) names.push_back(v.name);
        EXPECT_EQ(names, expected[i].second) << groups[i].name;
    }
    EXPECT_TRUE(groups[0].always_enabled);
    EXPECT_TRUE(groups[1].always_enabled);
    for (std::size_t i = 2; i < groups.size(); ++i) EXPECT_FALSE(groups[i].always_enabled) << groups[i].name;
    const auto& c = BuiltinContract();
    EXPECT_EQ(c.FindVariable("APP_RUN_MODE")->default_value, "WEB");
    EXPECT_EQ(c.FindVariable("DATABASE_ENGINE")->default_value, "sqlite");
    EXPECT_EQ(c.FindVariable("DATABASE_NAME")->default_value, "app.db");
    EXPECT_EQ(c.FindVariable("RABBITMQ_HOST"), nullptr);  // the amqp module's group (checked in app's tests)
    EXPECT_EQ(c.FindVariable("DATABASE_PORT")->type, VariableType::kPort);
    EXPECT_EQ(c.FindVariable("APP_DEBUG")->default_value, "false");
    for (const char* secret :
         {"APP_SECRET_KEY", "DATABASE_PASSWORD", "DATABASE_URL", "CACHE_REDIS_PASSWORD", "SESSION_REDIS_PASSWORD",
          "COUCHDB_PASSWORD", "SENTRY_DSN", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"}) {
        EXPECT_TRUE(c.FindVariable(secret)->secret) << secret;
    }
    EXPECT_EQ(c.FindVariable("DJANGO_SECRET_KEY"), nullptr);
    EXPECT_THAT(groups[1].description, HasSubstr("DJANGO_SECRET_KEY is APP_SECRET_KEY"));
}

TEST(BuiltinContract, RenderMarkdownListsEveryVariable) {
    const std::string md = BuiltinContract().RenderMarkdown();
    EXPECT_THAT(md, HasSubstr("| group | variable | type | default | required | secret | description |"));
    EXPECT_THAT(md, HasSubstr("enabled by its first variable"));
    std::size_t last = 0;
    for (const auto& g : BuiltinContract().groups()) {
        const auto at = md.find("| " + g.name);
        ASSERT_NE(at, std::string::npos) << g.name;
        EXPECT_GT(at, last) << g.name << " out of order";
        last = at;
        for (const auto& v : g.vars) EXPECT_THAT(md, HasSubstr("| `" + v.name + "` |"));
    }
    EXPECT_THAT(md, HasSubstr("| `DATABASE_PORT` | port | `5432` | no | no |"));
    EXPECT_THAT(md, HasSubstr("| `APP_RUN_MODE` | enum: WEB, TASK, WORKER, BEAT, CONSUME | `WEB` | no | no |"));
    EXPECT_THAT(md, HasSubstr("| `CACHE_REDIS_HOST` | string |  | enables group | no |"));
    EXPECT_THAT(md, HasSubstr("| `DATABASE_NAME` | string | `app.db` | enables group | no |"));
    EXPECT_THAT(md, HasSubstr("| `DATABASE_HOST` | string |  | no | no |"));
    EXPECT_EQ(md, BuiltinContract().RenderMarkdown());  // deterministic
}

}  // namespace
}  // namespace gale::config
