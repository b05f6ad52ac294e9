// SPDX-License-Identifier: MIT
// The task worker (contract in gale/tasks/worker.hpp).
//
// Invariants:
//  - only the fetch thread touches the BrokerConsumer and the hold heap; task threads talk to it through
//    `completions` (under mu) and fetch_cv;
//  - every delivery of the current consumer is in exactly one place until settled: the hold heap, `ready`, a busy
//    slot, or `completions`; `unsettled` counts them. Deliveries of an earlier consumer (generation) are never
//    settled on the new one: the broker returned them when the old consumer closed;
//  - a slot is abandoned only while its task function runs (state kRunning); once the function returned the slot
//    is kFinishing and its thread alone stores the result and settles — so a result is stored once, by the one
//    who settles the message;
//  - an abandoned thread holds shared_ptrs to the Core, its slot and its task's definition, never to the
//    consumer: when it returns it only lowers the abandoned count and exits.
#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <deque>
#include <map>
#include <mutex>
#include <optional>
#include <queue>
#include <random>
#include <set>
#include <thread>

#include <fmt/format.h>

#include <gale/log/log.hpp>
#include <gale/tasks/worker.hpp>

namespace gale::tasks {
namespace {

constexpr const char* kLogger = "gale.worker";
/// How often the fetch loop checks time limits and updates gauges (so a hard limit is enforced within this).
constexpr std::chrono::milliseconds kHousekeeping{10};
/// With tasks out and room for more, how soon the fetch loop looks at the broker again.
constexpr std::chrono::milliseconds kBusyLook{5};
using Clock = std::chrono::steady_clock;
using Json = nlohmann::ordered_json;

std::int64_t SteadyMs() {
    return std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now().time_since_epoch()).count();
}

std::chrono::milliseconds Jittered(std::chrono::milliseconds d) {
    thread_local std::mt19937_64 rng{std::random_device{}()};
    if (d.count() <= 0) return d;
    std::uniform_int_distribution<std::int64_t> dist(0, d.count());
    return std::chrono::milliseconds(dist(rng));
}

struct Job {
    Delivery delivery;
    TaskRequest request;                        // once decoded
    std::shared_ptr<const TaskDefinition> def;  // once decoded
    std::uint64_t generation = 0;
    bool decoded = false;    // the checks of Prepare ran (the delivery is a runnable task)
    bool eta_done = false;   // its eta has passed (or it had none)
    bool rate_done = false;  // its rate-limit turn was reserved
};

/// What Prepare decided for a delivery, on a task thread.
enum class Verdict { kRun, kSettled, kHold };

enum class Action { kAck, kRequeue, kDrop };

struct Completion {
    Delivery delivery;
    std::uint64_t generation = 0;
    Action action = Action::kAck;
};

enum class SlotState { kIdle, kRunning, kFinishing, kAbandoned };

struct Slot {
    std::thread thread;
    SlotState state = SlotState::kIdle;
    bool exit = false;
    std::shared_ptr<std::atomic<bool>> cancel;
    bool soft_signalled = false;
    std::optional<Clock::time_point> soft_deadline;
    std::optional<Clock::time_point> hard_deadline;
    std::shared_ptr<Job> job;  // while running: what the hard limit needs to fail it (shared with the thread)
};

struct Held {
    Clock::time_point due;
    std::uint64_t seq;
    bool eta;  // true: waiting for its eta (counts for SetPrefetch); false: for its rate-limit turn
    bool operator>(const Held& o) const { return due != o.due ? due > o.due : seq > o.seq; }
};

std::string Traceback(const TaskRequest& r, const std::string& hostname, const FailureInfo& f) {
    return fmt::format("Traceback (most recent call last):\n  gale task \"{}\" (id {}) on {}, retries {}\n{}: {}\n",
                       r.task, r.id, hostname, r.retries, f.exc_type, f.message);
}

}  // namespace

FailureInfo FailureOf(const Error& error) {
    const char* type = "RuntimeError";
    switch (error.code()) {
        case ErrorCode::kInvalidArgument:
            type = "ValueError";
            break;
        case ErrorCode::kNotFound:
            type = "KeyError";
            break;
        case ErrorCode::kAlreadyExists:
            type = "FileExistsError";
            break;
        case ErrorCode::kUnavailable:
            type = "ConnectionError";
            break;
        case ErrorCode::kTimeout:
            type = "TimeoutError";
            break;
        case ErrorCode::kIo:
            type = "OSError";
            break;
        case ErrorCode::kInternal:
        case ErrorCode::kCancelled:
            type = "RuntimeError";
            break;
    }
    return FailureInfo{type, "builtins", error.ToString()};
}

struct Worker::Core : std::enable_shared_from_this<Worker::Core> {
    Core(Broker& b, const TaskRegistry& r, ResultBackend* be, TaskClient& c, WorkerOptions o)
        : broker(b), registry(r), backend(be), client(c), options(std::move(o)) {
        hostname = options.hostname.empty() ? NodeName() : options.hostname;
        prefetch = std::max<std::size_t>(1, options.concurrency * options.prefetch_multiplier);
        max_abandoned = options.max_abandoned_threads == 0 ? options.concurrency : options.max_abandoned_threads;
    }

    Broker& broker;
    const TaskRegistry& registry;
    ResultBackend* backend;
    TaskClient& client;
    WorkerOptions options;
    std::string hostname;
    std::size_t prefetch = 1;
    std::size_t max_abandoned = 1;

    // --- shared state (mu) ---
    mutable std::mutex mu;
    std::condition_variable work_cv;   // task threads: ready jobs, exit
    std::condition_variable fetch_cv;  // fetch thread: completions, stop
    std::condition_variable idle_cv;   // WaitIdle
    std::deque<Job> ready;
    std::vector<Completion> completions;
    bool settling = false;    // the fetch thread is settling completions it took out of `completions` (WaitIdle)
    std::size_t storing = 0;  // results handed to the backend's StoreAsync, their messages not settled yet
    struct Returned {
        Job job;
        Clock::time_point due;
        bool eta;
    };
    std::vector<Returned> returned;            // jobs a task thread found not due yet: the fetch thread holds them
    std::vector<std::shared_ptr<Slot>> slots;  // not abandoned
    std::size_t running = 0;                   // slots in kRunning or kFinishing
    std::size_t abandoned_running = 0;
    std::size_t held_count = 0;    // mirror of the hold heap's size, for Stats
    std::size_t idle_threads = 0;  // task threads waiting for work
    bool fetch_waiting = false;    // the fetch thread waits in WaitFetch
    bool stop_fetching = false;
    bool fetch_stopped = false;  // the fetch thread has cancelled and returned what it held
    bool stop_all = false;
    std::string last_error;
    std::uint64_t reconnects = 0;
    std::array<std::atomic<std::uint64_t>, kTaskOutcomes> outcomes{};

    // --- status for the probes (atomics) ---
    std::atomic<bool> started{false};
    std::atomic<bool> connected{false};      // a consumer is open and its first Next returned
    std::atomic<bool> consumer_open{false};  // a consumer is open (the heartbeat runs from its opening)
    std::atomic<bool> ever_connected{false};
    std::atomic<std::int64_t> last_round_ms{0};
    std::atomic<std::int64_t> outage_since_ms{0};
    std::atomic<std::size_t> current_prefetch{0};

    // --- the fetch thread's own ---
    std::thread fetch_thread;
    std::unique_ptr<BrokerConsumer> consumer;
    std::uint64_t generation = 0;
    std::size_t unsettled = 0;
    std::size_t eta_held = 0;
    bool prefetch_adjustable = true;
    std::priority_queue<Held, std::vector<Held>, std::greater<>> holds;
    std::map<std::uint64_t, Job> held_jobs;
    std::vector<Job> pending_ready;   // dispatched, not yet handed to the task threads (FlushReady)
    bool stop_fetching_seen = false;  // the fetch thread has returned what it held
    std::uint64_t hold_seq = 0;
    std::mutex rate_mu;  // rate_next, from the task threads
    std::map<std::string, Clock::time_point, std::less<>> rate_next;
    std::mutex dead_letter_mu;  // declared_dead_letters
    std::set<std::string, std::less<>> declared_dead_letters;
    Clock::time_point next_queue_length{};
    Clock::time_point next_housekeeping{};
    std::map<std::string, WorkerMetrics::TaskHandles, std::less<>> handles;  // immutable after Start
    WorkerMetrics::TaskHandles unknown_handles, undecodable_handles;
    std::map<std::string, metrics::Gauge*> queue_gauges;

    // ---------------------------------------------------------------------------------------------------------------
    const WorkerMetrics::TaskHandles& HandlesFor(std::string_view task) const {
        auto it = handles.find(task);
        return it != handles.end() ? it->second : unknown_handles;
    }

    void Count(const WorkerMetrics::TaskHandles& h, TaskOutcome o) {
        if (auto* c = h.outcomes[static_cast<std::size_t>(o)]) c->Inc();
        outcomes[static_cast<std::size_t>(o)].fetch_add(1, std::memory_order_relaxed);
    }

    void UpdateGauges() {
        if (options.metrics == nullptr) return;
        std::size_t in_flight = 0, prefetched = 0, abandoned = 0;
        {
            std::lock_guard lock(mu);
            in_flight = running;
            prefetched = held_count + ready.size();
            abandoned = abandoned_running;
        }
        if (options.metrics->in_flight) options.metrics->in_flight->Set(static_cast<double>(in_flight));
        if (options.metrics->prefetched) options.metrics->prefetched->Set(static_cast<double>(prefetched));
        if (options.metrics->abandoned) options.metrics->abandoned->Set(static_cast<double>(abandoned));
    }

    void SetError(std::string e) {
        std::lock_guard lock(mu);
        last_error = std::move(e);
    }

    // ---- results ----------------------------------------------------------------------------------------------

    TaskResult BaseResult(const Job& job, TaskState state) const {
        TaskResult r;
        r.task_id = job.request.id;
        r.state = state;
        r.date_done = std::chrono::system_clock::now();
        r.group_id = job.request.group;
        r.parent_id = job.request.parent_id;
        r.name = job.request.task;
        r.args = job.request.args;
        r.kwargs = job.request.kwargs;
        r.worker = hostname;
        r.retries = job.request.retries;
        r.queue = job.delivery.queue;
        return r;
    }

    bool WantsResult(const Job& job) const {
        return backend != nullptr && !job.request.ignore_result && !(job.def && job.def->options.ignore_result);
    }

    void StoreResult(const Job& job, const TaskResult& result) {
        if (!WantsResult(job)) return;
        if (auto r = backend->Store(job.request, result); !r) {
            log::Error(kLogger, "cannot store the task's result",
                       {{"task", job.request.task}, {"id", job.request.id}, {"error", r.error().ToString()}});
            SetError("result backend: " + r.error().ToString());
        }
    }

    /// A success's result through the backend's StoreAsync: counted as succeeded and, with acks_late, settled when
    /// it is written (as StoreResult then settle would, without the task thread waiting). `storing` keeps WaitIdle
    /// waiting meanwhile.
    void StoreThenSettle(const std::shared_ptr<Job>& job, const TaskResult& result, const WorkerMetrics::TaskHandles& h,
                         bool acks_late) {
        {
            std::lock_guard lock(mu);
            ++storing;
        }
        backend->StoreAsync(job->request, result, [self = shared_from_this(), job, &h, acks_late](Result<void> stored) {
            if (!stored) {
                log::Error(
                    kLogger, "cannot store the task's result",
                    {{"task", job->request.task}, {"id", job->request.id}, {"error", stored.error().ToString()}});
                self->SetError("result backend: " + stored.error().ToString());
            }
            self->Count(h, TaskOutcome::kSucceeded);
            if (acks_late) self->Complete(*job, Action::kAck, true);
            {
                std::lock_guard lock(self->mu);
                --self->storing;
            }
            self->idle_cv.notify_all();
        });
    }

    void StoreFailure(const Job& job, const FailureInfo& f) {
        TaskResult r = BaseResult(job, TaskState::kFailure);
        r.result = TaskResult::Failure(f.exc_type, f.message, f.exc_module);
        r.traceback = Traceback(job.request, hostname, f);
        StoreResult(job, r);
    }

    /// Sends `sigs` (a list of signature dicts) with `first` prepended to their args unless immutable.
    void SendSignatures(const Json& sigs, const nlohmann::json& first, const Job& job, std::string_view what) {
        if (!sigs.is_array()) return;
        for (const auto& s : sigs) {
            auto sig = Signature::FromJson(s);
            if (sig) {
                if (!sig->immutable) sig->args.insert(sig->args.begin(), first);
                SendOptions extra;
                if (!sig->options.contains("priority") && job.request.priority != 0) {
                    extra.priority = job.request.priority;
                }
                auto sent = client.Send(*sig, extra);
                if (sent) continue;
                log::Error(kLogger, "cannot send a task's callback",
                           {{"task", job.request.task},
                            {"id", job.request.id},
                            {"kind", what},
                            {"callback", sig->task},
                            {"error", sent.error().ToString()}});
            } else {
                log::Error(kLogger, "a task's callback is not a signature",
                           {{"task", job.request.task},
                            {"id", job.request.id},
                            {"kind", what},
                            {"error", sig.error().message()}});
            }
        }
    }

    /// The chain's next step (the embed's last element) with the result prepended and the rest of the chain.
    void SendChainNext(const Job& job, const nlohmann::json& result) {
        const Json& chain = job.request.embed.chain;
        if (!chain.is_array() || chain.empty()) return;
        auto next = Signature::FromJson(chain.back());
        if (!next) {
            log::Error(kLogger, "a chain step is not a signature",
                       {{"task", job.request.task}, {"id", job.request.id}, {"error", next.error().message()}});
            return;
        }
        if (!next->immutable) next->args.insert(next->args.begin(), result);
        SendOptions extra;
        if (!next->options.contains("priority") && job.request.priority != 0) extra.priority = job.request.priority;
        auto built = client.Build(*next, extra);
        if (!built) {
            log::Error(kLogger, "cannot build the chain's next step",
                       {{"task", job.request.task}, {"next", next->task}, {"error", built.error().ToString()}});
            return;
        }
        if (chain.size() > 1) {
            Json rest = Json::array();
            for (std::size_t i = 0; i + 1 < chain.size(); ++i) rest.push_back(chain[i]);
            built->first.embed.chain = std::move(rest);
        }
        if (auto sent = client.Publish(built->first, built->second); !sent) {
            log::Error(kLogger, "cannot send the chain's next step",
                       {{"task", job.request.task},
                        {"id", job.request.id},
                        {"next", next->task},
                        {"error", sent.error().ToString()}});
        }
    }

    // ---- the task threads -------------------------------------------------------------------------------------

    /// Hands the settlement to the fetch thread. `take`: the delivery is not needed any more (moved, not copied).
    void Complete(Job& job, Action action, bool take) {
        bool wake = false;
        {
            std::lock_guard lock(mu);
            completions.push_back({take ? std::move(job.delivery) : job.delivery, job.generation, action});
            // Wake the fetch thread when it waits and either nothing is left to run (it should fetch) or a batch of
            // settlements is ready; otherwise it comes by within kBusyLook anyway. Fewer wake-ups, fewer context
            // switches: they were most of the cost of a short task.
            wake = fetch_waiting && (ready.empty() || completions.size() * 2 >= prefetch || stop_fetching);
        }
        if (wake) fetch_cv.notify_one();
    }

    static void TaskThread(std::shared_ptr<Core> core, std::shared_ptr<Slot> slot) {
        std::unique_lock lock(core->mu);
        for (;;) {
            ++core->idle_threads;
            core->work_cv.wait(lock, [&] { return slot->exit || core->stop_all || !core->ready.empty(); });
            --core->idle_threads;
            if (slot->exit || core->stop_all) return;
            auto job = std::make_shared<Job>(std::move(core->ready.front()));
            core->ready.pop_front();
            ++core->running;  // counted while it is prepared too, so that WaitIdle waits for it
            lock.unlock();
            const Verdict verdict = core->Prepare(*job);
            lock.lock();
            if (verdict != Verdict::kRun) {
                --core->running;
                core->idle_cv.notify_all();
                continue;
            }
            slot->state = SlotState::kRunning;
            if (slot->cancel) {
                slot->cancel->store(false);  // reused: only an abandoned slot's flag must outlive it, and it is not
            } else {                         // reused (the slot goes with its thread)
                slot->cancel = std::make_shared<std::atomic<bool>>(false);
            }
            slot->soft_signalled = false;
            const auto now = Clock::now();
            auto limit = [&](std::optional<double> message, std::optional<std::chrono::milliseconds> task) {
                std::optional<Clock::time_point> out;
                if (message && *message > 0) {
                    out = now + std::chrono::milliseconds(static_cast<std::int64_t>(*message * 1000));
                } else if (task) {
                    out = now + *task;
                }
                return out;
            };
            slot->soft_deadline = limit(job->request.soft_time_limit, job->def->options.soft_time_limit);
            slot->hard_deadline = limit(job->request.hard_time_limit, job->def->options.time_limit);
            slot->job = job;
            auto cancel = slot->cancel;
            lock.unlock();
            core->Run(job, *slot, cancel);
            lock.lock();
            if (slot->state == SlotState::kAbandoned) {
                // Past its hard limit (the fetch thread failed and settled it) or past the shutdown: done.
                --core->abandoned_running;
                lock.unlock();
                core->idle_cv.notify_all();
                return;
            }
            slot->state = SlotState::kIdle;
            slot->job.reset();
            --core->running;
            core->idle_cv.notify_all();
        }
    }

    /// Runs one job to its settlement (nothing, once the run was abandoned).
    void Run(const std::shared_ptr<Job>& job_ptr, Slot& slot, const std::shared_ptr<std::atomic<bool>>& cancel) {
        Job& job = *job_ptr;
        const auto& h = HandlesFor(job.request.task);
        const bool acks_late = job.def->options.acks_late;
        if (!acks_late) Complete(job, Action::kAck, false);  // acked as the thread takes it (Celery's default)
        const Action done = acks_late ? Action::kAck : Action::kDrop;  // kDrop: nothing left to settle
        auto settle = [&](Action a) {
            if (acks_late) Complete(job, a, true);
        };

        if (job.request.expires && *job.request.expires <= std::chrono::system_clock::now()) {
            Revoke(job);
            settle(done);
            return;
        }

        Count(h, TaskOutcome::kStarted);
        TaskContext ctx(job.request, cancel, &client, hostname);
        Result<nlohmann::json> result = nlohmann::json(nullptr);
        std::optional<FailureInfo> thrown;
        bool retryable_throw = false;
        const auto t0 = Clock::now();
        {
            detail::CurrentTaskScope scope(&job.request);
            try {
                result = job.def->fn(ctx);
            } catch (const TaskError& e) {
                thrown = FailureInfo{e.exc_type(), e.exc_module(), e.what()};
            } catch (const std::exception& e) {
                thrown = FailureInfo{"RuntimeError", "builtins", e.what()};
                retryable_throw = job.def->options.retry.retry_exceptions;
            } catch (...) {
                thrown = FailureInfo{"RuntimeError", "builtins", "a non-standard C++ exception"};
                retryable_throw = job.def->options.retry.retry_exceptions;
            }
            const double seconds = std::chrono::duration<double>(Clock::now() - t0).count();
            if (h.duration) h.duration->Observe(seconds);

            {
                std::lock_guard lock(mu);
                if (slot.state == SlotState::kAbandoned) return;
                slot.state = SlotState::kFinishing;
            }

            if (!thrown && result) {
                const bool follow_ups =
                    (job.request.embed.callbacks.is_array() && !job.request.embed.callbacks.empty()) ||
                    (job.request.embed.chain.is_array() && !job.request.embed.chain.empty());
                if (WantsResult(job) && !follow_ups) {
                    // The common case: nothing is sent after the result, so the thread need not wait for it to be
                    // written; the message is settled once it is (StoreThenSettle).
                    TaskResult r = BaseResult(job, TaskState::kSuccess);
                    r.result = std::move(*result);
                    StoreThenSettle(job_ptr, r, h, acks_late);
                    return;
                }
                if (WantsResult(job)) {
                    TaskResult r = BaseResult(job, TaskState::kSuccess);
                    r.result = *result;
                    StoreResult(job, r);
                }
                SendSignatures(job.request.embed.callbacks, *result, job, "link");
                SendChainNext(job, *result);
                Count(h, TaskOutcome::kSucceeded);
                settle(done);
                return;
            }

            // A failure: retry, or store it.
            const RetryPolicy& policy = job.def->options.retry;
            const auto& requested = ctx.retry_request();
            bool retry = requested.has_value() && !thrown;
            if (!retry && !thrown && !result) {
                const ErrorCode code = result.error().code();
                retry = std::find(policy.retry_on.begin(), policy.retry_on.end(), code) != policy.retry_on.end() &&
                        !(code == ErrorCode::kCancelled && cancel->load());
            }
            if (!retry && thrown && retryable_throw) retry = true;
            FailureInfo failure = thrown ? *thrown : FailureOf(result.error());
            if (!thrown && result.error().code() == ErrorCode::kCancelled && cancel->load()) {
                failure = FailureInfo{"SoftTimeLimitExceeded", "billiard.exceptions", result.error().ToString()};
            }
            if (retry) {
                const int max = requested && requested->max_retries ? *requested->max_retries : policy.max_retries;
                if (job.request.retries < max) {
                    if (Retry(job, requested, policy, failure)) {
                        Count(h, TaskOutcome::kRetried);
                        settle(done);
                    } else {
                        settle(Action::kRequeue);  // the retry could not be sent: run it again from the queue
                    }
                    return;
                }
                if (requested) {
                    failure =
                        FailureInfo{"MaxRetriesExceededError", "celery.exceptions",
                                    fmt::format("Can't retry {}[{}] args:{} kwargs:{}", job.request.task,
                                                job.request.id, job.request.args.dump(), job.request.kwargs.dump())};
                }
            }
            StoreFailure(job, failure);
            SendSignatures(job.request.embed.errbacks, job.request.id, job, "link_error");
            Count(h, TaskOutcome::kFailed);
            // An error, as Celery logs a failed task: this is the final failure (retries log at info), and error
            // reporting (gale::sentry) turns error records into events.
            log::Error(kLogger, "task failed",
                       {{"task", job.request.task},
                        {"id", job.request.id},
                        {"exc_type", failure.exc_type},
                        {"exc_module", failure.exc_module},
                        {"error", failure.message},
                        {"retries", job.request.retries}});
            settle(done);
            return;
        }
    }

    /// Publishes the request again with retries + 1 and its eta; stores RETRY. False if the publish failed.
    bool Retry(const Job& job, const std::optional<RetryRequest>& requested, const RetryPolicy& policy,
               const FailureInfo& failure) {
        const auto now = std::chrono::system_clock::now();
        TaskRequest next = job.request;
        next.retries = job.request.retries + 1;
        if (requested && requested->eta) {
            next.eta = *requested->eta;
        } else if (requested && requested->countdown) {
            next.eta = now + *requested->countdown;
        } else {
            auto delay = policy.Delay(job.request.retries);
            if (policy.jitter) delay = Jittered(delay);
            next.eta = now + delay;
        }
        std::string queue = job.delivery.queue.empty() ? client.QueueFor(job.request.task) : job.delivery.queue;
        if (auto sent = client.Publish(next, queue); !sent) {
            log::Error(kLogger, "cannot send the task's retry; the message goes back to the queue",
                       {{"task", job.request.task}, {"id", job.request.id}, {"error", sent.error().ToString()}});
            SetError("retry: " + sent.error().ToString());
            return false;
        }
        TaskResult r = BaseResult(job, TaskState::kRetry);
        r.date_done.reset();
        r.result = TaskResult::Failure(failure.exc_type, failure.message, failure.exc_module);
        r.traceback = Traceback(job.request, hostname, failure);
        StoreResult(job, r);
        log::Info(kLogger, "task retry",
                  {{"task", job.request.task},
                   {"id", job.request.id},
                   {"retries", next.retries},
                   {"eta", FormatIsoTime(*next.eta)},
                   {"reason", failure.message}});
        return true;
    }

    void Revoke(const Job& job) {
        Count(HandlesFor(job.request.task), TaskOutcome::kRevoked);
        StoreResult(job, BaseResult(job, TaskState::kRevoked));
        log::Info(kLogger, "task expired; revoked, not run",
                  {{"task", job.request.task},
                   {"id", job.request.id},
                   {"expires", job.request.expires ? FormatIsoTime(*job.request.expires) : std::string()}});
    }

    // ---- the fetch thread -------------------------------------------------------------------------------------

    void Settle(const Delivery& d, std::uint64_t gen, Action action) {
        if (gen != generation || !consumer) return;  // the old consumer's: the broker returned it already
        if (unsettled > 0) --unsettled;
        if (action == Action::kDrop) return;
        auto r = action == Action::kAck ? consumer->Ack(d) : consumer->Reject(d, /*requeue=*/true);
        if (!r) {
            log::Warning(kLogger, "cannot settle a delivery", {{"tag", d.tag}, {"error", r.error().ToString()}});
            SetError("settle: " + r.error().ToString());
        }
    }

    void ProcessCompletions() {
        std::vector<Completion> batch;
        std::vector<Returned> back;
        {
            std::lock_guard lock(mu);
            batch.swap(completions);
            back.swap(returned);
            settling = !batch.empty();  // not idle until they are acked: WaitIdle promises "settled"
        }
        for (auto& c : batch) Settle(c.delivery, c.generation, c.action);
        for (auto& r : back) {
            if (r.job.generation != generation) continue;  // the old consumer's: the broker returned it already
            if (stop_fetching_seen) {
                Settle(r.job.delivery, r.job.generation, Action::kRequeue);
                continue;
            }
            Hold(std::move(r.job), r.due, r.eta);
        }
        if (!batch.empty()) {
            {
                std::lock_guard lock(mu);
                settling = false;
            }
            idle_cv.notify_all();
        }
    }

    /// On a task thread: publishes the dead letter, then hands the settlement to the fetch thread.
    void DeadLetter(Job& job, const std::string& reason, const WorkerMetrics::TaskHandles& h) {
        const Delivery& d = job.delivery;
        TransportMessage m = d.message;
        if (!m.headers.is_object()) m.headers = Json::object();
        const std::string queue = !d.queue.empty() ? d.queue : (!d.routing_key.empty() ? d.routing_key : "celery");
        m.headers["x-gale-dead-letter-reason"] = reason;
        m.headers["x-gale-queue"] = queue;
        m.headers["x-gale-delivery-count"] = d.delivery_count;
        Route route{.queue = DeadLetterQueue(queue)};
        Result<void> sent = {};
        bool declare = false;
        {
            std::lock_guard lock(dead_letter_mu);
            declare = declared_dead_letters.count(route.queue) == 0;
        }
        if (declare) {
            sent = broker.Declare({route});
            if (sent) {
                std::lock_guard lock(dead_letter_mu);
                declared_dead_letters.insert(route.queue);
            }
        }
        if (sent) sent = broker.Publish(route, m);
        Count(h, TaskOutcome::kRejected);
        if (!sent) {
            log::Error(kLogger, "cannot dead-letter a message; it goes back to the queue",
                       {{"queue", queue}, {"reason", reason}, {"error", sent.error().ToString()}});
            SetError("dead letter: " + sent.error().ToString());
            Complete(job, Action::kRequeue, true);
            return;
        }
        log::Error(kLogger, "message dead-lettered",
                   {{"queue", queue},
                    {"dead_letter_queue", route.queue},
                    {"reason", reason},
                    {"delivery_count", d.delivery_count}});
        Complete(job, Action::kAck, true);
    }

    void Hold(Job job, Clock::time_point due, bool eta) {
        const std::uint64_t seq = ++hold_seq;
        holds.push({due, seq, eta});
        held_jobs.emplace(seq, std::move(job));
        if (eta) {
            ++eta_held;
            AdjustPrefetch();
        }
        std::lock_guard lock(mu);
        held_count = held_jobs.size();
    }

    void AdjustPrefetch() {
        if (!prefetch_adjustable || !consumer) return;
        auto r = consumer->SetPrefetch(prefetch + eta_held);
        if (!r) {
            prefetch_adjustable = false;  // counted in the fixed prefetch from now on
            log::Debug(kLogger, "the broker cannot raise its prefetch; held eta tasks count in it",
                       {{"error", r.error().message()}});
            return;
        }
        current_prefetch.store(prefetch + eta_held);
    }

    void Dispatch(Job job) { pending_ready.push_back(std::move(job)); }

    /// Hands the jobs dispatched since the last call to the task threads, waking as many as can take one.
    void FlushReady() {
        if (pending_ready.empty()) return;
        std::size_t wake = 0;
        {
            std::lock_guard lock(mu);
            for (auto& j : pending_ready) ready.push_back(std::move(j));
            wake = std::min(pending_ready.size(), idle_threads);
        }
        pending_ready.clear();
        if (wake > 1) {
            work_cv.notify_all();
        } else if (wake == 1) {
            work_cv.notify_one();
        }
    }

    void ReleaseDueHolds() {
        const auto now = Clock::now();
        bool changed = false;
        while (!holds.empty() && holds.top().due <= now) {
            Held h = holds.top();
            holds.pop();
            auto it = held_jobs.find(h.seq);
            if (it == held_jobs.end()) continue;
            Job job = std::move(it->second);
            held_jobs.erase(it);
            changed = true;
            if (h.eta) {
                --eta_held;
                AdjustPrefetch();
                job.eta_done = true;  // now subject to its rate limit (Prepare, again)
            } else {
                job.rate_done = true;
            }
            pending_ready.push_back(std::move(job));
        }
        if (changed) {
            std::lock_guard lock(mu);
            held_count = held_jobs.size();
        }
    }

    /// Everything delivered but not started goes back to the queue (drain, or before the consumer closes).
    void ReturnUnstarted() {
        std::deque<Job> unstarted(std::make_move_iterator(pending_ready.begin()),
                                  std::make_move_iterator(pending_ready.end()));
        pending_ready.clear();
        {
            std::lock_guard lock(mu);
            for (auto& j : ready) unstarted.push_back(std::move(j));
            ready.clear();
            for (auto& r : returned) unstarted.push_back(std::move(r.job));
            returned.clear();
        }
        for (auto& [seq, job] : held_jobs) unstarted.push_back(std::move(job));
        held_jobs.clear();
        while (!holds.empty()) holds.pop();
        eta_held = 0;
        for (auto& job : unstarted) Settle(job.delivery, job.generation, Action::kRequeue);
        std::lock_guard lock(mu);
        held_count = 0;
    }

    /// On the fetch thread: straight to the task threads, which decode and decide (Prepare), so that the fetch
    /// thread does no per-message work beyond the broker's.
    void HandleDelivery(Delivery d) {
        ++unsettled;
        Job job;
        job.delivery = std::move(d);
        job.generation = generation;
        pending_ready.push_back(std::move(job));
    }

    /// On a task thread, before running: the checks of the file comment (1–6). kRun: run it; kSettled: dead-lettered
    /// or revoked, settlement handed back; kHold: handed back to the fetch thread to wait (eta, rate limit).
    Verdict Prepare(Job& job) {
        if (!job.decoded) {
            Delivery& d = job.delivery;
            ParseDeferredHeaders(d);
            if (options.max_deliveries > 0 && d.delivery_count > options.max_deliveries) {
                std::string name;
                if (d.message.headers.is_object()) {
                    auto it = d.message.headers.find("task");
                    if (it != d.message.headers.end() && it->is_string()) name = it->get<std::string>();
                }
                Count(HandlesFor(name), TaskOutcome::kReceived);
                DeadLetter(job,
                           fmt::format("delivered {} times without being settled (more than max_deliveries {}): the "
                                       "workers that ran it died",
                                       d.delivery_count, options.max_deliveries),
                           HandlesFor(name));
                return Verdict::kSettled;
            }
            auto request = DecodeTask(d.message);
            if (!request) {
                Count(undecodable_handles, TaskOutcome::kReceived);
                DeadLetter(job, "undecodable: " + request.error().message(), undecodable_handles);
                return Verdict::kSettled;
            }
            auto def = registry.Find(request->task);
            if (!def) {
                Count(unknown_handles, TaskOutcome::kReceived);
                DeadLetter(job,
                           fmt::format("unknown task '{}' (this worker runs {})", request->task.substr(0, 200),
                                       fmt::join(registry.Names(), ", ")),
                           unknown_handles);
                return Verdict::kSettled;
            }
            const auto& h = HandlesFor(request->task);
            Count(h, TaskOutcome::kReceived);
            if (!request->embed.chord.is_null()) {
                DeadLetter(job, "chords are not supported by gale's worker (run it on a Python Celery worker)", h);
                return Verdict::kSettled;
            }
            job.request = std::move(*request);
            job.def = std::move(def);
            job.decoded = true;
        }
        const auto now = std::chrono::system_clock::now();
        if (job.request.expires && *job.request.expires <= now) {
            Revoke(job);
            Complete(job, Action::kAck, true);
            return Verdict::kSettled;
        }
        if (!job.eta_done) {
            job.eta_done = true;
            if (job.request.eta && *job.request.eta > now) {
                job.eta_done = false;
                const auto due = Clock::now() + std::chrono::duration_cast<Clock::duration>(*job.request.eta - now);
                Return(std::move(job), due, /*eta=*/true);
                return Verdict::kHold;
            }
        }
        const double rate = job.def->rate_per_second;
        if (rate > 0 && !job.rate_done) {
            job.rate_done = true;
            const auto steady = Clock::now();
            const auto interval =
                std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(1.0 / rate));
            Clock::time_point due{};
            {
                std::lock_guard lock(rate_mu);
                auto& next = rate_next[job.def->name];
                if (next > steady) {
                    due = next;
                    next += interval;
                } else {
                    next = steady + interval;
                }
            }
            if (due > steady) {
                Return(std::move(job), due, /*eta=*/false);
                return Verdict::kHold;
            }
        }
        return Verdict::kRun;
    }

    /// Hands a job back to the fetch thread to hold until `due`.
    void Return(Job job, Clock::time_point due, bool eta) {
        {
            std::lock_guard lock(mu);
            returned.push_back({std::move(job), due, eta});
        }
        fetch_cv.notify_one();
    }

    void CheckTimeLimits() {
        const auto now = Clock::now();
        std::vector<Job> expired;
        {
            std::lock_guard lock(mu);
            for (auto it = slots.begin(); it != slots.end();) {
                Slot& s = **it;
                if (s.state != SlotState::kRunning) {
                    ++it;
                    continue;
                }
                if (s.soft_deadline && *s.soft_deadline <= now && !s.soft_signalled) {
                    s.soft_signalled = true;
                    s.cancel->store(true);
                    log::Warning(kLogger, "soft time limit exceeded; the task is asked to stop",
                                 {{"task", s.job->request.task}, {"id", s.job->request.id}});
                }
                if (s.hard_deadline && *s.hard_deadline <= now) {
                    s.state = SlotState::kAbandoned;
                    s.cancel->store(true);
                    expired.push_back(*s.job);  // a copy: the abandoned thread still reads its own
                    s.job.reset();
                    --running;
                    ++abandoned_running;
                    s.thread.detach();
                    it = slots.erase(it);
                    continue;
                }
                ++it;
            }
            if (!expired.empty() && !stop_all) {
                for (std::size_t i = 0; i < expired.size(); ++i) StartThreadLocked();  // keep the concurrency
            }
        }
        for (auto& job : expired) {
            const auto& h = HandlesFor(job.request.task);
            const double limit = job.request.hard_time_limit.value_or(
                job.def->options.time_limit ? std::chrono::duration<double>(*job.def->options.time_limit).count()
                                            : 0.0);
            FailureInfo f{"TimeLimitExceeded", "billiard.exceptions", fmt::format("TimeLimitExceeded({})", limit)};
            log::Error(kLogger, "hard time limit exceeded; the task fails and its thread is abandoned",
                       {{"task", job.request.task},
                        {"id", job.request.id},
                        {"limit_s", limit},
                        {"exc_type", f.exc_type},
                        {"exc_module", f.exc_module}});
            {
                detail::CurrentTaskScope scope(&job.request);
                StoreFailure(job, f);
                SendSignatures(job.request.embed.errbacks, job.request.id, job, "link_error");
            }
            Count(h, TaskOutcome::kFailed);
            Settle(job.delivery, job.generation, job.def->options.acks_late ? Action::kAck : Action::kDrop);
        }
        if (!expired.empty()) {
            UpdateGauges();
            idle_cv.notify_all();
        }
    }

    void StartThreadLocked() {
        auto slot = std::make_shared<Slot>();
        slots.push_back(slot);
        slot->thread = std::thread(&Core::TaskThread, shared_from_this(), slot);
    }

    void UpdateQueueLengths() {
        if (options.metrics == nullptr) return;
        const auto now = Clock::now();
        if (now < next_queue_length) return;
        next_queue_length = now + options.queue_length_interval;
        for (const auto& q : options.queues) {
            auto n = broker.QueueLength(q);
            if (!n) continue;
            auto& g = queue_gauges[q];
            if (g == nullptr) g = options.metrics->QueueLength(q);
            if (g != nullptr) g->Set(static_cast<double>(*n));
        }
    }

    void DropConsumer(const std::string& why) {
        ReturnUnstarted();  // rejected with requeue if the consumer still answers; Close returns them anyway
        if (consumer) consumer->Close();
        consumer.reset();
        ++generation;  // whatever is still running belonged to the old consumer
        unsettled = 0;
        eta_held = 0;
        // The outage began when the last working consumer was lost, not at each failed attempt since.
        consumer_open.store(false);
        if (connected.exchange(false)) outage_since_ms.store(SteadyMs());
        if (options.metrics && options.metrics->connected) options.metrics->connected->Set(0);
        SetError(why);
    }

    void WaitFetch(std::chrono::milliseconds d) {
        FlushReady();
        std::unique_lock lock(mu);
        fetch_waiting = true;
        fetch_cv.wait_for(lock, d, [&] {
            return !completions.empty() || !returned.empty() || stop_all || (stop_fetching && !fetch_stopped);
        });
        fetch_waiting = false;
    }

    void FetchLoop() {
        std::chrono::milliseconds backoff = options.reconnect_initial;
        outage_since_ms.store(SteadyMs());
        for (;;) {
            bool stop = false;
            bool stop_taking = false;
            {
                std::lock_guard lock(mu);
                stop = stop_all;
                stop_taking = stop_fetching;
            }
            ProcessCompletions();
            if (stop) break;
            if (stop_taking) {
                bool first = false;
                {
                    std::lock_guard lock(mu);
                    first = !fetch_stopped;
                }
                if (first) {
                    if (consumer) consumer->Cancel();
                    stop_fetching_seen = true;
                    ReturnUnstarted();
                    {
                        std::lock_guard lock(mu);
                        fetch_stopped = true;
                    }
                    idle_cv.notify_all();
                    log::Info(kLogger, "stopped fetching; unstarted messages returned to the queue");
                }
            }
            if (!consumer) {
                if (stop_taking) {
                    WaitFetch(options.poll);
                    continue;
                }
                auto c = broker.Consume(options.queues, prefetch);
                if (!c) {
                    const std::string e = c.error().ToString();
                    log::Warning(kLogger, "cannot consume; retrying",
                                 {{"broker", broker.Describe()}, {"error", e}, {"retry_in_ms", backoff.count()}});
                    SetError(e);
                    WaitFetch(backoff / 2 + Jittered(backoff / 2));
                    backoff = std::min(backoff * 2, options.reconnect_max);
                    continue;
                }
                consumer = std::move(*c);
                ++generation;
                unsettled = 0;
                eta_held = 0;
                prefetch_adjustable = true;
                current_prefetch.store(prefetch);
                // Not connected yet: a broker may connect lazily (Redis), so a consumer counts once its first Next
                // has returned (below). Until then the outage, the backoff and the error stand; the heartbeat runs
                // from now, so a first Next that never returns shows in since_round.
                last_round_ms.store(SteadyMs());
                consumer_open.store(true);
            }
            if (const auto now = Clock::now(); now >= next_housekeeping) {
                next_housekeeping = now + kHousekeeping;
                CheckTimeLimits();
                UpdateQueueLengths();
                UpdateGauges();
            }
            ReleaseDueHolds();

            const std::size_t limit = prefetch + (prefetch_adjustable ? eta_held : 0);
            const bool room = !stop_taking && unsettled < limit;
            // Block in Next only while nothing is outstanding: finished tasks announce themselves on fetch_cv, which
            // a Next waiting on the broker would not hear.
            std::chrono::milliseconds timeout = room && unsettled == 0 ? options.poll : std::chrono::milliseconds(0);
            if (!holds.empty()) {
                auto until = std::chrono::duration_cast<std::chrono::milliseconds>(holds.top().due - Clock::now());
                timeout = std::clamp(until, std::chrono::milliseconds(0), timeout);
            }
            {
                std::lock_guard lock(mu);
                if (!completions.empty()) timeout = std::chrono::milliseconds(0);
            }
            if (timeout.count() > 0 || pending_ready.size() >= options.concurrency) FlushReady();
            auto next = consumer->Next(timeout);
            if (!next) {
                const std::string e = next.error().ToString();
                log::Warning(kLogger, "the broker consumer failed; reconnecting",
                             {{"broker", broker.Describe()}, {"error", e}});
                DropConsumer(e);
                WaitFetch(backoff / 2 + Jittered(backoff / 2));
                backoff = std::min(backoff * 2, options.reconnect_max);
                continue;
            }
            last_round_ms.store(SteadyMs());
            if (!connected.load()) {
                backoff = options.reconnect_initial;
                if (ever_connected.exchange(true)) {
                    std::lock_guard lock(mu);
                    ++reconnects;
                    if (options.metrics && options.metrics->reconnects) options.metrics->reconnects->Inc();
                }
                connected.store(true);
                if (options.metrics && options.metrics->connected) options.metrics->connected->Set(1);
                log::Info(kLogger, "consuming",
                          {{"broker", broker.Describe()},
                           {"queues", fmt::format("{}", fmt::join(options.queues, ","))},
                           {"prefetch", prefetch},
                           {"concurrency", options.concurrency}});
            }
            if (*next) {
                if (stop_taking) {
                    ++unsettled;
                    Settle(**next, generation, Action::kRequeue);  // delivered after the cancel: back it goes
                } else {
                    HandleDelivery(std::move(**next));
                }
                continue;
            }
            FlushReady();
            if (timeout.count() == 0) {
                // Tasks are out: wait for one to finish (or, with room, look at the broker again soon).
                auto wait = room ? std::min(options.poll, kBusyLook) : options.poll;
                if (!holds.empty()) {
                    auto until = std::chrono::duration_cast<std::chrono::milliseconds>(holds.top().due - Clock::now());
                    wait = std::clamp(until, std::chrono::milliseconds(1), wait);
                }
                WaitFetch(wait);
            }
        }
        // Stop: settle what finished, return the unstarted, close (the unsettled go back to the queue).
        ProcessCompletions();
        ReturnUnstarted();
        if (consumer) consumer->Close();
        consumer.reset();
        consumer_open.store(false);
        connected.store(false);
        if (options.metrics && options.metrics->connected) options.metrics->connected->Set(0);
    }
};

Worker::Worker(Broker& broker, const TaskRegistry& registry, ResultBackend* backend, TaskClient& client,
               WorkerOptions options)
    : core_(std::make_shared<Core>(broker, registry, backend, client, std::move(options))) {}

Worker::~Worker() { Stop(); }

Result<void> Worker::Start() {
    Core& c = *core_;
    if (c.started.load()) return MakeError(ErrorCode::kInvalidArgument, "the worker is already started");
    if (c.options.queues.empty()) return MakeError(ErrorCode::kInvalidArgument, "the worker needs a queue to consume");
    for (const auto& q : c.options.queues) {
        if (q.empty()) return MakeError(ErrorCode::kInvalidArgument, "the worker was given an empty queue name");
    }
    if (c.options.concurrency == 0) return MakeError(ErrorCode::kInvalidArgument, "worker concurrency must be >= 1");
    if (c.options.prefetch_multiplier == 0) {
        return MakeError(ErrorCode::kInvalidArgument, "the prefetch multiplier must be >= 1");
    }
    if (c.registry.empty()) return MakeError(ErrorCode::kInvalidArgument, "no tasks are registered");
    if (c.options.poll <= std::chrono::milliseconds(0)) c.options.poll = std::chrono::milliseconds(1);
    if (c.options.metrics != nullptr) {
        for (const auto& name : c.registry.Names()) c.handles.emplace(name, c.options.metrics->ForTask(name));
        c.unknown_handles = c.options.metrics->ForTask("<unknown>");
        c.undecodable_handles = c.options.metrics->ForTask("<undecodable>");
    }
    c.started.store(true);
    {
        std::lock_guard lock(c.mu);
        for (std::size_t i = 0; i < c.options.concurrency; ++i) c.StartThreadLocked();
    }
    c.fetch_thread = std::thread([core = core_] { core->FetchLoop(); });
    return {};
}

void Worker::StopFetching() {
    {
        std::lock_guard lock(core_->mu);
        core_->stop_fetching = true;
    }
    core_->fetch_cv.notify_all();
}

bool Worker::WaitIdle(std::chrono::steady_clock::time_point deadline) {
    Core& c = *core_;
    if (!c.started.load()) return true;
    std::unique_lock lock(c.mu);
    return c.idle_cv.wait_until(lock, deadline, [&] {
        return (!c.stop_fetching || c.fetch_stopped) && c.running == 0 && c.storing == 0 && c.ready.empty() &&
               c.completions.empty() && !c.settling;
    });
}

void Worker::Stop() {
    Core& c = *core_;
    if (!c.started.load()) return;
    StopFetching();
    {
        std::lock_guard lock(c.mu);
        if (c.stop_all) return;
        c.stop_all = true;
    }
    c.fetch_cv.notify_all();
    c.work_cv.notify_all();
    if (c.fetch_thread.joinable()) c.fetch_thread.join();
    std::vector<std::shared_ptr<Slot>> slots;
    {
        std::lock_guard lock(c.mu);
        for (auto& s : c.slots) {
            s->exit = true;
            if (s->state == SlotState::kRunning || s->state == SlotState::kFinishing) {
                // Still running past the graceful timeout: its message went back with the consumer; leave it.
                s->state = SlotState::kAbandoned;
                if (s->cancel) s->cancel->store(true);
                ++c.abandoned_running;
                if (c.running > 0) --c.running;
                s->thread.detach();
            } else {
                slots.push_back(s);
            }
        }
        c.slots.clear();
    }
    c.work_cv.notify_all();
    for (auto& s : slots) {
        if (s->thread.joinable()) s->thread.join();
    }
    std::lock_guard lock(c.mu);
    if (c.abandoned_running > 0) {
        log::Warning(kLogger, "task threads still running at shutdown are left behind",
                     {{"threads", c.abandoned_running}});
    }
}

WorkerStats Worker::Stats() const {
    const Core& c = *core_;
    WorkerStats s;
    s.started = c.started.load();
    s.connected = c.connected.load();
    s.ever_connected = c.ever_connected.load();
    const std::int64_t now = SteadyMs();
    s.since_round =
        c.consumer_open.load() ? std::chrono::milliseconds(now - c.last_round_ms.load()) : std::chrono::milliseconds(0);
    s.outage = s.connected || !s.started ? std::chrono::milliseconds(0)
                                         : std::chrono::milliseconds(now - c.outage_since_ms.load());
    s.prefetch = c.current_prefetch.load();
    std::lock_guard lock(c.mu);
    s.fetching = s.connected && !c.stop_fetching;
    s.in_flight = c.running;
    s.prefetched = c.held_count + c.ready.size();
    s.abandoned_threads = c.abandoned_running;
    s.stuck = c.abandoned_running >= c.max_abandoned;
    for (std::size_t i = 0; i < kTaskOutcomes; ++i) s.outcomes[i] = c.outcomes[i].load(std::memory_order_relaxed);
    s.reconnects = c.reconnects;
    s.last_error = c.last_error;
    return s;
}

}  // namespace gale::tasks
