// SPDX-License-Identifier: MIT
#include <sys/stat.h>

#include <algorithm>
#include <filesystem>
#include <system_error>

#include <gale/lifecycle/autoreload.hpp>

namespace gale::lifecycle {

AutoReloader::AutoReloader(std::vector<std::string> paths, std::function<void(const std::string&)> on_change,
                           std::chrono::milliseconds interval, std::vector<std::string> suffixes)
    : paths_(std::move(paths)), suffixes_(std::move(suffixes)), on_change_(std::move(on_change)), interval_(interval) {
    thread_ = std::thread([this] { Run(); });
}

AutoReloader::~AutoReloader() {
    {
        std::lock_guard lock(mu_);
        stop_ = true;
    }
    cv_.notify_all();
    if (thread_.joinable()) thread_.join();
}

std::string AutoReloader::SelfExecutable() {
    std::error_code ec;
    auto p = std::filesystem::read_symlink("/proc/self/exe", ec);
    return ec ? std::string() : p.string();
}

bool AutoReloader::Wanted(const std::string& file) const {
    if (suffixes_.empty()) return true;
    for (const std::string& s : suffixes_) {
        if (file.ends_with(s)) return true;
    }
    return false;
}

std::map<std::string, AutoReloader::Stamp> AutoReloader::Snapshot() const {
    std::map<std::string, Stamp> out;
    auto add = [&](const std::string& path) {
        struct stat st {};
        if (::stat(path.c_str(), &st) != 0) {
            out[path] = Stamp{-1, -1, 0};  // missing is a state too: appearing counts as a change
            return;
        }
        out[path] = Stamp{static_cast<long long>(st.st_mtim.tv_sec) * 1'000'000'000LL + st.st_mtim.tv_nsec,
                          static_cast<long long>(st.st_size), static_cast<unsigned long long>(st.st_ino)};
    };
    for (const std::string& p : paths_) {
        std::error_code ec;
        if (std::filesystem::is_directory(p, ec)) {
            for (auto it = std::filesystem::recursive_directory_iterator(
                     p, std::filesystem::directory_options::skip_permission_denied, ec);
                 !ec && it != std::filesystem::recursive_directory_iterator(); it.increment(ec)) {
                if (it->is_regular_file(ec) && Wanted(it->path().string())) add(it->path().string());
            }
            if (suffixes_.empty()) add(p);
        } else {
            add(p);
        }
    }
    return out;
}

void AutoReloader::Run() {
    auto before = Snapshot();
    std::unique_lock lock(mu_);
    while (!cv_.wait_for(lock, interval_, [this] { return stop_; })) {
        lock.unlock();
        auto now = Snapshot();
        std::string changed;
        for (const auto& [path, stamp] : now) {
            auto it = before.find(path);
            if (it == before.end() || !(it->second == stamp)) {
                changed = path;
                break;
            }
        }
        if (changed.empty() && now.size() != before.size()) changed = "(a file was removed)";
        if (!changed.empty()) {
            // A rebuild writes the new binary over a while (the linker creates it, then fills it): wait until two
            // snapshots in a row agree (at most 20 intervals), so the restart execs a complete file.
            // A file that was there and is missing now (deleted, not yet written again) has not settled either.
            auto missing = [&before](const std::map<std::string, Stamp>& snapshot) {
                return std::any_of(snapshot.begin(), snapshot.end(), [&](const auto& e) {
                    auto it = before.find(e.first);
                    return e.second.size < 0 && it != before.end() && it->second.size >= 0;
                });
            };
            for (int i = 0; i < 20; ++i) {
                lock.lock();
                bool stop = cv_.wait_for(lock, interval_, [this] { return stop_; });
                lock.unlock();
                if (stop) return;
                auto again = Snapshot();
                if (again == now && !missing(again)) break;
                now = std::move(again);
            }
            on_change_(changed);
            return;  // one change is enough: the process is about to restart
        }
        lock.lock();
    }
}

}  // namespace gale::lifecycle
