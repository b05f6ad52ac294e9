// SPDX-License-Identifier: MIT
/// @file gale/sentry/event.hpp
/// @brief One error event as gale sends it to Sentry, and its envelope (Sentry's ingestion format).
///
/// What a payload holds (Sentry's event schema): event_id, timestamp, platform "native", level, logger, message or
/// exception (type and value), release, environment, server_name, tags, extra, request (method, url, query_string,
/// headers; never a body or cookies) and breadcrumbs. Scrubbing is not done here: the code that builds an Event
/// from a log record or a request (gale/sentry/integration.hpp, gale/sentry/scrub.hpp) scrubs what goes in.
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace gale::sentry {

enum class Level { kDebug, kInfo, kWarning, kError, kFatal };

/// "debug", "info", "warning", "error", "fatal".
[[nodiscard]] std::string_view ToString(Level level) noexcept;

using StringPairs = std::vector<std::pair<std::string, std::string>>;

/// One recent log record, sent with an event to show what led to it.
struct Breadcrumb {
    std::chrono::system_clock::time_point timestamp{};
    Level level = Level::kInfo;
    std::string category{};  ///< the logger ("gale.worker")
    std::string message{};
    StringPairs data{};
};

/// The HTTP request an event happened in (already scrubbed).
struct RequestContext {
    std::string method{};
    std::string url{};           ///< the path (gale does not know the public scheme and host)
    std::string query_string{};  ///< without '?'
    StringPairs headers{};
};

/// A C++ exception or another typed failure (a task's exc_type).
struct ExceptionInfo {
    std::string type{};
    std::string value{};
    std::string module{};  ///< optional (Celery's exc_module)
};

/// An event. Plain value. Empty fields are left out of the payload; the Reporter fills event_id, timestamp,
/// release, environment, server_name and its default tags where they are empty.
struct Event {
    std::string event_id{};  ///< 32 lower-case hex digits (a UUID4 without dashes)
    std::chrono::system_clock::time_point timestamp{};
    Level level = Level::kError;
    std::string logger{};
    std::string message{};
    std::optional<ExceptionInfo> exception{};
    std::string release{};
    std::string environment{};
    std::string server_name{};
    StringPairs tags{};   ///< a tag named twice keeps its first value
    StringPairs extra{};  ///< sent as strings
    std::optional<RequestContext> request{};
    std::vector<Breadcrumb> breadcrumbs{};

    /// The first tag named `key`, if any.
    [[nodiscard]] const std::string* Tag(std::string_view key) const noexcept;
};

/// The event's JSON payload (one object, no newline).
[[nodiscard]] std::string EventPayload(const Event& event);

/// An envelope with one event item, as Sentry's /envelope/ endpoint takes it:
/// `{"event_id":…,"sent_at":…}\n{"type":"event","length":<bytes of payload>}\n<payload>\n`.
[[nodiscard]] std::string EventEnvelope(const Event& event, std::chrono::system_clock::time_point sent_at);

}  // namespace gale::sentry
