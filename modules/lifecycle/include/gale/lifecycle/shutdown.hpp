// SPDX-License-Identifier: MIT
/// @file gale/lifecycle/shutdown.hpp
/// @brief Turns SIGTERM/SIGINT into an orderly shutdown request, and a second one into an immediate exit.
///
/// Construct it on the main thread *before* any other thread starts: it blocks the signals in the calling thread,
/// so every thread created afterwards inherits the mask and only its own watcher thread receives them.
/// Thread-safety: Request, requested and WaitFor may be called from any thread.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <string>
#include <thread>

namespace gale::lifecycle {

enum class StopReason { kNone, kSignal, kReload, kRequested };

/// Blocks the signals ShutdownController watches (SIGTERM, SIGINT, SIGUSR2) in the calling thread, so threads it
/// starts afterwards inherit the mask. For a process whose first threads start before its ShutdownController
/// (gale-wsgi: the Python app's import); the controller calls it itself.
void BlockShutdownSignals() noexcept;

class ShutdownController {
public:
    /// `watch_signals` false (for tests) skips the signal mask and watcher thread.
    explicit ShutdownController(bool watch_signals = true);
    ~ShutdownController();
    ShutdownController(const ShutdownController&) = delete;
    ShutdownController& operator=(const ShutdownController&) = delete;

    /// Asks for a stop (first call wins). Used by the signal watcher, autoreload and tests.
    void Request(StopReason reason, std::string why = {});
    StopReason reason() const noexcept { return reason_.load(); }
    bool requested() const noexcept { return reason_.load() != StopReason::kNone; }
    std::string why() const;

    /// Blocks until a stop is requested. Returns the reason.
    StopReason Wait();
    /// Blocks up to `timeout`; true if a stop was requested by then.
    bool WaitFor(std::chrono::milliseconds timeout);
    /// Sleeps `duration` unless interrupted by a *second* signal or a forced stop; returns false if interrupted.
    bool SleepUnlessForced(std::chrono::milliseconds duration);

private:
    void WatchSignals();

    std::atomic<StopReason> reason_{StopReason::kNone};
    std::atomic<int> signals_seen_{0};
    mutable std::mutex mu_;
    std::condition_variable cv_;
    std::string why_;
    bool watching_ = false;
    std::thread watcher_;
};

}  // namespace gale::lifecycle
