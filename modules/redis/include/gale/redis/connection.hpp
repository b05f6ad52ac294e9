// SPDX-License-Identifier: MIT
/// @file gale/redis/connection.hpp
/// @brief Connection: one Redis connection with typed replies, pipelines, MULTI/EXEC, BRPOP, EVAL, and bounded
///        waits everywhere.
///
/// What each call returns:
///
/// | what happened                                   | Result                                                    |
/// |-------------------------------------------------|-----------------------------------------------------------|
/// | a reply                                          | the Reply (nil, string, status, integer, array)           |
/// | an error reply (`-ERR …`, `-WRONGTYPE …`)        | ErrorFromReply: "redis <COMMAND>: <server's message>"; the
/// connection stays usable | | no connection, and reconnecting fails            | kUnavailable "redis
/// redis://host:port/db: connect: …" (refused, unreachable, timed out after connect_timeout) | | AUTH or SELECT refused
/// while (re)connecting      | kInvalidArgument naming AUTH/SELECT and the server's message | | the connection breaks
/// during the call            | kUnavailable "… connection lost"; the connection is closed | | no reply within
/// command_timeout (+ the blocking timeout) | kTimeout; the connection is closed (a late reply could not be told apart)
/// | | a reply that is not RESP                         | kInternal; the connection is closed                        |
///
/// Reconnecting: a closed connection reconnects (once, within connect_timeout) at the start of the next call, and
/// `reconnects()` counts it. The call that saw the failure is never replayed, since a command may have run before
/// the connection broke: the caller decides whether retrying is safe (the caller sees kUnavailable and retries).
///
/// Ownership: owns one socket. Thread-safety: thread-compatible — one thread at a time (use one Connection per
/// thread, or Pool). Not for SUBSCRIBE: a subscribed connection only receives; use Subscriber.
#pragma once

#include <chrono>
#include <cstdint>
#include <initializer_list>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <gale/base/error.hpp>
#include <gale/redis/options.hpp>
#include <gale/redis/reply.hpp>

namespace gale::redis {

/// A Lua script for EVAL, with its SHA1 computed once. Value type; thread-safe (immutable).
class Script {
public:
    explicit Script(std::string source);
    [[nodiscard]] const std::string& source() const noexcept { return source_; }
    /// Lower-case hex SHA1 of the source, as EVALSHA and SCRIPT LOAD use.
    [[nodiscard]] const std::string& sha1() const noexcept { return sha1_; }

private:
    std::string source_;
    std::string sha1_;
};

/// What BRPOP (and BLPOP) hand back: the list it popped from and the element.
struct Popped {
    std::string key{};
    std::string value{};
};

class Connection {
public:
    /// Connects now (resolve, TCP connect, AUTH, SELECT, CLIENT SETNAME). Errors: as in the table above.
    [[nodiscard]] static Result<std::unique_ptr<Connection>> Connect(ConnectionOptions options);
    /// A connection that connects on its first call.
    [[nodiscard]] static std::unique_ptr<Connection> Lazy(ConnectionOptions options);
    ~Connection();
    Connection(const Connection&) = delete;
    Connection& operator=(const Connection&) = delete;

    /// Sends one command and reads its reply. `args` must not be empty (kInvalidArgument).
    [[nodiscard]] Result<Reply> Command(const Args& args);
    [[nodiscard]] Result<Reply> Command(std::initializer_list<std::string_view> args);

    /// Sends every command in one write and reads every reply (one round trip). Error replies stay in the vector as
    /// kError (the caller sees which command failed); transport failures fail the whole call.
    [[nodiscard]] Result<std::vector<Reply>> Pipeline(const std::vector<Args>& commands);

    /// MULTI, the commands, EXEC in one round trip. Returns EXEC's replies (one per command; a command that failed
    /// at run time is a kError element), or nullopt when EXEC was aborted because a key WATCHed (by an earlier
    /// `Command({"WATCH", …})` on this connection) changed. A command the server refused to queue (a syntax error)
    /// discards the transaction: ErrorFromReply("EXEC", "EXECABORT …: <the first refusal>").
    [[nodiscard]] Result<std::optional<std::vector<Reply>>> Transaction(const std::vector<Args>& commands);

    /// BRPOP keys… timeout: the first non-empty list in `keys` order is popped from its tail; nullopt when every
    /// list stayed empty for `timeout` (rounded to milliseconds; 0 is refused, as it would block forever).
    [[nodiscard]] Result<std::optional<Popped>> BlockingPop(const std::vector<std::string>& keys,
                                                            std::chrono::milliseconds timeout);

    /// EVALSHA, falling back to EVAL when the server does not have the script (NOSCRIPT), so the script is sent once
    /// per server (and again after a server restart). The script's error is "redis EVAL: <message>".
    [[nodiscard]] Result<Reply> Eval(const Script& script, const std::vector<std::string>& keys,
                                     const std::vector<std::string>& args);

    /// Closes the socket now (the next call reconnects).
    void Close();
    /// True while a socket is open (a broken peer is found by the next call).
    [[nodiscard]] bool connected() const noexcept;
    /// How many times a closed connection was opened again.
    [[nodiscard]] std::uint64_t reconnects() const noexcept;
    [[nodiscard]] const ConnectionOptions& options() const noexcept;

private:
    struct Impl;
    explicit Connection(std::unique_ptr<Impl> impl);
    std::unique_ptr<Impl> impl_;
};

}  // namespace gale::redis
