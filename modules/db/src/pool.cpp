// SPDX-License-Identifier: MIT
// The connection pool (contract in gale/db/pool.hpp).
//
// Invariants (under mu_): per group, open == idle.size() + the group's leases + connections being opened (a slot is
// reserved before connecting, outside the lock, and given back if that fails); in_use_ counts leases of both groups.
#include <fmt/format.h>

#include <gale/db/pool.hpp>
#include <gale/metrics/registry.hpp>

namespace gale::db {

struct Pool::Metrics {
    metrics::Gauge* idle = nullptr;
    metrics::Gauge* in_use = nullptr;
    metrics::Gauge* waiting = nullptr;
    metrics::Histogram* wait = nullptr;
    metrics::Counter* timeouts = nullptr;
};

namespace {

bool Splits(const ConnectionOptions& c, const PoolOptions& o) {
    return c.engine == Engine::kSqlite && o.size > 0 && c.sqlite_path != ":memory:";
}

}  // namespace

Pool::Pool(PrivateTag, ConnectionOptions connection, PoolOptions options)
    : connection_(std::move(connection)), options_(std::move(options)), split_(Splits(connection_, options_)) {
    if (connection_.engine == Engine::kSqlite) {
        writer_.limit = 1;
        readers_.limit = split_ ? options_.size : 0;
    } else {
        writer_.limit = options_.size == 0 ? 1 : options_.size;
    }
}

Pool::~Pool() = default;

Result<std::shared_ptr<Pool>> Pool::Open(const ConnectionOptions& connection, PoolOptions options) {
    auto pool = std::make_shared<Pool>(PrivateTag{}, connection, std::move(options));
    const PoolOptions& o = pool->options_;
    if (o.metrics != nullptr) {
        auto m = std::make_unique<Metrics>();
        GALE_ASSIGN_OR_RETURN(
            auto conns, o.metrics->AddGauge("gale_db_pool_connections", "Open connections of the pool, idle or in use.",
                                            {"pool", "state"}));
        GALE_ASSIGN_OR_RETURN(
            auto waiting,
            o.metrics->AddGauge("gale_db_pool_waiting", "Callers waiting for a connection of the pool.", {"pool"}));
        GALE_ASSIGN_OR_RETURN(auto wait,
                              o.metrics->AddHistogram("gale_db_pool_wait_seconds",
                                                      "How long callers waited for a connection of the pool.", {"pool"},
                                                      {0.0001, 0.0005, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5}));
        GALE_ASSIGN_OR_RETURN(
            auto timeouts,
            o.metrics->AddCounter("gale_db_pool_timeouts", "Callers that gave up waiting for a connection.", {"pool"}));
        m->idle = &conns->WithLabels({o.name, "idle"});
        m->in_use = &conns->WithLabels({o.name, "in_use"});
        m->waiting = &waiting->WithLabels({o.name});
        m->wait = &wait->WithLabels({o.name});
        m->timeouts = &timeouts->WithLabels({o.name});
        pool->metrics_ = std::move(m);
    }
    // The first connection now: a wrong path, address or password is an error of Open.
    GALE_ASSIGN_OR_RETURN(auto first, Database::Connect(pool->connection_));
    {
        std::lock_guard lock(pool->mu_);
        pool->writer_.open = 1;
        pool->writer_.idle.push_back(std::make_shared<Database>(std::move(first)));
        pool->UpdateGaugesLocked();
    }
    return pool;
}

Result<Pool::Lease> Pool::Acquire(Access access) {
    const bool writer = !split_ || access == Access::kWrite;
    const auto started = std::chrono::steady_clock::now();
    const auto deadline = started + options_.acquire_timeout;
    auto observe_wait = [&] {
        if (metrics_) {
            metrics_->wait->Observe(std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count());
        }
    };
    std::unique_lock lock(mu_);
    Group& group = GroupFor(writer);
    bool counted_waiting = false;
    auto stop_waiting = [&] {
        if (counted_waiting) --waiting_;
        counted_waiting = false;
    };
    for (;;) {
        if (!group.idle.empty()) {
            auto db = std::move(group.idle.back());
            group.idle.pop_back();
            stop_waiting();
            ++in_use_;
            UpdateGaugesLocked();
            lock.unlock();
            observe_wait();
            return Lease(shared_from_this(), std::move(db), writer);
        }
        if (group.open < group.limit) {
            ++group.open;  // the slot is ours while we connect without the lock
            stop_waiting();
            ++in_use_;
            UpdateGaugesLocked();
            lock.unlock();
            auto made = Database::Connect(connection_);
            if (!made) {
                lock.lock();
                --group.open;
                --in_use_;
                UpdateGaugesLocked();
                lock.unlock();
                cv_.notify_all();  // a waiter may open it instead
                return tl::unexpected(made.error());
            }
            observe_wait();
            return Lease(shared_from_this(), std::make_shared<Database>(std::move(*made)), writer);
        }
        if (!counted_waiting) {
            counted_waiting = true;
            ++waiting_;
            UpdateGaugesLocked();
        }
        if (cv_.wait_until(lock, deadline) == std::cv_status::timeout && group.idle.empty() &&
            group.open >= group.limit) {
            stop_waiting();
            ++timeouts_;
            UpdateGaugesLocked();
            if (metrics_) metrics_->timeouts->Inc();
            const auto waited =
                std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - started);
            return MakeError(ErrorCode::kTimeout,
                             fmt::format("database pool '{}': no {} connection free after {} ms ({} of {} in use)",
                                         options_.name, split_ ? (writer ? "writer" : "reader") : "", waited.count(),
                                         group.open - group.idle.size(), group.limit));
        }
    }
}

void Pool::Release(std::shared_ptr<Database> db, bool writer) {
    {
        std::lock_guard lock(mu_);
        GroupFor(writer).idle.push_back(std::move(db));
        --in_use_;
        UpdateGaugesLocked();
    }
    cv_.notify_all();  // waiters of both groups share the condition variable
}

Pool::Lease::~Lease() {
    if (pool_) pool_->Release(std::move(db_), writer_);
}

PoolStats Pool::stats() const {
    std::lock_guard lock(mu_);
    return {.open = writer_.open + readers_.open, .in_use = in_use_, .waiting = waiting_, .timeouts = timeouts_};
}

void Pool::UpdateGaugesLocked() {
    if (!metrics_) return;
    metrics_->idle->Set(static_cast<double>(writer_.idle.size() + readers_.idle.size()));
    metrics_->in_use->Set(static_cast<double>(in_use_));
    metrics_->waiting->Set(static_cast<double>(waiting_));
}

}  // namespace gale::db
