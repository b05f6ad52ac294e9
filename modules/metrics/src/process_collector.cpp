// SPDX-License-Identifier: MIT
// The values follow the Prometheus client libraries' process collector (client_golang's procfs-based one and
// client_python's): CPU time, virtual size, resident pages and start ticks come from /proc/self/stat; boot time
// from the btime line of /proc/stat; open descriptors are the entries of /proc/self/fd (including the one used to
// list it, as theirs do); the descriptor limit is the soft RLIMIT_NOFILE. Files are re-read on every scrape with
// plain read(2), which /proc serves from kernel state: no caching, no allocation beyond the small buffers.
#include <dirent.h>
#include <fcntl.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <limits>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

#include <gale/base/check.hpp>
#include <gale/metrics/process_collector.hpp>
#include <gale/metrics/registry.hpp>

namespace gale::metrics {
namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

// The whole of a small /proc file, or nullopt.
std::optional<std::string> ReadProcFile(const char* path) {
    const int fd = ::open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return std::nullopt;
    std::string out;
    std::array<char, 4096> buf;
    for (;;) {
        const ssize_t n = ::read(fd, buf.data(), buf.size());
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) {
            ::close(fd);
            if (n < 0) return std::nullopt;
            return out;
        }
        out.append(buf.data(), static_cast<std::size_t>(n));
    }
}

// Fields of /proc/self/stat used here (proc(5), 1-based field numbers).
struct ProcStat {
    double utime_ticks = 0;      // 14
    double stime_ticks = 0;      // 15
    double starttime_ticks = 0;  // 22
    double vsize_bytes = 0;      // 23
    double rss_pages = 0;        // 24
};

std::optional<ProcStat> ReadProcStat() {
    const std::optional<std::string> text = ReadProcFile("/proc/self/stat");
    if (!text) return std::nullopt;
    // Field 2 is the command name in parentheses and may itself contain spaces and ')': fields 3… start after the
    // last ')'.
    const std::size_t paren = text->rfind(')');
    if (paren == std::string::npos) return std::nullopt;
    std::string_view rest = std::string_view(*text).substr(paren + 1);
    ProcStat stat;
    const std::array<std::pair<int, double*>, 5> wanted = {{{14, &stat.utime_ticks},
                                                            {15, &stat.stime_ticks},
                                                            {22, &stat.starttime_ticks},
                                                            {23, &stat.vsize_bytes},
                                                            {24, &stat.rss_pages}}};
    std::size_t next = 0;
    for (int field = 3; next < wanted.size(); ++field) {
        while (!rest.empty() && rest.front() == ' ') rest.remove_prefix(1);
        if (rest.empty()) return std::nullopt;
        const std::size_t end = std::min(rest.find(' '), rest.size());
        if (field == wanted[next].first) {
            unsigned long long value = 0;
            auto [ptr, ec] = std::from_chars(rest.data(), rest.data() + end, value);
            if (ec != std::errc() || ptr != rest.data() + end) return std::nullopt;
            *wanted[next].second = static_cast<double>(value);
            ++next;
        }
        rest.remove_prefix(end);
    }
    return stat;
}

double ClockTicksPerSecond() noexcept {
    const long ticks = ::sysconf(_SC_CLK_TCK);
    return ticks > 0 ? static_cast<double>(ticks) : kNaN;
}

// Seconds since the epoch at which the system booted: the btime line of /proc/stat.
double BootTimeSeconds() {
    const std::optional<std::string> text = ReadProcFile("/proc/stat");
    if (!text) return kNaN;
    const std::string_view key = "\nbtime ";
    const std::size_t pos = text->find(key);
    if (pos == std::string::npos) return kNaN;
    const char* begin = text->data() + pos + key.size();
    unsigned long long value = 0;
    auto [ptr, ec] = std::from_chars(begin, text->data() + text->size(), value);
    return ec == std::errc() ? static_cast<double>(value) : kNaN;
}

double StartTimeSeconds() {
    const std::optional<ProcStat> stat = ReadProcStat();
    if (!stat) return kNaN;
    return BootTimeSeconds() + stat->starttime_ticks / ClockTicksPerSecond();
}

double OpenFds() {
    DIR* dir = ::opendir("/proc/self/fd");
    if (dir == nullptr) return kNaN;
    double count = 0;
    while (const dirent* entry = ::readdir(dir)) {
        const std::string_view name = entry->d_name;
        if (name != "." && name != "..") ++count;
    }
    ::closedir(dir);
    return count;
}

double MaxFds() noexcept {
    rlimit limit{};
    if (::getrlimit(RLIMIT_NOFILE, &limit) != 0) return kNaN;
    if (limit.rlim_cur == RLIM_INFINITY) return std::numeric_limits<double>::infinity();
    return static_cast<double>(limit.rlim_cur);
}

void MustRegister(Result<void> result) {
    if (!result) std::fprintf(stderr, "gale: AddProcessCollector: %s\n", result.error().ToString().c_str());
    GALE_CHECK(result.has_value());
}

}  // namespace

void AddProcessCollector(Registry& registry) {
    // The start time cannot change; read it once rather than on every scrape.
    const double start_time = StartTimeSeconds();
    const double page_size = static_cast<double>(::sysconf(_SC_PAGESIZE));
    MustRegister(registry.AddCallbackCounter("process_cpu_seconds_total",
                                             "Total user and system CPU time spent in seconds.", [] {
                                                 const std::optional<ProcStat> stat = ReadProcStat();
                                                 if (!stat) return kNaN;
                                                 return (stat->utime_ticks + stat->stime_ticks) / ClockTicksPerSecond();
                                             }));
    MustRegister(
        registry.AddCallbackGauge("process_resident_memory_bytes", "Resident memory size in bytes.", [page_size] {
            const std::optional<ProcStat> stat = ReadProcStat();
            return stat ? stat->rss_pages * page_size : kNaN;
        }));
    MustRegister(registry.AddCallbackGauge("process_virtual_memory_bytes", "Virtual memory size in bytes.", [] {
        const std::optional<ProcStat> stat = ReadProcStat();
        return stat ? stat->vsize_bytes : kNaN;
    }));
    MustRegister(registry.AddCallbackGauge("process_start_time_seconds",
                                           "Start time of the process since unix epoch in seconds.",
                                           [start_time] { return start_time; }));
    MustRegister(registry.AddCallbackGauge("process_open_fds", "Number of open file descriptors.", OpenFds));
    MustRegister(registry.AddCallbackGauge("process_max_fds", "Maximum number of open file descriptors.", MaxFds));
}

}  // namespace gale::metrics
