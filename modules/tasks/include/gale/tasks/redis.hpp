// SPDX-License-Identifier: MIT
/// @file gale/tasks/redis.hpp
/// @brief The Celery Redis broker (kombu's exact layout) and the Redis result backend (`celery-task-meta-<id>`),
///        behind tasks::Broker and tasks::ResultBackend. Library gale::tasks_redis, package component `tasks_redis`.
///
/// What is where on the server (kombu 5.2's redis transport, celery.md §1 "Redis transport"), shared with Python
/// Celery processes on the same database:
///
/// | key                                 | type   | what                                                          |
/// |-------------------------------------|--------|---------------------------------------------------------------|
/// | `<queue>`                           | list   | messages of priority 0–2: producers LPUSH, consumers BRPOP (FIFO) |
/// | `<queue>\x06\x16<step>`             | list   | steps 3 (3–5), 6 (6–8), 9 (9): BRPOP names them after `<queue>`, so
/// on Redis a *lower* number is consumed first, as in Celery | | `_kombu.binding.<exchange>`         | set    |
/// `<routing_key>\x06\x16<pattern>\x06\x16<queue>`, written by Declare | | `unacked`                           | hash
/// | delivery_tag → `[<envelope>, "<exchange>", "<routing_key>"]` for every delivery not yet settled | |
/// `unacked_index`                     | zset   | delivery_tag scored by the time of delivery (Unix seconds)    | |
/// `unacked_mutex`                     | string | redis-py's Lock token while one consumer restores (SET NX PX 300000)
/// | | `celery-task-meta-<id>`             | string | a result's meta document, SETEX result_expires, PUBLISHed on the
/// same channel |
///
/// A message is kombu's JSON envelope: {"body": base64(body), "content-encoding", "content-type", "headers",
/// "properties": {"correlation_id", "reply_to", "delivery_mode", ["expiration"], "delivery_info": {"exchange",
/// "routing_key"}, "priority", "body_encoding": "base64", "delivery_tag": uuid4}}, written as Python's json.dumps
/// writes it, in that key order.
///
/// Settlement (kombu's QoS emulation): every delivery is recorded in `unacked`/`unacked_index` before it is handed
/// out; Ack removes both (ZREM + HDEL in MULTI/EXEC); Reject(requeue) puts the envelope back with LPUSH (behind what
/// is already queued), `redelivered` set in headers and delivery_info; Reject(no requeue) drops it. Unsettled
/// deliveries return to their queue (RPUSH: consumed next) at Close, and any consumer — gale's or Python's — restores
/// deliveries older than the visibility timeout, under kombu's `unacked_mutex` so that two never restore the same
/// one. A task running longer than the visibility timeout is delivered again, as with kombu (set it above the
/// longest task and the longest countdown/ETA, on every Celery and gale process sharing the server).
///
/// How gale's consumer takes messages (the layout and every entry are kombu's; the commands differ, for speed and
/// safety): when messages are queued, one Lua script pops up to the free prefetch (64 at most) in BRPOP's order
/// (steps, then queues, kombu's rotation) and records each in `unacked` atomically — so, unlike kombu's BRPOP and
/// then MULTI, no instant exists where a message is in neither place; when none are queued, Next blocks in kombu's
/// BRPOP and records what it pops with kombu's MULTI. Next(0) never blocks. Acks made while other deliveries are out
/// travel with the consumer's next round trip (one MULTI for all of them, at the latest at the next Next or Close);
/// the last outstanding one is sent at once. A consumer that dies with acks unsent leaves those deliveries in
/// `unacked`: they run again after the visibility timeout (at least once, as always).
///
/// gale adds one key per delivery, `_gale.delivery_count.<delivery_tag>` (INCR in the same MULTI, TTL max(1 day, 10 ×
/// visibility_timeout), deleted by Ack): Delivery::delivery_count, so the worker dead-letters a message that keeps
/// killing its workers instead of looping on it (Celery's poison-message loop). Python consumers ignore it.
///
/// Restoring finds the queues from the delivery's exchange and routing key as kombu does: the default exchange ""
/// means the queue named by the routing key; another exchange is looked up in its binding set (direct: routing
/// keys equal), and the routing key names the queue when nothing is bound. Restored messages go to the queue's
/// priority-0 list, as kombu's do.
///
/// An envelope that is not kombu's (not JSON, no properties or delivery_tag, a body that is not base64) is handed
/// out once with content_type "application/x-gale-invalid-envelope" and the raw bytes as its body, so that the
/// worker dead-letters it (DecodeTask refuses that content type); it is not recorded in `unacked`.
///
/// Thread-safety: the Broker and the ResultBackend may be used from any thread (a small connection pool each); a
/// consumer owns one connection and is used by one thread at a time, as tasks::BrokerConsumer says.
#pragma once

#include <chrono>
#include <cstddef>
#include <memory>
#include <string>

#include <gale/base/error.hpp>
#include <gale/redis/options.hpp>
#include <gale/tasks/broker.hpp>
#include <gale/tasks/result_backend.hpp>

namespace gale::tasks::redis {

/// | Name | Description | Default |
/// |---|---|---|
/// | visibility_timeout | an unsettled delivery older than this is restored to its queue (Celery's
/// broker_transport_options visibility_timeout) | 3600 s | | restore_interval | how often each consumer looks for such
/// deliveries (and once when it starts) | 10 s | | restore_batch | most deliveries restored per look (kombu: 10) | 10 |
/// | unacked_mutex_expire | lifetime of the `unacked_mutex` lock, should a restorer die holding it | 300 s |
/// | pool_size | connections for Publish, Declare and QueueLength | 4 |
struct RedisBrokerOptions {
    std::chrono::seconds visibility_timeout{3600};
    std::chrono::milliseconds restore_interval{10000};
    std::size_t restore_batch = 10;
    std::chrono::seconds unacked_mutex_expire{300};
    std::size_t pool_size = 4;
};

/// | Name | Description | Default |
/// |---|---|---|
/// | result_expires | the result key's time to live (Celery's result_expires) | 86400 s |
/// | pool_size | connections for Store and Get (each Wait also opens a subscriber connection of its own) | 4 |
struct RedisResultBackendOptions {
    std::chrono::seconds result_expires{86400};
    std::size_t pool_size = 4;
};

/// A Broker on the Redis server `url` names (`redis://[:password@]host:port/db`, gale::redis::ParseUrl; `what`
/// names its source in errors, e.g. "CELERY_BROKER_URL"). Connects lazily: an unreachable server is an error of
/// the first call, not of this one. Errors: kInvalidArgument for a bad URL.
[[nodiscard]] Result<std::unique_ptr<Broker>> MakeBroker(const std::string& url, RedisBrokerOptions options = {},
                                                         std::string_view what = "broker URL");
[[nodiscard]] std::unique_ptr<Broker> MakeBroker(gale::redis::ConnectionOptions connection,
                                                 RedisBrokerOptions options = {});

/// A ResultBackend on `url` (Celery's `result_backend = "redis://…"`). Store: MULTI SETEX celery-task-meta-<id>
/// result_expires <meta> + PUBLISH celery-task-meta-<id> <meta> EXEC. Get: GET (PENDING when absent). Wait:
/// SUBSCRIBE to the channel, then GET, then messages, so a result stored at any moment is seen; after a lost
/// subscriber connection it GETs again. Errors: kInvalidArgument for a bad URL.
[[nodiscard]] Result<std::unique_ptr<ResultBackend>> MakeResultBackend(const std::string& url,
                                                                       RedisResultBackendOptions options = {},
                                                                       std::string_view what = "result backend URL");
[[nodiscard]] std::unique_ptr<ResultBackend> MakeResultBackend(gale::redis::ConnectionOptions connection,
                                                               RedisResultBackendOptions options = {});

/// Registers the factories of this adapter for `redis://` URLs (broker and result backend) with the tasks module's
/// transport registry (gale/tasks/settings.hpp), so that CELERY_BROKER_URL / CELERY_RESULT_BACKEND = redis://… build
/// these; `rediss://` is registered too, to fail with the reason (no TLS in Debian's hiredis 0.14) rather than "no
/// adapter". TransportOptions::visibility_timeout (rounded up to seconds) and result_expires become the options
/// above; service_name names the connections (CLIENT SETNAME "<service>-tasks"). Idempotent; thread-safe.
void Install();

/// The list that holds `queue`'s messages of `priority` (0–9, clamped): `queue` for 0–2, else
/// `queue\x06\x16<3|6|9>` (kombu's _q_for_pri).
[[nodiscard]] std::string PriorityList(std::string_view queue, int priority);

}  // namespace gale::tasks::redis
