// SPDX-License-Identifier: MIT
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <gale/log/log.hpp>

namespace gale::log {
namespace {

TEST(Log, JsonRecordIsOneParsableLine) {
    std::string line = FormatRecord(Format::kJson, Level::kInfo, "gale.access", "request \"done\"",
                                    {{"status", 200}, {"path", "/a\nb"}, {"ok", true}, {"ms", 1.5}});
    ASSERT_EQ(line.back(), '\n');
    EXPECT_EQ(line.find('\n'), line.size() - 1);
    auto j = nlohmann::json::parse(line);
    EXPECT_EQ(j["level"], "info");
    EXPECT_EQ(j["logger"], "gale.access");
    EXPECT_EQ(j["message"], "request \"done\"");
    EXPECT_EQ(j["status"], 200);
    EXPECT_EQ(j["path"], "/a\nb");
    EXPECT_EQ(j["ok"], true);
    EXPECT_DOUBLE_EQ(j["ms"].get<double>(), 1.5);
}

TEST(Log, TextRecordIsReadable) {
    std::string line = FormatRecord(Format::kText, Level::kWarning, "gale.server", "slow", {{"ms", 12}});
    EXPECT_NE(line.find("warning"), std::string::npos);
    EXPECT_NE(line.find("slow ms=12"), std::string::npos);
}

TEST(Log, LevelsParseAndFilter) {
    EXPECT_EQ(ParseLevel("WARN").value(), Level::kWarning);
    EXPECT_FALSE(ParseLevel("loud"));
    SetLevel(Level::kError);
    EXPECT_FALSE(Enabled(Level::kInfo));
    EXPECT_TRUE(Enabled(Level::kError));
    SetLevel(Level::kInfo);
}

}  // namespace
}  // namespace gale::log
