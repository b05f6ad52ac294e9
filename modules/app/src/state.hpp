// SPDX-License-Identifier: MIT
/// @file state.hpp (private)
/// @brief What an App holds: everything the service declared.
#pragma once

#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include <gale/app/app.hpp>
#include <gale/config/contract.hpp>
#include <gale/config/settings.hpp>
#include <gale/health/checks.hpp>
#include <gale/http/router.hpp>
#include <gale/metrics/registry.hpp>
#include <gale/tasks/broker.hpp>
#include <gale/tasks/client.hpp>
#include <gale/tasks/result_backend.hpp>
#include <gale/tasks/settings.hpp>
#include <gale/tasks/task.hpp>

#include "resources.hpp"

namespace gale::app {

struct CommandEntry {
    std::string name;
    std::string help;
    CommandFn fn;
};

struct App::State {
    std::string name;
    std::string version;
    http::Router router;
    health::CheckRegistry checks;
    std::vector<CommandEntry> commands;
    MigrationStatusFn migrations;
    std::optional<MigrationsDatabase> migrations_database;  // their database, when not gale's DATABASE_*
    metrics::Registry registry;
    std::vector<config::GroupSpec> contract_groups;  // the service's own environment variables
    config::Settings settings;                       // loaded by Run
    bool settings_loaded = false;
    std::vector<std::pair<std::string, ConsumerFactory>> consumers;  // run by `consume`
    std::vector<amqp::Subscription> amqp_consumers;                  // run by `consume` when a broker is set
    tasks::TaskRegistry tasks;                                       // run by `worker`
    std::vector<tasks::BeatEntry> periodic;                          // sent by `beat`
    // The task transports (App::tasks(), the worker), built on first use from the settings.
    std::mutex tasks_mu;
    std::unique_ptr<tasks::Broker> task_broker;
    std::unique_ptr<tasks::ResultBackend> task_backend;
    std::unique_ptr<tasks::TaskClient> task_client;
    tasks::TasksSettings task_settings;  // what they were built from
    tasks::TransportOptions task_transport;
    std::vector<ForkHooks> fork_hooks;             // run around the forks of serve --processes
    std::vector<std::string> registration_errors;  // reported by Run, so declaring a service never throws
    // Declared last: closed (and destroyed) before the settings and the metrics they were created with.
    ResourceRegistry resources;

    const CommandEntry* FindCommand(const std::string& n) const {
        for (const auto& c : commands) {
            if (c.name == n) return &c;
        }
        return nullptr;
    }
};

/// The task client (and with it the broker and result backend), built from `state.settings` on first use.
/// Thread-safe. Errors as App::tasks().
Result<tasks::TaskClient*> EnsureTasks(App::State& state);

/// The queues `worker` consumes: those of `explicit_list` (-Q / GALE_WORKER_QUEUES: commas or spaces) when it names
/// any, else `default_queue` and every queue a registered task names, sorted, each once.
std::vector<std::string> WorkerQueues(const App::State& state, std::string_view explicit_list,
                                      const std::string& default_queue);

/// Validates the environment contract (gale's groups and the service's) against `settings`: every problem.
std::vector<std::string> ValidateContract(const App::State& state, const config::Settings& settings);

/// Runs a registered command, catching exceptions; logs start, end and duration. Returns its exit code.
int RunCommand(const CommandEntry& command, const Args& args);

}  // namespace gale::app
