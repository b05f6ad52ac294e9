// SPDX-License-Identifier: MIT
//
// The loop: MultiConsumer::RunRound over every consumer (each RunOnce handles at most one saved record plus any
// skipped ones), then metrics are brought up to date from each consumer's Stats(). A round that fails (a backend
// unreachable, a transaction failing) marks the backends not ready and waits a second before the next round; a
// round that succeeds marks them ready again.
#include "roles/pipe_consumers.hpp"

#include <atomic>
#include <condition_variable>
#include <mutex>
#include <thread>

#include <fmt/format.h>

#include <gale/log/log.hpp>
#include <gale/pipe/consumer.hpp>
#include <gale/pipe/consumer_metrics.hpp>

namespace gale::app {
namespace {

constexpr const char* kLogger = "gale.consume";

std::int64_t NowMs() {
    return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now().time_since_epoch())
        .count();
}

class PipeConsumersRole final : public Role {
public:
    std::string_view name() const noexcept override { return "pipe-consumers"; }

    Result<void> Declare(RoleContext& ctx) override {
        state_ = &ctx.state;
        GALE_RETURN_IF_ERROR(state_->checks.Add("pipe-backends",
                                                [this] {
                                                    if (backends_ok_.load())
                                                        return health::CheckResult::Ok(
                                                            "every consumer's backend answered");
                                                    std::lock_guard lock(error_mu_);
                                                    return health::CheckResult::Error(last_error_);
                                                },
                                                {.tags = health::kReadiness}));
        if (ctx.registry != nullptr) metrics_ = std::make_unique<pipe::ConsumerMetrics>(*ctx.registry);
        return {};
    }

    Result<void> Start() override {
        for (auto& [name, factory] : state_->consumers) {
            auto spec = factory(state_->settings);
            if (!spec) {
                return MakeError(ErrorCode::kUnavailable,
                                 fmt::format("consumer {}: {}", name, spec.error().ToString()));
            }
            if (!spec->consumer || !spec->backend) {
                return MakeError(ErrorCode::kInvalidArgument,
                                 fmt::format("consumer {}: the factory returned no consumer or no backend", name));
            }
            consumers_.push_back(spec->consumer.get());
            log::Info(kLogger, "consumer ready", {{"consumer", name}, {"topic", spec->consumer->topic()}});
            specs_.push_back(std::move(*spec));
        }
        multi_ = std::make_unique<pipe::MultiConsumer>(consumers_);
        last_turn_ms_.store(NowMs());
        thread_ = std::thread([this] { Loop(); });
        log::Info(kLogger, "consuming", {{"service", state_->name}, {"consumers", consumers_.size()}});
        return {};
    }

    void StopTaking() override {
        {
            std::lock_guard lock(mu_);
            stop_ = true;
        }
        cv_.notify_all();
    }
    bool WaitIdle(std::chrono::steady_clock::time_point deadline) override {
        std::unique_lock lock(mu_);
        return cv_.wait_until(lock, deadline, [this] { return loop_done_; });
    }
    void Stop() override {
        StopTaking();
        if (thread_.joinable()) thread_.join();
        std::uint64_t processed = 0;
        for (auto* c : consumers_) processed += c->Stats().Total(pipe::Outcome::kProcessed);
        log::Info(kLogger, "consumers stopped", {{"processed", processed}});
    }

    std::int64_t stall_ms() const noexcept override { return thread_started() ? NowMs() - last_turn_ms_.load() : 0; }

private:
    bool thread_started() const noexcept { return multi_ != nullptr; }

    bool stopping() {
        std::lock_guard lock(mu_);
        return stop_;
    }

    void Loop() {
        while (!stopping()) {
            auto round = multi_->RunRound(std::chrono::milliseconds(500));
            last_turn_ms_.store(NowMs());
            if (metrics_) {
                for (auto& spec : specs_) metrics_->Update(*spec.consumer, *spec.backend);
            }
            if (!round) {
                {
                    std::lock_guard lock(error_mu_);
                    last_error_ = round.error().ToString();
                }
                if (backends_ok_.exchange(false)) {
                    log::Warning(kLogger, "consume round failed; retrying every second",
                                 {{"error", round.error().ToString()}});
                }
                std::unique_lock lock(mu_);
                cv_.wait_for(lock, std::chrono::seconds(1), [this] { return stop_; });
                last_turn_ms_.store(NowMs());
                continue;
            }
            if (!backends_ok_.exchange(true)) log::Info(kLogger, "backends reachable again");
        }
        {
            std::lock_guard lock(mu_);
            loop_done_ = true;
        }
        cv_.notify_all();
    }

    App::State* state_ = nullptr;
    std::vector<ConsumerSpec> specs_;
    std::vector<pipe::Consumer*> consumers_;
    std::unique_ptr<pipe::MultiConsumer> multi_;
    std::unique_ptr<pipe::ConsumerMetrics> metrics_;
    std::atomic<std::int64_t> last_turn_ms_{0};
    std::atomic<bool> backends_ok_{true};
    std::mutex error_mu_;
    std::string last_error_;
    std::mutex mu_;
    std::condition_variable cv_;
    bool stop_ = false;
    bool loop_done_ = false;
    std::thread thread_;
};

}  // namespace

std::unique_ptr<Role> MakePipeConsumersRole() { return std::make_unique<PipeConsumersRole>(); }

}  // namespace gale::app
