// SPDX-License-Identifier: MIT
/// @file gale/tasks/redis_control.hpp
/// @brief ControlResponder: answers Celery's remote control on Redis (kombu's pidbox over pub/sub), so that
///        `celery -A app inspect ping -b redis://…` and `celery status` list gale workers. Library gale::tasks_redis.
///
/// How Celery 5.2 does it on Redis (kombu/pidbox.py over kombu/transport/redis.py; observed with Debian's Celery
/// 5.2.6): the `<namespace>.pidbox` exchange (`celery.pidbox`) is a fanout one, so a request is PUBLISHed on
/// `/<db>.celery.pidbox` (the channel rules, fanout_prefix and fanout_patterns, are in
/// modules/tasks/src/redis_fanout.hpp) and every worker PSUBSCRIBEd to it receives it; the payload is kombu's
/// envelope (base64 body, headers {"clock", "expires"}). The request body is {"method", "arguments",
/// "destination", "pattern", "matcher", "ticket", "reply_to": {"exchange": "reply.celery.pidbox", "routing_key":
/// <uuid>}}. The answer goes through the *direct* reply exchange as kombu's virtual transport routes it: the
/// members `<routing_key>\x06\x16<pattern>\x06\x16<queue>` of `_kombu.binding.reply.celery.pidbox` whose routing
/// key equals the request's name the queues (`<uuid>.reply.celery.pidbox`, bound by the requester before it
/// published), and the reply is LPUSHed to each — an envelope with body {"<nodename>": answer}, headers {"ticket",
/// "clock"}, delivery_mode 1. A reply with no bound queue is dropped, as kombu drops it.
///
/// Which node, which commands (the rules are shared with the AMQP responder: gale/tasks/worker_presence.hpp): a
/// request is for this node when `destination` lists it, or — without destination — when `pattern` matches (glob or
/// pcre), or when it names neither; one past its `expires` header is dropped. `ping` → {"ok": "pong"}; every other
/// command → {"error": "gale does not implement the remote control command '<method>'"}; a request without reply_to
/// (a cast) is logged and ignored. The Lamport clock follows kombu's: max(local, received) + 1 on receipt (a request
/// without a clock counts as 0), +1 per reply.
///
/// Unlike Celery's worker, gale does not write its own pidbox binding (`_kombu.binding.celery.pidbox`) nor the
/// (always empty) `<nodename>.celery.pidbox` list: on Redis only the pub/sub subscription carries requests, and
/// nothing reads the binding to route a fanout message.
///
/// Connection: a Subscriber (pub/sub connection) and a Connection for replies, both its own. Start() returns at
/// once; the thread subscribes, and after a lost connection resubscribes (the Subscriber does) with capped backoff
/// (reconnect_backoff doubled up to 10 s); requests published meanwhile are lost (pub/sub keeps nothing), so the
/// requester times out, as with Celery's worker. Ownership: owns its connections and thread; Stop() (and the
/// destructor) closes them. Thread-safety: Start/Stop from one thread; the accessors from any.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>

#include <gale/base/error.hpp>
#include <gale/redis/options.hpp>
#include <gale/tasks/worker_presence.hpp>

namespace gale::tasks::redis {

/// | Name | Description | Default |
/// |---|---|---|
/// | nodename | the node's name in answers | DefaultNodeName(): "celery@<hostname>" (gale/tasks/worker_presence.hpp) |
/// | app_namespace | Celery's control namespace (control_exchange) | "celery" |
/// | fanout_prefix | kombu's fanout_prefix: channels start with `/<db>.` | true (kombu 5.2's default) |
/// | fanout_patterns | kombu's fanout_patterns | true |
/// | reconnect_backoff | first wait before subscribing again, doubled up to 10 s | 500 ms |
struct ControlOptions {
    std::string nodename{};
    std::string app_namespace = "celery";
    bool fanout_prefix = true;
    bool fanout_patterns = true;
    std::chrono::milliseconds reconnect_backoff{500};
};

class ControlResponder {
public:
    /// Checks the options (a node name with '@', as Celery's; a namespace). Errors: kInvalidArgument. Connects in
    /// Start().
    [[nodiscard]] static Result<std::unique_ptr<ControlResponder>> Create(gale::redis::ConnectionOptions connection,
                                                                          ControlOptions options = {});
    ~ControlResponder();
    ControlResponder(const ControlResponder&) = delete;
    ControlResponder& operator=(const ControlResponder&) = delete;

    /// Starts the thread and returns at once. Once.
    void Start();
    /// Unsubscribes (closes the connections) and joins the thread. Idempotent.
    void Stop();

    /// True while subscribed to the pidbox channel.
    [[nodiscard]] bool connected() const noexcept;
    [[nodiscard]] const std::string& nodename() const noexcept;
    /// The pub/sub channel requests arrive on (`/0.celery.pidbox` by default).
    [[nodiscard]] const std::string& channel() const noexcept;
    /// Requests for this node answered (pings and error answers) since Create.
    [[nodiscard]] std::uint64_t answered() const noexcept;
    /// The last connection error, "" while connected.
    [[nodiscard]] std::string last_error() const;

private:
    struct Impl;
    explicit ControlResponder(std::unique_ptr<Impl> impl);
    std::unique_ptr<Impl> impl_;
};

}  // namespace gale::tasks::redis
