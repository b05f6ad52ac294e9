// SPDX-License-Identifier: MIT
#include <cmath>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <gale/health/probes.hpp>

namespace gale::health {

std::string_view ToString(Probe probe) noexcept {
    switch (probe) {
        case Probe::kStartup:
            return "startup";
        case Probe::kReadiness:
            return "readiness";
        case Probe::kLiveness:
            return "liveness";
    }
    return "startup";
}

ProbeState::ProbeState(CheckRegistry& checks, ProbeConfig config, ProbeInputs inputs)
    : checks_(checks), config_(config), inputs_(std::move(inputs)) {}

ProbeReport ProbeState::Evaluate(Probe probe, CheckWait wait) {
    ProbeReport r;
    r.probe = probe;
    std::size_t queue = inputs_.queue_length ? inputs_.queue_length() : 0;
    std::uint8_t tag = probe == Probe::kStartup ? kStartup : probe == Probe::kReadiness ? kReadiness : kLiveness;
    r.checks = wait == CheckWait::kWait ? checks_.Run(tag) : checks_.Peek(tag, std::chrono::milliseconds(0));
    std::string failing_names;
    std::string pending_names;
    for (const CheckOutcome& c : r.checks) {
        std::string& names = c.failing ? failing_names : pending_names;
        if (!c.failing && !(c.pending && probe != Probe::kLiveness)) continue;
        if (!names.empty()) names += ", ";
        names += c.name;
    }
    // What fails the probe because of its checks: failures first, else checks with no result yet.
    std::string check_problem = !failing_names.empty()   ? "failing checks: " + failing_names
                                : !pending_names.empty() ? "checks pending: " + pending_names
                                                         : std::string();
    switch (probe) {
        case Probe::kStartup:
            if (!started()) {
                r.reason = "start-up steps still running";
            } else if (!check_problem.empty()) {
                r.reason = check_problem;
            }
            break;
        case Probe::kReadiness:
            if (!started()) {
                r.reason = "not started";
            } else if (draining()) {
                r.reason = "draining: shutting down";
            } else if (!check_problem.empty()) {
                r.reason = check_problem;
            } else if (queue >= config_.req_queue_len) {
                r.reason = fmt::format("request queue {} >= {}", queue, config_.req_queue_len);
            }
            break;
        case Probe::kLiveness: {
            std::int64_t stall = inputs_.loop_stall_ms ? inputs_.loop_stall_ms() : 0;
            std::uint64_t served = inputs_.requests_served ? inputs_.requests_served() : 0;
            if (!check_problem.empty()) {
                r.reason = check_problem;
            } else if (stall > config_.watchdog_timeout.count()) {
                r.reason = fmt::format("event loop stalled for {} ms", stall);
            } else if (config_.max_lifetime != 0 && served > config_.max_lifetime) {
                r.reason = fmt::format("max lifetime reached: {} requests > {}", served, config_.max_lifetime);
            }
            break;
        }
    }
    r.pass = r.reason.empty();
    r.http_status = r.pass ? 200 : probe == Probe::kLiveness ? 500 : 503;

    nlohmann::ordered_json j;
    j["probe"] = ToString(probe);
    j["status"] = r.pass ? "pass" : "fail";
    if (!r.pass) j["reason"] = r.reason;
    j["started"] = started();
    j["draining"] = draining();
    j["queue_length"] = queue;
    j["req_queue_len"] = config_.req_queue_len;
    nlohmann::ordered_json checks = nlohmann::ordered_json::array();
    for (const CheckOutcome& c : r.checks) {
        nlohmann::ordered_json cj;
        cj["name"] = c.name;
        cj["status"] = ToString(c.status);
        cj["message"] = c.message;
        cj["duration_ms"] = std::round(c.duration_ms * 1000) / 1000;
        checks.push_back(std::move(cj));
    }
    j["checks"] = std::move(checks);
    r.body = j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
    r.body += '\n';
    return r;
}

}  // namespace gale::health
