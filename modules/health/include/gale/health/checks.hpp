// SPDX-License-Identifier: MIT
/// @file gale/health/checks.hpp
/// @brief Health checks: a registry of named checks, each tagged for the probes it affects, run off the event
///        loop with a timeout and cached for a short interval so that probe storms cost nothing.
///
/// Every check runs on a thread of its own, so a slow check never delays another, and callers choose how long
/// they wait: Run waits for each check up to its timeout (the `check` command, the probe monitor), Peek waits at
/// most a budget and otherwise reports what is known (the HTTP probes, which must answer within kubelet's 1 s
/// whatever a check does). What a caller gets for a check, in order:
///
/// | state of the check                                    | reported                                  |
/// |-------------------------------------------------------|-------------------------------------------|
/// | a result younger than the cache TTL, newer than the last Invalidate | that result                  |
/// | running for longer than its timeout                   | error "timed out after N ms"              |
/// | otherwise, a result exists                            | the last result (a new run is under way)  |
/// | otherwise                                             | Status::kPending "pending: first run not finished" |
///
/// Thread-safety: Add is called before serving starts; Run, Peek and Invalidate may be called from any number of
/// threads at once (concurrent callers share one execution of a check). A check that hangs keeps its thread until
/// it returns and is not started again meanwhile.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include <gale/base/error.hpp>

namespace gale::health {

/// Which probes a check feeds. Combine with |.
enum Tag : std::uint8_t { kLiveness = 1, kReadiness = 2, kStartup = 4 };

/// Outcome of one check run, and the severity a check's failure has.
/// kPending is never returned by a check: the registry reports it for a check whose first run has not finished.
enum class Status { kOk, kWarning, kError, kPending };
std::string_view ToString(Status status) noexcept;

struct CheckResult {
    Status status = Status::kOk;
    std::string message;

    static CheckResult Ok(std::string message = {}) { return {Status::kOk, std::move(message)}; }
    static CheckResult Warning(std::string message) { return {Status::kWarning, std::move(message)}; }
    static CheckResult Error(std::string message) { return {Status::kError, std::move(message)}; }
};

/// A check function. It may block (it runs on its own thread); it may throw (reported as an error).
using CheckFn = std::function<CheckResult()>;

struct CheckOptions {
    std::uint8_t tags = kReadiness;
    /// Severity of a failure: kError fails the probes the check is tagged for; kWarning only reports.
    Status level = Status::kError;
    std::chrono::milliseconds timeout{2000};
};

/// One check's entry in a probe report.
struct CheckOutcome {
    std::string name;
    Status status = Status::kOk;
    std::string message;
    double duration_ms = 0;
    bool failing = false;  ///< failed at a level that fails the probe
    bool pending = false;  ///< no result yet (status kPending); startup and readiness count it as failing
};

class CheckRegistry {
public:
    explicit CheckRegistry(std::chrono::milliseconds cache_ttl = std::chrono::milliseconds(1000));
    ~CheckRegistry();
    CheckRegistry(const CheckRegistry&) = delete;
    CheckRegistry& operator=(const CheckRegistry&) = delete;

    /// Registers a check. Errors: empty or duplicate name, no tags.
    [[nodiscard]] Result<void> Add(std::string name, CheckFn fn, CheckOptions options = {});

    /// Runs every check carrying `tag` (any tag if tag is 0), using cached results younger than the TTL (unless
    /// `use_cache` is false), waiting for each check at most its timeout. Results are in registration order.
    std::vector<CheckOutcome> Run(std::uint8_t tag, bool use_cache = true);
    /// Like Run, but waits at most `budget` in all (zero: not at all) and then reports what is known (see the
    /// table above). Stale checks are started either way, so the next call finds them fresh.
    std::vector<CheckOutcome> Peek(std::uint8_t tag, std::chrono::milliseconds budget);
    /// Makes every result stale, including a run in progress (it is run again when it ends): used when the state
    /// a check reads has just changed, e.g. start-up steps that applied migrations.
    void Invalidate();
    std::size_t size() const;
    std::vector<std::string> names() const;

    struct Entry;  // internal; defined in src/

private:
    std::vector<CheckOutcome> Collect(std::uint8_t tag, bool use_cache, std::chrono::milliseconds budget,
                                      bool budget_is_each_timeout);
    std::vector<std::shared_ptr<Entry>> entries_;
    std::chrono::milliseconds cache_ttl_;
    mutable std::mutex mu_;
    std::chrono::steady_clock::time_point valid_after_{};  // results of runs started before this are stale
};

}  // namespace gale::health
