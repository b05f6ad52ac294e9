// SPDX-License-Identifier: MIT
/// @file gale/health/probes.hpp
/// @brief The Kubernetes probe state machine: startup, readiness and liveness from checks and server state.
///
/// Thread-safety: all members may be called from any thread.
///
/// | probe     | passes (200) when                                                                   | fails with |
/// |-----------|-------------------------------------------------------------------------------------|------------|
/// | startup   | start-up steps done and startup-tagged checks pass                                  | 503        |
/// | readiness | started, not draining, readiness checks pass, request queue < req_queue_len          | 503        |
/// | liveness  | liveness checks pass, every event loop turned within the watchdog, under max lifetime | 500        |
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include <gale/health/checks.hpp>

namespace gale::health {

enum class Probe { kStartup, kReadiness, kLiveness };

/// How Evaluate gets check results: kPeek never waits (the HTTP probes: they answer at once whatever a check does,
/// from the last results; a check with no result yet is "pending", which fails startup and readiness but not
/// liveness); kWait waits for each stale check up to its timeout (the probe monitor, `check`).
enum class CheckWait { kPeek, kWait };
std::string_view ToString(Probe probe) noexcept;

struct ProbeConfig {
    std::size_t req_queue_len = 10;
    std::uint64_t max_lifetime = 0;  ///< requests before liveness fails; 0 = no limit
    std::chrono::milliseconds watchdog_timeout{10'000};
};

/// Live figures from the server; unset functions read as 0.
struct ProbeInputs {
    std::function<std::size_t()> queue_length;
    std::function<std::int64_t()> loop_stall_ms;
    std::function<std::uint64_t()> requests_served;
};

struct ProbeReport {
    Probe probe = Probe::kStartup;
    bool pass = false;
    int http_status = 503;
    std::string reason;                ///< empty when passing
    std::vector<CheckOutcome> checks;  ///< every check the probe ran
    std::string body;                  ///< JSON
};

class ProbeState {
public:
    ProbeState(CheckRegistry& checks, ProbeConfig config, ProbeInputs inputs);

    void SetStarted() noexcept { started_.store(true); }
    bool started() const noexcept { return started_.load(); }
    void SetDraining() noexcept { draining_.store(true); }
    bool draining() const noexcept { return draining_.load(); }
    const ProbeConfig& config() const noexcept { return config_; }

    /// Evaluates a probe now (checks come from the registry's cache when fresh; see CheckWait).
    ProbeReport Evaluate(Probe probe, CheckWait wait = CheckWait::kPeek);

private:
    CheckRegistry& checks_;
    ProbeConfig config_;
    ProbeInputs inputs_;
    std::atomic<bool> started_{false};
    std::atomic<bool> draining_{false};
};

}  // namespace gale::health
