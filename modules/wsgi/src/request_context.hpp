// SPDX-License-Identifier: MIT
/// @file request_context.hpp
/// @brief The request whose Python code runs on this thread (internal to gale::wsgi): what wsgi.errors and the
///        Python logging bridge tag their lines with.
#pragma once

#include <string_view>

namespace gale::wsgi {

inline thread_local std::string_view t_request_id;

/// Sets t_request_id for a scope.
class RequestScope {
public:
    explicit RequestScope(std::string_view id) noexcept : previous_(t_request_id) { t_request_id = id; }
    ~RequestScope() { t_request_id = previous_; }
    RequestScope(const RequestScope&) = delete;
    RequestScope& operator=(const RequestScope&) = delete;

private:
    std::string_view previous_;
};

}  // namespace gale::wsgi
