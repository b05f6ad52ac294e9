// SPDX-License-Identifier: MIT
//
// Each check has a shared Entry holding its last outcome. A run happens on a detached thread that owns a
// shared_ptr to the entry, so a check that outlives its caller (or the registry) touches only memory it owns.
// A caller that needs a newer result than the run in progress can give (the run started before an Invalidate, or
// before a use_cache=false call) sets `rerun`: the thread runs the check again as soon as it returns, so there is
// still never more than one execution of a check at a time. Callers wait on the entry's condition variable for a
// result from a run that started late enough, up to their deadline, and otherwise report what is known.
#include <condition_variable>
#include <exception>
#include <optional>
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
        case Status::kPending:
            return "pending";
    }
    return "error";
}

struct CheckRegistry::Entry {
    using TimePoint = std::chrono::steady_clock::time_point;
    std::string name;
    CheckFn fn;
    CheckOptions options;
    std::mutex mu;
    std::condition_variable cv;
    bool running = false;
    bool rerun = false;       // run again as soon as the current run returns
    TimePoint run_started{};  // of the run in progress
    bool has_result = false;
    CheckResult result;
    double duration_ms = 0;
    TimePoint result_started{};  // when the run that produced `result` started
    TimePoint finished_at{};
};

namespace {

using Entry = CheckRegistry::Entry;

// Starts a run of `entry` (its mutex held by the caller, `running` false).
void StartLocked(const std::shared_ptr<Entry>& entry, std::chrono::steady_clock::time_point now) {
    entry->running = true;
    entry->rerun = false;
    entry->run_started = now;
    std::thread([entry] {
        while (true) {
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
            std::unique_lock l(entry->mu);
            entry->result = std::move(r);
            entry->duration_ms = std::chrono::duration<double, std::milli>(end - start).count();
            entry->result_started = entry->run_started;
            entry->finished_at = end;
            entry->has_result = true;
            if (entry->rerun) {
                entry->rerun = false;
                entry->run_started = std::chrono::steady_clock::now();
                l.unlock();
                entry->cv.notify_all();
                continue;
            }
            entry->running = false;
            l.unlock();
            entry->cv.notify_all();
            return;
        }
    }).detach();
}

}  // namespace

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
    return Collect(tag, use_cache, std::chrono::milliseconds(0), /*budget_is_each_timeout=*/true);
}

std::vector<CheckOutcome> CheckRegistry::Peek(std::uint8_t tag, std::chrono::milliseconds budget) {
    return Collect(tag, /*use_cache=*/true, budget, /*budget_is_each_timeout=*/false);
}

void CheckRegistry::Invalidate() {
    std::lock_guard lock(mu_);
    valid_after_ = std::chrono::steady_clock::now();
}

std::vector<CheckOutcome> CheckRegistry::Collect(std::uint8_t tag, bool use_cache, std::chrono::milliseconds budget,
                                                 bool budget_is_each_timeout) {
    using Clock = std::chrono::steady_clock;
    std::vector<std::shared_ptr<Entry>> selected;
    Clock::time_point valid_after;
    {
        std::lock_guard lock(mu_);
        for (const auto& e : entries_) {
            if (tag == 0 || (e->options.tags & tag) != 0) selected.push_back(e);
        }
        valid_after = valid_after_;
    }
    const auto now = Clock::now();
    // need[i]: the result must come from a run started at or after this; nullopt: the cached result will do.
    std::vector<std::optional<Clock::time_point>> need(selected.size());
    // Start every stale check first, so they run in parallel; then collect.
    for (std::size_t i = 0; i < selected.size(); ++i) {
        Entry& e = *selected[i];
        std::lock_guard lock(e.mu);
        bool fresh = use_cache && e.has_result && e.result_started >= valid_after && now - e.finished_at < cache_ttl_;
        if (fresh) continue;
        Clock::time_point required = use_cache ? valid_after : now;
        if (use_cache && e.has_result && e.result_started >= required) required = e.result_started + Clock::duration(1);
        need[i] = required;
        if (!e.running) {
            StartLocked(selected[i], now);
        } else if (e.run_started < required) {
            e.rerun = true;
        }
    }
    const auto shared_deadline = now + budget;
    std::vector<CheckOutcome> out;
    out.reserve(selected.size());
    for (std::size_t i = 0; i < selected.size(); ++i) {
        Entry& e = *selected[i];
        std::unique_lock lock(e.mu);
        CheckOutcome o;
        o.name = e.name;
        bool have = !need[i].has_value();
        if (!have) {
            auto deadline = budget_is_each_timeout ? now + e.options.timeout : shared_deadline;
            have = e.cv.wait_until(lock, deadline, [&] { return e.has_result && e.result_started >= *need[i]; });
        }
        auto at = Clock::now();
        if (!have && e.running && at - e.run_started > e.options.timeout) {
            o.status = Status::kError;
            o.message = fmt::format("timed out after {} ms", e.options.timeout.count());
            o.duration_ms = std::chrono::duration<double, std::milli>(at - e.run_started).count();
            o.failing = e.options.level == Status::kError;
            if (!o.failing) o.status = Status::kWarning;
            out.push_back(std::move(o));
            continue;
        }
        if (!e.has_result) {
            o.status = Status::kPending;
            o.message = "pending: first run not finished";
            o.pending = true;
            out.push_back(std::move(o));
            continue;
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
