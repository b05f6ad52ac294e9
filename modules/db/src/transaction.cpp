// SPDX-License-Identifier: MIT
// Transactions (contract in gale/db/transaction.hpp). BEGIN, COMMIT and ROLLBACK go through Execute, so the
// connection keeps them prepared (SQLite) instead of parsing them on every transaction.
#include <random>
#include <string_view>
#include <thread>

#include <gale/db/transaction.hpp>

namespace gale::db {
namespace {

std::string_view BeginStatement(Engine engine, Access access, Isolation isolation) {
    if (engine == Engine::kSqlite) return access == Access::kWrite ? "BEGIN IMMEDIATE" : "BEGIN";
    const bool read = access == Access::kRead;
    switch (isolation) {
        case Isolation::kRepeatableRead:
            return read ? "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY" : "BEGIN ISOLATION LEVEL REPEATABLE READ";
        case Isolation::kSerializable:
            return read ? "BEGIN ISOLATION LEVEL SERIALIZABLE READ ONLY" : "BEGIN ISOLATION LEVEL SERIALIZABLE";
        case Isolation::kDefault:
            break;
    }
    return read ? "BEGIN READ ONLY" : "BEGIN";
}

bool Contains(std::string_view text, std::string_view part) { return text.find(part) != std::string_view::npos; }

}  // namespace

bool IsConflict(const Error& error) noexcept {
    if (error.code() != ErrorCode::kUnavailable) return false;
    const std::string_view m = error.message();
    // The two engines' messages as this module writes them (sqlite.cpp's SqlError, postgres.cpp's Exec).
    if (m.starts_with("sqlite "))
        return Contains(m, ": database is locked") || Contains(m, ": database table is locked");
    if (m.starts_with("postgresql: ")) return Contains(m, " [40001] ") || Contains(m, " [40P01] ");
    return false;
}

Result<Transaction> Transaction::Begin(Database& db, Access access, Isolation isolation) {
    GALE_RETURN_IF_ERROR(db.Execute(BeginStatement(db.engine(), access, isolation)));
    return Transaction(&db);
}

Transaction& Transaction::operator=(Transaction&& other) noexcept {
    if (this != &other) {
        Rollback();
        db_ = std::exchange(other.db_, nullptr);
    }
    return *this;
}

Result<void> Transaction::Commit() {
    if (db_ == nullptr) return MakeError(ErrorCode::kInvalidArgument, "commit: the transaction is not open");
    auto c = db_->Execute("COMMIT");
    if (!c) {
        Rollback();  // SQLite keeps a transaction open after a failed COMMIT (SQLITE_BUSY); end it either way
        return tl::unexpected(c.error());
    }
    db_ = nullptr;
    return {};
}

void Transaction::Rollback() noexcept {
    if (db_ == nullptr) return;
    Database* db = std::exchange(db_, nullptr);
    try {
        (void)db->Execute("ROLLBACK");
    } catch (...) {  // out of memory building the error: the connection ends the transaction when it closes
    }
}

Result<void> detail::RunInTransaction(Database& db, const std::function<Result<void>(Database&)>& body,
                                      const TransactionOptions& options) {
    thread_local std::minstd_rand jitter(std::random_device{}());
    const int attempts = options.max_attempts < 1 ? 1 : options.max_attempts;
    for (int attempt = 1;; ++attempt) {
        Result<void> outcome = [&]() -> Result<void> {
            GALE_ASSIGN_OR_RETURN(auto tx, Transaction::Begin(db, options.access, options.isolation));
            GALE_RETURN_IF_ERROR(body(tx.db()));
            return tx.Commit();
        }();
        if (outcome || attempt >= attempts || !IsConflict(outcome.error())) return outcome;
        const auto pause = options.backoff * (1LL << std::min(attempt - 1, 10));
        const auto extra = std::chrono::milliseconds(
            std::uniform_int_distribution<std::int64_t>(0, std::max<std::int64_t>(0, pause.count()))(jitter));
        std::this_thread::sleep_for(pause + extra);
    }
}

}  // namespace gale::db
