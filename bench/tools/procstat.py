#!/usr/bin/env python3
"""CPU time and memory of a process tree, from /proc.

    procstat.py cpu PID   -> CPU seconds (utime+stime) of PID and all its
                             descendants; each process's figure covers all its
                             threads, dead threads included
    procstat.py rss PID   -> VmRSS of PID + descendants, in KiB
    procstat.py pss PID   -> Pss of PID + descendants, in KiB (shared pages
                             split between the processes that map them)
    procstat.py pids PID  -> the pids of the tree, one per line
    procstat.py quiet SECONDS [MAX_CORES]
                          -> wait up to SECONDS for a 1-second span in which the
                             whole machine is busier than MAX_CORES (default 0.1)
                             cores no more; prints the last span's busy cores,
                             exit 0 if quiet, 1 if it never was
"""

import os
import sys

CLK_TCK = os.sysconf("SC_CLK_TCK")


def _stat_fields(pid: int) -> list[str]:
    with open(f"/proc/{pid}/stat", "rb") as f:
        data = f.read().decode("ascii", "replace")
    # comm (field 2) may hold spaces and parentheses: split after the last ')'.
    rest = data[data.rindex(")") + 2 :].split()
    return rest  # rest[0] is field 3 (state)


def tree(root: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            ppid = int(_stat_fields(int(name))[1])
        except (OSError, ValueError, IndexError):
            continue
        children.setdefault(ppid, []).append(int(name))
    out, todo = [], [root]
    while todo:
        pid = todo.pop()
        if not os.path.exists(f"/proc/{pid}"):
            continue
        out.append(pid)
        todo.extend(children.get(pid, []))
    return out


def cpu_seconds(root: int) -> float:
    ticks = 0
    for pid in tree(root):
        try:
            f = _stat_fields(pid)
        except OSError:
            continue
        ticks += int(f[11]) + int(f[12])  # fields 14 utime, 15 stime
    return ticks / CLK_TCK


def _status_kib(pid: int, key: str, path: str = "status") -> int:
    try:
        with open(f"/proc/{pid}/{path}") as f:
            for line in f:
                if line.startswith(key + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def machine_busy_ticks() -> int:
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:]]
    return v[0] + v[1] + v[2] + v[5] + v[6] + (v[7] if len(v) > 7 else 0)


def quiet(seconds: float, max_cores: float) -> int:
    import time

    deadline = time.monotonic() + seconds
    while True:
        b0, t0 = machine_busy_ticks(), time.monotonic()
        time.sleep(1.0)
        cores = (machine_busy_ticks() - b0) / CLK_TCK / (time.monotonic() - t0)
        if cores <= max_cores or time.monotonic() >= deadline:
            print(f"{cores:.2f}")
            return 0 if cores <= max_cores else 1


def main() -> int:
    if len(sys.argv) >= 3 and sys.argv[1] == "quiet":
        return quiet(float(sys.argv[2]), float(sys.argv[3]) if len(sys.argv) > 3 else 0.1)
    if len(sys.argv) != 3 or sys.argv[1] not in ("cpu", "rss", "pss", "pids"):
        print(__doc__, file=sys.stderr)
        return 2
    what, root = sys.argv[1], int(sys.argv[2])
    if not os.path.exists(f"/proc/{root}"):
        print(f"procstat: no process {root}", file=sys.stderr)
        return 1
    if what == "cpu":
        print(f"{cpu_seconds(root):.2f}")
    elif what == "rss":
        print(sum(_status_kib(p, "VmRSS") for p in tree(root)))
    elif what == "pss":
        print(sum(_status_kib(p, "Pss", "smaps_rollup") for p in tree(root)))
    else:
        print("\n".join(str(p) for p in tree(root)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
