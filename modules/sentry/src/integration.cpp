// SPDX-License-Identifier: MIT
#include "gale/sentry/integration.hpp"

#include <fmt/format.h>

#include <gale/sentry/scrub.hpp>

namespace gale::sentry {
namespace {

constexpr std::size_t kMaxFieldsPerBreadcrumb = 16;

Level LevelOf(log::Level level) {
    switch (level) {
        case log::Level::kDebug:
            return Level::kDebug;
        case log::Level::kInfo:
            return Level::kInfo;
        case log::Level::kWarning:
            return Level::kWarning;
        case log::Level::kError:
        case log::Level::kOff:
            break;
    }
    return Level::kError;
}

std::string ValueText(const log::Field::Value& value) {
    return std::visit(
        [](const auto& v) -> std::string {
            using T = std::decay_t<decltype(v)>;
            if constexpr (std::is_same_v<T, std::string_view>) {
                return std::string(v);
            } else if constexpr (std::is_same_v<T, bool>) {
                return v ? "true" : "false";
            } else {
                return fmt::format("{}", v);
            }
        },
        value);
}

std::string ScrubbedValue(std::string_view key, const log::Field::Value& value) {
    if (IsSensitiveKey(key)) return std::string(kFiltered);
    return ScrubText(ValueText(value));
}

bool OwnRecord(std::string_view logger) { return logger == "gale.sentry" || logger.starts_with("gale.sentry."); }

}  // namespace

Integration::Integration(Reporter& reporter, IntegrationOptions options) : reporter_(reporter), options_(options) {
    ring_.reserve(options_.max_breadcrumbs);
}

Integration::~Integration() { Uninstall(); }

void Integration::Install() {
    log::SetObserver(this);
    installed_ = true;
}

void Integration::Uninstall() {
    if (!installed_) return;
    log::SetObserver(nullptr);
    installed_ = false;
}

Event Integration::EventOf(const log::Record& record, std::string* request_id) {
    Event e;
    e.timestamp = record.time;
    e.level = LevelOf(record.level);
    e.logger = std::string(record.logger);
    e.message = ScrubText(record.message);
    std::string exc_type;
    std::string exc_module;
    std::string error;
    for (const log::Field& f : record.fields) {
        if (f.key == "request_id") {
            std::string id = ValueText(f.value);
            if (request_id != nullptr) *request_id = id;
            e.tags.emplace_back("request_id", std::move(id));
        } else if (f.key == "exception_type" || f.key == "exc_type") {
            exc_type = ValueText(f.value);
        } else if (f.key == "exc_module") {
            exc_module = ValueText(f.value);
        } else {
            if (f.key == "error") error = ScrubbedValue(f.key, f.value);
            e.extra.emplace_back(std::string(f.key), ScrubbedValue(f.key, f.value));
        }
    }
    if (!exc_type.empty()) {
        e.exception = ExceptionInfo{exc_type, error.empty() ? e.message : error, exc_module};
    }
    return e;
}

void Integration::AddBreadcrumb(const log::Record& record) {
    if (options_.max_breadcrumbs == 0) return;
    Breadcrumb b;
    b.timestamp = record.time;
    b.level = LevelOf(record.level);
    b.category = std::string(record.logger);
    b.message = ScrubText(record.message);
    for (const log::Field& f : record.fields) {
        if (b.data.size() >= kMaxFieldsPerBreadcrumb) break;
        b.data.emplace_back(std::string(f.key), ScrubbedValue(f.key, f.value));
    }
    std::lock_guard lock(mu_);
    if (ring_.size() < options_.max_breadcrumbs) {
        ring_.push_back(std::move(b));
    } else {
        ring_[next_ % ring_.size()] = std::move(b);
    }
    ++next_;
}

std::vector<Breadcrumb> Integration::Breadcrumbs() const {
    std::lock_guard lock(mu_);
    std::vector<Breadcrumb> out;
    out.reserve(ring_.size());
    if (ring_.size() < options_.max_breadcrumbs) return ring_;
    for (std::size_t i = 0; i < ring_.size(); ++i) out.push_back(ring_[(next_ + i) % ring_.size()]);
    return out;
}

void Integration::OnRecord(const log::Record& record) noexcept {
    if (OwnRecord(record.logger)) return;
    try {
        if (record.level >= options_.event_level) {
            std::string request_id;
            Event e = EventOf(record, &request_id);
            // The breadcrumbs are the costly copy: skipped when the event is about to be dropped anyway (the
            // Reporter still counts the drop).
            if (reporter_.Accepting()) e.breadcrumbs = Breadcrumbs();
            (void)reporter_.CaptureInRequest(std::move(e), std::move(request_id));
        }
        if (record.level >= options_.breadcrumb_level) AddBreadcrumb(record);
    } catch (...) {
        // Out of memory while copying: the record is lost to Sentry, never to the log.
    }
}

RequestContext Integration::ContextOf(const http::Request& request) {
    RequestContext c;
    c.method = std::string(request.method_name());
    c.url = std::string(request.path());
    c.query_string = ScrubQueryString(request.query());
    StringPairs headers;
    headers.reserve(request.headers().size());
    for (const http::Header& h : request.headers()) headers.emplace_back(std::string(h.name), std::string(h.value));
    c.headers = ScrubHeaders(headers);
    return c;
}

void Integration::OnRequest(const http::RequestRecord& record) noexcept {
    if (!reporter_.WantsRequest(record.status)) return;
    try {
        const http::Request& r = record.request;
        std::string id(r.request_id());
        if (reporter_.RequestFinished(id, ContextOf(r))) return;
        if (record.status < 500) return;
        Event e;
        e.level = Level::kError;
        e.logger = "gale.access";
        std::string_view what = r.route().empty() ? r.path() : r.route();
        e.message = ScrubText(fmt::format("HTTP {} {} answering {} {}", record.status,
                                          http::ReasonPhrase(record.status), r.method_name(), what));
        e.tags = {{"request_id", id}, {"status_code", std::to_string(record.status)}};
        if (!r.route().empty()) e.tags.emplace_back("route", std::string(r.route()));
        e.request = ContextOf(r);
        if (reporter_.Accepting()) e.breadcrumbs = Breadcrumbs();
        (void)reporter_.Capture(std::move(e));
    } catch (...) {
        // Out of memory: this request is not reported.
    }
}

}  // namespace gale::sentry
