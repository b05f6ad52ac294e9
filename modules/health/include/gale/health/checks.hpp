// SPDX-License-Identifier: MIT
/// @file gale/health/checks.hpp
/// @brief Health checks: a registry of named checks, each tagged for the probes it affects, run off the event
///        loop with a timeout and cached for a short interval so that probe storms cost nothing.
///
/// Thread-safety: Add is called before serving starts; Run may be called from any number of threads at once
/// (concurrent callers share one execution of a check). A check that hangs is reported as timed out; it keeps its
/// thread until it returns, and is not started again meanwhile.
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
enum class Status { kOk, kWarning, kError };
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
};

class CheckRegistry {
public:
    explicit CheckRegistry(std::chrono::milliseconds cache_ttl = std::chrono::milliseconds(1000));
    ~CheckRegistry();
    CheckRegistry(const CheckRegistry&) = delete;
    CheckRegistry& operator=(const CheckRegistry&) = delete;

    /// Registers a check. Errors: empty or duplicate name, no tags.
    [[nodiscard]] Result<void> Add(std::string name, CheckFn fn, CheckOptions options = {});

    /// Runs every check carrying `tag` (any tag if tag is 0), using cached results younger than the TTL, waiting
    /// at most each check's timeout. Results are in registration order.
    std::vector<CheckOutcome> Run(std::uint8_t tag, bool use_cache = true);

    std::size_t size() const;
    std::vector<std::string> names() const;

private:
    struct Entry;
    std::vector<std::shared_ptr<Entry>> entries_;
    std::chrono::milliseconds cache_ttl_;
    mutable std::mutex mu_;
};

}  // namespace gale::health
