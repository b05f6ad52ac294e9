// SPDX-License-Identifier: MIT
#include <gtest/gtest.h>

#include <gale/config/run_mode.hpp>

namespace gale::config {
namespace {

TEST(RunMode, ParsesEveryNameCaseInsensitivelyAndNamesTheChoicesOnError) {
    for (RunMode m : kRunModes) {
        std::string lower(ToString(m));
        for (char& c : lower) c = static_cast<char>(c - 'A' + 'a');
        EXPECT_EQ(ParseRunMode(ToString(m)).value(), m);
        EXPECT_EQ(ParseRunMode(lower).value(), m);
    }
    auto bad = ParseRunMode("cron", "APP_RUN_MODE");
    ASSERT_FALSE(bad);
    EXPECT_EQ(bad.error().message(), "APP_RUN_MODE: 'cron' is not one of WEB, TASK, WORKER, BEAT, CONSUME");
    EXPECT_FALSE(ParseRunMode(""));
    EXPECT_EQ(RunModeNames(), (std::vector<std::string>{"WEB", "TASK", "WORKER", "BEAT", "CONSUME"}));
}

}  // namespace
}  // namespace gale::config
