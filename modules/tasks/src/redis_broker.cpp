// SPDX-License-Identifier: MIT
// kombu's Redis transport, commands for commands (kombu/transport/redis.py 5.2.4), so that gale and Python Celery
// processes share one server: Publish = LPUSH to the priority list; a consumer BRPOPs its queues' lists (priority
// steps outer, queues inner, the queue that delivered rotated to the end, as kombu's _queue_cycle) and records each
// delivery in `unacked`/`unacked_index` (MULTI/EXEC); Ack = ZREM + HDEL (MULTI/EXEC); restore_by_tag = WATCH
// unacked, HGET, MULTI ZREM HDEL L/RPUSH EXEC (retried when the WATCH fires); the visibility-timeout scan runs
// under redis-py's Lock on `unacked_mutex` (SET NX PX, released by the same compare-and-delete script).
//
// Invariants: a consumer's `unsettled_` holds exactly the tags it handed out and has not settled; Close restores
// all of them (RPUSH, consumed next) and empties it. Nothing here throws; Redis failures are returned.
#include <algorithm>
#include <atomic>
#include <deque>
#include <map>
#include <thread>

#include <fmt/format.h>

#include <gale/redis/connection.hpp>
#include <gale/redis/pool.hpp>
#include <gale/tasks/redis.hpp>

#include "kombu_envelope.hpp"
#include "py_json.hpp"

namespace gale::tasks::redis {

namespace r = gale::redis;
using detail::kSep;
using json = nlohmann::ordered_json;

namespace {

constexpr int kSteps[] = {0, 3, 6, 9};
constexpr std::string_view kUnacked = "unacked";
constexpr std::string_view kUnackedIndex = "unacked_index";
constexpr std::string_view kUnackedMutex = "unacked_mutex";
constexpr int kWatchRetries = 16;

// redis-py's Lock.release script (LUA_RELEASE_SCRIPT), so a lock either side took is released the same way.
const r::Script& ReleaseLockScript() {
    static const r::Script script(
        "local token = redis.call('get', KEYS[1])\n"
        "if not token or token ~= ARGV[1] then\n"
        "    return 0\n"
        "end\n"
        "redis.call('del', KEYS[1])\n"
        "return 1\n");
    return script;
}

// Pops up to ARGV[1] messages from the queues ARGV[4..] (steps outer, queues inner, the queue that delivered moved to
// the end: BRPOP's order and kombu's rotation) and records each in unacked/unacked_index (kombu's entry
// `[<envelope>, "<exchange>", "<routing_key>"]`, the envelope's bytes as they are) with its delivery count
// (ARGV[3]..tag, TTL ARGV[2]), atomically: unlike BRPOP + MULTI, no instant exists where a message is in neither.
// Returns key, message, tag ("" when the bytes are not a kombu envelope: then nothing is recorded), count, …
const r::Script& BatchScript() {
    static const r::Script script(R"LUA(
local max = tonumber(ARGV[1])
local ttl = ARGV[2]
local prefix = ARGV[3]
local queues = {}
for i = 4, #ARGV do queues[#queues + 1] = ARGV[i] end
local sep = string.char(6, 22)
local suffixes = {'', sep .. '3', sep .. '6', sep .. '9'}
local t = redis.call('TIME')
local now = t[1] .. '.' .. string.format('%06d', tonumber(t[2]))
local out = {}
local taken = 0
while taken < max do
    local got = false
    for _, suffix in ipairs(suffixes) do
        for qi = 1, #queues do
            local key = queues[qi] .. suffix
            local msg = redis.call('RPOP', key)
            if msg then
                local q = table.remove(queues, qi)
                queues[#queues + 1] = q
                local tag = ''
                local count = 0
                local ok, env = pcall(cjson.decode, msg)
                if ok and type(env) == 'table' and type(env.properties) == 'table' and
                        type(env.properties.delivery_tag) == 'string' and env.properties.delivery_tag ~= '' then
                    tag = env.properties.delivery_tag
                    local info = env.properties.delivery_info
                    local ex, rk = '', ''
                    if type(info) == 'table' then
                        if type(info.exchange) == 'string' then ex = info.exchange end
                        if type(info.routing_key) == 'string' then rk = info.routing_key end
                    end
                    redis.call('ZADD', KEYS[2], now, tag)
                    redis.call('HSET', KEYS[1], tag, '[' .. msg .. ', ' .. cjson.encode(ex) .. ', ' .. cjson.encode(rk) .. ']')
                    count = redis.call('INCR', prefix .. tag)
                    redis.call('EXPIRE', prefix .. tag, ttl)
                end
                out[#out + 1] = key
                out[#out + 1] = msg
                out[#out + 1] = tag
                out[#out + 1] = count
                taken = taken + 1
                got = true
                break
            end
        end
        if got then break end
    end
    if not got then break end
end
return out
)LUA");
    return script;
}

std::string BindingKey(std::string_view exchange) { return fmt::format("_kombu.binding.{}", exchange); }

std::string Now() {
    const auto us =
        std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::system_clock::now().time_since_epoch())
            .count();
    return fmt::format("{}.{:06}", us / 1000000, us % 1000000);
}

// The queues `exchange`/`routing_key` lead to (kombu's _lookup for the default and direct exchanges).
Result<std::vector<std::string>> Lookup(r::Connection& c, const std::string& exchange, const std::string& routing_key) {
    if (exchange.empty()) return std::vector<std::string>{routing_key};
    GALE_ASSIGN_OR_RETURN(auto members, c.Command({"SMEMBERS", BindingKey(exchange)}));
    std::vector<std::string> queues;
    for (const auto& m : members.elements) {
        // "<routing_key>\x06\x16<pattern>\x06\x16<queue>"
        const auto first = m.str.find(kSep);
        if (first == std::string::npos) continue;
        const auto second = m.str.find(kSep, first + kSep.size());
        if (second == std::string::npos) continue;
        if (std::string_view(m.str).substr(0, first) != routing_key) continue;
        queues.push_back(m.str.substr(second + kSep.size()));
    }
    std::sort(queues.begin(), queues.end());
    queues.erase(std::unique(queues.begin(), queues.end()), queues.end());
    return queues;
}

// kombu's QoS.restore_by_tag: moves `tag` from unacked back to its queue(s), LPUSH if `leftmost` else RPUSH.
// Returns whether there was anything to restore.
Result<bool> RestoreByTag(r::Connection& c, const std::string& tag, bool leftmost) {
    for (int attempt = 0; attempt < kWatchRetries; ++attempt) {
        GALE_RETURN_IF_ERROR(c.Command({"WATCH", kUnacked}));
        auto stored = c.Command({"HGET", kUnacked, tag});
        if (!stored) {
            (void)c.Command({"UNWATCH"});
            return tl::unexpected(stored.error());
        }
        std::vector<r::Args> commands{{"ZREM", std::string(kUnackedIndex), tag}, {"HDEL", std::string(kUnacked), tag}};
        if (stored->type == r::Reply::Type::kString) {
            auto entry = json::parse(stored->str, nullptr, false);
            if (entry.is_array() && entry.size() == 3 && entry[1].is_string() && entry[2].is_string()) {
                json envelope = entry[0];
                detail::MarkRedelivered(envelope);
                auto queues = Lookup(c, entry[1].get<std::string>(), entry[2].get<std::string>());
                if (!queues) {
                    (void)c.Command({"UNWATCH"});
                    return tl::unexpected(queues.error());
                }
                if (queues->empty()) queues->push_back(entry[2].get<std::string>());
                const std::string payload = tasks::detail::PythonJson(envelope);
                for (const auto& q : *queues) commands.push_back({leftmost ? "LPUSH" : "RPUSH", q, payload});
            }
            // An entry that is not [envelope, exchange, routing_key] cannot be restored: it is dropped (kombu logs
            // "Could not restore message" and drops it too).
        }
        GALE_ASSIGN_OR_RETURN(auto done, c.Transaction(commands));
        if (done) return stored->type == r::Reply::Type::kString;
    }
    return MakeError(ErrorCode::kUnavailable,
                     fmt::format("redis broker: restoring {} lost the WATCH race {} times", tag, kWatchRetries));
}

// kombu's QoS.restore_visible: under unacked_mutex, restores up to `batch` deliveries older than the visibility
// timeout. Returns how many it restored (0 also when another process holds the mutex).
Result<std::size_t> RestoreVisible(r::Connection& c, const RedisBrokerOptions& options) {
    const std::string token = NewTaskId();
    GALE_ASSIGN_OR_RETURN(auto locked, c.Command({"SET", kUnackedMutex, token, "NX", "PX",
                                                  std::to_string(options.unacked_mutex_expire.count() * 1000)}));
    if (locked.is_nil()) return std::size_t{0};  // MutexHeld
    const auto ceil = std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count() -
                      static_cast<double>(options.visibility_timeout.count());
    std::size_t restored = 0;
    Result<void> status;
    auto visible = c.Command({"ZREVRANGEBYSCORE", kUnackedIndex, fmt::format("{:.6f}", ceil), "0", "LIMIT", "0",
                              std::to_string(options.restore_batch)});
    if (!visible) {
        status = tl::unexpected(visible.error());
    } else {
        for (const auto& tag : visible->elements) {
            auto one = RestoreByTag(c, tag.str, /*leftmost=*/false);
            if (!one) {
                status = tl::unexpected(one.error());
                break;
            }
            if (*one) ++restored;
        }
    }
    (void)c.Eval(ReleaseLockScript(), {std::string(kUnackedMutex)}, {token});
    GALE_RETURN_IF_ERROR(status);
    return restored;
}

class RedisConsumer final : public BrokerConsumer {
public:
    RedisConsumer(r::ConnectionOptions connection, const RedisBrokerOptions& options, std::vector<std::string> queues,
                  std::size_t prefetch)
        : connection_(r::Connection::Lazy(std::move(connection))),
          options_(options),
          queues_(queues.begin(), queues.end()),
          prefetch_(prefetch == 0 ? 1 : prefetch) {}

    ~RedisConsumer() override { Close(); }

    // gale::tasks::BrokerConsumer
    Result<std::optional<Delivery>> Next(std::chrono::milliseconds timeout) override {
        if (!closed_ && !cancelled_ && !buffer_.empty()) {
            Delivery d = std::move(buffer_.front());
            buffer_.pop_front();
            return std::optional<Delivery>(std::move(d));
        }
        if (closed_ || cancelled_ || unsettled_.size() >= prefetch_) {
            if (!closed_) GALE_RETURN_IF_ERROR(FlushAcks());
            std::this_thread::sleep_for(std::max(timeout, std::chrono::milliseconds(0)));
            return std::optional<Delivery>();
        }
        if (const auto now = std::chrono::steady_clock::now(); now >= next_restore_) {
            next_restore_ = now + options_.restore_interval;
            auto restored = RestoreVisible(*connection_, options_);
            if (!restored) return Lost(restored.error());
        }
        // Fast path: whatever is queued, up to the free prefetch, popped and recorded in one atomic script, in the
        // same round trip as the acks waiting to be sent.
        GALE_RETURN_IF_ERROR(TakeBatch(std::min<std::size_t>(prefetch_ - unsettled_.size(), kMaxBatch)));
        if (!buffer_.empty()) {
            Delivery d = std::move(buffer_.front());
            buffer_.pop_front();
            return std::optional<Delivery>(std::move(d));
        }
        if (timeout <= std::chrono::milliseconds(0)) return std::optional<Delivery>();  // the batch looked already
        // Nothing queued: block in BRPOP (kombu's command, steps then queues), and record what it gives as kombu's
        // QoS.append does.
        std::vector<std::string> keys;
        keys.reserve(std::size(kSteps) * queues_.size());
        for (int step : kSteps) {
            for (const auto& q : queues_) keys.push_back(PriorityList(q, step));
        }
        auto popped = connection_->BlockingPop(keys, timeout);
        if (!popped) return Lost(popped.error());
        if (!*popped) return std::optional<Delivery>();
        Rotate((*popped)->key);
        detail::Envelope envelope = detail::ReadEnvelope((*popped)->value);
        if (!envelope.valid) return std::optional<Delivery>(Foreign((*popped)->key, std::move(envelope), {}, 0));
        auto count = Record(envelope);
        if (!count) {
            // The message is out of its list and not in unacked: put it back where BRPOP would take it next.
            (void)connection_->Command({"RPUSH", (*popped)->key, (*popped)->value});
            return tl::unexpected(count.error());
        }
        return std::optional<Delivery>(Kombu((*popped)->key, std::move(envelope), *count));
    }

    Result<void> Ack(const Delivery& delivery) override {
        // While other deliveries are out, acks wait for the next round trip (Next's batch) or Close: one MULTI for
        // all of them. The last outstanding one goes at once, so an idle consumer leaves nothing unsent.
        unsettled_.erase(delivery.tag);
        pending_acks_.push_back(delivery.tag);
        if (unsettled_.empty() || pending_acks_.size() >= kMaxPendingAcks) return FlushAcks();
        return {};
    }

    Result<void> Reject(const Delivery& delivery, bool requeue) override {
        if (!requeue) return Ack(delivery);
        unsettled_.erase(delivery.tag);
        auto restored = RestoreByTag(*connection_, delivery.tag, /*leftmost=*/true);
        if (!restored) return tl::unexpected(restored.error());
        return {};
    }

    Result<void> SetPrefetch(std::size_t prefetch) override {
        prefetch_ = prefetch == 0 ? 1 : prefetch;  // kombu's limit is client-side: nothing to tell the server
        return {};
    }

    void Cancel() override { cancelled_ = true; }

    void Close() override {
        if (closed_) return;
        closed_ = true;
        (void)FlushAcks();  // if Redis is away, those deliveries are restored later and run again (at least once)
        buffer_.clear();    // popped but not handed out: in unsettled_, restored below
        // kombu's restore_unacked at a clean close (restore_at_shutdown): RPUSH, so they are consumed next. What
        // cannot be restored now (Redis is down) stays in unacked for the visibility-timeout scan.
        for (const auto& [tag, unused] : unsettled_) {
            if (!RestoreByTag(*connection_, tag, /*leftmost=*/false)) break;
        }
        unsettled_.clear();
        connection_->Close();
    }

private:
    static constexpr std::size_t kMaxBatch = 64;
    static constexpr std::size_t kMaxPendingAcks = 64;

    static std::string DeliveryCountKey(std::string_view tag) { return fmt::format("_gale.delivery_count.{}", tag); }

    // kombu's _queue_cycle.rotate: the queue that delivered goes to the end.
    void Rotate(const std::string& key) {
        std::string queue = key;
        if (auto sep = key.rfind(kSep); sep != std::string::npos) queue = key.substr(0, sep);
        if (auto it = std::find(queues_.begin(), queues_.end(), queue); it != queues_.end()) {
            queues_.erase(it);
            queues_.push_back(queue);
        }
    }

    static std::string QueueOf(const std::string& key) {
        const auto sep = key.rfind(kSep);
        return sep == std::string::npos ? key : key.substr(0, sep);
    }

    // A kombu envelope recorded in unacked under its own tag.
    Delivery Kombu(const std::string& key, detail::Envelope envelope, std::int64_t count) {
        Delivery d;
        d.queue = QueueOf(key);
        d.message = std::move(envelope.message);
        d.exchange = std::move(envelope.exchange);
        d.routing_key = std::move(envelope.routing_key);
        d.redelivered = envelope.redelivered;
        d.tag = std::move(envelope.delivery_tag);
        d.delivery_count = static_cast<std::uint32_t>(std::clamp<std::int64_t>(count, 0, 1 << 30));
        unsettled_[d.tag] = true;
        return d;
    }

    // Bytes that are not kombu's: handed to the worker to dead-letter (see redis.hpp). `recorded_tag` is the tag
    // the batch script recorded it under, if it could read one (it reads less strictly than ReadEnvelope).
    Delivery Foreign(const std::string& key, detail::Envelope envelope, const std::string& recorded_tag,
                     std::int64_t count) {
        Delivery d;
        d.queue = QueueOf(key);
        d.routing_key = d.queue;
        d.message = std::move(envelope.message);
        d.message.headers = json::object();
        d.message.headers["x-gale-envelope-problem"] = envelope.problem;
        d.tag = recorded_tag.empty() ? NewTaskId() : recorded_tag;
        d.delivery_count = static_cast<std::uint32_t>(std::clamp<std::int64_t>(count, 0, 1 << 30));
        if (!recorded_tag.empty()) unsettled_[d.tag] = true;
        return d;
    }

    // kombu's QoS.append (MULTI ZADD unacked_index + HSET unacked) with gale's delivery count; returns the count.
    // gale's count is a key of its own with a TTL, so the counts of messages that Python workers settle expire.
    Result<std::int64_t> Record(const detail::Envelope& envelope) {
        const std::string entry =
            tasks::detail::PythonJson(json::array({envelope.raw, envelope.exchange, envelope.routing_key}));
        const std::string count_key = DeliveryCountKey(envelope.delivery_tag);
        auto recorded = connection_->Transaction({{"ZADD", std::string(kUnackedIndex), Now(), envelope.delivery_tag},
                                                  {"HSET", std::string(kUnacked), envelope.delivery_tag, entry},
                                                  {"INCR", count_key},
                                                  {"EXPIRE", count_key, std::to_string(CountTtl())}});
        if (!recorded) return Lost(recorded.error());
        if (*recorded && (**recorded)[2].type == r::Reply::Type::kInteger) return (**recorded)[2].integer;
        return std::int64_t{0};
    }

    std::vector<r::Args> AckCommands() const {
        if (pending_acks_.empty()) return {};
        r::Args zrem{"ZREM", std::string(kUnackedIndex)};
        r::Args hdel{"HDEL", std::string(kUnacked)};
        r::Args del{"DEL"};
        for (const auto& tag : pending_acks_) {
            zrem.push_back(tag);
            hdel.push_back(tag);
            del.push_back(DeliveryCountKey(tag));
        }
        return {{"MULTI"}, std::move(zrem), std::move(hdel), std::move(del), {"EXEC"}};
    }

    Result<void> FlushAcks() {
        if (pending_acks_.empty()) return {};
        auto replies = connection_->Pipeline(AckCommands());
        if (!replies) return Lost(replies.error());
        pending_acks_.clear();
        if (replies->back().is_error()) return tl::unexpected(r::ErrorFromReply("EXEC", replies->back().str));
        return {};
    }

    // Pops up to `max` messages with the batch script (sending the pending acks first, in the same round trip)
    // into buffer_.
    Result<void> TakeBatch(std::size_t max) {
        std::vector<r::Args> commands = AckCommands();
        const std::size_t acks = commands.size();
        r::Args eval{"EVALSHA",
                     BatchScript().sha1(),
                     "2",
                     std::string(kUnacked),
                     std::string(kUnackedIndex),
                     std::to_string(max),
                     std::to_string(CountTtl()),
                     "_gale.delivery_count."};
        eval.insert(eval.end(), queues_.begin(), queues_.end());
        commands.push_back(eval);
        auto replies = connection_->Pipeline(commands);
        if (!replies) return Lost(replies.error());
        pending_acks_.clear();
        if (acks > 0 && replies->at(acks - 1).is_error()) {
            return tl::unexpected(r::ErrorFromReply("EXEC", replies->at(acks - 1).str));
        }
        r::Reply batch = std::move(replies->back());
        if (batch.is_error() && batch.str.starts_with("NOSCRIPT")) {
            std::vector<std::string> args(eval.begin() + 5, eval.end());
            auto loaded = connection_->Eval(BatchScript(), {std::string(kUnacked), std::string(kUnackedIndex)}, args);
            if (!loaded) return Lost(loaded.error());
            batch = std::move(*loaded);
        } else if (batch.is_error()) {
            return tl::unexpected(r::ErrorFromReply("EVAL", batch.str));
        }
        for (std::size_t i = 0; i + 4 <= batch.elements.size(); i += 4) {
            const std::string& key = batch.elements[i].str;
            Rotate(key);
            const std::string& tag = batch.elements[i + 2].str;
            const std::int64_t count = batch.elements[i + 3].integer;
            detail::Envelope envelope = detail::ReadEnvelope(batch.elements[i + 1].str);
            if (envelope.valid && envelope.delivery_tag == tag) {
                buffer_.push_back(Kombu(key, std::move(envelope), count));
            } else if (envelope.valid && tag.empty()) {
                // Lua's cjson could not read what ReadEnvelope can: record it here, as the BRPOP path does.
                auto recorded = Record(envelope);
                if (!recorded) {
                    (void)connection_->Command({"RPUSH", key, batch.elements[i + 1].str});
                    return tl::unexpected(recorded.error());
                }
                buffer_.push_back(Kombu(key, std::move(envelope), *recorded));
            } else {
                if (envelope.valid) {  // the two readers disagree on the tag: not an envelope to trust
                    detail::Envelope odd = detail::ReadEnvelope("");
                    odd.message.body = batch.elements[i + 1].str;
                    odd.problem = "the delivery tag reads differently as JSON and to Redis' cjson";
                    envelope = std::move(odd);
                }
                buffer_.push_back(Foreign(key, std::move(envelope), tag, count));
            }
        }
        return {};
    }
    std::int64_t CountTtl() const {
        return std::max<std::int64_t>(86400, 10 * static_cast<std::int64_t>(options_.visibility_timeout.count()));
    }

    tl::unexpected<Error> Lost(const Error& e) {
        return tl::unexpected(
            Error(e.code() == ErrorCode::kTimeout ? ErrorCode::kUnavailable : e.code(), "redis broker consumer", e));
    }

    std::unique_ptr<r::Connection> connection_;
    RedisBrokerOptions options_;
    std::deque<std::string> queues_;
    std::size_t prefetch_;
    std::map<std::string, bool> unsettled_;  // handed out or buffered, not settled
    std::deque<Delivery> buffer_;            // popped by the batch script, recorded, not handed out yet
    std::vector<std::string> pending_acks_;  // acked by the caller, not yet sent
    std::chrono::steady_clock::time_point next_restore_{};
    bool cancelled_ = false;
    bool closed_ = false;
};

class RedisBroker final : public Broker {
public:
    RedisBroker(r::ConnectionOptions connection, RedisBrokerOptions options)
        : connection_(connection), options_(options), pool_(std::move(connection), {.size = options.pool_size}) {}

    // gale::tasks::Broker
    std::string_view name() const noexcept override { return "redis"; }
    std::string Describe() const override { return r::Describe(connection_); }

    Result<void> Declare(const std::vector<Route>& routes) override {
        std::vector<r::Args> commands;
        for (const Route& route : routes) {
            const std::string exchange = route.exchange.empty() ? route.queue : route.exchange;
            const std::string rk = route.routing_key.empty() ? route.queue : route.routing_key;
            commands.push_back({"SADD", BindingKey(exchange), fmt::format("{}{}{}{}", rk, kSep, kSep, route.queue)});
        }
        return Track(CheckAll(pool_.Pipeline(commands)));
    }

    Result<void> Publish(const Route& route, const TransportMessage& message) override {
        const std::string rk = route.routing_key.empty() ? route.queue : route.routing_key;
        const std::string payload =
            tasks::detail::PythonJson(detail::MakeEnvelope(message, route.exchange, rk, NewTaskId()));
        if (route.exchange.empty()) {
            return Track(Check(pool_.Command({"LPUSH", PriorityList(rk, message.priority), payload})));
        }
        auto lease = pool_.Acquire();
        if (!lease) return tl::unexpected(lease.error());
        auto queues = Lookup(**lease, route.exchange, rk);
        if (!queues) return Track(Result<void>(tl::unexpected(queues.error())));
        if (queues->empty()) {
            return MakeError(ErrorCode::kNotFound,
                             fmt::format("redis broker: unroutable: no queue is bound to exchange '{}' with routing "
                                         "key '{}' (Declare the route first)",
                                         route.exchange, rk));
        }
        std::vector<r::Args> commands;
        for (const auto& q : *queues) commands.push_back({"LPUSH", PriorityList(q, message.priority), payload});
        return Track(CheckAll((*lease)->Pipeline(commands)));
    }

    Result<std::unique_ptr<BrokerConsumer>> Consume(const std::vector<std::string>& queues,
                                                    std::size_t prefetch) override {
        if (queues.empty()) return MakeError(ErrorCode::kInvalidArgument, "redis broker: Consume needs a queue");
        return std::unique_ptr<BrokerConsumer>(new RedisConsumer(connection_, options_, queues, prefetch));
    }

    Result<std::uint64_t> QueueLength(const std::string& queue) override {
        std::vector<r::Args> commands;
        for (int step : kSteps) commands.push_back({"LLEN", PriorityList(queue, step)});
        auto replies = pool_.Pipeline(commands);
        if (!replies) return Track(Result<std::uint64_t>(tl::unexpected(replies.error())));
        std::uint64_t total = 0;
        for (const auto& reply : *replies) {
            if (reply.type == r::Reply::Type::kInteger && reply.integer > 0) {
                total += static_cast<std::uint64_t>(reply.integer);
            }
        }
        connected_ = true;
        return total;
    }

    bool connected() const noexcept override { return connected_; }

private:
    static Result<void> Check(Result<r::Reply> reply) {
        if (!reply) return tl::unexpected(reply.error());
        return {};
    }
    static Result<void> CheckAll(Result<std::vector<r::Reply>> replies) {
        if (!replies) return tl::unexpected(replies.error());
        for (const auto& reply : *replies) {
            if (reply.is_error()) return tl::unexpected(r::ErrorFromReply("pipeline", reply.str));
        }
        return {};
    }
    // Records whether the server answered, for connected().
    template <typename T>
    Result<T> Track(Result<T> result) {
        connected_ = result || result.error().code() != ErrorCode::kUnavailable;
        return result;
    }

    r::ConnectionOptions connection_;
    RedisBrokerOptions options_;
    r::Pool pool_;
    std::atomic<bool> connected_{true};
};

}  // namespace

std::string PriorityList(std::string_view queue, int priority) {
    const int p = std::clamp(priority, 0, 9);
    int step = 0;
    for (int s : kSteps) {
        if (s <= p) step = s;
    }
    if (step == 0) return std::string(queue);
    return fmt::format("{}{}{}", queue, kSep, step);
}

Result<std::unique_ptr<Broker>> MakeBroker(const std::string& url, RedisBrokerOptions options, std::string_view what) {
    GALE_ASSIGN_OR_RETURN(auto connection, r::ParseUrl(url, what));
    return MakeBroker(std::move(connection), options);
}

std::unique_ptr<Broker> MakeBroker(gale::redis::ConnectionOptions connection, RedisBrokerOptions options) {
    return std::make_unique<RedisBroker>(std::move(connection), options);
}

}  // namespace gale::tasks::redis
