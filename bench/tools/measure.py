#!/usr/bin/env python3
"""Run a load generator and account for the CPU time spent while it ran.

    measure.py --pid PID --out FILE [--timeout S] -- CMD ARGS...

Runs CMD (its stdout and stderr go to FILE) and prints one JSON object:
  wall_s        how long CMD ran
  server_cpu_s  utime+stime of PID and all its descendants (all threads) over the run
  client_cpu_s  CPU time of CMD itself (the load generator)
  machine_busy_s  busy CPU time of the whole machine (/proc/stat) over the run
  irq_s         of which (soft)irq time (loopback TCP's softirq work, mostly)
  other_cpu_s   machine_busy_s - server_cpu_s - client_cpu_s, less irq_s on
                kernels with CONFIG_IRQ_TIME_ACCOUNTING (which charge irq time to
                no process; tick-based kernels charge it to the task it
                interrupted): what else ran; well above zero means the machine
                was not quiet
  rc            CMD's exit status
"""

import argparse
import json
import os
import resource
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from procstat import cpu_seconds  # noqa: E402

CLK_TCK = os.sysconf("SC_CLK_TCK")


def machine_busy() -> tuple[float, float]:
    """(busy, irq+softirq) CPU seconds of the whole machine since boot."""
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:]]
    # user nice system idle iowait irq softirq steal guest guest_nice
    busy = v[0] + v[1] + v[2] + v[5] + v[6] + (v[7] if len(v) > 7 else 0)
    return busy / CLK_TCK, (v[5] + v[6]) / CLK_TCK


def irq_time_accounting() -> bool:
    """Whether the kernel keeps (soft)irq time out of the tasks' times."""
    import gzip
    import platform

    for path in ("/proc/config.gz", f"/boot/config-{platform.release()}"):
        try:
            opener = gzip.open if path.endswith(".gz") else open
            with opener(path, "rt") as f:
                return any(line.strip() == "CONFIG_IRQ_TIME_ACCOUNTING=y" for line in f)
        except OSError:
            continue
    return False


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--pid", type=int, required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--timeout", type=float, default=600)
    ap.add_argument("cmd", nargs=argparse.REMAINDER)
    a = ap.parse_args()
    cmd = a.cmd[1:] if a.cmd and a.cmd[0] == "--" else a.cmd
    r0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    s0, m0, t0 = cpu_seconds(a.pid), machine_busy(), time.monotonic()
    with open(a.out, "wb") as out:
        try:
            rc = subprocess.run(cmd, stdout=out, stderr=subprocess.STDOUT, timeout=a.timeout).returncode
        except subprocess.TimeoutExpired:
            rc = 124
    t1, m1, s1 = time.monotonic(), machine_busy(), cpu_seconds(a.pid)
    r1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    client = (r1.ru_utime - r0.ru_utime) + (r1.ru_stime - r0.ru_stime)
    server = s1 - s0
    busy, irq = m1[0] - m0[0], m1[1] - m0[1]
    print(json.dumps({
        "wall_s": round(t1 - t0, 3), "server_cpu_s": round(server, 2), "client_cpu_s": round(client, 2),
        "machine_busy_s": round(busy, 2), "irq_s": round(irq, 2),
        "other_cpu_s": round(busy - server - client - (irq if irq_time_accounting() else 0), 2), "rc": rc,
    }))
    return 0


if __name__ == "__main__":
    sys.exit(main())
