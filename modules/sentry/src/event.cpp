// SPDX-License-Identifier: MIT
#include "gale/sentry/event.hpp"

#include <nlohmann/json.hpp>

#include <gale/base/clock.hpp>

namespace gale::sentry {
namespace {

double UnixSeconds(std::chrono::system_clock::time_point t) {
    return std::chrono::duration<double>(t.time_since_epoch()).count();
}

nlohmann::json Object(const StringPairs& pairs) {
    nlohmann::json o = nlohmann::json::object();
    for (const auto& [k, v] : pairs) {
        if (!o.contains(k)) o[k] = v;
    }
    return o;
}

}  // namespace

std::string_view ToString(Level level) noexcept {
    switch (level) {
        case Level::kDebug:
            return "debug";
        case Level::kInfo:
            return "info";
        case Level::kWarning:
            return "warning";
        case Level::kError:
            return "error";
        case Level::kFatal:
            return "fatal";
    }
    return "error";
}

const std::string* Event::Tag(std::string_view key) const noexcept {
    for (const auto& [k, v] : tags) {
        if (k == key) return &v;
    }
    return nullptr;
}

std::string EventPayload(const Event& e) {
    // Invalid UTF-8 in any string (a log field can hold anything) is replaced rather than thrown on.
    nlohmann::json j = nlohmann::json::object();
    j["event_id"] = e.event_id;
    j["timestamp"] = FormatRfc3339(e.timestamp);
    j["platform"] = "native";
    j["level"] = ToString(e.level);
    if (!e.logger.empty()) j["logger"] = e.logger;
    if (!e.message.empty()) j["message"] = {{"formatted", e.message}};
    if (e.exception) {
        nlohmann::json ex = {{"type", e.exception->type}, {"value", e.exception->value}};
        if (!e.exception->module.empty()) ex["module"] = e.exception->module;
        j["exception"] = {{"values", nlohmann::json::array({ex})}};
    }
    if (!e.release.empty()) j["release"] = e.release;
    if (!e.environment.empty()) j["environment"] = e.environment;
    if (!e.server_name.empty()) j["server_name"] = e.server_name;
    if (!e.tags.empty()) j["tags"] = Object(e.tags);
    if (!e.extra.empty()) j["extra"] = Object(e.extra);
    if (e.request) {
        nlohmann::json r = {{"method", e.request->method}, {"url", e.request->url}};
        if (!e.request->query_string.empty()) r["query_string"] = e.request->query_string;
        r["headers"] = Object(e.request->headers);
        j["request"] = std::move(r);
    }
    if (!e.breadcrumbs.empty()) {
        nlohmann::json values = nlohmann::json::array();
        for (const Breadcrumb& b : e.breadcrumbs) {
            nlohmann::json c = {{"timestamp", UnixSeconds(b.timestamp)},
                                {"type", "default"},
                                {"level", ToString(b.level)},
                                {"category", b.category},
                                {"message", b.message}};
            if (!b.data.empty()) c["data"] = Object(b.data);
            values.push_back(std::move(c));
        }
        j["breadcrumbs"] = {{"values", std::move(values)}};
    }
    j["sdk"] = {{"name", "gale"}};
    return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

std::string EventEnvelope(const Event& event, std::chrono::system_clock::time_point sent_at) {
    const std::string payload = EventPayload(event);
    nlohmann::json header = {{"event_id", event.event_id}, {"sent_at", FormatRfc3339(sent_at)}};
    nlohmann::json item = {{"type", "event"}, {"length", payload.size()}};
    std::string out = header.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
    out += '\n';
    out += item.dump();
    out += '\n';
    out += payload;
    out += '\n';
    return out;
}

}  // namespace gale::sentry
