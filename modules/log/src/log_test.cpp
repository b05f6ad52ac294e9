// SPDX-License-Identifier: MIT
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

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

TEST(Log, AProcessLabelGoesIntoEveryRecordOnceSet) {
    EXPECT_EQ(nlohmann::json::parse(FormatRecord(Format::kJson, Level::kInfo, "gale.serve", "up", {})).count("process"),
              0U);
    SetProcessLabel("1");
    auto j = nlohmann::json::parse(FormatRecord(Format::kJson, Level::kInfo, "gale.serve", "up", {{"port", 8000}}));
    std::string text = FormatRecord(Format::kText, Level::kInfo, "gale.serve", "up", {{"port", 8000}});
    SetProcessLabel("");
    EXPECT_EQ(j["process"], "1");
    EXPECT_EQ(j["port"], 8000);
    EXPECT_NE(text.find("up process=1 port=8000"), std::string::npos) << text;
}

TEST(Log, LevelsParseAndFilter) {
    EXPECT_EQ(ParseLevel("WARN").value(), Level::kWarning);
    EXPECT_FALSE(ParseLevel("loud"));
    SetLevel(Level::kError);
    EXPECT_FALSE(Enabled(Level::kInfo));
    EXPECT_TRUE(Enabled(Level::kError));
    SetLevel(Level::kInfo);
}

/// Records what it sees; writes one record of its own per record seen (which must not come back to it).
class RecordingObserver final : public Observer {
public:
    void OnRecord(const Record& r) noexcept override {
        std::string line = std::string(ToString(r.level)) + " " + std::string(r.logger) + " " + std::string(r.message);
        for (const Field& f : r.fields) {
            line += " " + std::string(f.key);
            if (const auto* v = std::get_if<std::string_view>(&f.value)) line += "=" + std::string(*v);
        }
        {
            std::lock_guard lock(mu);
            lines.push_back(line);
        }
        Warning("observer", "seen");  // written, not observed
        calls.fetch_add(1);
    }
    std::mutex mu;
    std::vector<std::string> lines;
    std::atomic<int> calls{0};
};

class LogObserver : public ::testing::Test {
protected:
    LogObserver() : sink_(std::tmpfile()) { SetOutputFd(fileno(sink_)); }
    ~LogObserver() override {
        SetObserver(nullptr);
        SetOutputFd(2);
        std::fclose(sink_);
    }
    std::FILE* sink_;
};

TEST_F(LogObserver, SeesWrittenRecordsWithFieldsButNotItsOwnOrFilteredOnes) {
    RecordingObserver o;
    SetObserver(&o);
    Info("gale.test", "hello", {{"request_id", "r1"}, {"n", 3}});
    Debug("gale.test", "below the level");
    WriteRaw("{\"raw\":true}\n");
    SetObserver(nullptr);
    Error("gale.test", "after removal");
    ASSERT_EQ(o.lines.size(), 1U);
    EXPECT_EQ(o.lines[0], "info gale.test hello request_id=r1 n");
    EXPECT_EQ(o.calls.load(), 1);
}

TEST_F(LogObserver, RemovalWaitsForThreadsInsideTheObserver) {
    // Writers log continuously while the observer is swapped and removed; after SetObserver(nullptr) returns, no
    // call may reach the old one (its counter must not move any more).
    RecordingObserver a;
    RecordingObserver b;
    std::atomic<bool> stop{false};
    std::vector<std::thread> writers;
    for (int i = 0; i < 4; ++i) {
        writers.emplace_back([&stop] {
            while (!stop.load()) Info("gale.test", "tick");
        });
    }
    SetObserver(&a);
    while (a.calls.load() < 100) std::this_thread::yield();
    SetObserver(&b);
    const int a_after_swap = a.calls.load();
    while (b.calls.load() < 100) std::this_thread::yield();
    SetObserver(nullptr);
    const int b_after_removal = b.calls.load();
    for (int i = 0; i < 1000; ++i) Info("gale.test", "tick");
    stop = true;
    for (auto& t : writers) t.join();
    EXPECT_EQ(a.calls.load(), a_after_swap);
    EXPECT_EQ(b.calls.load(), b_after_removal);
}

}  // namespace
}  // namespace gale::log
