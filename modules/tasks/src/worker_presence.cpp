// SPDX-License-Identifier: MIT
// Celery's worker presence without a broker (worker_presence.hpp). The rules follow kombu 5.2's pidbox.Node and
// Celery 5.2's worker heartbeat, as gale's AMQP adapter implements them (amqp_events.cpp, amqp_control.cpp).
#include "worker_presence.hpp"

#include <fnmatch.h>
#include <unistd.h>

#include <cmath>
#include <cstdlib>
#include <ctime>
#include <regex>

#include <fmt/format.h>

#include <gale/base/version.hpp>

namespace gale::tasks::detail {
namespace {

/// Python's celery.utils.time.utcoffset(): hours west of UTC, floor-divided (time.timezone // 3600).
int UtcOffsetHours() {
    const std::time_t now = std::time(nullptr);
    std::tm local{};
    ::localtime_r(&now, &local);
    const long west = -local.tm_gmtoff;
    return static_cast<int>(std::floor(static_cast<double>(west) / 3600.0));
}

double Round2(double v) { return std::round(v * 100.0) / 100.0; }

bool Matches(const std::string& nodename, const std::string& pattern, const std::string& matcher) {
    if (matcher == "glob") return ::fnmatch(pattern.c_str(), nodename.c_str(), 0) == 0;
    if (matcher == "pcre") {
        try {
            return std::regex_search(nodename, std::regex(pattern), std::regex_constants::match_continuous);
        } catch (const std::regex_error&) {
            return false;
        }
    }
    return false;
}

}  // namespace

std::string CeleryNodeName() {
    char host[256] = {};
    if (::gethostname(host, sizeof host - 1) != 0 || host[0] == '\0') return "celery@localhost";
    return std::string("celery@") + host;
}

nlohmann::ordered_json WorkerEvent(std::string_view type, const WorkerEventFields& fields) {
    nlohmann::ordered_json e = nlohmann::ordered_json::object();
    e["hostname"] = fields.nodename;
    e["utcoffset"] = UtcOffsetHours();
    e["pid"] = static_cast<std::int64_t>(::getpid());
    e["clock"] = fields.clock;
    e["freq"] = std::chrono::duration<double>(fields.freq).count();
    e["active"] = fields.active;
    e["processed"] = fields.processed;
    double load[3] = {0, 0, 0};
    (void)::getloadavg(load, 3);
    e["loadavg"] = nlohmann::ordered_json::array({Round2(load[0]), Round2(load[1]), Round2(load[2])});
    e["sw_ident"] = "gale";
    e["sw_ver"] = kVersion;
    e["sw_sys"] = "Linux";
    e["timestamp"] = std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
    e["type"] = type;
    return e;
}

bool IsForNode(const nlohmann::ordered_json& body, const std::string& nodename) {
    if (!body.is_object()) return false;
    const auto destination = body.value("destination", nlohmann::ordered_json());
    if (destination.is_array() && !destination.empty()) {
        for (const auto& d : destination) {
            if (d.is_string() && d.get<std::string>() == nodename) return true;
        }
        return false;
    }
    const auto pattern = body.value("pattern", nlohmann::ordered_json());
    const auto matcher = body.value("matcher", nlohmann::ordered_json());
    if (pattern.is_string() && matcher.is_string() && !pattern.get<std::string>().empty()) {
        return Matches(nodename, pattern.get<std::string>(), matcher.get<std::string>());
    }
    return true;
}

bool IsExpired(const ControlRequest& request, std::chrono::system_clock::time_point now) {
    if (!request.expires || *request.expires <= 0) return false;
    return std::chrono::duration<double>(now.time_since_epoch()).count() > *request.expires;
}

nlohmann::ordered_json ControlAnswer(const std::string& method) {
    nlohmann::ordered_json answer = nlohmann::ordered_json::object();
    if (method == "ping") {
        answer["ok"] = "pong";
    } else {
        answer["error"] = fmt::format("gale does not implement the remote control command '{}'", method);
    }
    return answer;
}

std::optional<ReplyTo> ReplyAddress(const nlohmann::ordered_json& body) {
    if (!body.is_object()) return std::nullopt;
    const auto reply_to = body.value("reply_to", nlohmann::ordered_json());
    if (!reply_to.is_object()) return std::nullopt;
    const auto exchange = reply_to.value("exchange", nlohmann::ordered_json());
    const auto routing_key = reply_to.value("routing_key", nlohmann::ordered_json());
    if (!exchange.is_string() || !routing_key.is_string()) return std::nullopt;
    return ReplyTo{exchange.get<std::string>(), routing_key.get<std::string>()};
}

}  // namespace gale::tasks::detail
