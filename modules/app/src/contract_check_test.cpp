// SPDX-License-Identifier: MIT
// The environment contract that every role validates before it starts (config) and gale::db, which opens the
// database afterwards, read the same DATABASE_* variables in two modules (config sits below db, so db cannot call
// it). What the contract accepts, db must open; what db refuses, the contract must refuse first, with its clearer
// message. The one difference is on purpose: the contract also reports a variable that db would ignore (the
// deployer believes it is used).
#include "contract_check.hpp"

#include <fstream>
#include <iterator>
#include <map>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include <gale/config/settings.hpp>
#include <gale/db/database.hpp>

#include "environment_doc.hpp"
#include "state.hpp"

namespace gale::app {
namespace {

struct Case {
    std::map<std::string, std::string> env;
    bool contract_accepts;
    bool db_accepts;
};

std::string Show(const std::map<std::string, std::string>& env) {
    std::string out;
    for (const auto& [k, v] : env) {
        out += k;
        out += '=';
        out += v;
        out += ' ';
    }
    return out.empty() ? "(nothing set)" : out;
}

TEST(ContractCheck, AgreesWithDbOnDatabaseSettings) {
    const std::vector<Case> cases = {
        {{}, true, true},
        {{{"DATABASE_NAME", "/var/lib/hello/hello.db"}}, true, true},  // issue 8: was refused by the contract
        {{{"DATABASE_ENGINE", "sqlite"}, {"DATABASE_NAME", "app.db"}}, true, true},
        {{{"DATABASE_URL", "sqlite:///app.db"}}, true, true},
        {{{"DATABASE_URL", "sqlite:////var/lib/app.db"}}, true, true},
        {{{"DATABASE_URL", "postgresql://u:p@db:5432/app"}}, true, true},
        {{{"DATABASE_URL", "postgres://u@db/app"}, {"DATABASE_ENGINE", "PostgreSQL"}}, true, true},
        {{{"DATABASE_ENGINE", "postgresql"},
          {"DATABASE_HOST", "db"},
          {"DATABASE_NAME", "app"},
          {"DATABASE_USERNAME", "u"},
          {"DATABASE_PASSWORD", "p"},
          {"DATABASE_PORT", "6543"}},
         true,
         true},
        {{{"DATABASE_URL", "sqlite://app.db"}}, false, false},
        {{{"DATABASE_URL", "mysql://u@db/app"}}, false, false},
        {{{"DATABASE_ENGINE", "sqlite"}, {"DATABASE_URL", "postgresql://db/app"}}, false, false},
        {{{"DATABASE_ENGINE", "mysql"}}, false, false},
        {{{"DATABASE_ENGINE", "postgresql"}}, false, false},
        {{{"DATABASE_ENGINE", "postgresql"}, {"DATABASE_HOST", "db"}, {"DATABASE_NAME", "app"}}, false, false},
        {{{"DATABASE_ENGINE", "postgresql"},
          {"DATABASE_HOST", "db"},
          {"DATABASE_NAME", "app"},
          {"DATABASE_USERNAME", "u"},
          {"DATABASE_PORT", "99999"}},
         false,
         false},
        {{{"DATABASE_HOST", "db"}}, false, false},
        {{{"DATABASE_PASSWORD", "p"}}, false, false},
        {{{"DATABASE_NAME", "app"}, {"DATABASE_HOST", "db"}, {"DATABASE_USERNAME", "u"}}, false, false},
        // On purpose: db takes the URL and ignores DATABASE_HOST; the contract says so instead of ignoring it.
        {{{"DATABASE_URL", "sqlite:///app.db"}, {"DATABASE_HOST", "db"}}, false, true},
    };
    App::State state;
    for (const Case& c : cases) {
        SCOPED_TRACE(Show(c.env));
        config::Settings settings;
        settings.Set("APP_DEBUG", "true", config::Layer::kEnvironment);  // no APP_SECRET_KEY problem
        for (const auto& [k, v] : c.env) settings.Set(k, v, config::Layer::kEnvironment);
        const auto problems = ValidateContract(state, settings);
        std::string text;
        for (const auto& p : problems) text += "\n  " + p;
        EXPECT_EQ(problems.empty(), c.contract_accepts) << "contract problems:" << text;

        auto options = db::OptionsFromEnvironment([&](std::string_view name) -> std::optional<std::string> {
            auto it = c.env.find(std::string(name));
            if (it == c.env.end()) return std::nullopt;
            return it->second;
        });
        EXPECT_EQ(options.has_value(), c.db_accepts) << (options ? options->Describe() : options.error().message());
    }
}

TEST(GaleContract, SentrySettingsAreCheckedAsGaleSentryReadsThem) {
    App::State state;
    auto problems_for = [&state](std::map<std::string, std::string> env) {
        config::Settings settings;
        settings.Set("APP_DEBUG", "true", config::Layer::kEnvironment);
        for (const auto& [k, v] : env) settings.Set(k, v, config::Layer::kEnvironment);
        return ValidateContract(state, settings);
    };
    EXPECT_TRUE(
        problems_for({{"SENTRY_DSN", "https://key@o0.ingest.sentry.io/5"}, {"SENTRY_SAMPLE_RATE", "0.5"}}).empty());
    auto p = problems_for({{"SENTRY_DSN", "https://hunter2@o0.ingest.sentry.io/abc"}});
    ASSERT_EQ(p.size(), 1U);
    EXPECT_EQ(p[0], "SENTRY_DSN (from environment): the project id is not a number (the value is secret, not shown)");
    p = problems_for({{"SENTRY_DSN", "https://key@host/1"}, {"SENTRY_SAMPLE_RATE", "2"}});
    ASSERT_EQ(p.size(), 1U);
    EXPECT_EQ(p[0], "SENTRY_SAMPLE_RATE (from environment): '2' is not a number from 0 to 1");
    p = problems_for({{"SENTRY_DSN", "not a url"}});  // the type check's problem only
    ASSERT_EQ(p.size(), 1U);
    EXPECT_EQ(p[0].find("hunter2"), std::string::npos);
}

TEST(GaleContract, EveryModulesGroupWithBasePythonsRabbitmqVariablesInTheAmqpGroup) {
    const config::Contract& c = GaleContract();
    for (const char* name : {"APP_RUN_MODE", "DATABASE_URL", "AMQP_URL", "AMQP_HOST", "RABBITMQ_HOST", "RABBITMQ_PORT",
                             "RABBITMQ_VHOST", "RABBITMQ_USERNAME", "RABBITMQ_PASSWORD"}) {
        EXPECT_NE(c.FindVariable(name), nullptr) << name;
    }
    for (const char* secret : {"DATABASE_URL", "AMQP_URL", "AMQP_PASSWORD", "RABBITMQ_PASSWORD"}) {
        ASSERT_NE(c.FindVariable(secret), nullptr) << secret;
        EXPECT_TRUE(c.FindVariable(secret)->secret) << secret;
    }
}

TEST(GaleContract, GeneratedDocsAreCurrent) {
    const std::string path = std::string(GALE_SOURCE_DIR) + "/docs/environment.md";
    std::ifstream in(path, std::ios::binary);
    const std::string actual((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    const std::string expected = detail::EnvironmentDoc();
    EXPECT_TRUE(actual == expected) << path << " is not what GaleContract() generates; regenerate it with:\n  "
                                    << GALE_CONTRACT_DOC_TOOL << " > " << path;
}

}  // namespace
}  // namespace gale::app
