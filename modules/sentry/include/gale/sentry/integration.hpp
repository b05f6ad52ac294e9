// SPDX-License-Identifier: MIT
/// @file gale/sentry/integration.hpp
/// @brief Turns gale's own error reports into Sentry events: error log records (with the recent records as
///        breadcrumbs, as sentry-python's LoggingIntegration does) and HTTP requests answered with a 5xx.
///
/// Where events come from in a gale service (each a log record at error level, or the request hook):
/// | source | record / hook | event |
/// |--------|---------------|-------|
/// | a handler throws | `gale.handler` "handler threw; answering 500" (request_id, exception_type) | exception |
/// | a handler returns a 5xx error | `gale.handler` "the handler returned an error…" (request_id) | message |
/// | a handler returns a 5xx response | OnRequest (status ≥ 500, no event yet for the request) | message |
/// | a task fails for good | `gale.worker` "task failed" (exc_type, error) | exception |
/// | a message is dead-lettered | `gale.worker` / `gale.pipe…` / AMQP consumer records | message |
/// | any other error record | its logger and message | message |
/// A record that carries a `request_id` field is held until the request ends (OnRequest), so an exception and the
/// 500 it became are ONE event, with the request's context. Records of `gale.sentry` itself never become events or
/// breadcrumbs.
///
/// What is scrubbed (gale/sentry/scrub.hpp): field keys and header names on the denylist get "[Filtered]", Cookie
/// and Set-Cookie are dropped, sensitive query parameters are filtered, `password=…`-style text and URL passwords
/// in messages and values are filtered. Request bodies are never sent.
///
/// Thread-safety: OnRecord and OnRequest may be called from any thread at once (a mutex guards the breadcrumb
/// ring, held only to copy into or out of it). Lifetime: borrows the Reporter, which must outlive it; Uninstall (or
/// the destructor) before the Reporter goes.
#pragma once

#include <cstddef>
#include <mutex>
#include <vector>

#include <gale/http/message.hpp>
#include <gale/http/server.hpp>
#include <gale/log/log.hpp>
#include <gale/sentry/event.hpp>
#include <gale/sentry/reporter.hpp>

namespace gale::sentry {

/// | Name | Description | Default |
/// |------|-------------|---------|
/// | max_breadcrumbs | recent records kept and sent with each event | 100 |
/// | breadcrumb_level | the least level kept as a breadcrumb | info |
/// | event_level | the least level that becomes an event | error |
struct IntegrationOptions {
    std::size_t max_breadcrumbs = 100;
    log::Level breadcrumb_level = log::Level::kInfo;
    log::Level event_level = log::Level::kError;
};

class Integration final : public log::Observer {
public:
    explicit Integration(Reporter& reporter, IntegrationOptions options = {});
    ~Integration() override;
    Integration(const Integration&) = delete;
    Integration& operator=(const Integration&) = delete;

    /// Becomes the log module's observer (log::SetObserver(this)); Uninstall removes it (returning once no thread
    /// is inside OnRecord any more).
    void Install();
    void Uninstall();

    // gale::log::Observer
    void OnRecord(const log::Record& record) noexcept override;

    /// For http::Server's observer: a request ended. Costs two relaxed loads unless it ended with a 5xx or an event
    /// waits for it; then its context (scrubbed) goes to the held events, or a 5xx becomes an event of its own.
    void OnRequest(const http::RequestRecord& record) noexcept;

    /// The breadcrumbs now, oldest first.
    [[nodiscard]] std::vector<Breadcrumb> Breadcrumbs() const;

    /// A request's context for an event: method, path, query string and headers, scrubbed; never the body.
    [[nodiscard]] static RequestContext ContextOf(const http::Request& request);
    /// The event a log record becomes (scrubbed, without breadcrumbs); `request_id` gets the record's request_id
    /// field, if any.
    [[nodiscard]] static Event EventOf(const log::Record& record, std::string* request_id = nullptr);

private:
    void AddBreadcrumb(const log::Record& record);

    Reporter& reporter_;
    IntegrationOptions options_;
    bool installed_ = false;
    mutable std::mutex mu_;
    std::vector<Breadcrumb> ring_;  // ring_[next_ % size] is the oldest once full
    std::size_t next_ = 0;
};

}  // namespace gale::sentry
