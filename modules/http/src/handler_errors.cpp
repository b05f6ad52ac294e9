// SPDX-License-Identifier: MIT
// A handler's error as an answer (contract in gale/http/router.hpp): the status from the code, a body that names
// only the status and the request id, the detail in the log.
#include <string>

#include <nlohmann/json.hpp>

#include <gale/base/strings.hpp>
#include <gale/http/router.hpp>
#include <gale/log/log.hpp>

namespace gale::http {
namespace {

int StatusOf(ErrorCode code) noexcept {
    switch (code) {
        case ErrorCode::kInvalidArgument:
            return 400;
        case ErrorCode::kNotFound:
            return 404;
        case ErrorCode::kAlreadyExists:
            return 409;
        case ErrorCode::kUnavailable:
        case ErrorCode::kTimeout:
        case ErrorCode::kCancelled:
            return 503;
        case ErrorCode::kIo:
        case ErrorCode::kInternal:
            break;
    }
    return 500;
}

}  // namespace

Response ErrorResponse(const Error& error, const Request& request) {
    const int status = StatusOf(error.code());
    const log::Level level = status >= 500 ? log::Level::kError : log::Level::kWarning;
    if (log::Enabled(level)) {
        log::Write(level, "gale.handler", "the handler returned an error; answering with its status",
                   {{"request_id", request.request_id()},
                    {"method", ToString(request.method())},
                    {"path", request.path()},
                    {"status", status},
                    {"code", ToString(error.code())},
                    {"error", error.ToString()}});
    }
    nlohmann::ordered_json body = {{"error", ToLower(ReasonPhrase(status))}, {"request_id", request.request_id()}};
    return Response::Json(status, body);
}

Handler HandleErrors(ResultHandler handler) {
    return [handler = std::move(handler)](Request& request) -> Response {
        Result<Response> r = handler(request);
        if (r) return std::move(*r);
        return ErrorResponse(r.error(), request);
    };
}

}  // namespace gale::http
