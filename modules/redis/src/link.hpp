// SPDX-License-Identifier: MIT
// The wire under Connection and Subscriber: one TCP socket, RESP written by us, replies parsed by hiredis' reader
// (the only part of hiredis gale uses), every wait bounded by a deadline through poll(2).
#pragma once

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include <gale/base/error.hpp>
#include <gale/redis/options.hpp>
#include <gale/redis/reply.hpp>

struct redisReader;

namespace gale::redis::detail {

using Clock = std::chrono::steady_clock;

/// Appends `args` as a RESP array of bulk strings.
void AppendCommand(std::string& out, const Args& args);
void AppendCommand(std::string& out, std::initializer_list<std::string_view> args);

/// "SET" from "set": command names in error messages.
std::string CommandName(std::string_view arg);

class Link {
public:
    /// Resolves, connects and runs the handshake (AUTH, SELECT, CLIENT SETNAME), all within connect_timeout.
    /// Errors: kUnavailable (resolve, connect, handshake I/O), kInvalidArgument (AUTH/SELECT refused).
    [[nodiscard]] static Result<std::unique_ptr<Link>> Open(const ConnectionOptions& options);
    ~Link();
    Link(const Link&) = delete;
    Link& operator=(const Link&) = delete;

    /// Writes all of `bytes`. kUnavailable (connection lost) or kTimeout at the deadline.
    [[nodiscard]] Result<void> Write(std::string_view bytes, Clock::time_point deadline);
    /// The next reply; kTimeout at the deadline, kUnavailable when the server closed, kInternal for bad RESP.
    [[nodiscard]] Result<Reply> Read(Clock::time_point deadline);
    /// The next reply, or nullopt at the deadline (nothing is lost: a partial reply stays buffered).
    [[nodiscard]] Result<std::optional<Reply>> TryRead(Clock::time_point deadline);

private:
    Link(int fd, std::string where);
    int fd_;
    std::string where_;
    redisReader* reader_;
};

}  // namespace gale::redis::detail
