// SPDX-License-Identifier: MIT
/// @file gale/lifecycle/autoreload.hpp
/// @brief Watches the running binary and extra paths; calls back once when any of them changes and has settled
///        (two polls in a row see the same state, so a binary being written by the linker is complete).
///
/// Polls (mtime, size, inode) every interval: portable across bind mounts and editors that replace files, and cheap
/// at the scale of a development tree. Directories are watched recursively. Thread-safety: owns one thread;
/// the callback runs on it.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace gale::lifecycle {

class AutoReloader {
public:
    /// `suffixes` (".py"): in watched directories only files ending so count, and the directories' own changes
    /// (a database or log file created there) do not; empty: every file. Paths named directly always count.
    AutoReloader(std::vector<std::string> paths, std::function<void(const std::string& changed)> on_change,
                 std::chrono::milliseconds interval = std::chrono::milliseconds(500),
                 std::vector<std::string> suffixes = {});
    ~AutoReloader();
    AutoReloader(const AutoReloader&) = delete;
    AutoReloader& operator=(const AutoReloader&) = delete;

    /// The path of the running executable (/proc/self/exe resolved), watched by default.
    static std::string SelfExecutable();

private:
    struct Stamp {
        long long mtime_ns = 0;
        long long size = 0;
        unsigned long long inode = 0;
        bool operator==(const Stamp&) const = default;
    };
    std::map<std::string, Stamp> Snapshot() const;
    bool Wanted(const std::string& file) const;
    void Run();

    std::vector<std::string> paths_;
    std::vector<std::string> suffixes_;
    std::function<void(const std::string&)> on_change_;
    std::chrono::milliseconds interval_;
    std::mutex mu_;
    std::condition_variable cv_;
    bool stop_ = false;
    std::thread thread_;
};

}  // namespace gale::lifecycle
