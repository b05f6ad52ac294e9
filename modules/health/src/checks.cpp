// SPDX-License-Identifier: MIT
//
// Each check has a shared Entry holding its last outcome. Run() starts a detached thread for each stale check that
// is not already running, then waits on the entry's condition variable up to the check's timeout. The thread owns
// a shared_ptr to the entry, so a check that outlives its caller (or the registry) touches only memory it owns.
#include <condition_variable>
#include <exception>
#include <thread>

#include <fmt/format.h>

#include <gale/health/checks.hpp>

namespace gale::health {

std::string_view ToString(Status status) noexcept {
    switch (status) {
        case Status::kOk:
            return "ok";
        case Status::kWarning:
            return "warning";
        case Status::kError:
            return "error";
    }
    return "error";
}

struct CheckRegistry::Entry {
    std::string name;
    CheckFn fn;
    CheckOptions options;
    std::mutex mu;
    std::condition_variable cv;
    bool running = false;
    bool has_result = false;
    std::uint64_t generation = 0;  // bumped when a run completes
    CheckResult result;
    double duration_ms = 0;
    std::chrono::steady_clock::time_point finished_at{};
};

CheckRegistry::CheckRegistry(std::chrono::milliseconds cache_ttl) : cache_ttl_(cache_ttl) {}
CheckRegistry::~CheckRegistry() = default;

Result<void> CheckRegistry::Add(std::string name, CheckFn fn, CheckOptions options) {
    std::lock_guard lock(mu_);
    if (name.empty()) return MakeError(ErrorCode::kInvalidArgument, "health check: name must not be empty");
    if (options.tags == 0) {
        return MakeError(ErrorCode::kInvalidArgument, fmt::format("health check '{}': needs at least one tag", name));
    }
    if (!fn) return MakeError(ErrorCode::kInvalidArgument, fmt::format("health check '{}': no function", name));
    for (const auto& e : entries_) {
        if (e->name == name) {
            return MakeError(ErrorCode::kAlreadyExists, fmt::format("health check '{}' is already registered", name));
        }
    }
    auto e = std::make_shared<Entry>();
    e->name = std::move(name);
    e->fn = std::move(fn);
    e->options = options;
    entries_.push_back(std::move(e));
    return {};
}

std::vector<CheckOutcome> CheckRegistry::Run(std::uint8_t tag, bool use_cache) {
    std::vector<std::shared_ptr<Entry>> selected;
    {
        std::lock_guard lock(mu_);
        for (const auto& e : entries_) {
            if (tag == 0 || (e->options.tags & tag) != 0) selected.push_back(e);
        }
    }
    auto now = std::chrono::steady_clock::now();
    std::vector<std::uint64_t> waiting_for(selected.size(), 0);
    // Start every stale check first, so they run in parallel; then collect.
    for (std::size_t i = 0; i < selected.size(); ++i) {
        Entry& e = *selected[i];
        std::lock_guard lock(e.mu);
        bool fresh = use_cache && e.has_result && now - e.finished_at < cache_ttl_;
        if (fresh) {
            waiting_for[i] = 0;
            continue;
        }
        waiting_for[i] = e.generation + 1;
        if (e.running) continue;
        e.running = true;
        std::thread([entry = selected[i]] {
            auto start = std::chrono::steady_clock::now();
            CheckResult r;
            try {
                r = entry->fn();
            } catch (const std::exception& ex) {
                r = CheckResult::Error(fmt::format("check threw: {}", ex.what()));
            } catch (...) {
                r = CheckResult::Error("check threw a non-standard exception");
            }
            auto end = std::chrono::steady_clock::now();
            {
                std::lock_guard l(entry->mu);
                entry->result = std::move(r);
                entry->duration_ms = std::chrono::duration<double, std::milli>(end - start).count();
                entry->finished_at = end;
                entry->has_result = true;
                entry->running = false;
                ++entry->generation;
            }
            entry->cv.notify_all();
        }).detach();
    }
    std::vector<CheckOutcome> out;
    out.reserve(selected.size());
    for (std::size_t i = 0; i < selected.size(); ++i) {
        Entry& e = *selected[i];
        std::unique_lock lock(e.mu);
        CheckOutcome o;
        o.name = e.name;
        if (waiting_for[i] != 0) {
            bool done = e.cv.wait_until(lock, now + e.options.timeout, [&] { return e.generation >= waiting_for[i]; });
            if (!done) {
                o.status = Status::kError;
                o.message = fmt::format("timed out after {} ms", e.options.timeout.count());
                o.duration_ms = static_cast<double>(e.options.timeout.count());
                o.failing = e.options.level == Status::kError;
                out.push_back(std::move(o));
                continue;
            }
        }
        o.status = e.result.status;
        o.message = e.result.message;
        o.duration_ms = e.duration_ms;
        // A failure counts at the check's level: a check declared as warning-level never fails a probe.
        if (o.status != Status::kOk && e.options.level == Status::kWarning) o.status = Status::kWarning;
        o.failing = o.status == Status::kError;
        out.push_back(std::move(o));
    }
    return out;
}

std::size_t CheckRegistry::size() const {
    std::lock_guard lock(mu_);
    return entries_.size();
}

std::vector<std::string> CheckRegistry::names() const {
    std::lock_guard lock(mu_);
    std::vector<std::string> n;
    for (const auto& e : entries_) n.push_back(e->name);
    return n;
}

}  // namespace gale::health
