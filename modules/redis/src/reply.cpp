// SPDX-License-Identifier: MIT
#include <array>

#include <fmt/format.h>

#include <gale/redis/reply.hpp>

namespace gale::redis {

std::string_view ToString(Reply::Type type) noexcept {
    switch (type) {
        case Reply::Type::kNil:
            return "nil";
        case Reply::Type::kString:
            return "string";
        case Reply::Type::kStatus:
            return "status";
        case Reply::Type::kInteger:
            return "integer";
        case Reply::Type::kArray:
            return "array";
        case Reply::Type::kError:
            return "error";
    }
    return "unknown";
}

namespace {
tl::unexpected<Error> WrongType(std::string_view what, std::string_view wanted, const Reply& reply) {
    std::string detail = reply.is_error() ? fmt::format(": {}", reply.str) : "";
    return MakeError(ErrorCode::kInvalidArgument,
                     fmt::format("redis {}: expected {} reply, got {}{}", what, wanted, ToString(reply.type), detail));
}
}  // namespace

Result<std::string> Reply::AsString(std::string_view what) const {
    if (type == Type::kString || type == Type::kStatus) return str;
    return WrongType(what, "a string", *this);
}

Result<std::optional<std::string>> Reply::AsOptionalString(std::string_view what) const {
    if (type == Type::kNil) return std::optional<std::string>();
    if (type == Type::kString || type == Type::kStatus) return std::optional<std::string>(str);
    return WrongType(what, "a string or nil", *this);
}

Result<std::int64_t> Reply::AsInteger(std::string_view what) const {
    if (type == Type::kInteger) return integer;
    return WrongType(what, "an integer", *this);
}

Error ErrorFromReply(std::string_view command, std::string_view message) {
    // The first word of an error reply is its class (Redis' convention, "-WRONGTYPE …").
    const std::string_view kind = message.substr(0, message.find(' '));
    static constexpr std::array<std::string_view, 6> kTransient = {"LOADING",  "BUSY",        "MASTERDOWN",
                                                                   "TRYAGAIN", "CLUSTERDOWN", "READONLY"};
    ErrorCode code = ErrorCode::kInvalidArgument;
    for (std::string_view t : kTransient) {
        if (kind == t) code = ErrorCode::kUnavailable;
    }
    return Error(code, fmt::format("redis {}: {}", command, message));
}

}  // namespace gale::redis
