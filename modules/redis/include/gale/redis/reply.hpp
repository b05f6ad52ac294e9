// SPDX-License-Identifier: MIT
/// @file gale/redis/reply.hpp
/// @brief Reply: one Redis (RESP2) reply as a value, copied out of the client library's reply tree.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <gale/base/error.hpp>

namespace gale::redis {

/// A command's arguments: the command name first ("SET", "key", "value"). Binary-safe.
using Args = std::vector<std::string>;

/// One reply. Value type; thread-compatible.
///
/// | type     | RESP2                 | fields used                                  |
/// |----------|-----------------------|----------------------------------------------|
/// | kString  | bulk string `$`       | `str` (binary-safe)                           |
/// | kStatus  | simple string `+`     | `str` ("OK", "QUEUED", "PONG")               |
/// | kInteger | integer `:`           | `integer`                                    |
/// | kArray   | array `*`             | `elements`                                   |
/// | kNil     | null bulk / null array| —                                            |
/// | kError   | error `-`             | `str` ("WRONGTYPE Operation against …")      |
///
/// Connection::Command turns a top-level kError into an Error; kError elements stay inside arrays (EXEC's replies).
struct Reply {
    enum class Type { kNil, kString, kStatus, kInteger, kArray, kError };

    Type type = Type::kNil;
    std::string str{};
    std::int64_t integer = 0;
    std::vector<Reply> elements{};

    [[nodiscard]] bool is_nil() const noexcept { return type == Type::kNil; }
    [[nodiscard]] bool is_error() const noexcept { return type == Type::kError; }
    [[nodiscard]] bool is_array() const noexcept { return type == Type::kArray; }

    /// The bulk or status string; kInvalidArgument naming `what` (the command) for any other type.
    [[nodiscard]] Result<std::string> AsString(std::string_view what) const;
    /// The bulk string, or nullopt for nil; kInvalidArgument for other types.
    [[nodiscard]] Result<std::optional<std::string>> AsOptionalString(std::string_view what) const;
    /// The integer; kInvalidArgument for other types.
    [[nodiscard]] Result<std::int64_t> AsInteger(std::string_view what) const;

    static Reply Nil() { return {}; }
    static Reply String(std::string s) { return {Type::kString, std::move(s), 0, {}}; }
    static Reply Status(std::string s) { return {Type::kStatus, std::move(s), 0, {}}; }
    static Reply Integer(std::int64_t i) { return {Type::kInteger, {}, i, {}}; }
    static Reply Array(std::vector<Reply> e) { return {Type::kArray, {}, 0, std::move(e)}; }
    static Reply ErrorReply(std::string s) { return {Type::kError, std::move(s), 0, {}}; }

    friend bool operator==(const Reply&, const Reply&) = default;
};

/// "nil", "string", "status", "integer", "array", "error".
[[nodiscard]] std::string_view ToString(Reply::Type type) noexcept;

/// The gale::Error for a Redis error reply to `command` (its name only, never its arguments: they may be secrets):
/// "redis GET: WRONGTYPE Operation against a key holding the wrong kind of value". The code: kUnavailable for the
/// states a server leaves by itself (LOADING, BUSY, MASTERDOWN, TRYAGAIN, CLUSTERDOWN, READONLY), kInvalidArgument
/// for refused credentials (NOAUTH, WRONGPASS) and every other error.
[[nodiscard]] Error ErrorFromReply(std::string_view command, std::string_view message);

}  // namespace gale::redis
