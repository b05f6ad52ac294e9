// SPDX-License-Identifier: MIT
//
// Design. Every (event, URL) pair is a Delivery with its own schedule: attempts made, and a not_before time for the
// next one. Up to max_in_flight worker threads take due deliveries, oldest event first, each attempt on the worker's
// own HTTP client, so a receiver that never answers holds one worker for one attempt at a time and no event waits
// behind another's retries (issue 8: the shutdown events were abandoned behind a retrying startup event). The price
// is that events to one URL may arrive out of order while retrying; every payload carries a `sequence` number, and
// receivers order by it.
//
// Invariants, all under mu:
//  - a target's pending count (deliveries queued or in flight, not marked dropped) never exceeds max_queue; Send
//    drops the oldest to make room (an in-flight one is marked, and its worker forgets it whatever the outcome);
//  - Flush's predicate "no delivery left" changes only under mu, and workers notify idle_cv when one ends.
// Stopping (the destructor) sets `stop` and `cancel`: attempts under way end within about a second (the HTTP
// client's cancel flag), queued deliveries are abandoned (logged). Workers never log or do I/O holding mu.
#include <unistd.h>

#include <algorithm>
#include <condition_variable>
#include <cstdint>
#include <cstdlib>
#include <deque>
#include <mutex>
#include <optional>
#include <random>
#include <thread>
#include <utility>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <gale/base/clock.hpp>
#include <gale/http/client.hpp>
#include <gale/lifecycle/webhooks.hpp>
#include <gale/log/log.hpp>

namespace gale::lifecycle {
namespace {

constexpr std::string_view kLogger = "gale.webhooks";
// The client's default, bounded by the per-attempt timeout.
constexpr std::chrono::milliseconds kConnectTimeout{2000};

struct Payload {
    WebhookEvent event;
    std::string body;  // the JSON document, identical for every URL and attempt
};

struct Target {
    std::string url;      // immutable after construction; read by workers without the mutex
    std::string log_url;  // RedactUrl(url); immutable likewise
    std::size_t pending = 0;
};

struct Delivery {
    std::uint64_t sequence = 0;  // Send order
    std::size_t target = 0;
    std::shared_ptr<const Payload> payload;
    int attempts = 0;
    SteadyClock::time_point not_before{};
    bool in_flight = false;
    bool dropped = false;  // Send dropped it (queue full) while in flight; the worker forgets it
};

struct Drop {
    std::string_view log_url;
    WebhookEvent event;
};

std::string ResolvePodName(std::string configured) {
    if (!configured.empty()) return configured;
    if (const char* env = std::getenv("HOSTNAME"); env != nullptr && *env != '\0') return env;
    char name[256] = {};
    if (gethostname(name, sizeof(name) - 1) == 0) return name;
    return "unknown";
}

std::string BuildPayload(const WebhookOptions& options, const std::string& pod, WebhookEvent event,
                         std::string_view status, const std::vector<FailingCheck>& failing, SystemClock::time_point now,
                         std::uint64_t sequence) {
    nlohmann::ordered_json doc;
    doc["service"] = options.service;
    doc["version"] = options.version;
    doc["event"] = ToString(event);
    doc["status"] = status;
    doc["timestamp"] = FormatRfc3339(now);
    doc["timestamp_unix"] = std::chrono::duration_cast<std::chrono::seconds>(now.time_since_epoch()).count();
    doc["pod"] = pod;
    auto checks = nlohmann::ordered_json::array();
    for (const auto& check : failing) {
        nlohmann::ordered_json item;
        item["name"] = check.name;
        item["status"] = check.status;
        item["message"] = check.message;
        checks.push_back(std::move(item));
    }
    doc["failing_checks"] = std::move(checks);
    doc["sequence"] = sequence;
    // Check messages may hold arbitrary bytes; replace invalid UTF-8 rather than throw.
    return doc.dump(-1, ' ', false, nlohmann::ordered_json::error_handler_t::replace);
}

WebhookOptions Normalize(WebhookOptions options) {
    using std::chrono::milliseconds;
    options.max_attempts = std::max(options.max_attempts, 1);
    options.max_queue = std::max<std::size_t>(options.max_queue, 1);
    options.initial_backoff = std::max(options.initial_backoff, milliseconds(0));
    options.max_backoff = std::max(options.max_backoff, milliseconds(0));
    options.timeout = std::max(options.timeout, milliseconds(1));
    options.max_in_flight = std::clamp(options.max_in_flight, 1, 64);
    return options;
}

}  // namespace

std::string_view ToString(WebhookEvent event) noexcept {
    switch (event) {
        case WebhookEvent::kStartup:
            return "startup";
        case WebhookEvent::kReadiness:
            return "readiness";
        case WebhookEvent::kLiveness:
            return "liveness";
        case WebhookEvent::kShutdown:
            return "shutdown";
    }
    return "unknown";
}

struct WebhookSender::Impl {
    const WebhookOptions options;
    const std::string pod_name;
    const std::string user_agent;

    std::mutex mu;
    std::condition_variable work_cv;  // workers wait here for work, a due retry or stop
    std::condition_variable idle_cv;  // Flush and the destructor wait here; notified whenever a delivery ends
    std::vector<Target> targets;      // never resized after construction
    std::deque<Delivery> deliveries;  // in sequence order
    std::uint64_t next_sequence = 1;
    int running_workers = 0;
    bool stop = false;
    std::atomic<bool> cancel{false};  // aborts attempts under way (http::ClientRequest::cancel)
    std::vector<std::thread> workers;

    explicit Impl(WebhookOptions opts)
        : options(Normalize(std::move(opts))),
          pod_name(ResolvePodName(options.pod_name)),
          user_agent(options.version.empty() ? std::string("gale") : "gale/" + options.version) {
        targets.reserve(options.urls.size());
        for (const auto& url : options.urls) {
            Target& target = targets.emplace_back();
            target.url = url;
            target.log_url = http::RedactUrl(url);
        }
    }

    std::chrono::milliseconds Backoff(int attempts, std::minstd_rand& rng) const {
        // attempts >= 1 failed so far: wait initial * 2^(attempts-1), capped, then pick from its upper half.
        std::int64_t cap = options.max_backoff.count();
        std::int64_t wait = std::min(options.initial_backoff.count(), cap);
        for (int i = 1; i < attempts && wait < cap; ++i) wait = wait > cap / 2 ? cap : wait * 2;
        if (wait <= 1) return std::chrono::milliseconds(wait);
        std::uniform_int_distribution<std::int64_t> jitter(wait - wait / 2, wait);
        return std::chrono::milliseconds(jitter(rng));
    }

    void Run();
};

void WebhookSender::Impl::Run() {
    http::Client client;
    std::minstd_rand rng(std::random_device{}());
    std::unique_lock lock(mu);
    while (!stop) {
        // The oldest due delivery, or the earliest time one becomes due.
        auto now = SteadyClock::now();
        Delivery* next = nullptr;
        std::optional<SteadyClock::time_point> earliest;
        for (Delivery& d : deliveries) {
            if (d.in_flight) continue;
            if (d.not_before <= now) {
                next = &d;
                break;
            }
            if (!earliest || d.not_before < *earliest) earliest = d.not_before;
        }
        if (next == nullptr) {
            if (earliest) {
                work_cv.wait_until(lock, *earliest);
            } else {
                work_cv.wait(lock);
            }
            continue;
        }
        next->in_flight = true;
        std::uint64_t sequence = next->sequence;
        Delivery attempt = *next;  // a copy: the deque may move while the mutex is released
        const Target& target = targets[attempt.target];
        lock.unlock();

        ++attempt.attempts;
        const Payload& payload = *attempt.payload;
        const std::string_view event = ToString(payload.event);
        http::ClientRequest request{
            .method = "POST",
            .url = target.url,
            .headers = {{"Content-Type", "application/json"},
                        {"User-Agent", user_agent},
                        {"X-Gale-Event", std::string(event)}},
            .body = payload.body,
            .timeout = options.timeout,
            .connect_timeout = std::min(options.timeout, kConnectTimeout),
            .cancel = &cancel,
        };
        auto response = client.Send(request);

        bool retry = false;
        std::string error;
        if (!response) {
            error = response.error().message();
            retry = response.error().code() != ErrorCode::kInvalidArgument &&
                    response.error().code() != ErrorCode::kCancelled;
        } else if (response->status < 200 || response->status > 299) {
            error = fmt::format("HTTP {}", response->status);
            retry = response->status >= 500 || response->status == 429;
        }
        std::optional<std::chrono::milliseconds> retry_in;
        if (error.empty()) {
            log::Debug(kLogger, "webhook delivered",
                       {{"url", target.log_url}, {"event", event}, {"attempt", attempt.attempts}});
        } else if (retry && attempt.attempts < options.max_attempts) {
            retry_in = Backoff(attempt.attempts, rng);
            log::Warning(kLogger, "webhook delivery failed; will retry",
                         {{"url", target.log_url},
                          {"event", event},
                          {"attempt", attempt.attempts},
                          {"max_attempts", options.max_attempts},
                          {"error", error},
                          {"retry_in_ms", retry_in->count()}});
        } else {
            log::Warning(kLogger,
                         retry ? "webhook delivery failed; giving up" : "webhook delivery failed; not retrying",
                         {{"url", target.log_url},
                          {"event", event},
                          {"attempt", attempt.attempts},
                          {"max_attempts", options.max_attempts},
                          {"error", error}});
        }

        lock.lock();
        auto it = std::find_if(deliveries.begin(), deliveries.end(),
                               [&](const Delivery& d) { return d.sequence == sequence && d.target == attempt.target; });
        if (it != deliveries.end()) {
            if (retry_in && !it->dropped) {
                it->attempts = attempt.attempts;
                it->not_before = SteadyClock::now() + *retry_in;
                it->in_flight = false;
                work_cv.notify_one();
            } else {
                if (!it->dropped) --targets[it->target].pending;
                deliveries.erase(it);
            }
        }
        idle_cv.notify_all();
    }
    --running_workers;
    idle_cv.notify_all();
}

WebhookSender::WebhookSender(WebhookOptions options) : impl_(std::make_shared<Impl>(std::move(options))) {
    if (impl_->targets.empty()) return;
    impl_->running_workers = impl_->options.max_in_flight;
    for (int i = 0; i < impl_->options.max_in_flight; ++i) {
        // Each worker shares ownership, so a worker still finishing a cancelled attempt never outlives the state.
        impl_->workers.emplace_back([impl = impl_] { impl->Run(); });
    }
}

WebhookSender::~WebhookSender() {
    std::size_t abandoned = 0;
    {
        std::unique_lock lock(impl_->mu);
        impl_->stop = true;
        impl_->cancel.store(true);
        for (const Delivery& d : impl_->deliveries) abandoned += d.in_flight || d.dropped ? 0 : 1;
    }
    impl_->work_cv.notify_all();
    for (auto& w : impl_->workers) w.join();
    if (abandoned > 0) {
        log::Warning(kLogger, "webhook sender stopped; abandoning undelivered events", {{"abandoned", abandoned}});
    }
}

void WebhookSender::Send(WebhookEvent event, std::string_view status, std::vector<FailingCheck> failing) {
    if (impl_->targets.empty()) return;
    std::uint64_t sequence;
    {
        std::lock_guard lock(impl_->mu);
        sequence = impl_->next_sequence++;
    }
    auto payload = std::make_shared<const Payload>(Payload{
        event, BuildPayload(impl_->options, impl_->pod_name, event, status, failing, SystemClock::now(), sequence)});
    std::vector<Drop> drops;
    {
        std::lock_guard lock(impl_->mu);
        for (std::size_t t = 0; t < impl_->targets.size(); ++t) {
            Target& target = impl_->targets[t];
            if (target.pending >= impl_->options.max_queue) {
                // Drop this target's oldest live delivery.
                for (auto it = impl_->deliveries.begin(); it != impl_->deliveries.end(); ++it) {
                    if (it->target != t || it->dropped) continue;
                    drops.push_back({target.log_url, it->payload->event});
                    --target.pending;
                    if (it->in_flight) {
                        it->dropped = true;
                    } else {
                        impl_->deliveries.erase(it);
                    }
                    break;
                }
            }
            Delivery d;
            d.sequence = sequence;
            d.target = t;
            d.payload = payload;
            impl_->deliveries.push_back(std::move(d));
            ++target.pending;
        }
    }
    impl_->work_cv.notify_all();
    for (const Drop& drop : drops) {
        log::Warning(kLogger, "webhook queue full; dropping the oldest event",
                     {{"url", drop.log_url}, {"event", ToString(drop.event)}, {"max_queue", impl_->options.max_queue}});
    }
}

bool WebhookSender::Flush(std::chrono::milliseconds deadline) {
    std::unique_lock lock(impl_->mu);
    return impl_->idle_cv.wait_for(lock, deadline, [this] { return impl_->deliveries.empty(); });
}

const std::string& WebhookSender::pod_name() const noexcept { return impl_->pod_name; }

}  // namespace gale::lifecycle
