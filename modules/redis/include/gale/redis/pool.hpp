// SPDX-License-Identifier: MIT
/// @file gale/redis/pool.hpp
/// @brief Pool: a small, thread-safe set of Connections to one server, lent one caller at a time.
///
/// Connections are opened on demand (none at construction, so a service may start before Redis), up to `size`;
/// a caller that finds all of them lent waits at most `acquire_timeout`, then gets kTimeout. A Lease gives one
/// caller a Connection for several commands (WATCH … MULTI/EXEC, a BRPOP loop) and returns it when destroyed. A
/// connection that broke while lent reconnects on its next use, as Connection does.
///
/// Ownership: the Pool owns its connections; every Lease must be destroyed before the Pool. Thread-safety: every
/// member may be called from any thread; a Lease is used by one thread at a time.
#pragma once

#include <chrono>
#include <cstddef>
#include <memory>
#include <optional>
#include <vector>

#include <gale/base/error.hpp>
#include <gale/redis/connection.hpp>
#include <gale/redis/options.hpp>
#include <gale/redis/reply.hpp>

namespace gale::redis {

/// | Name | Description | Default |
/// |---|---|---|
/// | size | most connections open at once | 4 |
/// | acquire_timeout | longest wait for a free connection | 5 s |
struct PoolOptions {
    std::size_t size = 4;
    std::chrono::milliseconds acquire_timeout{5000};
};

class Pool {
public:
    class Lease {
    public:
        Lease(Lease&& other) noexcept;
        Lease& operator=(Lease&& other) noexcept;
        Lease(const Lease&) = delete;
        Lease& operator=(const Lease&) = delete;
        ~Lease();
        Connection& operator*() const noexcept { return *connection_; }
        Connection* operator->() const noexcept { return connection_; }

    private:
        friend class Pool;
        Lease(Pool* pool, Connection* connection) : pool_(pool), connection_(connection) {}
        Pool* pool_;
        Connection* connection_;
    };

    Pool(ConnectionOptions connection, PoolOptions options = {});
    ~Pool();
    Pool(const Pool&) = delete;
    Pool& operator=(const Pool&) = delete;

    /// A connection for the caller alone (not yet connected if it is new: its first call connects). kTimeout when
    /// none became free within acquire_timeout.
    [[nodiscard]] Result<Lease> Acquire();

    /// Acquire + the Connection call of the same name.
    [[nodiscard]] Result<Reply> Command(const Args& args);
    [[nodiscard]] Result<Reply> Command(std::initializer_list<std::string_view> args);
    [[nodiscard]] Result<std::vector<Reply>> Pipeline(const std::vector<Args>& commands);
    [[nodiscard]] Result<std::optional<std::vector<Reply>>> Transaction(const std::vector<Args>& commands);
    [[nodiscard]] Result<Reply> Eval(const Script& script, const std::vector<std::string>& keys,
                                     const std::vector<std::string>& args);

    [[nodiscard]] const ConnectionOptions& connection_options() const noexcept;

private:
    struct Impl;
    void Release(Connection* connection) noexcept;
    std::unique_ptr<Impl> impl_;
};

}  // namespace gale::redis
