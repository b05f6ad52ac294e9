// SPDX-License-Identifier: MIT
/// @file gale/amqp/consumer.hpp
/// @brief Consumer: declares its queues, consumes them on one connection, runs a handler per message on a small
///        pool, acknowledges after success, retries failures with backoff, dead-letters what keeps failing, and
///        reconnects by itself.
///
/// What happens to each delivery:
///
/// | handler                                              | outcome counted            | broker                     |
/// |------------------------------------------------------|----------------------------|----------------------------|
/// | returns success                                      | acked                      | basic.ack                  |
/// | fails or throws, then succeeds on attempt n          | retried (n-1 times), acked | basic.ack                  |
/// | fails or throws max_attempts times                   | retried, dead_lettered     | DLQ publish confirmed, then
/// basic.ack | | returns kInvalidArgument, kNotFound or kAlreadyExists| dead_lettered (at once)    | DLQ publish
/// confirmed, then basic.ack | | dead-letter publish refused (nack, return, timeout)  | failed                     |
/// basic.nack requeue=true    | | not run (stopping, or the connection was lost)       | none                       |
/// returns to the queue when the channel closes |
///
/// The permanent codes mean "this message can never be handled" (undecodable, refers to nothing): retrying cannot
/// help, as for the log pipe. Every other code, and any exception, is retried after a capped exponential backoff
/// (initial_backoff, doubled, at most max_backoff) on the same worker, the message staying unacknowledged
/// meanwhile. So a poison message costs at most max_attempts calls and lands in the dead-letter queue; it never
/// loops and never stops the consumer. Attempts are counted per delivery: a message redelivered after a crash
/// starts again at attempt 1 (Message::redelivered tells). For a limit across crashes use a quorum queue
/// (`{"x-queue-type", "quorum"}, {"x-delivery-limit", N}` in QueueSpec::arguments).
///
/// Dead letters: gale declares the direct exchange `dead_letter_exchange` (durable) and, for each queue Q, the
/// durable queue `Q.dead-letter` bound to it with key Q. A dead-lettered message keeps its body and properties;
/// its headers gain `x-gale-failure-reason` (the handler's error, or "exception: …"), `x-gale-attempts`,
/// `x-gale-queue`, `x-gale-original-exchange` and `x-gale-original-routing-key`.
///
/// Threading: one I/O thread owns the connection (rabbitmq-c connections are not thread-safe) and does every
/// broker call: it receives deliveries, hands them to `handler_threads` workers, and sends the acks the workers hand
/// back through a queue and an eventfd. Heartbeats keep flowing while handlers run. Acks go out as soon as a
/// worker finishes; consecutive finished deliveries are acknowledged with one `multiple` ack. Handlers of
/// different messages run concurrently (up to handler_threads), so per-queue order holds only with
/// handler_threads = 1.
///
/// Connection: Start() returns at once; the I/O thread connects, declares, sets QoS and consumes, and reconnects
/// after any failure (refused, lost, heartbeat timeout, broker-side cancel, a declaration refused) after a capped
/// exponential backoff with jitter (reconnect_initial_backoff doubled up to reconnect_max_backoff, each wait drawn
/// from [d/2, d]), reset once a connection has reached consuming. Refused logins and unknown vhosts are retried
/// too (credentials may be rotated and a vhost created by provisioning), logged at error level naming user, vhost,
/// host and port; last_error() has the same text. While not consuming, connected() is false and outage() grows.
///
/// Stopping (SIGTERM): StopConsuming() cancels the consumers (basic.cancel), drops deliveries not yet started
/// (they return to the queue) and stops reconnecting; handlers already running finish and are acknowledged.
/// WaitIdle(deadline) waits for that; Stop() then closes the channel and the connection, so that anything still
/// unacknowledged returns to the queue, and joins the threads (waiting for handlers still running; their results
/// are dropped and their messages are redelivered). Nothing is lost: a message is acknowledged only after its
/// handler succeeded or its dead-letter copy was confirmed.
///
/// Ownership: the Consumer owns its connection, threads and handlers; `metrics` (if any) is borrowed and must
/// outlive it. Thread-safety: Start/StopConsuming/WaitIdle/Stop from one thread (the role's); connected(),
/// outage(), last_error() and Stats() from any thread. Handlers are called from worker threads, concurrently when
/// handler_threads > 1. The destructor calls Stop().
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include <gale/amqp/message.hpp>
#include <gale/amqp/settings.hpp>
#include <gale/amqp/topology.hpp>
#include <gale/base/error.hpp>

namespace gale::amqp {

class ConsumerMetrics;

/// Handles one message. Success acknowledges it; an error or an exception is a failure (see the table above).
using Handler = std::function<Result<void>(const Message& message)>;

/// A queue to consume and what to call for its messages.
struct Subscription {
    QueueSpec queue;
    Handler handler;
};

/// | Name | Description | Default |
/// |---|---|---|
/// | name | names the consumer in logs and metrics (label `consumer`) | "amqp" |
/// | prefetch | unacknowledged deliveries per queue (basic.qos, per consumer) | 32 |
/// | handler_threads | workers running handlers | 2 |
/// | max_attempts | handler calls per delivery before it is dead-lettered | 5 |
/// | initial_backoff / max_backoff | wait before a retry, doubling, capped | 100 ms / 5 s |
/// | reconnect_initial_backoff / reconnect_max_backoff | wait before a reconnect, doubling, capped, jittered | 500 ms /
/// 30 s | | dead_letter_exchange | gale's dead-letter exchange (direct, durable) | "gale.dead-letter" | |
/// dead_letter_confirm_timeout | longest wait for the broker's confirm of a dead-letter copy | 10 s | | metrics |
/// Prometheus bridge (borrowed) | none |
struct ConsumerOptions {
    std::string name = "amqp";
    int prefetch = 32;
    int handler_threads = 2;
    int max_attempts = 5;
    std::chrono::milliseconds initial_backoff{100};
    std::chrono::milliseconds max_backoff{5000};
    std::chrono::milliseconds reconnect_initial_backoff{500};
    std::chrono::milliseconds reconnect_max_backoff{30000};
    std::string dead_letter_exchange = "gale.dead-letter";
    std::chrono::milliseconds dead_letter_confirm_timeout{10000};
    ConsumerMetrics* metrics = nullptr;
};

/// What each delivery came to, for metrics and logs.
enum class Outcome { kAcked, kRetried, kDeadLettered, kFailed };
/// "acked", "retried", "dead_lettered", "failed".
[[nodiscard]] std::string_view ToString(Outcome outcome) noexcept;

/// A snapshot of a consumer's counters (cumulative since construction).
struct ConsumerStats {
    struct Queue {
        std::string queue;
        std::uint64_t delivered = 0;      ///< deliveries received
        std::uint64_t acked = 0;          ///< acknowledged after the handler succeeded
        std::uint64_t retried = 0;        ///< failed calls that were retried
        std::uint64_t dead_lettered = 0;  ///< acknowledged after their dead-letter copy was confirmed
        std::uint64_t failed = 0;         ///< could not be dead-lettered: requeued
    };
    std::vector<Queue> queues{};         ///< in Subscription order
    std::uint64_t connects = 0;          ///< connections that reached consuming
    std::uint64_t connect_failures = 0;  ///< attempts that did not (refused, login refused, declaration refused)
    std::uint64_t disconnects = 0;       ///< consuming connections lost
    int in_flight = 0;                   ///< handlers running now
};

class Consumer {
public:
    /// Checks the subscriptions (Validate(), a handler each, distinct queue names) and the options (prefetch in
    /// [1, 65535], handler_threads in [1, 256], max_attempts >= 1, backoffs > 0). Errors: kInvalidArgument listing
    /// every problem. Nothing connects before Start().
    [[nodiscard]] static Result<std::unique_ptr<Consumer>> Create(ConnectionOptions connection,
                                                                  std::vector<Subscription> subscriptions,
                                                                  ConsumerOptions options = {});
    ~Consumer();
    Consumer(const Consumer&) = delete;
    Consumer& operator=(const Consumer&) = delete;

    /// Starts the I/O thread and the workers and returns at once (connecting happens in the background). Once.
    void Start();
    /// Cancels the consumers and stops reconnecting (see the file comment). Returns at once; idempotent.
    void StopConsuming();
    /// Waits until no handler runs and every finished one is acknowledged (or its connection is gone). Call after
    /// StopConsuming(). @return true when idle, false if `deadline` passed first.
    [[nodiscard]] bool WaitIdle(std::chrono::steady_clock::time_point deadline);
    /// StopConsuming(), then closes the channel and the connection and joins the threads. Idempotent.
    void Stop();

    /// True while every queue is being consumed (readiness).
    [[nodiscard]] bool connected() const noexcept;
    /// How long the consumer has not been consuming: zero while connected(); since Start() before the first
    /// connection; since the loss otherwise (liveness: fail past a limit).
    [[nodiscard]] std::chrono::steady_clock::duration outage() const noexcept;
    /// The last connection or declaration error ("" if none since the last successful connect).
    [[nodiscard]] std::string last_error() const;
    [[nodiscard]] ConsumerStats Stats() const;
    [[nodiscard]] const std::string& name() const noexcept;

private:
    struct Impl;
    explicit Consumer(std::unique_ptr<Impl> impl);
    std::unique_ptr<Impl> impl_;
};

}  // namespace gale::amqp
