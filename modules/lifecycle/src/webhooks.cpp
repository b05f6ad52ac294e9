// SPDX-License-Identifier: MIT
//
// Design. Each URL is a Target with its own FIFO of Deliveries (a shared, immutable payload plus the attempts made
// so far) and a not_before time for its head. One worker thread serves the targets round-robin: it picks the next
// target whose head is due, takes the head out ("in flight"), releases the mutex for the HTTP exchange, and then
// either drops the delivery (success, final failure, attempts used up) or puts it back at the head with a new
// not_before. Putting it back at the head is what keeps events in order per URL; serving targets separately is
// what keeps a dead URL from delaying a live one (apart from the length of one attempt, since there is one thread).
//
// Invariants, all under mu:
//  - per target, the events in flight and in the queue are in Send order, the in-flight one oldest;
//  - a target's pending count (queue plus a live in-flight delivery) never exceeds max_queue. Send drops the
//    oldest to make room: the in-flight delivery if there is one (it is marked, and the worker forgets it whatever
//    the outcome), else the queue's head;
//  - Flush's predicate "nothing queued or in flight anywhere" changes only under mu, and the worker notifies
//    idle_cv each time a delivery ends.
// The worker never logs or does I/O while holding mu, so Send's critical section is a few pointer moves.
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

struct Delivery {
    std::shared_ptr<const Payload> payload;
    int attempts = 0;
};

struct Target {
    std::string url;      // immutable after construction; read by the worker without the mutex
    std::string log_url;  // RedactUrl(url); immutable likewise
    std::deque<Delivery> queue;
    SteadyClock::time_point not_before{};
    std::shared_ptr<const Payload> in_flight;  // the delivery the worker is attempting, if any
    bool drop_in_flight = false;               // Send dropped it to make room; the worker forgets it

    std::size_t Pending() const noexcept { return queue.size() + (in_flight && !drop_in_flight ? 1 : 0); }
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
                         std::string_view status, const std::vector<FailingCheck>& failing,
                         SystemClock::time_point now) {
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
    std::condition_variable work_cv;  // the worker waits here for work, a due retry or stop
    std::condition_variable idle_cv;  // Flush waits here; notified whenever a delivery ends
    std::vector<Target> targets;      // never resized after construction, so Target addresses are stable
    bool stop = false;
    std::thread worker;

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

    bool IdleLocked() const {
        return std::all_of(targets.begin(), targets.end(),
                           [](const Target& t) { return t.queue.empty() && t.in_flight == nullptr; });
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
    std::size_t next = 0;  // round-robin start
    std::unique_lock lock(mu);
    while (!stop) {
        // Find the next due target, or the earliest time one becomes due.
        auto now = SteadyClock::now();
        Target* target = nullptr;
        std::optional<SteadyClock::time_point> earliest;
        for (std::size_t k = 0; k < targets.size(); ++k) {
            std::size_t i = (next + k) % targets.size();
            Target& t = targets[i];
            if (t.queue.empty()) continue;
            if (t.not_before <= now) {
                target = &t;
                next = i + 1;
                break;
            }
            if (!earliest || t.not_before < *earliest) earliest = t.not_before;
        }
        if (target == nullptr) {
            if (earliest) {
                work_cv.wait_until(lock, *earliest);
            } else {
                work_cv.wait(lock);
            }
            continue;
        }

        Delivery delivery = std::move(target->queue.front());
        target->queue.pop_front();
        target->in_flight = delivery.payload;
        target->drop_in_flight = false;
        lock.unlock();

        ++delivery.attempts;
        const Payload& payload = *delivery.payload;
        const std::string_view event = ToString(payload.event);
        http::ClientRequest request{
            .method = "POST",
            .url = target->url,
            .headers = {{"Content-Type", "application/json"},
                        {"User-Agent", user_agent},
                        {"X-Gale-Event", std::string(event)}},
            .body = payload.body,
            .timeout = options.timeout,
            .connect_timeout = std::min(options.timeout, kConnectTimeout),
        };
        auto response = client.Send(request);

        bool retry = false;
        std::string error;
        if (!response) {
            error = response.error().message();
            retry = response.error().code() != ErrorCode::kInvalidArgument;
        } else if (response->status < 200 || response->status > 299) {
            error = fmt::format("HTTP {}", response->status);
            retry = response->status >= 500 || response->status == 429;
        }
        std::optional<std::chrono::milliseconds> retry_in;
        if (error.empty()) {
            log::Debug(kLogger, "webhook delivered",
                       {{"url", target->log_url}, {"event", event}, {"attempt", delivery.attempts}});
        } else if (retry && delivery.attempts < options.max_attempts) {
            retry_in = Backoff(delivery.attempts, rng);
            log::Warning(kLogger, "webhook delivery failed; will retry",
                         {{"url", target->log_url},
                          {"event", event},
                          {"attempt", delivery.attempts},
                          {"max_attempts", options.max_attempts},
                          {"error", error},
                          {"retry_in_ms", retry_in->count()}});
        } else {
            log::Warning(kLogger,
                         retry ? "webhook delivery failed; giving up" : "webhook delivery failed; not retrying",
                         {{"url", target->log_url},
                          {"event", event},
                          {"attempt", delivery.attempts},
                          {"max_attempts", options.max_attempts},
                          {"error", error}});
        }

        lock.lock();
        if (retry_in && !target->drop_in_flight) {
            target->queue.push_front(std::move(delivery));
            target->not_before = SteadyClock::now() + *retry_in;
        } else {
            target->not_before = {};
        }
        target->in_flight = nullptr;
        target->drop_in_flight = false;
        idle_cv.notify_all();
    }
}

WebhookSender::WebhookSender(WebhookOptions options) : impl_(std::make_unique<Impl>(std::move(options))) {
    if (!impl_->targets.empty()) impl_->worker = std::thread([impl = impl_.get()] { impl->Run(); });
}

WebhookSender::~WebhookSender() {
    {
        std::lock_guard lock(impl_->mu);
        impl_->stop = true;
    }
    impl_->work_cv.notify_all();
    if (impl_->worker.joinable()) impl_->worker.join();
    std::size_t abandoned = 0;
    for (const Target& t : impl_->targets) abandoned += t.queue.size();
    if (abandoned > 0) {
        log::Warning(kLogger, "webhook sender stopped; abandoning undelivered events", {{"abandoned", abandoned}});
    }
}

void WebhookSender::Send(WebhookEvent event, std::string_view status, std::vector<FailingCheck> failing) {
    if (impl_->targets.empty()) return;
    auto payload = std::make_shared<const Payload>(
        Payload{event, BuildPayload(impl_->options, impl_->pod_name, event, status, failing, SystemClock::now())});
    std::vector<Drop> drops;
    {
        std::lock_guard lock(impl_->mu);
        for (Target& t : impl_->targets) {
            if (t.Pending() >= impl_->options.max_queue) {
                if (t.in_flight && !t.drop_in_flight) {
                    t.drop_in_flight = true;
                    drops.push_back({t.log_url, t.in_flight->event});
                } else if (!t.queue.empty()) {
                    drops.push_back({t.log_url, t.queue.front().payload->event});
                    t.queue.pop_front();
                }
            }
            t.queue.push_back({payload, 0});
        }
    }
    impl_->work_cv.notify_one();
    for (const Drop& drop : drops) {
        log::Warning(kLogger, "webhook queue full; dropping the oldest event",
                     {{"url", drop.log_url}, {"event", ToString(drop.event)}, {"max_queue", impl_->options.max_queue}});
    }
}

bool WebhookSender::Flush(std::chrono::milliseconds deadline) {
    std::unique_lock lock(impl_->mu);
    return impl_->idle_cv.wait_for(lock, deadline, [this] { return impl_->IdleLocked(); });
}

const std::string& WebhookSender::pod_name() const noexcept { return impl_->pod_name; }

}  // namespace gale::lifecycle
