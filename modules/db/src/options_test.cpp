// SPDX-License-Identifier: MIT
#include <map>
#include <string>

#include <gtest/gtest.h>

#include <gale/db/database.hpp>

namespace gale::db {
namespace {

EnvLookup Env(std::map<std::string, std::string, std::less<>> vars) {
    return [vars = std::move(vars)](std::string_view name) -> std::optional<std::string> {
        auto it = vars.find(name);
        if (it == vars.end()) return std::nullopt;
        return it->second;
    };
}

TEST(Options, DefaultIsSqliteAppDb) {
    auto o = OptionsFromEnvironment(Env({}));
    ASSERT_TRUE(o) << o.error().message();
    EXPECT_EQ(o->engine, Engine::kSqlite);
    EXPECT_EQ(o->sqlite_path, "app.db");
    auto named = OptionsFromEnvironment(Env({{"DATABASE_NAME", "/data/x.db"}, {"DATABASE_ENGINE", ""}}));
    ASSERT_TRUE(named);
    EXPECT_EQ(named->sqlite_path, "/data/x.db");
}

TEST(Options, PostgresqlFromFields) {
    auto o = OptionsFromEnvironment(Env({{"DATABASE_ENGINE", "PostgreSQL"},
                                         {"DATABASE_HOST", "db"},
                                         {"DATABASE_PORT", "6543"},
                                         {"DATABASE_NAME", "hello"},
                                         {"DATABASE_USERNAME", "u"},
                                         {"DATABASE_PASSWORD", "hunter2"}}));
    ASSERT_TRUE(o) << o.error().message();
    EXPECT_EQ(o->engine, Engine::kPostgresql);
    EXPECT_EQ(o->host, "db");
    EXPECT_EQ(o->port, 6543);
    EXPECT_EQ(o->name, "hello");
    EXPECT_EQ(o->username, "u");
    EXPECT_EQ(o->password, "hunter2");
    EXPECT_EQ(o->Describe(), "postgresql://u@db:6543/hello");
}

TEST(Options, UrlWinsAndSelectsTheEngine) {
    auto o = OptionsFromEnvironment(
        Env({{"DATABASE_URL", "postgres://u:p%40ss@db:5433/hello?sslmode=disable"}, {"DATABASE_HOST", "ignored"}}));
    ASSERT_TRUE(o) << o.error().message();
    EXPECT_EQ(o->engine, Engine::kPostgresql);
    EXPECT_EQ(o->url, "postgres://u:p%40ss@db:5433/hello?sslmode=disable");
    EXPECT_EQ(o->Describe(), "postgres://u@db:5433/hello");
    auto lite = OptionsFromEnvironment(Env({{"DATABASE_URL", "sqlite:////var/app.db"}}));
    ASSERT_TRUE(lite);
    EXPECT_EQ(lite->engine, Engine::kSqlite);
    EXPECT_EQ(lite->sqlite_path, "/var/app.db");
    auto rel = OptionsFromEnvironment(Env({{"DATABASE_URL", "sqlite:///app.db"}, {"DATABASE_ENGINE", "sqlite"}}));
    ASSERT_TRUE(rel);
    EXPECT_EQ(rel->sqlite_path, "app.db");
}

TEST(Options, ErrorsNameTheVariableAndHideSecrets) {
    auto bad_engine = OptionsFromEnvironment(Env({{"DATABASE_ENGINE", "mysql"}}));
    ASSERT_FALSE(bad_engine);
    EXPECT_NE(bad_engine.error().message().find("DATABASE_ENGINE"), std::string::npos);

    auto mismatch =
        OptionsFromEnvironment(Env({{"DATABASE_ENGINE", "sqlite"}, {"DATABASE_URL", "postgresql://u:topsecret@db/x"}}));
    ASSERT_FALSE(mismatch);
    EXPECT_NE(mismatch.error().message().find("DATABASE_URL"), std::string::npos);
    EXPECT_EQ(mismatch.error().message().find("topsecret"), std::string::npos);

    auto scheme = OptionsFromEnvironment(Env({{"DATABASE_URL", "mysql://u:topsecret@db/x"}}));
    ASSERT_FALSE(scheme);
    EXPECT_EQ(scheme.error().message().find("topsecret"), std::string::npos);

    auto port = OptionsFromEnvironment(Env({{"DATABASE_ENGINE", "postgresql"},
                                            {"DATABASE_HOST", "db"},
                                            {"DATABASE_NAME", "x"},
                                            {"DATABASE_USERNAME", "u"},
                                            {"DATABASE_PORT", "99999"}}));
    ASSERT_FALSE(port);
    EXPECT_NE(port.error().message().find("DATABASE_PORT"), std::string::npos);

    auto missing = OptionsFromEnvironment(
        Env({{"DATABASE_ENGINE", "postgresql"}, {"DATABASE_HOST", "db"}, {"DATABASE_PASSWORD", "topsecret"}}));
    ASSERT_FALSE(missing);
    EXPECT_NE(missing.error().message().find("DATABASE_NAME"), std::string::npos);
    EXPECT_EQ(missing.error().message().find("topsecret"), std::string::npos);

    auto sqlite_pw = OptionsFromEnvironment(Env({{"DATABASE_PASSWORD", "topsecret"}}));
    ASSERT_FALSE(sqlite_pw);
    EXPECT_NE(sqlite_pw.error().message().find("DATABASE_PASSWORD"), std::string::npos);
    EXPECT_EQ(sqlite_pw.error().message().find("topsecret"), std::string::npos);
}

TEST(Options, EngineAloneNeedsNoConnectionVariables) {
    auto none = EngineFromEnvironment(Env({}));
    ASSERT_TRUE(none) << none.error().message();
    EXPECT_EQ(*none, Engine::kSqlite);
    // What `deploy k8s` needs: the engine, before the host, name and user are known.
    auto pg = EngineFromEnvironment(Env({{"DATABASE_ENGINE", "PostgreSQL"}}));
    ASSERT_TRUE(pg) << pg.error().message();
    EXPECT_EQ(*pg, Engine::kPostgresql);
    EXPECT_FALSE(OptionsFromEnvironment(Env({{"DATABASE_ENGINE", "PostgreSQL"}})));  // a connection needs more
    auto url = EngineFromEnvironment(Env({{"DATABASE_URL", "postgres://u:topsecret@db/x"}}));
    ASSERT_TRUE(url) << url.error().message();
    EXPECT_EQ(*url, Engine::kPostgresql);
    auto lite = EngineFromEnvironment(Env({{"DATABASE_URL", "sqlite:////data/x.db"}, {"DATABASE_ENGINE", "sqlite"}}));
    ASSERT_TRUE(lite) << lite.error().message();
    EXPECT_EQ(*lite, Engine::kSqlite);

    auto bad = EngineFromEnvironment(Env({{"DATABASE_ENGINE", "mysql"}}));
    ASSERT_FALSE(bad);
    EXPECT_EQ(bad.error().message(), "DATABASE_ENGINE: 'mysql' is not one of sqlite, postgresql");
    auto mismatch =
        EngineFromEnvironment(Env({{"DATABASE_ENGINE", "sqlite"}, {"DATABASE_URL", "postgresql://u:topsecret@db/x"}}));
    ASSERT_FALSE(mismatch);
    EXPECT_EQ(mismatch.error().message(), "DATABASE_URL: scheme 'postgresql' does not match DATABASE_ENGINE=sqlite");
    auto scheme = EngineFromEnvironment(Env({{"DATABASE_URL", "mysql://u:topsecret@db/x"}}));
    ASSERT_FALSE(scheme);
    EXPECT_EQ(scheme.error().message().find("topsecret"), std::string::npos);
}

}  // namespace
}  // namespace gale::db
