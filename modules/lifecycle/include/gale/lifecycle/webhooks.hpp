// SPDX-License-Identifier: MIT
/// @file gale/lifecycle/webhooks.hpp
/// @brief Lifecycle webhooks: JSON notices of startup, readiness, liveness and shutdown POSTed in the background.
///
/// A WebhookSender turns each Send into one JSON document and delivers it to every configured URL from its own
/// thread, retrying with exponential backoff. The caller never waits for a receiver: Send only enqueues.
///
/// Payload (keys in this order):
/// ```json
/// {"service": "orders", "version": "1.4.2", "event": "readiness", "status": "failed",
///  "timestamp": "2026-11-26T10:32:03.123Z", "timestamp_unix": 1795689123, "pod": "orders-7d9f-abcde",
///  "failing_checks": [{"name": "db", "status": "failed", "message": "connection refused"}], "sequence": 3}
/// ```
/// sent as `POST <url>` with `Content-Type: application/json`, `User-Agent: gale/<version>` and
/// `X-Gale-Event: <event>`.
#pragma once

#include <chrono>
#include <cstddef>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace gale::lifecycle {

/// What happened. The wire names are "startup", "readiness", "liveness" and "shutdown".
enum class WebhookEvent { kStartup, kReadiness, kLiveness, kShutdown };

/// The wire name of an event ("readiness").
std::string_view ToString(WebhookEvent event) noexcept;

/// A health check that is not passing, reported with readiness and liveness events. The texts are sent as given:
/// they come from check results, which must not contain secrets.
struct FailingCheck {
    std::string name{};
    std::string status{};
    std::string message{};
};

/// Configuration of a WebhookSender.
///
/// | Name            | Description                                                        | Default                  |
/// |-----------------|--------------------------------------------------------------------|--------------------------|
/// | urls            | receivers; each gets every event. None: Send does nothing          | (none)                   |
/// | service         | "service" in the payload                                           | ""                       |
/// | version         | "version" in the payload, and `User-Agent: gale/<version>`         | ""                       |
/// | pod_name        | "pod" in the payload                                               | $HOSTNAME, gethostname() |
/// | max_attempts    | attempts per event and URL, the first included (at least 1)        | 5                        |
/// | initial_backoff | wait before the first retry; doubles for each further retry        | 200ms                    |
/// | max_backoff     | cap on the wait between two attempts                               | 5s                       |
/// | timeout         | limit on one attempt (connect, send, response)                     | 5s                       |
/// | max_queue       | queued events per URL (at least 1); when full, drops the oldest    | 1000                     |
/// | max_in_flight   | attempts under way at once, over all URLs (1 to 64)                | 4                        |
struct WebhookOptions {
    std::vector<std::string> urls{};
    std::string service{};
    std::string version{};
    /// Empty means: the HOSTNAME environment variable if set and non-empty (Kubernetes sets it to the pod name),
    /// else gethostname().
    std::string pod_name{};
    int max_attempts = 5;
    std::chrono::milliseconds initial_backoff{200};
    std::chrono::milliseconds max_backoff{5000};
    std::chrono::milliseconds timeout{5000};
    std::size_t max_queue = 1000;
    int max_in_flight = 4;
};

/// Delivers lifecycle webhooks from background threads.
///
/// Delivery: every event goes to every URL. Each (event, URL) delivery has its own schedule, and up to
/// max_in_flight attempts run at once, oldest event first, so no event waits behind another's retries: a receiver
/// that never answers delays nothing but its own deliveries. First attempts start in Send order, but a retried or
/// slow one may arrive after a later one: receivers order by `sequence` (1, 2, … per sender). An attempt fails on a
/// transport error (refused, reset, timeout) or a 5xx or 429 answer and is then retried after a backoff
/// (initial_backoff, doubling, capped at max_backoff; each wait drawn at random from its upper half) until
/// max_attempts. Any 2xx answer is success. Any other answer (4xx other than 429, 3xx: redirects are not followed) and
/// a malformed URL are final. Every failed attempt is logged at warning on logger "gale.webhooks" with url (user-info
/// and query redacted), event, attempt and error; a dropped or abandoned event is logged too. Nothing is reported back
/// to the caller.
///
/// Ownership and lifetime: owns its threads, their HTTP clients and the queued events. The destructor stops the
/// threads: attempts under way are cancelled (within about a second), whatever is still queued is abandoned (logged).
/// Call Flush with the time you can spare before destroying the sender to give pending events a chance.
/// Thread-safety: Send and Flush may be called from any number of threads at once. Construction and destruction
/// must not race with other calls. Not copyable or movable.
class WebhookSender {
public:
    /// Starts the background threads (none without URLs). Out-of-range options are clamped: max_attempts and
    /// max_queue to at least 1, backoffs to at least zero, timeout to at least 1ms. URLs are not checked here: a
    /// malformed one fails its first attempt, finally.
    explicit WebhookSender(WebhookOptions options);
    ~WebhookSender();
    WebhookSender(const WebhookSender&) = delete;
    WebhookSender& operator=(const WebhookSender&) = delete;
    WebhookSender(WebhookSender&&) = delete;
    WebhookSender& operator=(WebhookSender&&) = delete;

    /// Queues `event` with `status` ("succeeded", "failed", "started" or "finished"; passed through as given) and the
    /// checks that fail, stamped with the current wall-clock time, for every URL. Never blocks on the network: it
    /// formats the payload, takes a mutex for a moment and returns. If a URL's queue already holds max_queue events,
    /// its oldest event is dropped (logged at warning).
    void Send(WebhookEvent event, std::string_view status, std::vector<FailingCheck> failing = {});

    /// Waits until no event is queued or under way for any URL, or until `deadline` has passed. Returns true if the
    /// queues drained (every event was delivered or finally failed), false on timeout. Used at shutdown.
    [[nodiscard]] bool Flush(std::chrono::milliseconds deadline);

    /// The pod name sent in payloads, after defaulting.
    [[nodiscard]] const std::string& pod_name() const noexcept;

private:
    struct Impl;
    std::shared_ptr<Impl> impl_;
};

}  // namespace gale::lifecycle
