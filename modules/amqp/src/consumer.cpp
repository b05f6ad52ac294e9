// SPDX-License-Identifier: MIT
// Design. rabbitmq-c connections are not thread-safe, so ONE I/O thread owns the connection and makes every broker
// call; handlers run on a pool of workers. Deliveries go I/O → workers through a mutex-guarded deque (bounded by
// the prefetch); results come back through a second deque and an eventfd that wakes the I/O thread's poll().
//
// Invariants (I/O thread):
//  - `outstanding_` holds every delivery tag of the current connection that is neither acknowledged nor
//    nacked: queued, running, abandoned by a stopping worker, or waiting for its dead-letter confirm. An ack with
//    `multiple` therefore only ever covers tags below the smallest outstanding one: nothing unfinished is acked.
//  - Each connection has a generation; work and results carry it, and results of an earlier generation are
//    dropped (their deliveries went back to the queue when that connection died, and will be redelivered).
//  - At most one dead-letter copy is in flight (channel 2, confirm mode, mandatory), so a basic.return always
//    belongs to it; dead letters are rare, and the original is acked only once its copy is confirmed.
//  - A stopping consumer (StopConsuming) cancels its consumers, drops queued work and dispatches nothing new;
//    what it did not ack returns to the queue when Stop() closes the channel.
#include <amqp.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <optional>
#include <random>
#include <set>
#include <thread>

#include <fmt/format.h>

#include <gale/amqp/consumer.hpp>
#include <gale/amqp/consumer_metrics.hpp>
#include <gale/log/log.hpp>
#include <gale/metrics/counter.hpp>
#include <gale/metrics/gauge.hpp>
#include <gale/metrics/histogram.hpp>

#include "backoff.hpp"
#include "codec.hpp"
#include "connection.hpp"

namespace gale::amqp {
namespace {

constexpr std::string_view kLogger = "gale.amqp";
constexpr amqp_channel_t kConsumeChannel = 1;
constexpr amqp_channel_t kDeadLetterChannel = 2;

bool IsPermanent(ErrorCode code) noexcept {
    return code == ErrorCode::kInvalidArgument || code == ErrorCode::kNotFound || code == ErrorCode::kAlreadyExists;
}

std::int64_t NowNs() noexcept {
    return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now().time_since_epoch())
        .count();
}

}  // namespace

std::string_view ToString(Outcome outcome) noexcept {
    switch (outcome) {
        case Outcome::kAcked:
            return "acked";
        case Outcome::kRetried:
            return "retried";
        case Outcome::kDeadLettered:
            return "dead_lettered";
        case Outcome::kFailed:
            return "failed";
    }
    return "acked";
}

struct Consumer::Impl {
    struct QueueState {
        std::string name;
        std::string dead_letter_queue;
        std::string consumer_tag;  // I/O thread
        std::atomic<std::uint64_t> delivered{0}, acked{0}, retried{0}, dead_lettered{0}, failed{0};
        ConsumerMetrics::QueueHandles metrics{};

        void Count(Outcome o, std::atomic<std::uint64_t>& counter) {
            counter.fetch_add(1, std::memory_order_relaxed);
            if (auto* c = metrics.outcomes[static_cast<std::size_t>(o)]) c->Inc();
        }
    };
    enum class Action { kAck, kDeadLetter };
    struct Work {
        std::uint64_t generation = 0;
        std::uint64_t tag = 0;
        std::size_t queue = 0;
        Message message;
    };
    struct Done {
        std::uint64_t generation = 0;
        std::uint64_t tag = 0;
        std::size_t queue = 0;
        Action action = Action::kAck;
        std::string reason{};
        int attempts = 0;
        std::optional<Message> message{};  // for dead letters
    };
    struct DeadLetterInFlight {
        Done done;
        std::uint64_t seq = 0;
        bool returned = false;
        std::chrono::steady_clock::time_point deadline{};
    };

    ConnectionOptions connection;
    std::vector<Subscription> subs;
    ConsumerOptions options;
    std::vector<std::unique_ptr<QueueState>> queues;
    ConsumerMetrics::ConnectionHandles conn_metrics{};

    std::atomic<bool> started{false};
    std::atomic<bool> stop_consuming{false};
    std::atomic<bool> stop{false};
    std::atomic<bool> connected{false};
    std::atomic<std::int64_t> outage_since_ns{0};
    std::atomic<std::uint64_t> connects{0}, connect_failures{0}, disconnects{0};
    mutable std::mutex error_mu;
    std::string last_error;
    int event_fd = -1;

    // Work queue (I/O thread → workers).
    std::mutex work_mu;
    std::condition_variable work_cv;
    std::deque<Work> work;
    bool workers_exit = false;
    std::atomic<int> running{0};

    // Results (workers → I/O thread).
    std::mutex done_mu;
    std::vector<Done> done;

    // Idleness, published by the I/O thread for WaitIdle.
    std::mutex idle_mu;
    std::condition_variable idle_cv;
    bool idle = false;

    // I/O thread only.
    std::unique_ptr<detail::Connection> conn;
    std::uint64_t generation = 0;
    std::set<std::uint64_t> outstanding;
    std::deque<Done> dead_letter_queue;
    std::optional<DeadLetterInFlight> dead_letter_in_flight;
    std::uint64_t dead_letter_seq = 0;
    bool cancelled = false;
    int dispatched = 0;  // deliveries queued in this read round

    std::thread io;
    std::vector<std::thread> workers;

    ~Impl() {
        if (event_fd >= 0) ::close(event_fd);
    }

    void Wake() const {
        const std::uint64_t one = 1;
        (void)!::write(event_fd, &one, sizeof one);
    }

    void SetError(const std::string& text) {
        std::lock_guard lock(error_mu);
        last_error = text;
    }

    // --- workers ---------------------------------------------------------------------------------------------

    void WorkerMain() {
        for (;;) {
            Work w;
            {
                std::unique_lock lock(work_mu);
                work_cv.wait(lock, [&] { return workers_exit || !work.empty(); });
                if (workers_exit) return;
                w = std::move(work.front());
                work.pop_front();
                running.fetch_add(1);
            }
            std::optional<Done> d = Handle(w);
            bool was_empty = true;  // the I/O thread drains the whole queue, so one wake per non-empty queue will do
            if (d) {
                std::lock_guard lock(done_mu);
                was_empty = done.empty();
                done.push_back(std::move(*d));
            }
            const bool last = running.fetch_sub(1) == 1;
            if (was_empty || (last && stop_consuming.load())) Wake();
        }
    }

    /// Runs the handler with retries. std::nullopt: abandoned (stopping), the message returns to the queue.
    std::optional<Done> Handle(Work& w) {
        QueueState& q = *queues[w.queue];
        const Handler& handler = subs[w.queue].handler;
        std::string reason;
        for (int attempt = 1;; ++attempt) {
            w.message.attempt = attempt;
            const auto t0 = std::chrono::steady_clock::now();
            std::optional<Error> failure;
            try {
                if (auto r = handler(w.message); !r) failure = r.error();
            } catch (const std::exception& e) {
                failure = Error(ErrorCode::kInternal, fmt::format("exception: {}", e.what()));
            } catch (...) {
                failure = Error(ErrorCode::kInternal, "exception: not a std::exception");
            }
            if (auto* h = q.metrics.handler_duration) {
                h->Observe(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
            }
            if (!failure) return Done{w.generation, w.tag, w.queue, Action::kAck, {}, attempt, std::nullopt};
            reason = failure->ToString();
            if (IsPermanent(failure->code()) || attempt >= options.max_attempts) {
                log::Error(kLogger, "AMQP handler failed; dead-lettering the message",
                           {{"consumer", options.name},
                            {"queue", q.name},
                            {"routing_key", w.message.routing_key},
                            {"attempts", attempt},
                            {"permanent", IsPermanent(failure->code())},
                            {"error", reason}});
                return Done{w.generation, w.tag, w.queue, Action::kDeadLetter, reason, attempt, std::move(w.message)};
            }
            q.Count(Outcome::kRetried, q.retried);
            const auto wait = detail::Backoff(attempt, options.initial_backoff, options.max_backoff);
            log::Warning(kLogger, "AMQP handler failed; retrying",
                         {{"consumer", options.name},
                          {"queue", q.name},
                          {"attempt", attempt},
                          {"retry_in_ms", wait.count()},
                          {"error", reason}});
            std::unique_lock lock(work_mu);
            if (work_cv.wait_for(lock, wait, [&] { return workers_exit || stop_consuming.load(); })) {
                log::Info(kLogger, "AMQP consumer stopping: a message waiting for its retry goes back to the queue",
                          {{"consumer", options.name}, {"queue", q.name}});
                return std::nullopt;
            }
        }
    }

    // --- I/O thread ------------------------------------------------------------------------------------------

    void PublishIdle(bool value) {
        {
            std::lock_guard lock(idle_mu);
            idle = value;
        }
        if (value) idle_cv.notify_all();
    }

    void UpdateIdle() {
        if (!stop_consuming.load()) return;
        bool now_idle = running.load() == 0;
        if (now_idle) {
            std::lock_guard lock(done_mu);
            now_idle = done.empty();
        }
        if (now_idle) {
            std::lock_guard lock(work_mu);
            now_idle = work.empty();
        }
        now_idle = now_idle && dead_letter_queue.empty() && !dead_letter_in_flight;
        PublishIdle(now_idle);
    }

    /// Waits on the eventfd (and the socket, if `fd` >= 0) for at most `timeout`.
    void WaitEvent(int fd, std::chrono::milliseconds timeout) const {
        pollfd fds[2] = {{event_fd, POLLIN, 0}, {fd, POLLIN, 0}};
        const int n = fd >= 0 ? 2 : 1;
        if (::poll(fds, static_cast<nfds_t>(n), static_cast<int>(timeout.count())) > 0 && (fds[0].revents & POLLIN)) {
            std::uint64_t v = 0;
            (void)!::read(event_fd, &v, sizeof v);
        }
    }

    void DropQueuedWork() {
        std::lock_guard lock(work_mu);
        work.clear();
    }

    void DropConnection() {
        conn.reset();
        ++generation;
        outstanding.clear();
        dead_letter_queue.clear();
        dead_letter_in_flight.reset();
        DropQueuedWork();
        std::lock_guard lock(done_mu);
        done.clear();
    }

    Result<void> ConnectAndConsume() {
        GALE_ASSIGN_OR_RETURN(conn, detail::Connection::Open(connection));
        GALE_RETURN_IF_ERROR(conn->OpenChannel(kConsumeChannel));
        GALE_RETURN_IF_ERROR(conn->OpenChannel(kDeadLetterChannel));
        (void)amqp_confirm_select(conn->state(), kDeadLetterChannel);
        GALE_RETURN_IF_ERROR(conn->Check(kDeadLetterChannel, amqp_get_rpc_reply(conn->state()), "confirm.select"));
        ExchangeSpec dlx{options.dead_letter_exchange, ExchangeType::kDirect, true, false, {}};
        GALE_RETURN_IF_ERROR(conn->DeclareExchange(kConsumeChannel, dlx));
        for (std::size_t i = 0; i < subs.size(); ++i) {
            const QueueSpec& spec = subs[i].queue;
            GALE_RETURN_IF_ERROR(conn->DeclareQueue(kConsumeChannel, spec));
            QueueSpec dlq;
            dlq.name = queues[i]->dead_letter_queue;
            GALE_RETURN_IF_ERROR(conn->DeclareQueue(kConsumeChannel, dlq));
            GALE_RETURN_IF_ERROR(conn->Bind(kConsumeChannel, dlq.name, dlx.name, spec.name, {}));
        }
        (void)amqp_basic_qos(conn->state(), kConsumeChannel, 0, static_cast<std::uint16_t>(options.prefetch), 0);
        GALE_RETURN_IF_ERROR(conn->Check(kConsumeChannel, amqp_get_rpc_reply(conn->state()),
                                         fmt::format("basic.qos prefetch {}", options.prefetch)));
        ++generation;
        outstanding.clear();
        cancelled = false;
        for (std::size_t i = 0; i < subs.size(); ++i) {
            amqp_basic_consume_ok_t* ok =
                amqp_basic_consume(conn->state(), kConsumeChannel, detail::Bytes(subs[i].queue.name), amqp_empty_bytes,
                                   0, 0, 0, amqp_empty_table);
            GALE_RETURN_IF_ERROR(conn->Check(kConsumeChannel, amqp_get_rpc_reply(conn->state()),
                                             fmt::format("consuming queue '{}'", subs[i].queue.name)));
            queues[i]->consumer_tag = detail::String(ok->consumer_tag);
        }
        return {};
    }

    void Dispatch(const amqp_envelope_t& env) {
        const std::string tag = detail::String(env.consumer_tag);
        std::size_t qi = 0;
        while (qi < queues.size() && queues[qi]->consumer_tag != tag) ++qi;
        if (qi == queues.size() || stop_consuming.load()) return;  // not ours, or stopping: stays unacked
        QueueState& q = *queues[qi];
        q.delivered.fetch_add(1, std::memory_order_relaxed);
        Work w;
        w.generation = generation;
        w.tag = env.delivery_tag;
        w.queue = qi;
        w.message.body = detail::String(env.message.body);
        w.message.exchange = detail::String(env.exchange);
        w.message.routing_key = detail::String(env.routing_key);
        w.message.queue = q.name;
        w.message.properties = detail::DecodeProperties(env.message.properties);
        w.message.redelivered = env.redelivered != 0;
        outstanding.insert(env.delivery_tag);
        std::lock_guard lock(work_mu);
        work.push_back(std::move(w));
        ++dispatched;  // the workers are woken once per read round (RunOnce), not once per message
    }

    Result<void> SendAck(std::uint64_t tag, bool multiple) {
        if (int st = amqp_basic_ack(conn->state(), kConsumeChannel, tag, multiple ? 1 : 0); st != AMQP_STATUS_OK) {
            return tl::unexpected(conn->StatusError(st, "basic.ack"));
        }
        return {};
    }

    /// Acks `tags` (finished, already removed from outstanding_): one `multiple` ack for those below the smallest
    /// outstanding tag, single acks for the rest.
    Result<void> AckFinished(std::vector<std::uint64_t>& tags) {
        if (tags.empty()) return {};
        std::sort(tags.begin(), tags.end());
        const std::uint64_t low = outstanding.empty() ? UINT64_MAX : *outstanding.begin();
        auto split = std::lower_bound(tags.begin(), tags.end(), low);
        if (split != tags.begin()) GALE_RETURN_IF_ERROR(SendAck(*(split - 1), split - tags.begin() > 1));
        for (auto it = split; it != tags.end(); ++it) GALE_RETURN_IF_ERROR(SendAck(*it, false));
        return {};
    }

    Result<void> Requeue(const Done& d, std::string_view why) {
        QueueState& q = *queues[d.queue];
        log::Error(kLogger, "AMQP dead-letter copy not accepted; the message goes back to the queue",
                   {{"consumer", options.name}, {"queue", q.name}, {"why", why}, {"error", d.reason}});
        q.Count(Outcome::kFailed, q.failed);
        outstanding.erase(d.tag);
        if (int st = amqp_basic_nack(conn->state(), kConsumeChannel, d.tag, 0, 1); st != AMQP_STATUS_OK) {
            return tl::unexpected(conn->StatusError(st, "basic.nack"));
        }
        return {};
    }

    Result<void> PumpDeadLetters() {
        if (dead_letter_in_flight) {
            if (std::chrono::steady_clock::now() > dead_letter_in_flight->deadline) {
                return MakeError(ErrorCode::kTimeout,
                                 fmt::format("no confirm within {} ms for a dead-letter copy on {}",
                                             options.dead_letter_confirm_timeout.count(), conn->where()));
            }
            return {};
        }
        if (dead_letter_queue.empty()) return {};
        DeadLetterInFlight f;
        f.done = std::move(dead_letter_queue.front());
        dead_letter_queue.pop_front();
        Message& m = *f.done.message;
        Properties props = m.properties;
        props.headers.emplace_back("x-gale-failure-reason", f.done.reason);
        props.headers.emplace_back("x-gale-attempts", f.done.attempts);
        props.headers.emplace_back("x-gale-queue", m.queue);
        props.headers.emplace_back("x-gale-original-exchange", m.exchange);
        props.headers.emplace_back("x-gale-original-routing-key", m.routing_key);
        detail::Arena arena;
        amqp_basic_properties_t p = detail::EncodeProperties(props, arena, /*persistent_default=*/true);
        const int st =
            amqp_basic_publish(conn->state(), kDeadLetterChannel, detail::Bytes(options.dead_letter_exchange),
                               detail::Bytes(m.queue), 1, 0, &p, detail::Bytes(m.body));
        if (st != AMQP_STATUS_OK) return tl::unexpected(conn->StatusError(st, "publishing a dead-letter copy"));
        f.seq = ++dead_letter_seq;
        f.deadline = std::chrono::steady_clock::now() + options.dead_letter_confirm_timeout;
        dead_letter_in_flight = std::move(f);
        return {};
    }

    Result<void> SettleDeadLetter(bool acked) {
        if (!dead_letter_in_flight) return {};
        DeadLetterInFlight f = std::move(*dead_letter_in_flight);
        dead_letter_in_flight.reset();
        if (!acked || f.returned) {
            GALE_RETURN_IF_ERROR(Requeue(f.done, f.returned ? "unroutable (basic.return)" : "nack"));
        } else {
            QueueState& q = *queues[f.done.queue];
            q.Count(Outcome::kDeadLettered, q.dead_lettered);
            outstanding.erase(f.done.tag);
            std::vector<std::uint64_t> tags{f.done.tag};
            GALE_RETURN_IF_ERROR(AckFinished(tags));
        }
        return PumpDeadLetters();
    }

    Result<void> HandleDone() {
        std::vector<Done> batch;
        {
            std::lock_guard lock(done_mu);
            batch.swap(done);
        }
        std::vector<std::uint64_t> acks;
        for (auto& d : batch) {
            if (d.generation != generation) continue;
            if (d.action == Action::kAck) {
                QueueState& q = *queues[d.queue];
                q.Count(Outcome::kAcked, q.acked);
                outstanding.erase(d.tag);
                acks.push_back(d.tag);
            } else {
                dead_letter_queue.push_back(std::move(d));
            }
        }
        GALE_RETURN_IF_ERROR(AckFinished(acks));
        return PumpDeadLetters();
    }

    Result<void> HandleFrame(const amqp_frame_t& frame) {
        if (frame.frame_type != AMQP_FRAME_METHOD) return {};
        const void* decoded = frame.payload.method.decoded;
        switch (frame.payload.method.id) {
            case AMQP_BASIC_ACK_METHOD:
                if (frame.channel == kDeadLetterChannel) return SettleDeadLetter(true);
                return {};
            case AMQP_BASIC_NACK_METHOD:
                if (frame.channel == kDeadLetterChannel) return SettleDeadLetter(false);
                return {};
            case AMQP_BASIC_RETURN_METHOD: {
                if (dead_letter_in_flight) dead_letter_in_flight->returned = true;
                amqp_message_t m{};
                amqp_rpc_reply_t r = amqp_read_message(conn->state(), frame.channel, &m, 0);
                if (r.reply_type != AMQP_RESPONSE_NORMAL) return conn->Check(frame.channel, r, "reading a return");
                amqp_destroy_message(&m);
                return {};
            }
            case AMQP_BASIC_CANCEL_METHOD: {
                const auto* c = static_cast<const amqp_basic_cancel_t*>(decoded);
                return MakeError(ErrorCode::kUnavailable,
                                 fmt::format("the AMQP broker at {} cancelled consumer '{}' (queue deleted?)",
                                             conn->where(), detail::String(c->consumer_tag)));
            }
            case AMQP_CHANNEL_CLOSE_METHOD: {
                const auto* c = static_cast<const amqp_channel_close_t*>(decoded);
                amqp_channel_close_ok_t ok{};
                (void)amqp_send_method(conn->state(), frame.channel, AMQP_CHANNEL_CLOSE_OK_METHOD, &ok);
                return MakeError(ErrorCode::kUnavailable,
                                 fmt::format("the AMQP broker at {} closed channel {}: {} {}", conn->where(),
                                             frame.channel, c->reply_code, detail::String(c->reply_text)));
            }
            case AMQP_CONNECTION_CLOSE_METHOD: {
                const auto* c = static_cast<const amqp_connection_close_t*>(decoded);
                amqp_connection_close_ok_t ok{};
                (void)amqp_send_method(conn->state(), 0, AMQP_CONNECTION_CLOSE_OK_METHOD, &ok);
                return MakeError(ErrorCode::kUnavailable,
                                 fmt::format("the AMQP broker at {} closed the connection: {} {}", conn->where(),
                                             c->reply_code, detail::String(c->reply_text)));
            }
            default:
                return {};
        }
    }

    Result<void> Cancel() {
        cancelled = true;
        DropQueuedWork();
        for (auto& q : queues) {
            (void)amqp_basic_cancel(conn->state(), kConsumeChannel, detail::Bytes(q->consumer_tag));
            GALE_RETURN_IF_ERROR(conn->Check(kConsumeChannel, amqp_get_rpc_reply(conn->state()),
                                             fmt::format("cancelling the consumer of queue '{}'", q->name)));
        }
        log::Info(kLogger, "AMQP consumer cancelled; finishing the messages in hand", {{"consumer", options.name}});
        return {};
    }

    /// One round on a live connection: results, cancel, wait, frames.
    Result<void> RunOnce() {
        GALE_RETURN_IF_ERROR(HandleDone());
        if (stop_consuming.load() && !cancelled) GALE_RETURN_IF_ERROR(Cancel());
        UpdateIdle();
        amqp_connection_state_t state = conn->state();
        if (amqp_frames_enqueued(state) == 0 && amqp_data_in_buffer(state) == 0) {
            WaitEvent(conn->fd(), std::chrono::milliseconds(100));
        }
        dispatched = 0;
        struct Notify {  // on every exit from the loop below
            Impl& impl;
            ~Notify() {
                if (impl.dispatched == 1) impl.work_cv.notify_one();
                if (impl.dispatched > 1) impl.work_cv.notify_all();
            }
        } notify{*this};
        for (int i = 0; i < 512; ++i) {
            amqp_maybe_release_buffers(state);
            timeval zero{0, 0};
            amqp_envelope_t env{};
            amqp_rpc_reply_t r = amqp_consume_message(state, &env, &zero, 0);
            if (r.reply_type == AMQP_RESPONSE_NORMAL) {
                Dispatch(env);
                amqp_destroy_envelope(&env);
                continue;
            }
            if (r.reply_type == AMQP_RESPONSE_LIBRARY_EXCEPTION && r.library_error == AMQP_STATUS_TIMEOUT) break;
            if (r.reply_type == AMQP_RESPONSE_LIBRARY_EXCEPTION && r.library_error == AMQP_STATUS_UNEXPECTED_STATE) {
                amqp_frame_t frame{};
                if (int st = amqp_simple_wait_frame(state, &frame); st != AMQP_STATUS_OK) {
                    return tl::unexpected(conn->StatusError(st, "reading a frame"));
                }
                GALE_RETURN_IF_ERROR(HandleFrame(frame));
                continue;
            }
            return conn->Check(kConsumeChannel, r, "consuming");
        }
        return {};
    }

    void CloseConnection() {
        if (!conn) return;
        (void)amqp_channel_close(conn->state(), kConsumeChannel, AMQP_REPLY_SUCCESS);
        (void)amqp_channel_close(conn->state(), kDeadLetterChannel, AMQP_REPLY_SUCCESS);
        (void)conn->Close();
        DropConnection();
    }

    std::string QueueNames() const {
        std::string out;
        for (const auto& q : queues) out += (out.empty() ? "" : ",") + q->name;
        return out;
    }

    void IoMain() {
        std::mt19937_64 rng(std::random_device{}());
        std::uniform_real_distribution<double> unit(0.0, 1.0);
        int failures = 0;
        while (!stop.load()) {
            if (!conn) {
                UpdateIdle();
                if (stop_consuming.load()) {  // no reconnect once stopping
                    WaitEvent(-1, std::chrono::milliseconds(100));
                    std::lock_guard lock(done_mu);
                    done.clear();
                    continue;
                }
                if (auto r = ConnectAndConsume(); !r) {
                    conn.reset();
                    ++failures;
                    connect_failures.fetch_add(1);
                    const auto wait = detail::Jitter(
                        detail::Backoff(failures, options.reconnect_initial_backoff, options.reconnect_max_backoff),
                        unit(rng));
                    SetError(r.error().ToString());
                    const bool refused = r.error().code() == ErrorCode::kInvalidArgument;
                    log::Write(refused ? log::Level::kError : log::Level::kWarning, kLogger,
                               refused ? "AMQP consumer cannot start: the broker refuses it; retrying"
                                       : "AMQP consumer cannot reach the broker; retrying",
                               {{"consumer", options.name},
                                {"broker", connection.Describe()},
                                {"attempt", failures},
                                {"retry_in_ms", wait.count()},
                                {"error", r.error().ToString()}});
                    const auto until = std::chrono::steady_clock::now() + wait;
                    while (!stop.load() && !stop_consuming.load() && std::chrono::steady_clock::now() < until) {
                        WaitEvent(-1, std::min<std::chrono::milliseconds>(
                                          std::chrono::duration_cast<std::chrono::milliseconds>(
                                              until - std::chrono::steady_clock::now()) +
                                              std::chrono::milliseconds(1),
                                          std::chrono::milliseconds(100)));
                        std::lock_guard lock(done_mu);
                        done.clear();
                    }
                    continue;
                }
                failures = 0;
                SetError("");
                if (connects.fetch_add(1) > 0 && conn_metrics.reconnects != nullptr) conn_metrics.reconnects->Inc();
                outage_since_ns.store(0);
                connected.store(true);
                if (conn_metrics.connected != nullptr) conn_metrics.connected->Set(1);
                log::Info(kLogger, "AMQP consumer consuming",
                          {{"consumer", options.name},
                           {"broker", connection.Describe()},
                           {"queues", QueueNames()},
                           {"prefetch", options.prefetch}});
            }
            if (auto r = RunOnce(); !r) {
                connected.store(false);
                outage_since_ns.store(NowNs());
                if (conn_metrics.connected != nullptr) conn_metrics.connected->Set(0);
                disconnects.fetch_add(1);
                SetError(r.error().ToString());
                log::Warning(
                    kLogger, "AMQP consumer lost its connection; reconnecting",
                    {{"consumer", options.name}, {"broker", connection.Describe()}, {"error", r.error().ToString()}});
                DropConnection();
                failures = 0;
            }
        }
        connected.store(false);
        if (conn_metrics.connected != nullptr) conn_metrics.connected->Set(0);
        CloseConnection();
        PublishIdle(true);
    }
};

Result<std::unique_ptr<Consumer>> Consumer::Create(ConnectionOptions connection,
                                                   std::vector<Subscription> subscriptions, ConsumerOptions options) {
    std::vector<std::string> problems;
    if (subscriptions.empty()) problems.emplace_back("no queue to consume");
    std::set<std::string> names;
    for (const auto& s : subscriptions) {
        if (auto r = Validate(s.queue); !r) problems.push_back(r.error().message());
        if (!s.handler) problems.push_back(fmt::format("queue '{}': no handler", s.queue.name));
        if (!names.insert(s.queue.name).second) {
            problems.push_back(fmt::format("queue '{}' is subscribed twice", s.queue.name));
        }
    }
    if (options.prefetch < 1 || options.prefetch > 65535) {
        problems.push_back(fmt::format("prefetch {} is not in [1, 65535]", options.prefetch));
    }
    if (options.handler_threads < 1 || options.handler_threads > 256) {
        problems.push_back(fmt::format("handler_threads {} is not in [1, 256]", options.handler_threads));
    }
    if (options.max_attempts < 1) problems.push_back(fmt::format("max_attempts {} is below 1", options.max_attempts));
    for (auto [what, d] :
         {std::pair{"initial_backoff", options.initial_backoff}, std::pair{"max_backoff", options.max_backoff},
          std::pair{"reconnect_initial_backoff", options.reconnect_initial_backoff},
          std::pair{"reconnect_max_backoff", options.reconnect_max_backoff},
          std::pair{"dead_letter_confirm_timeout", options.dead_letter_confirm_timeout}}) {
        if (d.count() <= 0) problems.push_back(fmt::format("{} must be above 0", what));
    }
    if (options.dead_letter_exchange.empty()) problems.emplace_back("dead_letter_exchange must not be empty");
    if (!problems.empty()) {
        std::string joined;
        for (const auto& p : problems) joined += (joined.empty() ? "" : "; ") + p;
        return MakeError(ErrorCode::kInvalidArgument, fmt::format("AMQP consumer '{}': {}", options.name, joined));
    }
    auto impl = std::make_unique<Impl>();
    impl->event_fd = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (impl->event_fd < 0) return MakeError(ErrorCode::kIo, "AMQP consumer: eventfd failed");
    impl->connection = std::move(connection);
    impl->options = std::move(options);
    impl->subs = std::move(subscriptions);
    for (const auto& s : impl->subs) {
        auto q = std::make_unique<Impl::QueueState>();
        q->name = s.queue.name;
        q->dead_letter_queue = s.queue.name + ".dead-letter";
        if (impl->options.metrics != nullptr) q->metrics = impl->options.metrics->ForQueue(impl->options.name, q->name);
        impl->queues.push_back(std::move(q));
    }
    if (impl->options.metrics != nullptr) {
        impl->conn_metrics = impl->options.metrics->ForConnection(impl->options.name);
    }
    return std::unique_ptr<Consumer>(new Consumer(std::move(impl)));
}

Consumer::Consumer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

Consumer::~Consumer() { Stop(); }

void Consumer::Start() {
    if (impl_->started.exchange(true)) return;
    impl_->outage_since_ns.store(NowNs());
    for (int i = 0; i < impl_->options.handler_threads; ++i)
        impl_->workers.emplace_back([this] { impl_->WorkerMain(); });
    impl_->io = std::thread([this] { impl_->IoMain(); });
}

void Consumer::StopConsuming() {
    if (impl_->stop_consuming.exchange(true)) return;
    impl_->work_cv.notify_all();  // wakes workers waiting for a retry
    impl_->Wake();
}

bool Consumer::WaitIdle(std::chrono::steady_clock::time_point deadline) {
    if (!impl_->started.load()) return true;
    std::unique_lock lock(impl_->idle_mu);
    return impl_->idle_cv.wait_until(lock, deadline, [&] { return impl_->idle; });
}

void Consumer::Stop() {
    if (!impl_->started.load()) return;
    StopConsuming();
    impl_->stop.store(true);
    impl_->Wake();
    if (impl_->io.joinable()) impl_->io.join();
    {
        std::lock_guard lock(impl_->work_mu);
        impl_->workers_exit = true;
    }
    impl_->work_cv.notify_all();
    for (auto& t : impl_->workers) {
        if (t.joinable()) t.join();
    }
}

bool Consumer::connected() const noexcept { return impl_->connected.load(); }

std::chrono::steady_clock::duration Consumer::outage() const noexcept {
    const std::int64_t since = impl_->outage_since_ns.load();
    if (since == 0 || impl_->connected.load()) return std::chrono::steady_clock::duration::zero();
    return std::chrono::nanoseconds(NowNs() - since);
}

std::string Consumer::last_error() const {
    std::lock_guard lock(impl_->error_mu);
    return impl_->last_error;
}

ConsumerStats Consumer::Stats() const {
    ConsumerStats s;
    for (const auto& q : impl_->queues) {
        s.queues.push_back({q->name, q->delivered.load(), q->acked.load(), q->retried.load(), q->dead_lettered.load(),
                            q->failed.load()});
    }
    s.connects = impl_->connects.load();
    s.connect_failures = impl_->connect_failures.load();
    s.disconnects = impl_->disconnects.load();
    s.in_flight = impl_->running.load();
    return s;
}

const std::string& Consumer::name() const noexcept { return impl_->options.name; }

}  // namespace gale::amqp
