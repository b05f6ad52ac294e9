// SPDX-License-Identifier: MIT
// What the task benchmarks share (bench/tasks_redis_bench.cpp, bench/tasks_amqp_bench.cpp): the CPU time of a
// worker's whole process group, read from /proc (Celery's master and its pool processes; gale's one process).
#pragma once

#include <dirent.h>
#include <sys/types.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <iterator>
#include <sstream>
#include <string>

namespace gale::bench {

// utime + stime of every process in process group `pgid`, in seconds (threads are counted in their process).
inline double GroupCpuSeconds(pid_t pgid) {
    const double tick = static_cast<double>(::sysconf(_SC_CLK_TCK));
    double total = 0;
    DIR* proc = ::opendir("/proc");
    if (proc == nullptr) return 0;
    while (dirent* e = ::readdir(proc)) {
        if (e->d_name[0] < '0' || e->d_name[0] > '9') continue;
        std::ifstream in(std::string("/proc/") + e->d_name + "/stat");
        std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
        const auto close = text.rfind(')');
        if (close == std::string::npos) continue;
        std::istringstream fields(text.substr(close + 2));
        std::string f[13];
        for (auto& x : f)
            fields >> x;  // state ppid pgrp session tty tpgid flags minflt cminflt majflt cmajflt utime stime
        if (std::atol(f[2].c_str()) != pgid) continue;
        total += (std::atof(f[11].c_str()) + std::atof(f[12].c_str())) / tick;
    }
    ::closedir(proc);
    return total;
}

}  // namespace gale::bench
