// SPDX-License-Identifier: MIT
// Celery's task message protocol v2 (and v1 bodies), facts in /shared/reference/celery.md §1.
//
// Encoding follows what Celery 5.2's producer writes (celery/app/amqp.py as_task_v2), not the protocol document:
// the header order is the producer's, timelimit is [hard, soft], and the body is kombu's json.dumps (py_json.hpp),
// so a message gale sends is byte for byte what `add.apply_async` would send for the same request.
//
// Decoding is strict, because whatever it lets through the worker must run: every known header is type-checked and
// a wrong type is an error naming it; the body must be [list, dict, dict]. Untrusted bytes: the body's nesting is
// bounded before parsing (kMaxDepth), so the recursive writers that may see it later (retries, dead letters) stay
// shallow; nlohmann's parser itself is iterative.
#include <unistd.h>

#include <array>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <random>

#include <fmt/format.h>

#include <gale/tasks/message.hpp>

#include "py_json.hpp"

namespace gale::tasks {
namespace {

using Json = nlohmann::ordered_json;

/// Deepest nesting of a body DecodeTask accepts (Python's json stops near 1000).
constexpr int kMaxDepth = 256;

tl::unexpected<Error> Invalid(std::string message) {
    return MakeError(ErrorCode::kInvalidArgument, std::move(message));
}

Json StringOrNull(const std::string& s) { return s.empty() ? Json(nullptr) : Json(s); }

Json TimeOrNull(const std::optional<SystemTime>& t) { return t ? Json(FormatIsoTime(*t)) : Json(nullptr); }

Json LimitOrNull(const std::optional<double>& seconds) {
    if (!seconds) return nullptr;
    // Celery writes what the caller gave; whole seconds are ints in practice ("timelimit": [30, 20]).
    if (std::trunc(*seconds) == *seconds && std::fabs(*seconds) < 9.0e15) {
        return static_cast<std::int64_t>(*seconds);
    }
    return *seconds;
}

constexpr std::array<std::string_view, 16> kKnownHeaders = {
    "lang",    "task",      "id",      "shadow",    "eta",      "expires",    "group",  "group_index",
    "retries", "timelimit", "root_id", "parent_id", "argsrepr", "kwargsrepr", "origin", "ignore_result"};

bool IsKnownHeader(std::string_view key) {
    for (auto k : kKnownHeaders) {
        if (k == key) return true;
    }
    return false;
}

/// Nesting depth of JSON text, counting brackets outside strings; stops counting once past `limit`.
int NestingDepth(std::string_view text, int limit) {
    int depth = 0;
    int worst = 0;
    bool in_string = false;
    for (std::size_t i = 0; i < text.size(); ++i) {
        const char c = text[i];
        if (in_string) {
            if (c == '\\') {
                ++i;
            } else if (c == '"') {
                in_string = false;
            }
            continue;
        }
        if (c == '"') {
            in_string = true;
        } else if (c == '[' || c == '{') {
            worst = std::max(worst, ++depth);
            if (worst > limit) return worst;
        } else if (c == ']' || c == '}') {
            --depth;
        }
    }
    return worst;
}

// ---- typed reads of headers and v1 fields, each naming the field ---------------------------------------------

Result<std::string> OptionalString(const Json& object, std::string_view key, std::string_view where) {
    auto it = object.find(key);
    if (it == object.end() || it->is_null()) return std::string();
    if (!it->is_string())
        return Invalid(fmt::format("{} '{}' must be a string or null, not {}", where, key, it->type_name()));
    return it->get<std::string>();
}

Result<std::string> RequiredString(const Json& object, std::string_view key, std::string_view where) {
    auto it = object.find(key);
    if (it == object.end() || it->is_null()) return Invalid(fmt::format("{} '{}' is missing", where, key));
    if (!it->is_string()) return Invalid(fmt::format("{} '{}' must be a string, not {}", where, key, it->type_name()));
    if (it->get_ref<const std::string&>().empty()) return Invalid(fmt::format("{} '{}' is empty", where, key));
    return it->get<std::string>();
}

Result<std::optional<std::int64_t>> OptionalInt(const Json& object, std::string_view key, std::string_view where) {
    auto it = object.find(key);
    if (it == object.end() || it->is_null()) return std::optional<std::int64_t>();
    if (it->is_number_integer()) return std::optional<std::int64_t>(it->get<std::int64_t>());
    if (it->is_number_unsigned()) {
        return Invalid(fmt::format("{} '{}': {} is out of range", where, key, it->get<std::uint64_t>()));
    }
    return Invalid(fmt::format("{} '{}' must be an integer or null, not {}", where, key, it->type_name()));
}

Result<std::optional<SystemTime>> OptionalTime(const Json& object, std::string_view key, std::string_view where) {
    GALE_ASSIGN_OR_RETURN(std::string text, OptionalString(object, key, where));
    if (text.empty()) return std::optional<SystemTime>();
    auto t = ParseIsoTime(text);
    if (!t) return Invalid(fmt::format("{} '{}': {}", where, key, t.error().message()));
    return std::optional<SystemTime>(*t);
}

Result<void> ReadTimeLimit(const Json& object, std::string_view where, TaskRequest& r) {
    auto it = object.find("timelimit");
    if (it == object.end() || it->is_null()) return {};
    if (!it->is_array() || it->size() != 2) {
        return Invalid(fmt::format("{} 'timelimit' must be [hard, soft] (numbers or null), not {}", where,
                                   it->dump().substr(0, 64)));
    }
    std::array<std::optional<double>*, 2> out{&r.hard_time_limit, &r.soft_time_limit};
    for (std::size_t i = 0; i < 2; ++i) {
        const Json& v = (*it)[i];
        if (v.is_null()) continue;
        if (!v.is_number() || !std::isfinite(v.get<double>()) || v.get<double>() < 0) {
            return Invalid(fmt::format("{} 'timelimit'[{}] must be a number of seconds >= 0 or null, not {}", where, i,
                                       v.dump().substr(0, 64)));
        }
        *out[i] = v.get<double>();
    }
    return {};
}

Result<void> ReadEmbed(const Json& embed, std::string_view where, Embed& out) {
    for (const char* key : {"callbacks", "errbacks", "chain"}) {
        auto it = embed.find(key);
        if (it == embed.end() || it->is_null()) continue;
        if (!it->is_array()) {
            return Invalid(
                fmt::format("{} '{}' must be a list of signatures or null, not {}", where, key, it->type_name()));
        }
        for (const auto& sig : *it) {
            if (!sig.is_object()) {
                return Invalid(fmt::format("{} '{}' holds a {}, not a signature (dict)", where, key, sig.type_name()));
            }
        }
    }
    auto get = [&](const char* key) -> Json {
        auto it = embed.find(key);
        return it == embed.end() ? Json(nullptr) : *it;
    };
    out.callbacks = get("callbacks");
    out.errbacks = get("errbacks");
    out.chain = get("chain");
    out.chord = get("chord");
    if (!out.chord.is_null() && !out.chord.is_object()) {
        return Invalid(
            fmt::format("{} 'chord' must be a signature (dict) or null, not {}", where, out.chord.type_name()));
    }
    return {};
}

Result<Json> ParseBody(const TransportMessage& m) {
    if (NestingDepth(m.body, kMaxDepth) > kMaxDepth) {
        return Invalid(fmt::format("body: nested deeper than {}", kMaxDepth));
    }
    Json body = Json::parse(m.body, nullptr, /*allow_exceptions=*/false);
    if (body.is_discarded()) return Invalid("body is not JSON");
    return body;
}

Result<void> CheckContent(const TransportMessage& m) {
    std::string_view type = m.content_type;
    if (auto semi = type.find(';'); semi != std::string_view::npos) type = type.substr(0, semi);
    while (!type.empty() && type.back() == ' ') type.remove_suffix(1);
    if (type != "application/json") {
        if (type == "application/x-python-serialize") {
            return Invalid("content type application/x-python-serialize (pickle) is never accepted; send JSON");
        }
        return Invalid(
            fmt::format("content type '{}' is not accepted (only application/json)", m.content_type.substr(0, 64)));
    }
    if (!m.content_encoding.empty() && m.content_encoding != "utf-8" && m.content_encoding != "utf8") {
        return Invalid(
            fmt::format("content encoding '{}' is not accepted (only utf-8)", m.content_encoding.substr(0, 64)));
    }
    return {};
}

Result<TaskRequest> DecodeV2(const TransportMessage& m) {
    const Json& h = m.headers;
    constexpr std::string_view kH = "header";
    TaskRequest r;
    GALE_ASSIGN_OR_RETURN(r.task, RequiredString(h, "task", kH));
    GALE_ASSIGN_OR_RETURN(r.id, RequiredString(h, "id", kH));
    GALE_ASSIGN_OR_RETURN(std::string lang, OptionalString(h, "lang", kH));
    if (!lang.empty()) r.lang = std::move(lang);
    GALE_ASSIGN_OR_RETURN(r.shadow, OptionalString(h, "shadow", kH));
    GALE_ASSIGN_OR_RETURN(r.eta, OptionalTime(h, "eta", kH));
    GALE_ASSIGN_OR_RETURN(r.expires, OptionalTime(h, "expires", kH));
    GALE_ASSIGN_OR_RETURN(r.group, OptionalString(h, "group", kH));
    GALE_ASSIGN_OR_RETURN(auto group_index, OptionalInt(h, "group_index", kH));
    if (group_index) {
        if (*group_index < 0 || *group_index > INT32_MAX) return Invalid("header 'group_index' is out of range");
        r.group_index = static_cast<int>(*group_index);
    }
    GALE_ASSIGN_OR_RETURN(auto retries, OptionalInt(h, "retries", kH));
    if (retries && (*retries < 0 || *retries > INT32_MAX)) return Invalid("header 'retries' is out of range");
    r.retries = retries ? static_cast<int>(*retries) : 0;
    GALE_RETURN_IF_ERROR(ReadTimeLimit(h, kH, r));
    GALE_ASSIGN_OR_RETURN(r.root_id, OptionalString(h, "root_id", kH));
    GALE_ASSIGN_OR_RETURN(r.parent_id, OptionalString(h, "parent_id", kH));
    GALE_ASSIGN_OR_RETURN(r.argsrepr, OptionalString(h, "argsrepr", kH));
    GALE_ASSIGN_OR_RETURN(r.kwargsrepr, OptionalString(h, "kwargsrepr", kH));
    GALE_ASSIGN_OR_RETURN(r.origin, OptionalString(h, "origin", kH));
    if (auto it = h.find("ignore_result"); it != h.end() && !it->is_null()) {
        if (!it->is_boolean()) {
            return Invalid(fmt::format("header 'ignore_result' must be a bool, not {}", it->type_name()));
        }
        r.ignore_result = it->get<bool>();
    }
    for (const auto& [key, value] : h.items()) {
        if (!IsKnownHeader(key)) r.extra_headers[key] = value;
    }

    GALE_ASSIGN_OR_RETURN(Json body, ParseBody(m));
    if (!body.is_array() || body.size() != 3) {
        return Invalid(fmt::format("body must be [args, kwargs, embed], not {}",
                                   body.is_array() ? fmt::format("a list of {}", body.size()) : body.type_name()));
    }
    if (!body[0].is_array()) return Invalid(fmt::format("body: args must be a list, not {}", body[0].type_name()));
    if (!body[1].is_object()) return Invalid(fmt::format("body: kwargs must be a dict, not {}", body[1].type_name()));
    if (!body[2].is_object() && !body[2].is_null()) {
        return Invalid(fmt::format("body: embed must be a dict, not {}", body[2].type_name()));
    }
    r.args = std::move(body[0]);
    r.kwargs = std::move(body[1]);
    if (body[2].is_object()) GALE_RETURN_IF_ERROR(ReadEmbed(body[2], "body: embed", r.embed));
    return r;
}

/// Protocol v1: everything in the body (celery/worker/strategy.py proto1_to_proto2).
Result<TaskRequest> DecodeV1(const TransportMessage& m, const Json& body) {
    constexpr std::string_view kB = "v1 body";
    TaskRequest r;
    GALE_ASSIGN_OR_RETURN(r.task, RequiredString(body, "task", kB));
    GALE_ASSIGN_OR_RETURN(r.id, RequiredString(body, "id", kB));
    auto args = body.find("args");
    if (args != body.end() && !args->is_null()) {
        if (!args->is_array()) return Invalid(fmt::format("v1 body 'args' must be a list, not {}", args->type_name()));
        r.args = *args;
    }
    auto kwargs = body.find("kwargs");
    if (kwargs != body.end() && !kwargs->is_null()) {
        if (!kwargs->is_object()) {
            return Invalid(fmt::format("v1 body 'kwargs' must be a dict, not {}", kwargs->type_name()));
        }
        r.kwargs = *kwargs;
    }
    GALE_ASSIGN_OR_RETURN(auto retries, OptionalInt(body, "retries", kB));
    if (retries && (*retries < 0 || *retries > INT32_MAX)) return Invalid("v1 body 'retries' is out of range");
    r.retries = retries ? static_cast<int>(*retries) : 0;
    GALE_ASSIGN_OR_RETURN(r.eta, OptionalTime(body, "eta", kB));
    GALE_ASSIGN_OR_RETURN(r.expires, OptionalTime(body, "expires", kB));
    GALE_RETURN_IF_ERROR(ReadTimeLimit(body, kB, r));
    GALE_ASSIGN_OR_RETURN(r.group, OptionalString(body, "taskset", kB));
    GALE_RETURN_IF_ERROR(ReadEmbed(body, kB, r.embed));
    r.root_id = r.id;
    for (const auto& [key, value] : m.headers.items()) r.extra_headers[key] = value;
    return r;
}

}  // namespace

TransportMessage EncodeTask(const TaskRequest& r) {
    TransportMessage m;
    Json& h = m.headers;
    h["lang"] = r.lang.empty() ? "py" : r.lang;
    h["task"] = r.task;
    h["id"] = r.id;
    h["shadow"] = StringOrNull(r.shadow);
    h["eta"] = TimeOrNull(r.eta);
    h["expires"] = TimeOrNull(r.expires);
    h["group"] = StringOrNull(r.group);
    h["group_index"] = r.group_index ? Json(*r.group_index) : Json(nullptr);
    h["retries"] = r.retries;
    h["timelimit"] = Json::array({LimitOrNull(r.hard_time_limit), LimitOrNull(r.soft_time_limit)});
    h["root_id"] = StringOrNull(r.root_id);
    h["parent_id"] = StringOrNull(r.parent_id);
    Json args = r.args.is_array() ? Json(r.args) : Json::array();
    Json kwargs = r.kwargs.is_object() ? Json(r.kwargs) : Json::object();
    h["argsrepr"] = r.argsrepr.empty() ? detail::PythonRepr(args, /*as_tuple=*/true) : r.argsrepr;
    h["kwargsrepr"] = r.kwargsrepr.empty() ? detail::PythonRepr(kwargs) : r.kwargsrepr;
    h["origin"] = r.origin.empty() ? NodeName() : r.origin;
    h["ignore_result"] = r.ignore_result;
    for (const auto& [key, value] : r.extra_headers.items()) {
        if (!IsKnownHeader(key)) h[key] = value;
    }

    m.correlation_id = r.id;
    m.reply_to = r.reply_to;
    m.priority = r.priority;
    m.delivery_mode = 2;
    if (r.expires) {
        auto left =
            std::chrono::duration_cast<std::chrono::milliseconds>(*r.expires - std::chrono::system_clock::now());
        m.expiration = std::max(left, std::chrono::milliseconds(0));
    }

    Json embed = Json::object();
    embed["callbacks"] = r.embed.callbacks;
    embed["errbacks"] = r.embed.errbacks;
    embed["chain"] = r.embed.chain;
    embed["chord"] = r.embed.chord;
    m.body.reserve(64 + r.argsrepr.size());
    m.body.push_back('[');
    detail::AppendPythonJson(m.body, args);
    m.body += ", ";
    detail::AppendPythonJson(m.body, kwargs);
    m.body += ", ";
    detail::AppendPythonJson(m.body, embed);
    m.body.push_back(']');
    return m;
}

Result<TaskRequest> DecodeTask(const TransportMessage& m) {
    GALE_RETURN_IF_ERROR(CheckContent(m));
    if (!m.headers.is_object() && !m.headers.is_null()) return Invalid("headers must be a table");
    Result<TaskRequest> r = [&]() -> Result<TaskRequest> {
        if (m.headers.is_object() && m.headers.contains("task")) return DecodeV2(m);
        GALE_ASSIGN_OR_RETURN(Json body, ParseBody(m));
        if (body.is_object() && body.contains("task")) return DecodeV1(m, body);
        return Invalid("no 'task' header (protocol v2) and no v1 body (a dict with 'task'): not a Celery task");
    }();
    if (!r) return r;
    r->reply_to = m.reply_to;
    r->priority = m.priority;
    return r;
}

std::string FormatIsoTime(SystemTime time) {
    using namespace std::chrono;
    const auto us = floor<microseconds>(time);
    const auto day = floor<days>(us);
    const year_month_day ymd{day};
    const hh_mm_ss hms{us - day};
    std::string out = fmt::format("{:04d}-{:02d}-{:02d}T{:02d}:{:02d}:{:02d}", static_cast<int>(ymd.year()),
                                  static_cast<unsigned>(ymd.month()), static_cast<unsigned>(ymd.day()),
                                  hms.hours().count(), hms.minutes().count(), hms.seconds().count());
    if (hms.subseconds().count() != 0) out += fmt::format(".{:06d}", hms.subseconds().count());
    out += "+00:00";
    return out;
}

Result<SystemTime> ParseIsoTime(std::string_view text) {
    using namespace std::chrono;
    auto bad = [&](std::string_view why) {
        return Invalid(fmt::format("'{}' is not an ISO 8601 time ({})", text.substr(0, 64), why));
    };
    std::size_t i = 0;
    auto digits = [&](std::size_t n, int& out) {
        if (text.size() - i < n) return false;
        int v = 0;
        for (std::size_t k = 0; k < n; ++k) {
            const char c = text[i + k];
            if (c < '0' || c > '9') return false;
            v = v * 10 + (c - '0');
        }
        out = v;
        i += n;
        return true;
    };
    auto expect = [&](char c) {
        if (i < text.size() && text[i] == c) {
            ++i;
            return true;
        }
        return false;
    };
    int y = 0, mo = 0, d = 0, hh = 0, mm = 0, ss = 0;
    if (!digits(4, y) || !expect('-') || !digits(2, mo) || !expect('-') || !digits(2, d)) return bad("date");
    if (!(expect('T') || expect(' '))) return bad("no 'T' between date and time");
    if (!digits(2, hh) || !expect(':') || !digits(2, mm)) return bad("time");
    if (expect(':') && !digits(2, ss)) return bad("seconds");
    std::int64_t micros = 0;
    if (expect('.') || expect(',')) {
        std::size_t n = 0;
        std::int64_t scale = 100000;
        while (i < text.size() && text[i] >= '0' && text[i] <= '9') {
            if (n < 6) {
                micros += (text[i] - '0') * scale;
                scale /= 10;
            }
            ++n;
            ++i;
        }
        if (n == 0 || n > 9) return bad("fraction");
    }
    int offset_minutes = 0;
    if (i < text.size()) {
        const char sign = text[i];
        if (sign == 'Z' || sign == 'z') {
            ++i;
        } else if (sign == '+' || sign == '-') {
            ++i;
            int oh = 0, om = 0;
            if (!digits(2, oh)) return bad("zone");
            if (i < text.size()) {
                expect(':');
                if (!digits(2, om)) return bad("zone");
            }
            if (oh > 23 || om > 59) return bad("zone");
            offset_minutes = (oh * 60 + om) * (sign == '-' ? -1 : 1);
        } else {
            return bad("unexpected characters");
        }
    }
    if (i != text.size()) return bad("unexpected characters");
    const year_month_day ymd{year(y), month(static_cast<unsigned>(mo)), day(static_cast<unsigned>(d))};
    if (!ymd.ok() || hh > 23 || mm > 59 || ss > 59) return bad("out of range");
    auto t = sys_days(ymd) + hours(hh) + minutes(mm) + seconds(ss) + microseconds(micros) - minutes(offset_minutes);
    return time_point_cast<system_clock::duration>(t);
}

std::string NewTaskId() {
    thread_local std::mt19937_64 rng = [] {
        std::random_device rd;
        std::seed_seq seq{rd(), rd(), rd(), rd(), static_cast<unsigned>(::getpid())};
        return std::mt19937_64(seq);
    }();
    const std::uint64_t hi = (rng() & 0xFFFFFFFFFFFF0FFFULL) | 0x0000000000004000ULL;  // version 4
    const std::uint64_t lo = (rng() & 0x3FFFFFFFFFFFFFFFULL) | 0x8000000000000000ULL;  // variant 10
    return fmt::format("{:08x}-{:04x}-{:04x}-{:04x}-{:012x}", hi >> 32, (hi >> 16) & 0xFFFF, hi & 0xFFFF, lo >> 48,
                       lo & 0xFFFFFFFFFFFFULL);
}

std::string NodeName() {
    static const std::string name = [] {
        char host[256] = {};
        if (::gethostname(host, sizeof host - 1) != 0) std::snprintf(host, sizeof host, "localhost");
        return fmt::format("gale{}@{}", ::getpid(), host);
    }();
    return name;
}

}  // namespace gale::tasks
