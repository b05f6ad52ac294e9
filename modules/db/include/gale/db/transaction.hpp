// SPDX-License-Identifier: MIT
/// @file gale/db/transaction.hpp
/// @brief Transactions on one connection: an RAII Transaction (rolled back unless committed) and InTransaction,
///        which runs a body in one and runs it again when the engine reports a conflict with another transaction.
///
/// @code
///   auto id = gale::db::InTransaction(db, [&](gale::db::Database& tx) -> gale::Result<std::int64_t> {
///       GALE_RETURN_IF_ERROR(tx.Execute("UPDATE accounts SET balance = balance - ? WHERE id = ?", {amount, from}));
///       GALE_ASSIGN_OR_RETURN(auto rows, tx.Query("INSERT INTO transfers (amount) VALUES (?) RETURNING id",
///       {amount})); return std::get<std::int64_t>(rows[0][0]);
///   });
/// @endcode
/// A transaction spans several calls on its connection, so nobody else may use that connection meanwhile: take
/// one from a Pool (gale/db/pool.hpp) or give the work a Database of its own.
#pragma once

#include <chrono>
#include <functional>
#include <optional>
#include <type_traits>
#include <utility>

#include <gale/base/error.hpp>
#include <gale/db/database.hpp>

namespace gale::db {

/// What a transaction does, which decides how it begins.
/// SQLite: kWrite begins IMMEDIATE (the write lock from the start, so two writers never deadlock upgrading a read
/// lock; a busy database is waited for up to the busy timeout), kRead begins DEFERRED (a snapshot that never blocks
/// a writer in WAL mode). PostgreSQL: BEGIN, and BEGIN … READ ONLY for kRead.
enum class Access { kWrite, kRead };

/// PostgreSQL's isolation level; SQLite's transactions are always serializable.
enum class Isolation { kDefault, kRepeatableRead, kSerializable };

struct TransactionOptions {
    Access access = Access::kWrite;
    Isolation isolation = Isolation::kDefault;
    /// Runs in all when the transaction conflicts (IsConflict): the body runs again from the start. 1: no retry.
    int max_attempts = 3;
    /// The pause before the n-th retry: backoff × 2^(n−1), plus up to as much again at random.
    std::chrono::milliseconds backoff{5};
};

/// Whether `error` (from this module) says that the transaction could not go ahead because of another one, and
/// may succeed if run again from the start: SQLite's SQLITE_BUSY and SQLITE_LOCKED ("database is locked"),
/// PostgreSQL's serialization_failure (40001) and deadlock_detected (40P01). A lost connection is not: the commit
/// may have happened.
[[nodiscard]] bool IsConflict(const Error& error) noexcept;

/// An open transaction (RAII). Commit() ends it; destroyed or Rollback()-ed without a commit, it rolls back.
/// Thread-compatible: one thread at a time, and the connection is the transaction's until it ends.
class Transaction {
public:
    /// Begins a transaction on `db`, which must outlive it. Errors: the BEGIN's (IsConflict for a busy SQLite).
    [[nodiscard]] static Result<Transaction> Begin(Database& db, Access access = Access::kWrite,
                                                   Isolation isolation = Isolation::kDefault);

    Transaction(Transaction&& other) noexcept : db_(std::exchange(other.db_, nullptr)) {}
    Transaction& operator=(Transaction&& other) noexcept;
    Transaction(const Transaction&) = delete;
    Transaction& operator=(const Transaction&) = delete;
    ~Transaction() { Rollback(); }

    /// Commits. On an error the transaction is rolled back (and over) all the same.
    [[nodiscard]] Result<void> Commit();
    /// Rolls back, if still open. Never fails (a failed ROLLBACK leaves the server to end it with the connection).
    void Rollback() noexcept;

    [[nodiscard]] bool open() const noexcept { return db_ != nullptr; }
    /// The connection the transaction runs on (valid while open()).
    [[nodiscard]] Database& db() noexcept { return *db_; }

private:
    explicit Transaction(Database* db) : db_(db) {}
    Database* db_;
};

namespace detail {
/// InTransaction's loop, for bodies whose value was stashed by the caller.
[[nodiscard]] Result<void> RunInTransaction(Database& db, const std::function<Result<void>(Database&)>& body,
                                            const TransactionOptions& options);
}  // namespace detail

/// Runs `body(db)` in a transaction: commits when it returns a value, rolls back when it returns an error (which is
/// returned), and runs it all again — up to options.max_attempts in all, with a growing pause — when the begin, the
/// body or the commit fails with a conflict (IsConflict). So the body must not do what a second run would repeat
/// outside the database. `body` returns Result<T> (T may be void); so does InTransaction.
template <typename F>
auto InTransaction(Database& db, F&& body, const TransactionOptions& options = {})
    -> std::invoke_result_t<F&, Database&> {
    using R = std::invoke_result_t<F&, Database&>;
    using T = typename R::value_type;
    if constexpr (std::is_void_v<T>) {
        return detail::RunInTransaction(
            db, [&](Database& tx) { return body(tx); }, options);
    } else {
        std::optional<T> value;
        auto done = detail::RunInTransaction(
            db,
            [&](Database& tx) -> Result<void> {
                auto r = body(tx);
                if (!r) return tl::unexpected(std::move(r).error());
                value.emplace(std::move(*r));
                return {};
            },
            options);
        if (!done) return tl::unexpected(std::move(done).error());
        return std::move(*value);
    }
}

}  // namespace gale::db
