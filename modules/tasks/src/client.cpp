// SPDX-License-Identifier: MIT
// Sending tasks as Celery's app.send_task / apply_async does (celery/app/base.py, celery/app/amqp.py).
#include <fmt/format.h>

#include <gale/tasks/client.hpp>

namespace gale::tasks {
namespace {

using Json = nlohmann::ordered_json;

thread_local const TaskRequest* t_current = nullptr;

tl::unexpected<Error> Invalid(std::string message) {
    return MakeError(ErrorCode::kInvalidArgument, std::move(message));
}

Json SignaturesJson(const std::vector<Signature>& sigs) {
    if (sigs.empty()) return nullptr;
    Json out = Json::array();
    for (const auto& s : sigs) out.push_back(s.ToJson());
    return out;
}

/// A number of seconds from a signature option (Celery writes ints or floats).
Result<std::chrono::milliseconds> Seconds(const Json& v, std::string_view what) {
    if (!v.is_number() || v.get<double>() < 0)
        return Invalid(fmt::format("signature option '{}' must be seconds", what));
    return std::chrono::milliseconds(static_cast<std::int64_t>(v.get<double>() * 1000));
}

/// Reads a signature's apply_async options into SendOptions (those gale understands; the rest are ignored, as a
/// Celery worker ignores options it has no use for).
Result<SendOptions> OptionsFrom(const Json& o) {
    SendOptions s;
    if (!o.is_object()) return s;
    auto str = [&](const char* key) -> std::string {
        auto it = o.find(key);
        return it != o.end() && it->is_string() ? it->get<std::string>() : std::string();
    };
    s.queue = str("queue");
    if (s.queue.empty()) s.queue = str("routing_key");
    s.task_id = str("task_id");
    s.shadow = str("shadow");
    if (auto it = o.find("countdown"); it != o.end() && !it->is_null()) {
        GALE_ASSIGN_OR_RETURN(s.countdown, Seconds(*it, "countdown"));
    }
    if (auto it = o.find("eta"); it != o.end() && it->is_string()) {
        GALE_ASSIGN_OR_RETURN(s.eta, ParseIsoTime(it->get<std::string>()));
    }
    if (auto it = o.find("expires"); it != o.end() && !it->is_null()) {
        if (it->is_string()) {
            GALE_ASSIGN_OR_RETURN(s.expires, ParseIsoTime(it->get<std::string>()));
        } else {
            GALE_ASSIGN_OR_RETURN(s.expires_in, Seconds(*it, "expires"));
        }
    }
    if (auto it = o.find("priority"); it != o.end() && it->is_number_integer()) s.priority = it->get<int>();
    if (auto it = o.find("soft_time_limit"); it != o.end() && it->is_number()) s.soft_time_limit = it->get<double>();
    if (auto it = o.find("time_limit"); it != o.end() && it->is_number()) s.time_limit = it->get<double>();
    if (auto it = o.find("ignore_result"); it != o.end() && it->is_boolean()) s.ignore_result = it->get<bool>();
    for (const char* key : {"link", "link_error"}) {
        auto it = o.find(key);
        if (it == o.end() || it->is_null()) continue;
        std::vector<Signature>& into = std::string_view(key) == "link" ? s.link : s.link_error;
        const Json list = it->is_array() ? *it : Json::array({*it});
        for (const auto& sig : list) {
            GALE_ASSIGN_OR_RETURN(Signature parsed, Signature::FromJson(sig));
            into.push_back(std::move(parsed));
        }
    }
    return s;
}

/// `over` wins where it says something.
SendOptions Merge(SendOptions base, const SendOptions& over) {
    if (over.countdown) {
        base.countdown = over.countdown;
        base.eta.reset();
    }
    if (over.eta) {
        base.eta = over.eta;
        base.countdown.reset();
    }
    if (over.expires_in) {
        base.expires_in = over.expires_in;
        base.expires.reset();
    }
    if (over.expires) {
        base.expires = over.expires;
        base.expires_in.reset();
    }
    if (over.priority) base.priority = over.priority;
    if (!over.queue.empty()) base.queue = over.queue;
    if (!over.task_id.empty()) base.task_id = over.task_id;
    for (const auto& l : over.link) base.link.push_back(l);
    for (const auto& l : over.link_error) base.link_error.push_back(l);
    if (over.soft_time_limit) base.soft_time_limit = over.soft_time_limit;
    if (over.time_limit) base.time_limit = over.time_limit;
    if (over.ignore_result) base.ignore_result = over.ignore_result;
    if (!over.shadow.empty()) base.shadow = over.shadow;
    return base;
}

}  // namespace

const TaskRequest* CurrentTask() noexcept { return t_current; }

namespace detail {
CurrentTaskScope::CurrentTaskScope(const TaskRequest* request) noexcept : previous_(t_current) { t_current = request; }
CurrentTaskScope::~CurrentTaskScope() { t_current = previous_; }
}  // namespace detail

nlohmann::ordered_json Signature::ToJson() const {
    Json j = Json::object();
    j["task"] = task;
    j["args"] = args.is_array() ? Json(args) : Json::array();
    j["kwargs"] = kwargs.is_object() ? Json(kwargs) : Json::object();
    j["options"] = options.is_object() ? options : Json::object();
    j["subtask_type"] = nullptr;
    j["immutable"] = immutable;
    j["chord_size"] = nullptr;
    return j;
}

Result<Signature> Signature::FromJson(const nlohmann::ordered_json& j) {
    if (!j.is_object()) return Invalid(fmt::format("a signature must be a dict, not {}", j.type_name()));
    Signature s;
    auto task = j.find("task");
    if (task == j.end() || !task->is_string() || task->get_ref<const std::string&>().empty()) {
        return Invalid("a signature needs a task name ('task')");
    }
    s.task = task->get<std::string>();
    if (auto it = j.find("args"); it != j.end() && !it->is_null()) {
        if (!it->is_array()) return Invalid(fmt::format("signature of {}: 'args' must be a list", s.task));
        s.args = *it;
    }
    if (auto it = j.find("kwargs"); it != j.end() && !it->is_null()) {
        if (!it->is_object()) return Invalid(fmt::format("signature of {}: 'kwargs' must be a dict", s.task));
        s.kwargs = *it;
    }
    if (auto it = j.find("options"); it != j.end() && !it->is_null()) {
        if (!it->is_object()) return Invalid(fmt::format("signature of {}: 'options' must be a dict", s.task));
        s.options = *it;
    }
    if (auto it = j.find("immutable"); it != j.end() && it->is_boolean()) s.immutable = it->get<bool>();
    return s;
}

TaskClient::TaskClient(Broker& broker, ResultBackend* backend, ClientOptions options)
    : broker_(broker), backend_(backend), options_(std::move(options)) {}

std::string TaskClient::QueueFor(std::string_view task) const {
    if (auto it = options_.routes.find(task); it != options_.routes.end() && !it->second.empty()) return it->second;
    return options_.default_queue;
}

Result<std::pair<TaskRequest, std::string>> TaskClient::Build(std::string_view name, nlohmann::json args,
                                                              nlohmann::json kwargs, const SendOptions& o) const {
    if (name.empty()) return Invalid("send: no task name");
    if (args.is_null()) args = nlohmann::json::array();
    if (kwargs.is_null()) kwargs = nlohmann::json::object();
    if (!args.is_array()) return Invalid(fmt::format("send {}: args must be a list, not {}", name, args.type_name()));
    if (!kwargs.is_object()) {
        return Invalid(fmt::format("send {}: kwargs must be a dict, not {}", name, kwargs.type_name()));
    }
    if (o.countdown && o.eta) return Invalid(fmt::format("send {}: countdown and eta together", name));
    if (o.expires && o.expires_in) return Invalid(fmt::format("send {}: expires and expires_in together", name));
    if (o.priority && (*o.priority < 0 || *o.priority > 255)) {
        return Invalid(fmt::format("send {}: priority {} is outside 0-255", name, *o.priority));
    }
    const auto now = std::chrono::system_clock::now();
    TaskRequest r;
    r.task = std::string(name);
    r.id = o.task_id.empty() ? NewTaskId() : o.task_id;
    r.args = std::move(args);
    r.kwargs = std::move(kwargs);
    if (const TaskRequest* parent = CurrentTask()) {
        r.parent_id = parent->id;
        r.root_id = parent->root_id.empty() ? parent->id : parent->root_id;
    } else {
        r.root_id = r.id;
    }
    if (o.countdown) r.eta = now + *o.countdown;
    if (o.eta) r.eta = *o.eta;
    if (o.expires_in) r.expires = now + *o.expires_in;
    if (o.expires) r.expires = *o.expires;
    if (o.priority) r.priority = *o.priority;
    r.soft_time_limit = o.soft_time_limit;
    r.hard_time_limit = o.time_limit;
    if (o.ignore_result) r.ignore_result = *o.ignore_result;
    r.shadow = o.shadow;
    r.origin = NodeName();
    r.embed.callbacks = SignaturesJson(o.link);
    r.embed.errbacks = SignaturesJson(o.link_error);
    return std::make_pair(std::move(r), o.queue.empty() ? QueueFor(name) : o.queue);
}

Result<void> TaskClient::Publish(TaskRequest& request, const std::string& queue) {
    if (backend_ != nullptr) GALE_RETURN_IF_ERROR(backend_->Prepare(request));
    Route route{.queue = queue};
    bool declare = false;
    {
        std::lock_guard lock(mu_);
        declare = declared_.count(queue) == 0;
    }
    if (declare) {
        GALE_RETURN_IF_ERROR(broker_.Declare({route}));
        std::lock_guard lock(mu_);
        declared_.insert(queue);
    }
    return broker_.Publish(route, EncodeTask(request));
}

Result<std::string> TaskClient::Send(std::string_view name, nlohmann::json args, nlohmann::json kwargs,
                                     const SendOptions& options) {
    GALE_ASSIGN_OR_RETURN(auto built, Build(name, std::move(args), std::move(kwargs), options));
    GALE_RETURN_IF_ERROR(Publish(built.first, built.second));
    return built.first.id;
}

Result<std::pair<TaskRequest, std::string>> TaskClient::Build(const Signature& signature,
                                                              const SendOptions& options) const {
    GALE_ASSIGN_OR_RETURN(SendOptions own, OptionsFrom(signature.options));
    return Build(signature.task, signature.args, signature.kwargs, Merge(std::move(own), options));
}

Result<std::string> TaskClient::Send(const Signature& signature, const SendOptions& options) {
    GALE_ASSIGN_OR_RETURN(auto built, Build(signature, options));
    GALE_RETURN_IF_ERROR(Publish(built.first, built.second));
    return built.first.id;
}

Result<std::string> TaskClient::SendChain(const std::vector<Signature>& steps, const SendOptions& options) {
    if (steps.empty()) return Invalid("send chain: no steps");
    GALE_ASSIGN_OR_RETURN(auto built, Build(steps.front(), options));
    if (steps.size() > 1) {
        Json chain = Json::array();
        for (std::size_t i = steps.size(); i-- > 1;) chain.push_back(steps[i].ToJson());  // last step first
        built.first.embed.chain = std::move(chain);
    }
    GALE_RETURN_IF_ERROR(Publish(built.first, built.second));
    return built.first.id;
}

Result<TaskResult> TaskClient::Get(const std::string& task_id) {
    if (backend_ == nullptr) return Invalid("results are disabled (CELERY_RESULT_BACKEND=disabled, or none set)");
    return backend_->Get(task_id);
}

Result<TaskResult> TaskClient::Wait(const std::string& task_id, std::chrono::milliseconds timeout) {
    if (backend_ == nullptr) return Invalid("results are disabled (CELERY_RESULT_BACKEND=disabled, or none set)");
    return backend_->Wait(task_id, timeout);
}

}  // namespace gale::tasks
