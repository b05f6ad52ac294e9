// SPDX-License-Identifier: MIT
/// @file redis_fanout.hpp (private to gale::tasks_redis)
/// @brief kombu's fanout-exchange emulation on Redis: the pub/sub channel of an exchange and routing key, and the
///        envelope of a message published there (or pushed to a reply list). What Celery's events and remote control
///        ride on (gale/tasks/redis_events.hpp, redis_control.hpp).
///
/// kombu 5.2 (kombu/transport/redis.py, Channel._get_publish_topic and _put_fanout): a message to a fanout exchange
/// is PUBLISHed on `<prefix><exchange>` — plus `/<routing_key>` when fanout_patterns is on and the routing key is not
/// empty — where the prefix is `/{db}.` when fanout_prefix is on (`/0.` on database 0) and "" when it is off.
/// kombu 5.2 turns both on by default and Celery keeps that default, so Celery 5.2's worker publishes its heartbeats
/// on `/0.celeryev/worker.heartbeat` and listens for remote control on `/0.celery.pidbox` (consumers PSUBSCRIBE,
/// '#' in a binding's routing key becoming '*'). Observed with Debian's Celery 5.2.6 on redis-server 7.
#pragma once

#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

namespace gale::tasks::redis::detail {

/// kombu's fanout_prefix and fanout_patterns transport options (both on in kombu 5.2 and Celery 5.2).
struct FanoutOptions {
    bool prefix = true;
    bool patterns = true;
};

/// The channel a message to fanout `exchange` with `routing_key` is PUBLISHed on, on database `db`.
[[nodiscard]] std::string FanoutChannel(int db, std::string_view exchange, std::string_view routing_key,
                                        const FanoutOptions& options = {});

/// The envelope kombu's virtual transport writes for a message with `body` (bytes, JSON for Celery) and `headers`
/// to `exchange`/`routing_key` — {"body": base64, "content-encoding": "utf-8", "content-type": "application/json",
/// "headers", "properties": {"delivery_mode", "delivery_info": {"exchange", "routing_key"}, "priority": 0,
/// "body_encoding": "base64", "delivery_tag": a new uuid4}} — as Python's json.dumps writes it. Celery's events
/// (delivery_mode 1), its pidbox requests (2) and their replies (1) are all this shape: no correlation_id, no
/// reply_to, unlike a task message (kombu_envelope.hpp's MakeEnvelope).
[[nodiscard]] std::string PresenceEnvelope(std::string_view body, const nlohmann::ordered_json& headers,
                                           std::string_view exchange, std::string_view routing_key, int delivery_mode);

}  // namespace gale::tasks::redis::detail
