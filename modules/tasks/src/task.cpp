// SPDX-License-Identifier: MIT
#include <charconv>
#include <cmath>

#include <fmt/format.h>

#include <gale/tasks/task.hpp>

namespace gale::tasks {
namespace {

tl::unexpected<Error> Invalid(std::string message) {
    return MakeError(ErrorCode::kInvalidArgument, std::move(message));
}

}  // namespace

std::chrono::milliseconds RetryPolicy::Delay(int retries) const noexcept {
    if (retries < 0) retries = 0;
    const double factor = std::ldexp(1.0, std::min(retries, 62));
    const double ms = static_cast<double>(backoff.count()) * factor;
    const double cap = static_cast<double>(max_backoff.count());
    return std::chrono::milliseconds(static_cast<std::int64_t>(std::min(ms, cap)));
}

Result<double> ParseRateLimit(std::string_view text) {
    auto bad = [&] {
        return Invalid(fmt::format("rate limit '{}' is not N/s, N/m, N/h or a number per second", text.substr(0, 32)));
    };
    std::string_view number = text;
    double per = 1;
    if (auto slash = text.find('/'); slash != std::string_view::npos) {
        number = text.substr(0, slash);
        std::string_view unit = text.substr(slash + 1);
        if (unit == "s") {
            per = 1;
        } else if (unit == "m") {
            per = 60;
        } else if (unit == "h") {
            per = 3600;
        } else {
            return bad();
        }
    }
    double n = 0;
    auto [ptr, ec] = std::from_chars(number.data(), number.data() + number.size(), n);
    if (number.empty() || ec != std::errc() || ptr != number.data() + number.size() || !std::isfinite(n) || n <= 0) {
        return bad();
    }
    return n / per;
}

Result<void> TaskRegistry::Add(std::string name, TaskFn fn, TaskOptions options) {
    if (name.empty()) return Invalid("a task needs a name");
    if (tasks_.count(name) != 0) return Invalid(fmt::format("task '{}' is already registered", name));
    if (!fn) return Invalid(fmt::format("task '{}': no function", name));
    auto def = std::make_shared<TaskDefinition>();
    if (!options.rate_limit.empty()) {
        auto rate = ParseRateLimit(options.rate_limit);
        if (!rate) return Invalid(fmt::format("task '{}': {}", name, rate.error().message()));
        def->rate_per_second = *rate;
    }
    const auto zero = std::chrono::milliseconds(0);
    if (options.soft_time_limit && *options.soft_time_limit <= zero) {
        return Invalid(fmt::format("task '{}': the soft time limit must be above 0", name));
    }
    if (options.time_limit && *options.time_limit <= zero) {
        return Invalid(fmt::format("task '{}': the time limit must be above 0", name));
    }
    if (options.soft_time_limit && options.time_limit && *options.soft_time_limit > *options.time_limit) {
        return Invalid(fmt::format("task '{}': the soft time limit ({} ms) is above the hard one ({} ms)", name,
                                   options.soft_time_limit->count(), options.time_limit->count()));
    }
    if (options.retry.max_retries < 0) return Invalid(fmt::format("task '{}': max_retries below 0", name));
    if (options.retry.backoff < zero || options.retry.max_backoff < zero) {
        return Invalid(fmt::format("task '{}': a negative retry backoff", name));
    }
    def->name = name;
    def->fn = std::move(fn);
    def->options = std::move(options);
    tasks_.emplace(std::move(name), std::move(def));
    return {};
}

std::shared_ptr<const TaskDefinition> TaskRegistry::Find(std::string_view name) const {
    auto it = tasks_.find(name);
    return it == tasks_.end() ? nullptr : it->second;
}

std::vector<std::string> TaskRegistry::Names() const {
    std::vector<std::string> out;
    out.reserve(tasks_.size());
    for (const auto& [name, def] : tasks_) out.push_back(name);
    return out;
}

}  // namespace gale::tasks
