// SPDX-License-Identifier: MIT
// Celery's worker presence without a broker (gale/tasks/worker_presence.hpp), shared by the AMQP and the Redis
// adapters. The rules follow kombu 5.2's pidbox.Node and LamportClock, Celery 5.2's worker heartbeat and event
// dispatcher, and celery.utils.nodenames (the node name).
#include <fnmatch.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <ctime>
#include <regex>

#include <fmt/format.h>

#include <gale/base/version.hpp>
#include <gale/log/log.hpp>
#include <gale/tasks/worker_presence.hpp>

#include "py_json.hpp"

namespace gale::tasks {
namespace {

/// socket.gethostname(); "" when it cannot be read.
std::string HostName() {
    char host[256] = {};
    if (::gethostname(host, sizeof host - 1) != 0) return {};
    return host;
}

bool IsWordChar(char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
}

}  // namespace

std::string DefaultNodeName() {
    const std::string host = HostName();
    return "celery@" + (host.empty() ? std::string("localhost") : host);
}

Result<std::string> WorkerNodeName(std::string_view name, std::string_view what) {
    // default_nodename: nodesplit at the first '@' (no '@': the whole value is the host), then the defaults.
    std::string_view shortname;
    std::string_view host = name;
    if (const auto at = name.find('@'); at != std::string_view::npos) {
        shortname = name.substr(0, at);
        host = name.substr(at + 1);
    }
    std::string machine = HostName();
    if (machine.empty()) machine = "localhost";
    const std::string node =
        fmt::format("{}@{}", shortname.empty() ? "celery" : shortname, host.empty() ? machine : host);
    // host_format with this machine's host name: %h, %n (its first label), %d (its domain), %i, %I.
    const auto dot = machine.find('.');
    const std::string first_label = machine.substr(0, dot);
    const std::string domain = dot == std::string::npos ? std::string() : machine.substr(dot + 1);
    std::string out;
    for (std::size_t i = 0; i < node.size(); ++i) {
        if (node[i] != '%' || i + 1 >= node.size() || !IsWordChar(node[i + 1])) {
            out.push_back(node[i]);
            continue;
        }
        switch (node[++i]) {
            case 'h':
                out += machine;
                break;
            case 'n':
                out += first_label;
                break;
            case 'd':
                out += domain;
                break;
            case 'i':
                out += '0';
                break;
            case 'I':
                break;
            default:
                return MakeError(
                    ErrorCode::kInvalidArgument,
                    fmt::format("{}: unknown format %{} in '{}' (known: %h, %n, %d, %i, %I)", what, node[i], name));
        }
    }
    return out;
}

namespace detail {
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

std::chrono::milliseconds NextBackoff(std::chrono::milliseconds backoff) {
    return std::min(backoff * 2, kMaxReconnectBackoff);
}

// ---- worker events ------------------------------------------------------------------------------------------

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

std::string EventRoutingKey(std::string_view type) {
    std::string key(type);
    std::replace(key.begin(), key.end(), '-', '.');
    return key;
}

Result<void> CheckEventOptions(std::string& nodename, std::chrono::milliseconds interval, std::string_view exchange) {
    if (nodename.empty()) nodename = DefaultNodeName();
    if (interval < std::chrono::milliseconds(100)) {
        return MakeError(ErrorCode::kInvalidArgument,
                         fmt::format("worker events: interval {} ms is under 100 ms", interval.count()));
    }
    if (exchange.empty()) return MakeError(ErrorCode::kInvalidArgument, "worker events: empty exchange");
    return {};
}

EventSource::EventSource(std::string nodename, std::chrono::milliseconds interval,
                         std::function<std::uint64_t()> active, std::function<std::uint64_t()> processed)
    : nodename_(std::move(nodename)),
      interval_(interval),
      active_(std::move(active)),
      processed_(std::move(processed)) {}

EventSource::Event EventSource::Next(std::string_view type) {
    const auto event = WorkerEvent(type, {.nodename = nodename_,
                                          .clock = ++clock_,
                                          .freq = interval_,
                                          .active = active_ ? active_() : 0,
                                          .processed = processed_ ? processed_() : 0});
    return Event{.routing_key = EventRoutingKey(type), .body = PythonJson(event)};
}

// ---- remote control -----------------------------------------------------------------------------------------

Result<void> CheckControlOptions(std::string& nodename, std::string_view app_namespace) {
    if (nodename.empty()) nodename = DefaultNodeName();
    if (nodename.find('@') == std::string::npos) {
        return MakeError(ErrorCode::kInvalidArgument,
                         fmt::format("remote control: node name '{}' has no '@' (Celery's are name@host)", nodename));
    }
    if (app_namespace.empty()) return MakeError(ErrorCode::kInvalidArgument, "remote control: the namespace is empty");
    return {};
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

bool IsExpired(std::optional<double> expires, std::chrono::system_clock::time_point now) {
    if (!expires || *expires <= 0) return false;
    return std::chrono::duration<double>(now.time_since_epoch()).count() > *expires;
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

PidboxNode::PidboxNode(std::string nodename, std::string logger)
    : nodename_(std::move(nodename)), logger_(std::move(logger)) {}

std::optional<PidboxNode::Reply> PidboxNode::Handle(const ControlRequest& request,
                                                    std::chrono::system_clock::time_point now) {
    const auto body = nlohmann::ordered_json::parse(request.body, nullptr, /*allow_exceptions=*/false);
    if (!body.is_object()) {
        log::Warning(logger_, "remote control: a request that is not a JSON object; ignored", {{"node", nodename_}});
        return std::nullopt;
    }
    // kombu: adjust_clock(message.headers.get('clock') or 0), for every request, before anything else.
    const std::int64_t received = std::max<std::int64_t>(0, request.clock.value_or(0));
    clock_ = std::max<std::uint64_t>(clock_, static_cast<std::uint64_t>(received)) + 1;
    if (IsExpired(request.expires, now) || !IsForNode(body, nodename_)) return std::nullopt;
    const auto named = body.value("method", nlohmann::ordered_json());
    const std::string method = named.is_string() ? named.get<std::string>() : std::string();
    auto to = ReplyAddress(body);
    if (!to) {
        log::Info(logger_, "remote control: a command without reply_to (a cast); not implemented, ignored",
                  {{"node", nodename_}, {"method", method}});
        return std::nullopt;
    }
    nlohmann::ordered_json reply = nlohmann::ordered_json::object();
    reply[nodename_] = ControlAnswer(method);
    const auto ticket = body.value("ticket", nlohmann::ordered_json());
    return Reply{.to = std::move(*to),
                 .body = PythonJson(reply),
                 .ticket = ticket.is_string() ? ticket.get<std::string>() : std::string(),
                 .clock = ++clock_};
}

// ---- the companions' thread ---------------------------------------------------------------------------------

PresenceThread::~PresenceThread() { Stop(); }

void PresenceThread::Start(std::function<void()> body) {
    std::lock_guard lock(mu_);
    if (started_) return;
    started_ = true;
    thread_ = std::thread(std::move(body));
}

void PresenceThread::Stop() {
    {
        std::lock_guard lock(mu_);
        stop_ = true;
    }
    cv_.notify_all();
    if (thread_.joinable()) thread_.join();
}

bool PresenceThread::stopping() const {
    std::lock_guard lock(mu_);
    return stop_;
}

bool PresenceThread::WaitUntil(std::chrono::steady_clock::time_point deadline) {
    std::unique_lock lock(mu_);
    return cv_.wait_until(lock, deadline, [&] { return stop_; });
}

}  // namespace detail
}  // namespace gale::tasks
