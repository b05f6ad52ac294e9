// SPDX-License-Identifier: MIT
//
// Design. Callers only ever take mu_ for a queue push; all I/O, JSON and the held events live on the sender thread.
// Invariants:
//  - an event held for its request is counted in held_ (under mu_) from the moment it is queued until it is sent or
//    dropped, and its request id is in awaiting_ for as long as RequestFinished may still want it, so Flush (which
//    waits for queue_ empty, held_ == 0 and !busy_) never returns while something is still to go;
//  - RequestFinished erases the id from awaiting_ before it queues the context, so a context is queued at most once
//    per request id; a context that finds nothing held (the hold expired) is dropped;
//  - the sender never logs at error level (its own records would become events), and it logs a failing Sentry at
//    most once a minute.
#include "gale/sentry/reporter.hpp"

#include <algorithm>
#include <map>
#include <random>
#include <vector>

#include <fmt/format.h>

#include <gale/base/strings.hpp>
#include <gale/base/version.hpp>
#include <gale/http/client.hpp>
#include <gale/log/log.hpp>

namespace gale::sentry {
namespace {

constexpr const char* kLogger = "gale.sentry";

std::mt19937_64& Generator() {
    thread_local std::mt19937_64 gen([] {
        std::random_device rd;
        return (static_cast<std::uint64_t>(rd()) << 32) ^ rd();
    }());
    return gen;
}

std::int64_t SteadyNs(SteadyTime t) {
    return std::chrono::duration_cast<std::chrono::nanoseconds>(t.time_since_epoch()).count();
}

std::optional<std::string_view> HeaderOf(const http::ClientResponse& r, std::string_view name) {
    for (const auto& [k, v] : r.headers) {
        if (EqualsIgnoreCase(k, name)) return std::string_view(v);
    }
    return std::nullopt;
}

}  // namespace

std::string NewEventId() {
    std::uint64_t hi = Generator()();
    std::uint64_t lo = Generator()();
    hi = (hi & 0xffffffffffff0fffULL) | 0x0000000000004000ULL;  // version 4
    lo = (lo & 0x3fffffffffffffffULL) | 0x8000000000000000ULL;  // variant 10
    return fmt::format("{:016x}{:016x}", hi, lo);
}

struct Reporter::Item {
    enum class Kind { kEvent, kHeld, kContext } kind;
    Event event{};
    std::string request_id{};
    RequestContext context{};
    SteadyTime queued{};
};

struct Reporter::Counters {
    std::atomic<std::uint64_t> sent{0}, send_failures{0}, stopped{0}, server_limited{0}, sampled{0}, client_limited{0},
        queue_full{0}, send_failed{0};
    metrics::Counter* m_sent = nullptr;
    metrics::Counter* m_failures = nullptr;
    std::map<std::string, metrics::Counter*> m_dropped;

    void Drop(std::atomic<std::uint64_t>& n, const char* reason) {
        n.fetch_add(1, std::memory_order_relaxed);
        if (auto it = m_dropped.find(reason); it != m_dropped.end()) it->second->Inc();
    }
};

Reporter::Reporter(ReporterOptions options)
    : options_(std::move(options)),
      url_(options_.dsn.EnvelopeUrl()),
      auth_(options_.dsn.AuthHeader(fmt::format("gale/{}", kVersion))),
      budget_(options_.max_events_per_minute),
      counters_(std::make_unique<Counters>()),
      client_(std::make_unique<http::Client>()) {
    if (metrics::Registry* r = options_.registry) {
        if (auto c = r->AddCounter("gale_sentry_events_sent", "Events Sentry accepted.")) {
            counters_->m_sent = &(*c)->WithLabels({});
        }
        if (auto c = r->AddCounter("gale_sentry_send_failures",
                                   "Envelopes that failed to reach Sentry (transport errors, non-2xx answers "
                                   "other than 429).")) {
            counters_->m_failures = &(*c)->WithLabels({});
        }
        if (auto c = r->AddCounter("gale_sentry_events_dropped", "Events not sent, by reason.", {"reason"})) {
            for (const char* reason :
                 {"stopped", "server_limited", "sampled", "client_limited", "queue_full", "send_failed"}) {
                counters_->m_dropped[reason] = &(*c)->WithLabels({reason});
            }
        }
    }
    thread_ = std::thread([this] { Run(); });
}

Reporter::~Reporter() { Stop(); }

void Reporter::Stop() {
    {
        std::lock_guard lock(mu_);
        if (stop_ && !thread_.joinable()) return;
        stop_ = true;
        stopped_.store(true, std::memory_order_relaxed);
        cancel_.store(true, std::memory_order_relaxed);
    }
    cv_.notify_all();
    if (thread_.joinable() && thread_.get_id() != std::this_thread::get_id()) thread_.join();
    std::lock_guard lock(mu_);
    for (Item& item : queue_) {
        if (item.kind != Item::Kind::kContext) counters_->Drop(counters_->stopped, "stopped");
    }
    queue_.clear();
    idle_cv_.notify_all();
}

bool Reporter::Accepting() const noexcept {
    if (stopped_.load(std::memory_order_relaxed)) return false;
    const SteadyTime now = std::chrono::steady_clock::now();
    if (server_limited_until_ns_.load(std::memory_order_relaxed) > SteadyNs(now)) return false;
    return budget_.HasToken(now);
}

bool Reporter::WantsRequest(int status) const noexcept {
    return status >= 500 || awaiting_count_.load(std::memory_order_relaxed) > 0;
}

CaptureResult Reporter::Admit(Event& event) {
    if (stopped_.load(std::memory_order_relaxed)) {
        counters_->Drop(counters_->stopped, "stopped");
        return CaptureResult::kStopped;
    }
    const SteadyTime now = std::chrono::steady_clock::now();
    if (server_limited_until_ns_.load(std::memory_order_relaxed) > SteadyNs(now)) {
        counters_->Drop(counters_->server_limited, "server_limited");
        return CaptureResult::kServerLimited;
    }
    if (options_.sample_rate < 1.0) {
        double r = options_.random_for_test ? options_.random_for_test()
                                            : std::uniform_real_distribution<double>(0, 1)(Generator());
        if (r >= options_.sample_rate) {
            counters_->Drop(counters_->sampled, "sampled");
            return CaptureResult::kSampled;
        }
    }
    if (event.event_id.empty()) event.event_id = NewEventId();
    if (event.timestamp == std::chrono::system_clock::time_point{}) event.timestamp = std::chrono::system_clock::now();
    if (event.release.empty()) event.release = options_.release;
    if (event.environment.empty()) event.environment = options_.environment;
    if (event.server_name.empty()) event.server_name = options_.server_name;
    for (const auto& t : options_.tags) {
        if (event.Tag(t.first) == nullptr) event.tags.push_back(t);
    }
    return CaptureResult::kQueued;
}

CaptureResult Reporter::Capture(Event event) {
    CaptureResult r = Admit(event);
    if (r != CaptureResult::kQueued) return r;
    {
        std::lock_guard lock(mu_);
        if (stop_) {
            counters_->Drop(counters_->stopped, "stopped");
            return CaptureResult::kStopped;
        }
        if (queue_.size() >= options_.queue_capacity) {
            counters_->Drop(counters_->queue_full, "queue_full");
            return CaptureResult::kQueueFull;
        }
        if (!budget_.TryTake(std::chrono::steady_clock::now())) {
            counters_->Drop(counters_->client_limited, "client_limited");
            return CaptureResult::kClientLimited;
        }
        queue_.push_back(Item{Item::Kind::kEvent, std::move(event), {}, {}, {}});
    }
    cv_.notify_one();
    return CaptureResult::kQueued;
}

CaptureResult Reporter::CaptureInRequest(Event event, std::string request_id) {
    if (request_id.empty()) return Capture(std::move(event));
    CaptureResult r = Admit(event);
    if (r != CaptureResult::kQueued) return r;
    {
        std::lock_guard lock(mu_);
        if (stop_) {
            counters_->Drop(counters_->stopped, "stopped");
            return CaptureResult::kStopped;
        }
        if (queue_.size() >= options_.queue_capacity) {
            counters_->Drop(counters_->queue_full, "queue_full");
            return CaptureResult::kQueueFull;
        }
        if (!budget_.TryTake(std::chrono::steady_clock::now())) {
            counters_->Drop(counters_->client_limited, "client_limited");
            return CaptureResult::kClientLimited;
        }
        if (awaiting_.insert(request_id).second) awaiting_count_.fetch_add(1, std::memory_order_relaxed);
        ++held_;
        queue_.push_back(
            Item{Item::Kind::kHeld, std::move(event), std::move(request_id), {}, std::chrono::steady_clock::now()});
    }
    cv_.notify_one();
    return CaptureResult::kQueued;
}

bool Reporter::RequestFinished(const std::string& request_id, RequestContext context) {
    {
        std::lock_guard lock(mu_);
        auto it = awaiting_.find(request_id);
        if (it == awaiting_.end()) return false;
        awaiting_.erase(it);
        awaiting_count_.fetch_sub(1, std::memory_order_relaxed);
        if (stop_) return true;
        // Not bounded by queue_capacity: there is at most one context per held event, and those are bounded.
        queue_.push_back(Item{Item::Kind::kContext, {}, request_id, std::move(context), {}});
    }
    cv_.notify_one();
    return true;
}

bool Reporter::Flush(std::chrono::milliseconds timeout) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    std::unique_lock lock(mu_);
    ++flushing_;
    cv_.notify_all();
    bool done =
        idle_cv_.wait_until(lock, deadline, [this] { return stop_ || (queue_.empty() && held_ == 0 && !busy_); });
    --flushing_;
    return done && queue_.empty() && held_ == 0;
}

ReporterStats Reporter::stats() const {
    const Counters& c = *counters_;
    auto v = [](const std::atomic<std::uint64_t>& a) { return a.load(std::memory_order_relaxed); };
    return ReporterStats{v(c.sent),    v(c.send_failures),  v(c.stopped),    v(c.server_limited),
                         v(c.sampled), v(c.client_limited), v(c.queue_full), v(c.send_failed)};
}

void Reporter::Run() {
    struct Held {
        Event event;
        std::string request_id;
        SteadyTime due;
    };
    std::vector<Held> held;  // in arrival order, so the first is the next to expire
    std::unique_lock lock(mu_);
    while (true) {
        const SteadyTime now = std::chrono::steady_clock::now();
        // Holds that expired (or everything, while someone flushes, once the queue is empty: a request's context
        // queued before the Flush must reach its events first): they go without their request.
        std::vector<Held> expired;
        while (!held.empty() && (held.front().due <= now || (flushing_ > 0 && queue_.empty()) || stop_)) {
            expired.push_back(std::move(held.front()));
            held.erase(held.begin());
        }
        for (const Held& h : expired) {
            if (auto it = awaiting_.find(h.request_id); it != awaiting_.end()) {
                bool still_held =
                    std::any_of(held.begin(), held.end(), [&](const Held& o) { return o.request_id == h.request_id; });
                if (!still_held) {
                    awaiting_.erase(it);
                    awaiting_count_.fetch_sub(1, std::memory_order_relaxed);
                }
            }
        }
        if (stop_) {
            for (std::size_t i = 0; i < expired.size() + held.size(); ++i)
                counters_->Drop(counters_->stopped, "stopped");
            held_ = 0;
            held.clear();
            idle_cv_.notify_all();
            return;
        }
        if (!expired.empty()) {
            busy_ = true;
            lock.unlock();
            for (Held& h : expired) SendOne(std::move(h.event));
            lock.lock();
            held_ -= expired.size();
            busy_ = false;
            continue;
        }
        if (queue_.empty()) {
            idle_cv_.notify_all();
            auto ready = [this] { return stop_ || !queue_.empty() || flushing_ > 0; };
            if (held.empty()) {
                cv_.wait(lock, ready);
            } else {
                cv_.wait_until(lock, held.front().due, ready);
            }
            if (flushing_ > 0 && queue_.empty() && held.empty()) {
                idle_cv_.notify_all();
                cv_.wait(lock, [this] { return stop_ || !queue_.empty() || flushing_ == 0; });
            }
            continue;
        }
        Item item = std::move(queue_.front());
        queue_.pop_front();
        busy_ = true;
        switch (item.kind) {
            case Item::Kind::kHeld:
                held.push_back(
                    Held{std::move(item.event), std::move(item.request_id), item.queued + options_.request_hold});
                busy_ = false;
                break;
            case Item::Kind::kEvent:
                lock.unlock();
                SendOne(std::move(item.event));
                lock.lock();
                busy_ = false;
                break;
            case Item::Kind::kContext: {
                std::vector<Event> ready;
                for (auto it = held.begin(); it != held.end();) {
                    if (it->request_id == item.request_id) {
                        ready.push_back(std::move(it->event));
                        it = held.erase(it);
                    } else {
                        ++it;
                    }
                }
                lock.unlock();
                for (Event& e : ready) {
                    e.request = item.context;
                    SendOne(std::move(e));
                }
                lock.lock();
                held_ -= ready.size();
                busy_ = false;
                break;
            }
        }
    }
}

void Reporter::SendOne(Event event) {
    const SteadyTime now = std::chrono::steady_clock::now();
    if (limits_.IsLimited("error", now) || limits_.IsLimited("default", now)) {
        counters_->Drop(counters_->server_limited, "server_limited");
        return;
    }
    http::ClientRequest req;
    req.method = "POST";
    req.url = url_;
    req.headers = {{"Content-Type", "application/x-sentry-envelope"}, {"X-Sentry-Auth", auth_}};
    req.body = EventEnvelope(event, std::chrono::system_clock::now());
    req.timeout = options_.send_timeout;
    req.connect_timeout = options_.connect_timeout;
    req.cancel = &cancel_;
    auto r = client_->Send(req);
    auto warn = [&](std::string_view what, std::string detail) {
        if (last_warning_ != SteadyTime{} && now - last_warning_ < std::chrono::minutes(1)) return;
        last_warning_ = now;
        log::Warning(kLogger, "cannot send an event to Sentry (said at most once a minute)",
                     {{"what", what}, {"detail", detail}, {"event_id", event.event_id}});
    };
    if (!r) {
        counters_->send_failures.fetch_add(1, std::memory_order_relaxed);
        if (counters_->m_failures != nullptr) counters_->m_failures->Inc();
        counters_->Drop(counters_->send_failed, "send_failed");
        // The error names the URL without its query; the DSN's key is never in the URL.
        warn("transport", r.error().ToString());
        return;
    }
    limits_.Update(r->status, HeaderOf(*r, "Retry-After"), HeaderOf(*r, "X-Sentry-Rate-Limits"), now);
    const SteadyTime until = std::max(limits_.LimitedUntil("error"), limits_.LimitedUntil("default"));
    server_limited_until_ns_.store(SteadyNs(until), std::memory_order_relaxed);
    if (r->status >= 200 && r->status < 300) {
        counters_->sent.fetch_add(1, std::memory_order_relaxed);
        if (counters_->m_sent != nullptr) counters_->m_sent->Inc();
        return;
    }
    if (r->status == 429) {
        counters_->Drop(counters_->server_limited, "server_limited");
        warn("rate limited", fmt::format("HTTP 429; holding events back for {} s",
                                         std::chrono::duration_cast<std::chrono::seconds>(until - now).count()));
        return;
    }
    counters_->send_failures.fetch_add(1, std::memory_order_relaxed);
    if (counters_->m_failures != nullptr) counters_->m_failures->Inc();
    counters_->Drop(counters_->send_failed, "send_failed");
    warn("answer", fmt::format("HTTP {}: {}", r->status, r->body.substr(0, 200)));
}

}  // namespace gale::sentry
