// SPDX-License-Identifier: MIT
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <thread>

#include <gtest/gtest.h>

#include <gale/lifecycle/autoreload.hpp>
#include <gale/lifecycle/shutdown.hpp>

namespace gale::lifecycle {
namespace {

using namespace std::chrono_literals;

TEST(ShutdownController, FirstRequestWins) {
    ShutdownController c(/*watch_signals=*/false);
    EXPECT_FALSE(c.requested());
    EXPECT_FALSE(c.WaitFor(10ms));
    std::thread t([&] { c.Request(StopReason::kReload, "file changed"); });
    EXPECT_EQ(c.Wait(), StopReason::kReload);
    t.join();
    c.Request(StopReason::kSignal, "SIGTERM");
    EXPECT_EQ(c.reason(), StopReason::kReload);
    EXPECT_EQ(c.why(), "file changed");
}

TEST(AutoReloader, ReportsAChangedFile) {
    auto dir = std::filesystem::temp_directory_path() / ("gale-reload-" + std::to_string(::getpid()));
    std::filesystem::create_directories(dir / "sub");
    std::ofstream(dir / "sub" / "a.txt") << "one";
    std::atomic<bool> changed{false};
    std::string which;
    {
        AutoReloader r(
            {dir.string()},
            [&](const std::string& p) {
                which = p;
                changed = true;
            },
            20ms);
        std::this_thread::sleep_for(60ms);
        EXPECT_FALSE(changed.load());
        std::ofstream(dir / "sub" / "a.txt") << "two, longer";
        for (int i = 0; i < 200 && !changed; ++i) std::this_thread::sleep_for(10ms);
    }
    EXPECT_TRUE(changed.load());
    EXPECT_NE(which.find("a.txt"), std::string::npos);
    EXPECT_FALSE(AutoReloader::SelfExecutable().empty());
    std::filesystem::remove_all(dir);
}

TEST(AutoReloader, SuffixesLimitWhatCountsInDirectories) {
    auto dir = std::filesystem::temp_directory_path() / ("gale-reload-py-" + std::to_string(::getpid()));
    std::filesystem::create_directories(dir / "app");
    std::ofstream(dir / "app" / "views.py") << "one";
    std::atomic<bool> changed{false};
    std::string which;
    {
        AutoReloader r({dir.string()},
                       [&](const std::string& p) {
                           which = p;
                           changed = true;
                       },
                       20ms, {".py"});
        std::this_thread::sleep_for(60ms);
        std::ofstream(dir / "db.sqlite3") << "a database written beside the code";  // new file: not .py
        std::ofstream(dir / "app" / "server.log") << "a log line";
        std::this_thread::sleep_for(150ms);
        EXPECT_FALSE(changed.load()) << which;
        std::ofstream(dir / "app" / "views.py") << "two, longer";
        for (int i = 0; i < 200 && !changed; ++i) std::this_thread::sleep_for(10ms);
    }
    EXPECT_TRUE(changed.load());
    EXPECT_NE(which.find("views.py"), std::string::npos);
    std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace gale::lifecycle
