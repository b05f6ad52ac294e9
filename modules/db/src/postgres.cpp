// SPDX-License-Identifier: MIT
// The PostgreSQL backend, on libpq.
//
// Threading: a PGconn must not be used by two threads at once, so every call holds mu_ for its whole round trip
// (the same serialisation SQLite's FULLMUTEX gives). Parameters are sent in text format with explicit types for
// integers (int8) and doubles (float8) and "unknown" for strings and NULL, so the server infers them from context
// as it would for literals.
//
// Reconnecting: before each call, a non-blocking PQconsumeInput notices a connection the server has closed since
// the last call (restart, idle-session timeout, pg_terminate_backend); the call then PQresets once and proceeds.
// A connection that breaks *during* a call is reported (kUnavailable), not retried: the statement may have run,
// and running it again could apply a write twice. The next call reconnects. If the connection was lost inside a
// transaction, the server rolled it back; the first call after reconnecting fails with an error saying so, so that
// the caller's transaction code does not carry on in autocommit mode.
//
// Secrets: libpq's connection errors do not contain the password, but messages are scrubbed of it (and of a URL's
// userinfo) anyway, as a second line of defence.
#include <charconv>
#include <mutex>
#include <string>
#include <type_traits>
#include <unordered_map>

#include <fmt/format.h>
#include <libpq-fe.h>

#include <gale/base/dynamic_library.hpp>

#include "connection.hpp"
#include "placeholders.hpp"

namespace gale::db::detail {
namespace {

// libpq is loaded on first use with dlopen, not linked: libpq and what it pulls in (OpenSSL, GnuTLS via LDAP,
// Kerberos, …) cost several MiB of resident memory in every process, including the many that use SQLite only.
// The headers still come from libpq-dev, so every signature below is checked at compile time (decltype).
struct PqApi {
    std::string load_error;  // empty when every symbol was found
    decltype(&::PQclear) clear = nullptr;
    decltype(&::PQcmdTuples) cmdTuples = nullptr;
    decltype(&::PQconnectdbParams) connectdbParams = nullptr;
    decltype(&::PQconsumeInput) consumeInput = nullptr;
    decltype(&::PQdb) db = nullptr;
    decltype(&::PQerrorMessage) errorMessage = nullptr;
    decltype(&::PQexec) exec = nullptr;
    decltype(&::PQexecParams) execParams = nullptr;
    decltype(&::PQexecPrepared) execPrepared = nullptr;
    decltype(&::PQfinish) finish = nullptr;
    decltype(&::PQftype) ftype = nullptr;
    decltype(&::PQgetisnull) getisnull = nullptr;
    decltype(&::PQgetlength) getlength = nullptr;
    decltype(&::PQgetvalue) getvalue = nullptr;
    decltype(&::PQhost) host = nullptr;
    decltype(&::PQnfields) nfields = nullptr;
    decltype(&::PQntuples) ntuples = nullptr;
    decltype(&::PQport) port = nullptr;
    decltype(&::PQprepare) prepare = nullptr;
    decltype(&::PQreset) reset = nullptr;
    decltype(&::PQresultErrorField) resultErrorField = nullptr;
    decltype(&::PQresultStatus) resultStatus = nullptr;
    decltype(&::PQsetNoticeProcessor) setNoticeProcessor = nullptr;
    decltype(&::PQstatus) status = nullptr;
    decltype(&::PQtransactionStatus) transactionStatus = nullptr;
    decltype(&::PQuser) user = nullptr;
};

const PqApi& Pq() {
    static const PqApi api = [] {
        PqApi a;
        auto lib = DynamicLibrary::Open({"libpq.so.5"}, "libpq5");
        if (!lib) {
            a.load_error = lib.error().message();
            return a;
        }
        lib->Resolve("PQclear", a.clear, a.load_error);
        lib->Resolve("PQcmdTuples", a.cmdTuples, a.load_error);
        lib->Resolve("PQconnectdbParams", a.connectdbParams, a.load_error);
        lib->Resolve("PQconsumeInput", a.consumeInput, a.load_error);
        lib->Resolve("PQdb", a.db, a.load_error);
        lib->Resolve("PQerrorMessage", a.errorMessage, a.load_error);
        lib->Resolve("PQexec", a.exec, a.load_error);
        lib->Resolve("PQexecParams", a.execParams, a.load_error);
        lib->Resolve("PQexecPrepared", a.execPrepared, a.load_error);
        lib->Resolve("PQfinish", a.finish, a.load_error);
        lib->Resolve("PQftype", a.ftype, a.load_error);
        lib->Resolve("PQgetisnull", a.getisnull, a.load_error);
        lib->Resolve("PQgetlength", a.getlength, a.load_error);
        lib->Resolve("PQgetvalue", a.getvalue, a.load_error);
        lib->Resolve("PQhost", a.host, a.load_error);
        lib->Resolve("PQnfields", a.nfields, a.load_error);
        lib->Resolve("PQntuples", a.ntuples, a.load_error);
        lib->Resolve("PQport", a.port, a.load_error);
        lib->Resolve("PQprepare", a.prepare, a.load_error);
        lib->Resolve("PQreset", a.reset, a.load_error);
        lib->Resolve("PQresultErrorField", a.resultErrorField, a.load_error);
        lib->Resolve("PQresultStatus", a.resultStatus, a.load_error);
        lib->Resolve("PQsetNoticeProcessor", a.setNoticeProcessor, a.load_error);
        lib->Resolve("PQstatus", a.status, a.load_error);
        lib->Resolve("PQtransactionStatus", a.transactionStatus, a.load_error);
        lib->Resolve("PQuser", a.user, a.load_error);
        return a;  // stays loaded for the life of the process
    }();
    return api;
}

}  // namespace
namespace {

// Type OIDs from PostgreSQL's catalog (pg_type.dat); stable across versions.
constexpr Oid kBoolOid = 16;
constexpr Oid kInt8Oid = 20;
constexpr Oid kInt2Oid = 21;
constexpr Oid kInt4Oid = 23;
constexpr Oid kOidOid = 26;
constexpr Oid kFloat4Oid = 700;
constexpr Oid kFloat8Oid = 701;

struct ResultDeleter {
    void operator()(PGresult* r) const noexcept { Pq().clear(r); }
};
using ResultPtr = std::unique_ptr<PGresult, ResultDeleter>;

void IgnoreNotice(void*, const char*) {}  // NOTICEs ("relation already exists, skipping") are not errors

// libpq messages end in "\n" and continue lines with "\n\t"; make them one line.
std::string OneLine(const char* msg) {
    std::string out;
    for (const char* p = msg != nullptr ? msg : ""; *p != '\0'; ++p) {
        if (*p == '\n' || *p == '\t') {
            if (!out.empty() && out.back() != ' ') out += ' ';
        } else {
            out += *p;
        }
    }
    while (!out.empty() && out.back() == ' ') out.pop_back();
    return out;
}

void ReplaceAll(std::string& s, std::string_view what, std::string_view with) {
    if (what.empty()) return;
    for (std::size_t pos = s.find(what); pos != std::string::npos; pos = s.find(what, pos + with.size())) {
        s.replace(pos, what.size(), with);
    }
}

std::string PercentDecode(std::string_view s) {
    std::string out;
    for (std::size_t i = 0; i < s.size(); ++i) {
        int v = 0;
        if (s[i] == '%' && i + 2 < s.size() &&
            std::from_chars(s.data() + i + 1, s.data() + i + 3, v, 16).ptr == s.data() + i + 3) {
            out += static_cast<char>(v);
            i += 2;
        } else {
            out += s[i];
        }
    }
    return out;
}

/// The secrets of `options` as they could appear in a message: the password, and a URL's userinfo password both
/// raw and percent-decoded.
std::vector<std::string> Secrets(const ConnectionOptions& options) {
    std::vector<std::string> secrets;
    if (!options.password.empty()) secrets.push_back(options.password);
    std::size_t start = options.url.find("://");
    if (start != std::string::npos) {
        start += 3;
        std::size_t at = options.url.find('@', start);
        std::size_t slash = options.url.find('/', start);
        if (at != std::string::npos && (slash == std::string::npos || at < slash)) {
            std::size_t colon = options.url.find(':', start);
            if (colon != std::string::npos && colon < at) {
                std::string raw = options.url.substr(colon + 1, at - colon - 1);
                if (!raw.empty()) {
                    secrets.push_back(PercentDecode(raw));
                    secrets.push_back(raw);
                }
            }
        }
    }
    return secrets;
}

ErrorCode CodeForSqlState(const char* state) {
    std::string_view s = state != nullptr ? state : "";
    if (s.starts_with("08") || s.starts_with("53") || s.starts_with("57P") || s == "40001" || s == "40P01") {
        return ErrorCode::kUnavailable;  // connection, resources, shutdown, serialization/deadlock: retryable
    }
    if (s == "57014") return ErrorCode::kCancelled;
    return ErrorCode::kInternal;
}

class PgConnection final : public Connection {
public:
    PgConnection(PGconn* conn, std::vector<std::string> secrets, bool prepare)
        : conn_(conn), secrets_(std::move(secrets)), prepare_(prepare) {
        Pq().setNoticeProcessor(conn_, IgnoreNotice, nullptr);
        target_ = Target(conn_);
    }
    ~PgConnection() override { Pq().finish(conn_); }
    PgConnection(const PgConnection&) = delete;
    PgConnection& operator=(const PgConnection&) = delete;

    static std::string Target(PGconn* conn) {
        const char* host = Pq().host(conn);
        const char* port = Pq().port(conn);
        return fmt::format("{}:{}", host != nullptr && *host != '\0' ? host : "localhost",
                           port != nullptr && *port != '\0' ? port : "5432");
    }

    std::string Scrub(std::string msg) const {
        for (const std::string& s : secrets_) ReplaceAll(msg, s, "***");
        return msg;
    }

    // gale::db::detail::Connection
    Result<void> ExecScript(std::string_view sql) override {
        GALE_RETURN_IF_ERROR(Run(sql, {}, /*script=*/true));
        return {};
    }

    Result<ExecResult> Execute(std::string_view sql, const std::vector<Value>& params) override {
        GALE_ASSIGN_OR_RETURN(ResultPtr res, Run(sql, params, /*script=*/false));
        ExecResult out;
        std::string_view tuples = Pq().cmdTuples(res.get());
        std::from_chars(tuples.data(), tuples.data() + tuples.size(), out.changes);
        if (Pq().ntuples(res.get()) > 0 && Pq().nfields(res.get()) > 0 && !Pq().getisnull(res.get(), 0, 0)) {
            Value v = Convert(res.get(), 0, 0);
            if (const auto* id = std::get_if<std::int64_t>(&v)) out.last_insert_id = *id;
        }
        return out;
    }

    Result<std::vector<Row>> Query(std::string_view sql, const std::vector<Value>& params) override {
        GALE_ASSIGN_OR_RETURN(ResultPtr res, Run(sql, params, /*script=*/false));
        int nrows = Pq().ntuples(res.get());
        int ncols = Pq().nfields(res.get());
        std::vector<Row> rows;
        rows.reserve(static_cast<std::size_t>(nrows));
        for (int r = 0; r < nrows; ++r) {
            Row row;
            row.reserve(static_cast<std::size_t>(ncols));
            for (int c = 0; c < ncols; ++c) row.push_back(Convert(res.get(), r, c));
            rows.push_back(std::move(row));
        }
        return rows;
    }

private:
    static Value Convert(const PGresult* res, int r, int c) {
        if (Pq().getisnull(res, r, c)) return nullptr;
        const char* text = Pq().getvalue(res, r, c);
        std::string_view s(text, static_cast<std::size_t>(Pq().getlength(res, r, c)));
        switch (Pq().ftype(res, c)) {
            case kInt2Oid:
            case kInt4Oid:
            case kInt8Oid:
            case kOidOid: {
                std::int64_t v = 0;
                auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
                if (ec == std::errc() && end == s.data() + s.size()) return v;
                break;  // oid above int64? cannot happen; keep the text
            }
            case kBoolOid:
                return std::int64_t{s == "t" ? 1 : 0};
            case kFloat4Oid:
            case kFloat8Oid: {
                double v = 0;
                auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
                if (ec == std::errc() && end == s.data() + s.size()) return v;
                break;
            }
            default:
                break;
        }
        return std::string(s);
    }

    /// Runs under mu_; returns the result of a successful statement.
    Result<ResultPtr> Run(std::string_view sql, const std::vector<Value>& params, bool script) {
        std::lock_guard lock(mu_);
        GALE_RETURN_IF_ERROR(EnsureConnected());
        PGTransactionStatusType tx_before = Pq().transactionStatus(conn_);
        PGresult* raw = nullptr;
        if (script) {
            raw = Pq().exec(conn_, std::string(sql).c_str());
        } else {
            TranslatedSql t = TranslatePlaceholders(sql);
            if (static_cast<std::size_t>(t.parameter_count) != params.size()) {
                return MakeError(ErrorCode::kInvalidArgument,
                                 fmt::format("postgresql: statement takes {} parameters, {} given (in: {:.120})",
                                             t.parameter_count, params.size(), sql));
            }
            std::vector<std::string> storage(params.size());
            std::vector<const char*> values(params.size(), nullptr);
            std::vector<Oid> types(params.size(), 0);
            for (std::size_t i = 0; i < params.size(); ++i) {
                std::visit(
                    [&](const auto& v) {
                        using T = std::decay_t<decltype(v)>;
                        if constexpr (std::is_same_v<T, std::int64_t>) {
                            storage[i] = fmt::format("{}", v);
                            types[i] = kInt8Oid;
                        } else if constexpr (std::is_same_v<T, double>) {
                            storage[i] = fmt::format("{}", v);
                            types[i] = kFloat8Oid;
                        } else if constexpr (std::is_same_v<T, std::string>) {
                            storage[i] = v;
                        }
                        if constexpr (!std::is_same_v<T, std::nullptr_t>) values[i] = storage[i].c_str();
                    },
                    params[i]);
            }
            raw = ExecParams(t.sql, types, values, tx_before);
        }
        ResultPtr res(raw);
        ExecStatusType st = res ? Pq().resultStatus(res.get()) : PGRES_FATAL_ERROR;
        if (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK || st == PGRES_EMPTY_QUERY) return res;

        if (Pq().status(conn_) == CONNECTION_BAD) {
            lost_in_transaction_ = tx_before != PQTRANS_IDLE;
            return MakeError(ErrorCode::kUnavailable,
                             Scrub(fmt::format("postgresql: connection to {} lost during the statement, which may or "
                                               "may not have run; the next call reconnects: {} (in: {:.120})",
                                               target_, OneLine(Pq().errorMessage(conn_)), sql)));
        }
        const char* state = res ? Pq().resultErrorField(res.get(), PG_DIAG_SQLSTATE) : nullptr;
        const char* primary = res ? Pq().resultErrorField(res.get(), PG_DIAG_MESSAGE_PRIMARY) : nullptr;
        std::string msg = primary != nullptr ? primary : OneLine(Pq().errorMessage(conn_));
        return MakeError(CodeForSqlState(state),
                         fmt::format("postgresql: {} [{}] (in: {:.120})", msg, state != nullptr ? state : "?", sql));
    }

    /// Runs a statement with parameters: prepared once per connection and parameter types (the server parses and
    /// plans it once), or with PQexecParams when preparing is off or the cache is full.
    PGresult* ExecParams(const std::string& sql, const std::vector<Oid>& types, const std::vector<const char*>& values,
                         PGTransactionStatusType tx_before) {
        const int n = static_cast<int>(values.size());
        if (!prepare_) return Pq().execParams(conn_, sql.c_str(), n, types.data(), values.data(), nullptr, nullptr, 0);
        std::string key = sql;
        key.push_back('\0');
        for (Oid t : types) key += std::to_string(t) + ',';
        auto it = prepared_.find(key);
        if (it == prepared_.end()) {
            if (prepared_.size() >= kMaxPrepared) {
                return Pq().execParams(conn_, sql.c_str(), n, types.data(), values.data(), nullptr, nullptr, 0);
            }
            // Names are never reused: a statement dropped from the map may still exist on the server.
            std::string name = "gale_" + std::to_string(++prepared_serial_);
            ResultPtr made(Pq().prepare(conn_, name.c_str(), sql.c_str(), n, types.data()));
            if (!made || Pq().resultStatus(made.get()) != PGRES_COMMAND_OK) return made.release();  // the error
            it = prepared_.emplace(std::move(key), std::move(name)).first;
        }
        PGresult* res = Pq().execPrepared(conn_, it->second.c_str(), n, values.data(), nullptr, nullptr, 0);
        const char* state = res != nullptr && Pq().resultStatus(res) == PGRES_FATAL_ERROR
                                ? Pq().resultErrorField(res, PG_DIAG_SQLSTATE)
                                : nullptr;
        if (state != nullptr && std::string_view(state) == "0A000") {
            // "cached plan must not change result type": a table changed under the statement (DDL). Forget it;
            // outside a transaction, run the statement afresh (inside one, the error has aborted it: report it).
            prepared_.erase(it);
            if (tx_before == PQTRANS_IDLE) {
                Pq().clear(res);
                return Pq().execParams(conn_, sql.c_str(), n, types.data(), values.data(), nullptr, nullptr, 0);
            }
        }
        return res;
    }

    /// Reconnects (once) if the server closed the connection since the last call.
    Result<void> EnsureConnected() {
        if (Pq().status(conn_) == CONNECTION_OK) {
            PGTransactionStatusType tx = Pq().transactionStatus(conn_);
            // Non-blocking: reads what the server sent while we were idle. A terminated session sends an error
            // ("terminating connection due to administrator command", which libpq hands to the notice processor)
            // and then EOF; the EOF is seen by the next read, which turns the status into CONNECTION_BAD. On a live
            // connection each read is one recv() returning EAGAIN.
            for (int i = 0; i < 3 && Pq().status(conn_) == CONNECTION_OK; ++i) {
                if (Pq().consumeInput(conn_) == 0) break;
            }
            if (Pq().status(conn_) == CONNECTION_BAD && tx != PQTRANS_IDLE) lost_in_transaction_ = true;
        }
        if (Pq().status(conn_) == CONNECTION_OK) return {};
        prepared_.clear();  // a new session: the server has none of them
        Pq().reset(conn_);
        if (Pq().status(conn_) != CONNECTION_OK) {
            return MakeError(ErrorCode::kUnavailable,
                             Scrub(fmt::format("postgresql: connection to {} lost and reconnecting failed: {}", target_,
                                               OneLine(Pq().errorMessage(conn_)))));
        }
        Pq().setNoticeProcessor(conn_, IgnoreNotice, nullptr);
        if (lost_in_transaction_) {
            lost_in_transaction_ = false;
            return MakeError(ErrorCode::kUnavailable,
                             fmt::format("postgresql: connection to {} was lost inside a transaction, which the "
                                         "server rolled back; reconnected",
                                         target_));
        }
        return {};
    }

    static constexpr std::size_t kMaxPrepared = 256;

    std::mutex mu_;
    PGconn* conn_;
    std::vector<std::string> secrets_;
    std::string target_;
    bool lost_in_transaction_ = false;
    const bool prepare_;
    std::unordered_map<std::string, std::string> prepared_;  // sql + NUL + parameter types → statement name
    std::uint64_t prepared_serial_ = 0;
};

}  // namespace

Result<std::unique_ptr<Connection>> ConnectPostgres(const ConnectionOptions& options) {
    if (!Pq().load_error.empty()) return MakeError(ErrorCode::kUnavailable, Pq().load_error);
    std::vector<std::pair<const char*, std::string>> params;
    if (!options.url.empty()) {
        params.emplace_back("dbname", options.url);  // expand_dbname: libpq parses the URL
    } else {
        if (!options.host.empty()) params.emplace_back("host", options.host);
        params.emplace_back("port", std::to_string(options.port));
        if (!options.name.empty()) params.emplace_back("dbname", options.name);
        if (!options.username.empty()) params.emplace_back("user", options.username);
        if (!options.password.empty()) params.emplace_back("password", options.password);
    }
    params.emplace_back("connect_timeout", std::to_string(std::max<std::int64_t>(options.connect_timeout.count(), 1)));
    params.emplace_back("client_encoding", "UTF8");
    params.emplace_back("application_name", "gale");
    std::vector<const char*> keys;
    std::vector<const char*> values;
    for (const auto& [k, v] : params) {
        keys.push_back(k);
        values.push_back(v.c_str());
    }
    keys.push_back(nullptr);
    values.push_back(nullptr);

    PGconn* raw = Pq().connectdbParams(keys.data(), values.data(), /*expand_dbname=*/1);
    if (raw == nullptr) return MakeError(ErrorCode::kInternal, "postgresql: out of memory creating a connection");
    auto conn = std::make_unique<PgConnection>(raw, Secrets(options), options.prepared_statements);
    if (Pq().status(raw) != CONNECTION_OK) {
        // PQhost/PQport/PQdb/PQuser are the values libpq actually used (after URL parsing and defaults).
        std::string target = options.url.empty() && !options.host.empty()
                                 ? fmt::format("{}:{}", options.host, options.port)
                                 : PgConnection::Target(raw);
        const char* db = Pq().db(raw);
        const char* user = Pq().user(raw);
        return MakeError(ErrorCode::kUnavailable,
                         conn->Scrub(fmt::format("postgresql: cannot connect to {} (database '{}', user '{}'): {}",
                                                 target, db != nullptr ? db : "", user != nullptr ? user : "",
                                                 OneLine(Pq().errorMessage(raw)))));
    }
    return std::unique_ptr<Connection>(std::move(conn));
}

}  // namespace gale::db::detail
