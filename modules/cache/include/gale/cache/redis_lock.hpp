// SPDX-License-Identifier: MIT
/// @file gale/cache/redis_lock.hpp
/// @brief A lock held across processes and pods, in Redis, with python-redis-lock's semantics and keys, so a gale
///        service and a Django one using `redis_lock.Lock(conn, name)` exclude each other.
///
/// Keys: `lock:NAME` holds the holder's random id while it is held (SET NX PX); `lock-signal:NAME` is the list a
/// release pushes to, which waiters block on (BLPOP-style), so a waiter learns of a release at once rather than by
/// polling. Release and extend are Lua scripts that act only when the id is still the caller's: a holder whose lock
/// expired cannot release someone else's. With `expire`, a holder that dies lets go after that long; `auto_renewal`
/// extends it every two thirds of `expire` from a thread of its own while held (python-redis-lock's auto_renewal).
///
/// @code
///   auto lock = gale::cache::RedisLock(pool, "nightly-report", {.expire = 60s, .auto_renewal = true});
///   if (auto got = lock.Acquire(10s); got && *got) { ...; (void)lock.Release(); }
/// @endcode
/// Thread-safety: one thread at a time per RedisLock (the renewal thread is its own business). The pool must outlive
/// the lock. Destroyed while held, it releases.
#pragma once

#include <chrono>
#include <condition_variable>
#include <mutex>
#include <optional>
#include <string>
#include <thread>

#include <gale/base/error.hpp>
#include <gale/redis/pool.hpp>

namespace gale::cache {

struct LockOptions {
    /// How long the lock lasts without renewal; 0: until released (python-redis-lock's expire=None).
    std::chrono::milliseconds expire{0};
    /// Extend the lock every expire × 2/3 while held (needs an expire).
    bool auto_renewal = false;
    /// How long a release's signal waits in `lock-signal:NAME` for a waiter (python-redis-lock's signal_expire).
    std::chrono::milliseconds signal_expire{1000};
};

class RedisLock {
public:
    /// Errors of later calls include kInvalidArgument for auto_renewal without expire. A random 128-bit id.
    RedisLock(redis::Pool& pool, std::string name, LockOptions options = {});
    ~RedisLock();
    RedisLock(const RedisLock&) = delete;
    RedisLock& operator=(const RedisLock&) = delete;

    /// Takes the lock: true when taken. `blocking` false: one try. Otherwise waits for a release (or the holder's
    /// expiry) up to `timeout` (nullopt: as long as it takes), then false. Errors: the server's; kInvalidArgument
    /// when this lock already holds it, or for auto_renewal without expire.
    [[nodiscard]] Result<bool> Acquire(std::optional<std::chrono::milliseconds> timeout = std::nullopt,
                                       bool blocking = true);
    /// Lets go and wakes one waiter. kNotFound when this lock does not hold it (never taken, or expired and maybe
    /// taken by another since: python-redis-lock's NotAcquired).
    [[nodiscard]] Result<void> Release();
    /// Resets the expiry to `expire` (default: the options'). kNotFound as Release; kInvalidArgument for a lock
    /// without expiry.
    [[nodiscard]] Result<void> Extend(std::optional<std::chrono::milliseconds> expire = std::nullopt);
    /// Whether anyone holds it now.
    [[nodiscard]] Result<bool> Locked();

    [[nodiscard]] const std::string& id() const noexcept { return id_; }
    [[nodiscard]] const std::string& name() const noexcept { return name_; }

private:
    void StartRenewal();
    void StopRenewal();

    redis::Pool& pool_;
    const std::string name_;
    const std::string key_;     // lock:NAME
    const std::string signal_;  // lock-signal:NAME
    const LockOptions options_;
    const std::string id_;
    bool held_ = false;
    std::mutex renew_mu_;
    std::condition_variable renew_cv_;
    bool renew_stop_ = false;
    std::thread renewer_;
};

}  // namespace gale::cache
