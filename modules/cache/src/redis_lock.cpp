// SPDX-License-Identifier: MIT
// The Redis lock (contract in gale/cache/redis_lock.hpp). The scripts keep python-redis-lock's return codes.
#include <random>

#include <fmt/format.h>

#include <gale/cache/redis_lock.hpp>
#include <gale/log/log.hpp>

namespace gale::cache {
namespace {

// 0: released; 1: not ours (expired, or another's).
const redis::Script kUnlock(R"lua(
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 1 end
redis.call('DEL', KEYS[2])
redis.call('RPUSH', KEYS[2], 1)
redis.call('PEXPIRE', KEYS[2], ARGV[2])
redis.call('DEL', KEYS[1])
return 0
)lua");

// 0: extended; 1: not ours; 2: the lock has no expiry.
const redis::Script kExtend(R"lua(
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 1 end
if redis.call('PTTL', KEYS[1]) == -1 then return 2 end
redis.call('PEXPIRE', KEYS[1], ARGV[2])
return 0
)lua");

std::string RandomId() {
    thread_local std::mt19937_64 rng(std::random_device{}());
    return fmt::format("{:016x}{:016x}", rng(), rng());
}

}  // namespace

RedisLock::RedisLock(redis::Pool& pool, std::string name, LockOptions options)
    : pool_(pool),
      name_(std::move(name)),
      key_("lock:" + name_),
      signal_("lock-signal:" + name_),
      options_(options),
      id_(RandomId()) {}

RedisLock::~RedisLock() {
    if (held_) (void)Release();
    StopRenewal();
}

Result<bool> RedisLock::Acquire(std::optional<std::chrono::milliseconds> timeout, bool blocking) {
    if (held_)
        return MakeError(ErrorCode::kInvalidArgument, fmt::format("lock '{}': already held by this lock", name_));
    if (options_.auto_renewal && options_.expire.count() <= 0) {
        return MakeError(ErrorCode::kInvalidArgument, fmt::format("lock '{}': auto_renewal needs an expire", name_));
    }
    using Clock = std::chrono::steady_clock;
    const auto deadline = timeout ? std::optional<Clock::time_point>(Clock::now() + *timeout) : std::nullopt;
    redis::Args set = {"SET", key_, id_, "NX"};
    if (options_.expire.count() > 0) {
        set.emplace_back("PX");
        set.push_back(std::to_string(options_.expire.count()));
    }
    for (;;) {
        GALE_ASSIGN_OR_RETURN(auto reply, pool_.Command(set));
        if (!reply.is_nil()) {  // OK: ours
            held_ = true;
            if (options_.auto_renewal) StartRenewal();
            return true;
        }
        if (!blocking) return false;
        // Wait for a release's signal, at most a second at a time (a holder may also expire without one).
        auto wait = std::chrono::milliseconds(1000);
        if (deadline) {
            const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(*deadline - Clock::now());
            if (left.count() <= 0) return false;
            wait = std::min(wait, left);
        }
        GALE_ASSIGN_OR_RETURN(auto lease, pool_.Acquire());
        GALE_RETURN_IF_ERROR(lease->BlockingPop({signal_}, std::max(wait, std::chrono::milliseconds(1))));
    }
}

Result<void> RedisLock::Release() {
    StopRenewal();
    GALE_ASSIGN_OR_RETURN(auto reply,
                          pool_.Eval(kUnlock, {key_, signal_}, {id_, std::to_string(options_.signal_expire.count())}));
    held_ = false;
    GALE_ASSIGN_OR_RETURN(auto code, reply.AsInteger("lock release"));
    if (code != 0) {
        return MakeError(ErrorCode::kNotFound,
                         fmt::format("lock '{}': not held by this lock (it expired, or was never taken)", name_));
    }
    return {};
}

Result<void> RedisLock::Extend(std::optional<std::chrono::milliseconds> expire) {
    const auto ms = expire.value_or(options_.expire);
    if (ms.count() <= 0)
        return MakeError(ErrorCode::kInvalidArgument, fmt::format("lock '{}': extend needs an expire", name_));
    GALE_ASSIGN_OR_RETURN(auto reply, pool_.Eval(kExtend, {key_}, {id_, std::to_string(ms.count())}));
    GALE_ASSIGN_OR_RETURN(auto code, reply.AsInteger("lock extend"));
    if (code == 1) {
        return MakeError(ErrorCode::kNotFound,
                         fmt::format("lock '{}': not held by this lock (it expired, or was never taken)", name_));
    }
    if (code == 2) return MakeError(ErrorCode::kInvalidArgument, fmt::format("lock '{}': it has no expiry", name_));
    return {};
}

Result<bool> RedisLock::Locked() {
    GALE_ASSIGN_OR_RETURN(auto reply, pool_.Command({"EXISTS", key_}));
    GALE_ASSIGN_OR_RETURN(auto n, reply.AsInteger("EXISTS"));
    return n > 0;
}

void RedisLock::StartRenewal() {
    StopRenewal();
    {
        std::lock_guard lock(renew_mu_);
        renew_stop_ = false;
    }
    renewer_ = std::thread([this] {
        const auto every = options_.expire * 2 / 3;
        std::unique_lock lock(renew_mu_);
        while (!renew_cv_.wait_for(lock, every, [this] { return renew_stop_; })) {
            lock.unlock();
            auto r = Extend();
            lock.lock();
            if (!r) {
                log::Warning("gale.cache", "cannot renew a lock; it will expire",
                             {{"lock", name_}, {"error", r.error().ToString()}});
                if (r.error().code() == ErrorCode::kNotFound) return;  // lost: nothing left to renew
            }
        }
    });
}

void RedisLock::StopRenewal() {
    {
        std::lock_guard lock(renew_mu_);
        renew_stop_ = true;
    }
    renew_cv_.notify_all();
    if (renewer_.joinable()) renewer_.join();
}

}  // namespace gale::cache
