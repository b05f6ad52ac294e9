// SPDX-License-Identifier: MIT
//
// The watcher thread sigwait()s on SIGTERM, SIGINT and SIGUSR2 (SIGUSR2 is only our own wake-up at destruction).
// The first termination signal requests a graceful stop; the second one ends the process at once with _exit(1),
// because by then the operator has asked twice and any cleanup we would run is what they are trying to skip.
#include <pthread.h>
#include <signal.h>
#include <unistd.h>

#include <cstring>

#include <gale/lifecycle/shutdown.hpp>
#include <gale/log/log.hpp>

namespace gale::lifecycle {
namespace {

sigset_t WatchedSignals() {
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGUSR2);
    return set;
}

}  // namespace

void BlockShutdownSignals() noexcept {
    sigset_t set = WatchedSignals();
    pthread_sigmask(SIG_BLOCK, &set, nullptr);
}

ShutdownController::ShutdownController(bool watch_signals) : watching_(watch_signals) {
    if (!watching_) return;
    BlockShutdownSignals();
    signal(SIGPIPE, SIG_IGN);
    watcher_ = std::thread([this] { WatchSignals(); });
}

ShutdownController::~ShutdownController() {
    if (watcher_.joinable()) {
        pthread_kill(watcher_.native_handle(), SIGUSR2);
        watcher_.join();
    }
}

void ShutdownController::WatchSignals() {
    sigset_t set = WatchedSignals();
    while (true) {
        int sig = 0;
        if (sigwait(&set, &sig) != 0) continue;
        if (sig == SIGUSR2) return;
        int n = ++signals_seen_;
        const char* name = sig == SIGTERM ? "SIGTERM" : "SIGINT";
        if (n >= 2) {
            log::Warning("gale.lifecycle", "second signal: exiting now without draining", {{"signal", name}});
            _exit(1);
        }
        log::Info("gale.lifecycle", "received signal: starting graceful shutdown", {{"signal", name}});
        Request(StopReason::kSignal, name);
        cv_.notify_all();
    }
}

void ShutdownController::Request(StopReason reason, std::string why) {
    {
        std::lock_guard lock(mu_);
        StopReason expected = StopReason::kNone;
        if (reason_.compare_exchange_strong(expected, reason)) why_ = std::move(why);
    }
    cv_.notify_all();
}

std::string ShutdownController::why() const {
    std::lock_guard lock(mu_);
    return why_;
}

StopReason ShutdownController::Wait() {
    std::unique_lock lock(mu_);
    cv_.wait(lock, [this] { return requested(); });
    return reason_.load();
}

bool ShutdownController::WaitFor(std::chrono::milliseconds timeout) {
    std::unique_lock lock(mu_);
    return cv_.wait_for(lock, timeout, [this] { return requested(); });
}

bool ShutdownController::SleepUnlessForced(std::chrono::milliseconds duration) {
    std::unique_lock lock(mu_);
    int seen = signals_seen_.load();
    return !cv_.wait_for(lock, duration, [&] { return signals_seen_.load() > seen && seen > 0; });
}

}  // namespace gale::lifecycle
