// SPDX-License-Identifier: MIT
/// @file gale/base/error.hpp
/// @brief Error values and Result<T>, the return type of every operation that can fail for expected reasons.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <utility>

#include <tl/expected.hpp>

namespace gale {

/// Broad classes of failure; callers branch on these, people read the message.
enum class ErrorCode {
    kInvalidArgument,  ///< bad input from a user, a config file or a peer
    kNotFound,
    kAlreadyExists,
    kUnavailable,  ///< a peer or resource that may come back (connection refused, timeout)
    kTimeout,
    kIo,
    kInternal,
    kCancelled,
};

/// Short stable name of a code ("invalid_argument"), for logs and metrics labels.
std::string_view ToString(ErrorCode code) noexcept;

/// An error: a code, a message naming what was wrong and where, and an optional cause.
/// Value type; cheap to move. Thread-compatible.
class Error {
public:
    Error(ErrorCode code, std::string message) : code_(code), message_(std::move(message)) {}
    Error(ErrorCode code, std::string message, Error cause)
        : code_(code), message_(std::move(message)), cause_(std::make_shared<Error>(std::move(cause))) {}

    [[nodiscard]] ErrorCode code() const noexcept { return code_; }
    [[nodiscard]] const std::string& message() const noexcept { return message_; }
    [[nodiscard]] const Error* cause() const noexcept { return cause_.get(); }
    /// The message followed by each cause's, joined by ": ".
    [[nodiscard]] std::string ToString() const;

private:
    ErrorCode code_;
    std::string message_;
    std::shared_ptr<const Error> cause_;
};

/// The result of an operation that can fail: a T or an Error. Alias so the move to std::expected is one line.
template <typename T>
using Result = tl::expected<T, Error>;

/// Shorthand for returning an error: `return gale::MakeError(ErrorCode::kIo, "…");`
inline tl::unexpected<Error> MakeError(ErrorCode code, std::string message) {
    return tl::unexpected<Error>(Error(code, std::move(message)));
}

}  // namespace gale

#define GALE_CONCAT_INNER_(a, b) a##b
#define GALE_CONCAT_(a, b) GALE_CONCAT_INNER_(a, b)

/// Evaluates expr (a Result); returns its error from the enclosing function if it failed.
#define GALE_RETURN_IF_ERROR(expr)                                      \
    do {                                                                \
        auto&& gale_result_ = (expr);                                   \
        if (!gale_result_) return tl::unexpected(gale_result_.error()); \
    } while (false)

/// `GALE_ASSIGN_OR_RETURN(auto x, Compute());` declares x from the value or returns the error.
#define GALE_ASSIGN_OR_RETURN(lhs, expr) GALE_ASSIGN_OR_RETURN_IMPL_(GALE_CONCAT_(gale_r_, __LINE__), lhs, expr)
#define GALE_ASSIGN_OR_RETURN_IMPL_(tmp, lhs, expr)          \
    auto tmp = (expr);                                       \
    if (!tmp) return tl::unexpected(std::move(tmp).error()); \
    lhs = std::move(*tmp)
