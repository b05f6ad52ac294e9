// SPDX-License-Identifier: MIT
/// @file gale/base/testing/gate.hpp
/// @brief A gate a test opens to let the threads waiting at it go on.
#pragma once

#include <condition_variable>
#include <mutex>

namespace gale::testing {

/// Wait blocks until Open; after Open, Wait returns at once. Thread-safe.
class Gate {
public:
    void Open() {
        {
            std::lock_guard lock(mu_);
            open_ = true;
        }
        cv_.notify_all();
    }
    void Wait() {
        std::unique_lock lock(mu_);
        cv_.wait(lock, [&] { return open_; });
    }

private:
    std::mutex mu_;
    std::condition_variable cv_;
    bool open_ = false;
};

}  // namespace gale::testing
