// SPDX-License-Identifier: MIT
/// @file gale/db/pool.hpp
/// @brief A pool of connections: on SQLite one writer and several readers (WAL lets them read while it writes),
///        on PostgreSQL N interchangeable connections; leases, transactions with retries, and the pool's metrics.
///
/// @code
///   auto pool = gale::db::Pool::Open(options, {.size = 8, .metrics = &registry, .name = "default"});
///   auto n = (*pool)->Transact([&](gale::db::Database& tx) -> gale::Result<std::int64_t> { ... },
///                              {.access = gale::db::Access::kRead});
///   auto lease = (*pool)->Acquire(gale::db::Access::kRead);   // a connection of one's own for a while
///   auto rows = (*lease)->Query("SELECT …");
/// @endcode
/// Thread-safety: every member may be called from any thread. A Lease is one thread's at a time; it keeps the pool
/// alive and gives its connection back when destroyed.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include <gale/base/error.hpp>
#include <gale/db/database.hpp>
#include <gale/db/transaction.hpp>

namespace gale::metrics {
class Registry;
}  // namespace gale::metrics

namespace gale::db {

struct PoolOptions {
    /// PostgreSQL: connections in all. SQLite: reader connections besides the one writer (0: the writer reads too;
    /// always so for ":memory:", whose connections would each see a database of their own).
    std::size_t size = 4;
    /// How long Acquire waits for a free connection before it fails with kTimeout.
    std::chrono::milliseconds acquire_timeout{5000};
    /// If set, the pool exports gale_db_pool_connections{pool,state="idle"|"in_use"}, gale_db_pool_waiting{pool},
    /// gale_db_pool_wait_seconds{pool} (a histogram of the time Acquire waited) and
    /// gale_db_pool_timeouts_total{pool} there. Must outlive the pool.
    metrics::Registry* metrics = nullptr;
    /// The `pool` label, and the name in error messages.
    std::string name = "default";
};

/// PoolOptions with `size` from DATABASE_POOL_SIZE (1–1000; default 4), through `lookup` (default: the process
/// environment). Errors (kInvalidArgument) name the variable and the value.
[[nodiscard]] Result<PoolOptions> PoolOptionsFromEnvironment(const EnvLookup& lookup = {});

/// A reading of the pool (for tests and logs; the metrics carry the same).
struct PoolStats {
    std::size_t open = 0;     ///< connections opened so far (they stay open)
    std::size_t in_use = 0;   ///< leased now
    std::size_t waiting = 0;  ///< Acquire calls waiting now
    std::uint64_t timeouts = 0;
};

class Pool : public std::enable_shared_from_this<Pool> {
    struct PrivateTag {};

public:
    /// A leased connection, given back when destroyed. Movable.
    class Lease {
    public:
        Lease(Lease&&) noexcept = default;
        Lease& operator=(Lease&&) noexcept = default;
        ~Lease();
        Database& operator*() noexcept { return *db_; }
        Database* operator->() noexcept { return db_.get(); }

    private:
        friend class Pool;
        Lease(std::shared_ptr<Pool> pool, std::shared_ptr<Database> db, bool writer)
            : pool_(std::move(pool)), db_(std::move(db)), writer_(writer) {}
        std::shared_ptr<Pool> pool_;
        std::shared_ptr<Database> db_;
        bool writer_ = false;
    };

    /// Opens the pool and its first connection (so that a wrong address or path fails here, not at the first
    /// request); the others open when first needed. Errors: the connection's (kUnavailable, kIo…); a metric that is
    /// already registered under that pool name (kAlreadyExists).
    [[nodiscard]] static Result<std::shared_ptr<Pool>> Open(const ConnectionOptions& connection,
                                                            PoolOptions options = {});

    /// A connection for `access`: SQLite's writer for kWrite (one lease at a time), a reader for kRead; any on
    /// PostgreSQL. Waits up to acquire_timeout. Errors: kTimeout naming the pool and the wait; a connection that
    /// cannot be opened (its error).
    [[nodiscard]] Result<Lease> Acquire(Access access = Access::kWrite);

    /// Runs `body` in a transaction on a leased connection (InTransaction: committed on success, rolled back on
    /// error, run again on a conflict up to options.max_attempts).
    template <typename F>
    auto Transact(F&& body, const TransactionOptions& options = {}) -> std::invoke_result_t<F&, Database&> {
        auto lease = Acquire(options.access);
        if (!lease) return tl::unexpected(std::move(lease).error());
        return InTransaction(**lease, std::forward<F>(body), options);
    }

    [[nodiscard]] Engine engine() const noexcept { return connection_.engine; }
    [[nodiscard]] PoolStats stats() const;

    Pool(PrivateTag, ConnectionOptions connection, PoolOptions options);
    ~Pool();
    Pool(const Pool&) = delete;
    Pool& operator=(const Pool&) = delete;

private:
    struct Metrics;
    /// One kind of connection (SQLite's writer, its readers; PostgreSQL's all): at most `limit` open.
    struct Group {
        std::size_t limit = 0;
        std::size_t open = 0;
        std::vector<std::shared_ptr<Database>> idle;
    };
    Group& GroupFor(bool writer) noexcept { return writer ? writer_ : readers_; }
    void Release(std::shared_ptr<Database> db, bool writer);
    void UpdateGaugesLocked();

    const ConnectionOptions connection_;
    const PoolOptions options_;
    const bool split_;  ///< SQLite with readers: writes and reads go to different groups
    mutable std::mutex mu_;
    std::condition_variable cv_;
    Group writer_;   // SQLite's one writer; PostgreSQL's every connection
    Group readers_;  // SQLite's readers
    std::size_t in_use_ = 0;
    std::size_t waiting_ = 0;
    std::uint64_t timeouts_ = 0;
    std::unique_ptr<Metrics> metrics_;
};

}  // namespace gale::db
