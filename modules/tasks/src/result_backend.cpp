// SPDX-License-Identifier: MIT
// Celery's result meta documents (celery/backends/base.py _get_result_meta), facts in celery.md §2.
#include <array>

#include <fmt/format.h>

#include <gale/tasks/result_backend.hpp>

namespace gale::tasks {
namespace {

constexpr std::array<std::string_view, 7> kStateNames = {"PENDING", "RECEIVED", "STARTED", "SUCCESS",
                                                         "FAILURE", "RETRY",    "REVOKED"};

/// date_done as Celery writes it: app.now().isoformat() of a naive UTC time, so no zone.
std::string FormatDateDone(SystemTime t) {
    std::string s = FormatIsoTime(t);
    return s.substr(0, s.size() - 6);  // drop "+00:00"
}

}  // namespace

std::string_view ToString(TaskState state) noexcept { return kStateNames[static_cast<std::size_t>(state)]; }

Result<TaskState> ParseTaskState(std::string_view text) {
    for (std::size_t i = 0; i < kStateNames.size(); ++i) {
        if (kStateNames[i] == text) return static_cast<TaskState>(i);
    }
    return MakeError(ErrorCode::kInvalidArgument,
                     fmt::format("'{}' is not a task state (PENDING, RECEIVED, STARTED, SUCCESS, FAILURE, RETRY, "
                                 "REVOKED)",
                                 text.substr(0, 64)));
}

nlohmann::ordered_json TaskResult::ToMeta() const {
    nlohmann::ordered_json meta = nlohmann::ordered_json::object();
    meta["status"] = ToString(state);
    meta["result"] = result;
    meta["traceback"] = traceback.empty() ? nlohmann::ordered_json(nullptr) : nlohmann::ordered_json(traceback);
    meta["children"] = children;
    meta["date_done"] = date_done ? nlohmann::ordered_json(FormatDateDone(*date_done)) : nullptr;
    if (!group_id.empty()) meta["group_id"] = group_id;
    if (!parent_id.empty()) meta["parent_id"] = parent_id;
    if (!name.empty()) {
        meta["name"] = name;
        meta["args"] = args;
        meta["kwargs"] = kwargs;
        meta["worker"] = worker.empty() ? nlohmann::ordered_json(nullptr) : nlohmann::ordered_json(worker);
        meta["retries"] = retries;
        meta["queue"] = queue.empty() ? nlohmann::ordered_json(nullptr) : nlohmann::ordered_json(queue);
    }
    meta["task_id"] = task_id;
    return meta;
}

Result<TaskResult> TaskResult::FromMeta(const nlohmann::ordered_json& meta) {
    auto invalid = [](std::string m) { return MakeError(ErrorCode::kInvalidArgument, "result meta: " + m); };
    if (!meta.is_object()) return invalid(fmt::format("not a dict but {}", meta.type_name()));
    TaskResult r;
    auto status = meta.find("status");
    if (status == meta.end() || !status->is_string()) return invalid("'status' is missing or not a string");
    auto state = ParseTaskState(status->get_ref<const std::string&>());
    if (!state) return invalid(state.error().message());
    r.state = *state;
    auto str = [&](const char* key, std::string& out) -> Result<void> {
        auto it = meta.find(key);
        if (it == meta.end() || it->is_null()) return {};
        if (!it->is_string())
            return invalid(fmt::format("'{}' must be a string or null, not {}", key, it->type_name()));
        out = it->get<std::string>();
        return {};
    };
    GALE_RETURN_IF_ERROR(str("task_id", r.task_id));
    GALE_RETURN_IF_ERROR(str("traceback", r.traceback));
    GALE_RETURN_IF_ERROR(str("group_id", r.group_id));
    GALE_RETURN_IF_ERROR(str("parent_id", r.parent_id));
    GALE_RETURN_IF_ERROR(str("name", r.name));
    GALE_RETURN_IF_ERROR(str("worker", r.worker));
    GALE_RETURN_IF_ERROR(str("queue", r.queue));
    if (auto it = meta.find("result"); it != meta.end()) r.result = *it;
    if (auto it = meta.find("children"); it != meta.end() && it->is_array()) r.children = *it;
    if (auto it = meta.find("args"); it != meta.end()) r.args = *it;
    if (auto it = meta.find("kwargs"); it != meta.end()) r.kwargs = *it;
    if (auto it = meta.find("retries"); it != meta.end() && it->is_number_integer()) {
        r.retries = static_cast<int>(it->get<std::int64_t>());
    }
    std::string date_done;
    GALE_RETURN_IF_ERROR(str("date_done", date_done));
    if (!date_done.empty()) {
        auto t = ParseIsoTime(date_done);
        if (!t) return invalid("'date_done': " + t.error().message());
        r.date_done = *t;
    }
    return r;
}

nlohmann::json TaskResult::Failure(std::string_view exc_type, std::string_view message, std::string_view exc_module) {
    return nlohmann::json{{"exc_type", exc_type},
                          {"exc_message", nlohmann::json::array({std::string(message)})},
                          {"exc_module", exc_module}};
}

}  // namespace gale::tasks
