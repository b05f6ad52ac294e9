// SPDX-License-Identifier: MIT
#include "roles/beat.hpp"

#include <algorithm>
#include <mutex>

#include <fmt/format.h>

#include <gale/log/log.hpp>

namespace gale::app {
namespace {

constexpr const char* kLogger = "gale.beat";

std::string LeaderOrStandby(const tasks::BeatStats& s) { return s.leader ? "leader" : "standby"; }

class BeatRole final : public Role {
public:
    explicit BeatRole(BeatRoleOptions options) : options_(std::move(options)) {}

    std::string_view name() const noexcept override { return "beat"; }

    Result<void> Declare(RoleContext& ctx) override {
        App::State& state = ctx.state;
        GALE_ASSIGN_OR_RETURN(entries_, tasks::BeatEntriesFromSettings(options_.entries, state.settings));
        if (entries_.empty()) {
            return MakeError(ErrorCode::kInvalidArgument,
                             "no periodic entries: declare them in code or in GALE_BEAT_SCHEDULE before running beat");
        }
        if (options_.database) {
            database_ = *options_.database;
        } else {
            const config::Settings& settings = state.settings;
            GALE_ASSIGN_OR_RETURN(database_, db::OptionsFromEnvironment([&settings](std::string_view key) {
                                      auto v = settings.Find(key);
                                      return v && !v->empty() ? v : std::nullopt;
                                  }));
        }
        GALE_ASSIGN_OR_RETURN(client_, EnsureTasks(state));
        if (ctx.registry != nullptr) metrics_ = std::make_unique<tasks::BeatMetrics>(*ctx.registry);
        beat_name_ = options_.name.empty() ? state.name : options_.name;
        if (beat_name_.empty()) beat_name_ = "default";
        max_stall_ =
            options_.max_stall.count() > 0 ? options_.max_stall : std::max(3 * options_.max_tick, options_.lease);

        const std::string where = database_.Describe();
        GALE_RETURN_IF_ERROR(
            state.checks.Add("beat-database",
                             [this, where] {
                                 auto s = Stats();
                                 if (s && s->last_tick && s->last_error.empty())
                                     return health::CheckResult::Ok(fmt::format("lease and state in {}", where));
                                 return health::CheckResult::Error(fmt::format("beat has not reached {}{}{}", where,
                                                                               s && !s->last_error.empty() ? ": " : "",
                                                                               s ? s->last_error : std::string()));
                             },
                             {.tags = health::kStartup}));
        GALE_RETURN_IF_ERROR(state.checks.Add("beat",
                                              [this] {
                                                  auto s = Stats();
                                                  if (!s || !s->running)
                                                      return health::CheckResult::Error("beat is not running");
                                                  std::string next =
                                                      s->next_due ? fmt::format(", next {} at {}", s->next_entry,
                                                                                tasks::FormatIsoTime(*s->next_due))
                                                                  : std::string();
                                                  return health::CheckResult::Ok(fmt::format(
                                                      "{} ({}){}{}{}", LeaderOrStandby(*s), s->holder, next,
                                                      s->last_error.empty() ? "" : "; last error: ", s->last_error));
                                              },
                                              {.tags = health::kReadiness}));
        GALE_RETURN_IF_ERROR(state.checks.Add(
            "beat-loop",
            [this] {
                auto s = Stats();
                if (!s || !s->running) return health::CheckResult::Ok("not running");
                const auto since = std::chrono::duration_cast<std::chrono::milliseconds>(
                    std::chrono::steady_clock::now() - s->last_turn);
                if (since <= max_stall_) return health::CheckResult::Ok();
                return health::CheckResult::Error(fmt::format("the beat loop has not turned for {} ms (limit {} ms)",
                                                              since.count(), max_stall_.count()));
            },
            {.tags = health::kLiveness}));
        return {};
    }

    Result<void> Start() override {
        tasks::BeatOptions o;
        o.name = beat_name_;
        o.database = database_;
        o.lease = options_.lease;
        o.max_tick = options_.max_tick;
        o.metrics = metrics_.get();
        GALE_ASSIGN_OR_RETURN(auto beat, tasks::Beat::Create(entries_, *client_, std::move(o)));
        {
            std::lock_guard lock(mu_);
            beat_ = std::move(beat);
        }
        GALE_RETURN_IF_ERROR(beat_->Start());
        log::Info(kLogger, "beat role started",
                  {{"beat", beat_name_},
                   {"database", database_.Describe()},
                   {"broker", client_->broker().Describe()},
                   {"entries", entries_.size()},
                   {"lease_ms", options_.lease.count()},
                   {"holder", beat_->holder()}});
        return {};
    }

    void StopTaking() override {
        if (beat_) beat_->Stop();  // after its turn; releases the lease: a standby leads within its poll
    }
    bool WaitIdle(std::chrono::steady_clock::time_point /*deadline*/) override { return true; }
    void Stop() override {
        if (!beat_) return;
        beat_->Stop();
        auto s = beat_->Stats();
        std::uint64_t sent = 0;
        std::uint64_t failed = 0;
        for (const auto& [entry, e] : s.entries) {
            sent += e.sent;
            failed += e.failed;
        }
        log::Info(kLogger, "beat role stopped", {{"beat", beat_name_}, {"sent", sent}, {"failed", failed}});
    }

    std::int64_t stall_ms() const noexcept override {
        auto s = Stats();
        if (!s || !s->running) return 0;
        return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - s->last_turn)
            .count();
    }

private:
    std::optional<tasks::BeatStats> Stats() const {
        std::lock_guard lock(mu_);
        if (!beat_) return std::nullopt;
        return beat_->Stats();
    }

    BeatRoleOptions options_;
    std::vector<tasks::BeatEntry> entries_;
    db::ConnectionOptions database_;
    std::string beat_name_;
    std::chrono::milliseconds max_stall_{0};
    tasks::TaskClient* client_ = nullptr;
    std::unique_ptr<tasks::BeatMetrics> metrics_;  // declared before the beat, which borrows it
    mutable std::mutex mu_;                        // guards beat_ being set while the probes read it
    std::unique_ptr<tasks::Beat> beat_;
};

}  // namespace

std::unique_ptr<Role> MakeBeatRole(BeatRoleOptions options) { return std::make_unique<BeatRole>(std::move(options)); }

}  // namespace gale::app
