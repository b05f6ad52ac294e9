// SPDX-License-Identifier: MIT
/// @file roles/beat.hpp (private)
/// @brief The BEAT role: the service's periodic entries (with GALE_BEAT_SCHEDULE's overrides), sent through the
///        App's task client by a gale::tasks::Beat that holds a lease in the SQL database, under the runner's
///        probes, metrics, webhooks and drain.
#pragma once

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <gale/db/database.hpp>
#include <gale/tasks/beat.hpp>

#include "runtime/role.hpp"

namespace gale::app {

struct BeatRoleOptions {
    std::vector<tasks::BeatEntry> entries{};  ///< as declared in code; GALE_BEAT_SCHEDULE is applied in Declare
    /// Where the lease and the state live; nullopt: the DATABASE_* settings (SQLite app.db when none is set).
    std::optional<db::ConnectionOptions> database{};
    std::string name{};  ///< the lease's name; empty: the service's name
    std::chrono::milliseconds lease{std::chrono::seconds(30)};
    std::chrono::milliseconds max_tick{std::chrono::seconds(5)};
    /// Liveness fails when the loop has not turned for this long; 0: max(3 × max_tick, lease).
    std::chrono::milliseconds max_stall{0};
};

/// Startup: check "beat-database" passes once the beat has reached the database (tables created, a first turn
/// done). Readiness ("beat"): running, as leader or standby — a standby is ready, it is what takes over. Liveness
/// ("beat-loop", and stall_ms for --watchdog-timeout): the loop turned within max_stall. Metrics: BeatMetrics
/// (gale_beat_leader, gale_beat_last_tick_timestamp_seconds, gale_beat_next_due_timestamp_seconds,
/// gale_beat_entries_sent_total). Drain: StopTaking stops the loop after its turn and releases the lease, so a
/// standby leads within its poll. Errors: no entries, GALE_BEAT_SCHEDULE's and the DATABASE_* settings' problems
/// (kInvalidArgument); the database unreachable at Start (kUnavailable).
std::unique_ptr<Role> MakeBeatRole(BeatRoleOptions options);

}  // namespace gale::app
