// SPDX-License-Identifier: MIT
// The NOTES_* settings as the running service reads them (ReadOptions over gale's layered settings) and as
// `notes config check` validates it (the service's group in gale's environment contract).
#include "notes/settings.hpp"

#include <string>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <gale/config/contract.hpp>
#include <gale/config/settings.hpp>

namespace notes {
namespace {

using gale::config::Layer;
using ::testing::HasSubstr;

TEST(Settings, UnsetMeansTheDefaultsTheContractDocuments) {
    gale::config::Settings settings;
    auto options = ReadOptions(settings);
    ASSERT_TRUE(options) << options.error().message();
    EXPECT_EQ(options->max_length, 2000);
    EXPECT_EQ(options->pipe_path, "notes-pipe.db");
    const gale::config::GroupSpec group = SettingsGroup();
    ASSERT_EQ(group.vars.size(), 2u);
    EXPECT_EQ(group.vars[0].name, "NOTES_MAX_LENGTH");
    EXPECT_EQ(group.vars[0].default_value, "2000");
    EXPECT_EQ(group.vars[1].name, "NOTES_PIPE_PATH");
    EXPECT_EQ(group.vars[1].default_value, "notes-pipe.db");
}

TEST(Settings, ReadsTheValuesFromTheSettings) {
    gale::config::Settings settings;
    settings.Set("NOTES_MAX_LENGTH", "10", Layer::kEnvironment);
    settings.Set("NOTES_PIPE_PATH", "/data/pipe.db", Layer::kFile, "settings/base.env");
    auto options = ReadOptions(settings);
    ASSERT_TRUE(options) << options.error().message();
    EXPECT_EQ(options->max_length, 10);
    EXPECT_EQ(options->pipe_path, "/data/pipe.db");
}

TEST(Settings, AnEmptyValueCountsAsUnset) {
    gale::config::Settings settings;
    settings.Set("NOTES_MAX_LENGTH", "", Layer::kEnvironment);
    settings.Set("NOTES_PIPE_PATH", "", Layer::kEnvironment);
    auto options = ReadOptions(settings);
    ASSERT_TRUE(options) << options.error().message();
    EXPECT_EQ(options->max_length, 2000);
    EXPECT_EQ(options->pipe_path, "notes-pipe.db");
}

TEST(Settings, ABadValueIsAnErrorNamingTheVariableAndItsSource) {
    gale::config::Settings settings;
    settings.Set("NOTES_MAX_LENGTH", "ten", Layer::kDotenv, "./.env.local");
    auto options = ReadOptions(settings);
    ASSERT_FALSE(options);
    EXPECT_THAT(options.error().message(), HasSubstr("NOTES_MAX_LENGTH (from dotenv ./.env.local)"));
    EXPECT_THAT(options.error().message(), HasSubstr("'ten'"));

    settings.Set("NOTES_MAX_LENGTH", "0", Layer::kCommandLine);
    EXPECT_FALSE(ReadOptions(settings));
}

TEST(Settings, TheGroupJoinsGalesContractAndConfigCheckRefusesWhatReadOptionsRefuses) {
    // As `notes config check` assembles it: gale's groups (here config's own; those of other modules, such as AMQP's,
    // are assembled inside gale::app), then the service's.
    gale::config::Contract contract;
    for (const auto& group : gale::config::BuiltinContract().groups()) ASSERT_TRUE(contract.AddGroup(group));
    auto added = contract.AddGroup(SettingsGroup());
    ASSERT_TRUE(added) << added.error().message();

    // What the develop profile sets, so that gale's own groups have nothing to report.
    gale::config::Settings develop;
    develop.Set("APP_DEBUG", "true", Layer::kProfile, "develop");
    ASSERT_THAT(contract.Validate(develop), ::testing::IsEmpty());

    for (const std::string bad : {"0", "1000001", "ten", "-5"}) {
        gale::config::Settings settings = develop;
        settings.Set("NOTES_MAX_LENGTH", bad, Layer::kEnvironment);
        EXPECT_FALSE(ReadOptions(settings)) << bad;
        std::vector<std::string> problems = contract.Validate(settings);
        ASSERT_EQ(problems.size(), 1u) << bad << ": " << ::testing::PrintToString(problems);
        EXPECT_THAT(problems[0], HasSubstr("NOTES_MAX_LENGTH (from environment)")) << bad;
    }
    for (const std::string good : {"1", "500", "1000000"}) {
        gale::config::Settings settings = develop;
        settings.Set("NOTES_MAX_LENGTH", good, Layer::kEnvironment);
        EXPECT_TRUE(ReadOptions(settings)) << good;
        EXPECT_THAT(contract.Validate(settings), ::testing::IsEmpty()) << good;
    }
}

}  // namespace
}  // namespace notes
