// SPDX-License-Identifier: MIT
/// @file gale/sentry/reporter.hpp
/// @brief Sends events to Sentry from one background thread, so that a slow or dead Sentry never slows the code
///        that reports.
///
/// Capture() never blocks and never does I/O: it checks the budgets, gives the event an id and its defaults, and
/// queues it (a bounded queue; when it is full the event is dropped and counted). One sender thread turns queued
/// events into envelopes and POSTs them with gale::http::Client (libcurl) to the DSN's envelope endpoint, with short
/// timeouts.
///
/// Budgets, in the order they are applied:
/// | what                 | where                     | dropped as        |
/// |----------------------|---------------------------|-------------------|
/// | after Stop/shutdown  | Capture                   | `stopped`         |
/// | Sentry's rate limits | Capture (a hint) + sender | `server_limited`  |
/// | sample_rate          | Capture                   | `sampled`         |
/// | queue_capacity       | Capture                   | `queue_full`      |
/// | max_events_per_minute| Capture                   | `client_limited`  |
/// | send failed          | sender (not retried)      | `send_failed`     |
/// Sentry's limits come from its responses: 429 with Retry-After holds everything back, X-Sentry-Rate-Limits the
/// categories it names ("error" and "default" hold events back); see rate_limit.hpp.
///
/// Events from inside an HTTP request (CaptureInRequest) wait on the sender thread, up to `request_hold`, for that
/// request's end (RequestFinished), which adds the request's context to them; so one failed request gives one event
/// with its exception or error AND its request. An event whose request does not end in time goes without it.
///
/// Metrics (with a registry): `gale_sentry_events_sent_total`, `gale_sentry_events_dropped_total{reason}` with the
/// reasons above, `gale_sentry_send_failures_total` (transport errors and non-2xx answers other than 429).
///
/// Thread-safety: every member may be called from any thread. Lifetime: the destructor stops the sender: what is
/// still queued is dropped (Flush first to send it), a send in progress is cancelled (libcurl notices within about a
/// second), the thread is joined.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <unordered_set>

#include <gale/metrics/registry.hpp>
#include <gale/sentry/dsn.hpp>
#include <gale/sentry/event.hpp>
#include <gale/sentry/rate_limit.hpp>

namespace gale::http {
class Client;
}  // namespace gale::http

namespace gale::sentry {

/// | Name | Description | Default |
/// |------|-------------|---------|
/// | dsn | where to send (ParseDsn) | required |
/// | release, environment, server_name, tags | filled into every event that lacks them | empty |
/// | queue_capacity | events waiting for the sender | 100 |
/// | max_events_per_minute | the client's own budget (token bucket, bursts up to it) | 60 |
/// | sample_rate | the share of events kept, in [0, 1] | 1 |
/// | send_timeout / connect_timeout | per envelope | 3 s / 1 s |
/// | request_hold | how long an event from inside a request waits for the request's end | 2 s |
struct ReporterOptions {
    Dsn dsn{};
    std::string release{};
    std::string environment{};
    std::string server_name{};
    StringPairs tags{};
    std::size_t queue_capacity = 100;
    std::uint32_t max_events_per_minute = 60;
    double sample_rate = 1.0;
    std::chrono::milliseconds send_timeout{3000};
    std::chrono::milliseconds connect_timeout{1000};
    std::chrono::milliseconds request_hold{2000};
    metrics::Registry* registry = nullptr;      ///< not owned; must outlive the Reporter
    std::function<double()> random_for_test{};  ///< uniform in [0, 1); default a per-thread generator
};

/// What Capture did with an event.
enum class CaptureResult { kQueued, kStopped, kServerLimited, kSampled, kClientLimited, kQueueFull };

/// Counts since construction (what the metrics show, for tests and logs).
struct ReporterStats {
    std::uint64_t sent = 0;
    std::uint64_t send_failures = 0;
    std::uint64_t dropped_stopped = 0;
    std::uint64_t dropped_server_limited = 0;
    std::uint64_t dropped_sampled = 0;
    std::uint64_t dropped_client_limited = 0;
    std::uint64_t dropped_queue_full = 0;
    std::uint64_t dropped_send_failed = 0;
};

/// A 32-hex-digit UUID4 (dashes removed), from a per-thread generator.
[[nodiscard]] std::string NewEventId();

class Reporter {
public:
    /// Starts the sender thread. `options.dsn` must be a parsed DSN; metrics are registered now (a clash with
    /// metrics already registered is ignored: the counters then only show in stats()).
    explicit Reporter(ReporterOptions options);
    ~Reporter();
    Reporter(const Reporter&) = delete;
    Reporter& operator=(const Reporter&) = delete;

    /// Queues `event` to be sent (see the budget table). Never blocks on I/O; takes a mutex for a moment.
    CaptureResult Capture(Event event);
    /// As Capture, for an event that happened while serving the request `request_id`: it waits for
    /// RequestFinished(request_id) (or request_hold) on the sender thread and then goes with the request's context.
    CaptureResult CaptureInRequest(Event event, std::string request_id);
    /// Cheap (atomic loads): true when RequestFinished needs to hear about a request that ended with `status`:
    /// a 5xx, or some event is waiting for its request.
    [[nodiscard]] bool WantsRequest(int status) const noexcept;
    /// The request `request_id` ended. If events wait for it, they get `context` and go (returns true). Otherwise
    /// returns false and does nothing: the caller reports a 5xx itself (Capture with the context).
    bool RequestFinished(const std::string& request_id, RequestContext context);
    /// A cheap check before building an event: false when Capture would drop it for being stopped, limited by
    /// Sentry, or out of budget (the budget is only looked at, not taken).
    [[nodiscard]] bool Accepting() const noexcept;

    /// Waits until everything queued or held has been sent (or dropped), or `timeout` passes; events held for
    /// their request go at once. True when nothing was left. Capture may go on meanwhile.
    bool Flush(std::chrono::milliseconds timeout);
    /// Stops taking events (Capture returns kStopped) and stops the sender as the destructor does.
    void Stop();

    [[nodiscard]] ReporterStats stats() const;
    [[nodiscard]] const ReporterOptions& options() const noexcept { return options_; }

private:
    struct Item;
    struct Counters;
    CaptureResult Admit(Event& event);
    void Run();
    void SendOne(Event event);

    ReporterOptions options_;
    std::string url_;
    std::string auth_;
    EventBudget budget_;
    std::unique_ptr<Counters> counters_;

    mutable std::mutex mu_;
    std::condition_variable cv_;       // the sender waits for work
    std::condition_variable idle_cv_;  // Flush waits for idleness
    std::deque<Item> queue_;
    std::unordered_set<std::string> awaiting_;  // request ids with held events
    std::size_t held_ = 0;                      // events held on the sender thread
    bool busy_ = false;                         // the sender is processing an item
    int flushing_ = 0;
    bool stop_ = false;

    std::atomic<bool> stopped_{false};
    std::atomic<std::size_t> awaiting_count_{0};
    std::atomic<std::int64_t> server_limited_until_ns_{0};  // steady clock; events held back until then
    std::atomic<bool> cancel_{false};
    // The sender thread's own.
    std::unique_ptr<http::Client> client_;
    RateLimits limits_;
    SteadyTime last_warning_{};
    std::thread thread_;
};

}  // namespace gale::sentry
