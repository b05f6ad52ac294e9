// SPDX-License-Identifier: MIT
// The task transports of a service: one broker, one result backend and one TaskClient per process, built from the
// settings on first use (App::tasks(), the worker role) and kept for the life of the App.
#include <set>

#include <fmt/format.h>

#include <gale/base/strings.hpp>
#include <gale/log/log.hpp>
#include <gale/tasks/settings.hpp>

#include "state.hpp"

namespace gale::app {

Result<tasks::TaskClient*> EnsureTasks(App::State& state) {
    std::lock_guard lock(state.tasks_mu);
    if (state.task_client) return state.task_client.get();
    if (!state.settings_loaded) {
        return MakeError(ErrorCode::kInvalidArgument,
                         "App::tasks(): the settings are not loaded yet (call it from handlers, commands, consumers "
                         "and tasks, not before App::Run)");
    }
    GALE_ASSIGN_OR_RETURN(auto settings, tasks::TasksSettingsFromSettings(state.settings, state.name + "-tasks.db"));
    tasks::TransportOptions transport{.service_name = state.name,
                                      .default_queue = settings.default_queue,
                                      .result_expires = settings.result_expires,
                                      .visibility_timeout = settings.visibility_timeout};
    GALE_ASSIGN_OR_RETURN(auto broker, tasks::MakeBroker(settings, transport));
    GALE_ASSIGN_OR_RETURN(auto backend, tasks::MakeResultBackend(settings, transport, *broker));
    tasks::ClientOptions options{.default_queue = settings.default_queue};
    for (const auto& name : state.tasks.Names()) {
        const auto def = state.tasks.Find(name);
        if (def && !def->options.queue.empty()) options.routes[name] = def->options.queue;
    }
    log::Info(
        "gale.tasks", "task broker",
        {{"broker", broker->Describe()},
         {"source", settings.broker.source},
         {"result_backend", settings.result_backend ? settings.result_backend->Describe() : std::string("disabled")}});
    state.task_settings = settings;
    state.task_transport = transport;
    state.task_broker = std::move(broker);
    state.task_backend = std::move(backend);
    state.task_client =
        std::make_unique<tasks::TaskClient>(*state.task_broker, state.task_backend.get(), std::move(options));
    return state.task_client.get();
}

std::vector<std::string> WorkerQueues(const App::State& state, std::string_view explicit_list,
                                      const std::string& default_queue) {
    if (auto listed = SplitList(explicit_list); !listed.empty()) return listed;
    std::set<std::string> all{default_queue};
    for (const auto& name : state.tasks.Names()) {
        const auto task = state.tasks.Find(name);
        if (task && !task->options.queue.empty()) all.insert(task->options.queue);
    }
    return {all.begin(), all.end()};
}

}  // namespace gale::app
