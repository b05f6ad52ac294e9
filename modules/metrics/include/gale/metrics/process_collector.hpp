// SPDX-License-Identifier: MIT
/// @file gale/metrics/process_collector.hpp
/// @brief The standard process_* metrics (CPU, memory, file descriptors, start time) read from /proc/self.
#pragma once

namespace gale::metrics {

class Registry;

/// Registers, as callback metrics computed on each scrape, the metrics the Prometheus client libraries call the
/// process collector, with the same names and meanings:
///
/// | Name | Type | Meaning |
/// |---|---|---|
/// | process_cpu_seconds_total | counter | user + system CPU time, from /proc/self/stat |
/// | process_resident_memory_bytes | gauge | resident set size, from /proc/self/stat |
/// | process_virtual_memory_bytes | gauge | virtual memory size, from /proc/self/stat |
/// | process_start_time_seconds | gauge | start time in seconds since the Unix epoch (/proc/self/stat + btime) |
/// | process_open_fds | gauge | entries of /proc/self/fd |
/// | process_max_fds | gauge | soft RLIMIT_NOFILE (+Inf when unlimited) |
///
/// A value that cannot be read (no /proc) is NaN for gauges and left out for the counter. Each scrape costs a
/// few reads of /proc files. Calling this twice, or after registering one of these names, is a bug and fails a
/// GALE_CHECK after printing the registration error.
///
/// Thread-safety: as Registry::AddCallbackGauge; the callbacks are reentrant.
void AddProcessCollector(Registry& registry);

}  // namespace gale::metrics
