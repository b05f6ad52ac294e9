# SPDX-License-Identifier: MIT
"""The report of bench/tasks_redis.sh and bench/tasks_amqp.sh: reads the lines their rounds wrote
(`ROUND WORKER WORKLOAD key=value...`, from gale-tasks-*-bench measure/latency and bench/tasks_common.sh) and prints
two Markdown tables — round by round, and the best of each worker and workload (the highest rates, the lowest
latencies) with the gale/Celery ratios — to stdout and to RESULTS.

  tasks_report.py LINES RESULTS TITLE [--target-noop-cpu X]

With --target-noop-cpu the exit status is 3 when gale's best no-op tasks per worker CPU-second is under X times
Celery's (issue 10's rule on Redis); the insert ratio is reported, never a target.
"""
import sys

WORKERS = [("gale", "gale Worker (threads)"), ("celery", "Celery 5.2.6 prefork")]
WORKLOADS = [("noop", "no-op"), ("insert", "SQLite insert")]


def parse(path):
    rows = []
    with open(path) as f:
        for line in f:
            parts = line.split()
            if len(parts) < 4:
                continue
            values = dict(p.split("=", 1) for p in parts[3:] if "=" in p)
            rows.append((int(parts[0]), parts[1], parts[2], {k: float(v) for k, v in values.items()}))
    return rows


def pick(rows, worker, workload, key, best):
    values = [v[key] for _, w, wl, v in rows if w == worker and wl == workload and key in v]
    return best(values) if values else None


def fmt(value, unit=None):
    """A count as 12,345; with a unit (" ms", "") two decimals and the unit."""
    if value is None:
        return "–"
    return f"{value:,.0f}" if unit is None else f"{value:,.2f}{unit}"


def main(argv):
    lines, results, title = argv[1], argv[2], argv[3]
    target = float(argv[5]) if len(argv) > 5 and argv[4] == "--target-noop-cpu" else None
    rows = parse(lines)
    out = []
    out.append(f"Round by round ({title}):")
    out.append("")
    out.append("| round | workload | worker | tasks/s | worker CPU s | tasks per worker CPU-second | latency p50 | "
               "latency p99 |")
    out.append("|---|---|---|---|---|---|---|---|")
    for r in sorted({r for r, _, _, _ in rows}):
        for workload, wname in WORKLOADS:
            for worker, _ in WORKERS:
                def one(key):
                    for rr, w, wl, v in rows:
                        if rr == r and w == worker and wl == workload and key in v:
                            return v[key]
                    return None
                out.append(f"| {r} | {wname} | {worker} | {fmt(one('tasks/s'))} | {fmt(one('cpu_s'), '')} | "
                           f"{fmt(one('tasks/cpu_s'))} | {fmt(one('p50_ms'), ' ms')} | {fmt(one('p99_ms'), ' ms')} |")
    out.append("")
    out.append(f"Best of each ({title}):")
    out.append("")
    out.append("| workload | worker | tasks/s | tasks per worker CPU-second | latency p50 | latency p99 |")
    out.append("|---|---|---|---|---|---|")
    ratios = {}
    for workload, wname in WORKLOADS:
        best = {}
        for worker, label in WORKERS:
            best[worker] = {
                "rate": pick(rows, worker, workload, "tasks/s", max),
                "cpu": pick(rows, worker, workload, "tasks/cpu_s", max),
                "p50": pick(rows, worker, workload, "p50_ms", min),
                "p99": pick(rows, worker, workload, "p99_ms", min),
            }
            b = best[worker]
            out.append(f"| {wname} | {label} | {fmt(b['rate'])} | {fmt(b['cpu'])} | {fmt(b['p50'], ' ms')} | "
                       f"{fmt(b['p99'], ' ms')} |")
        g, c = best["gale"], best["celery"]
        rate = g["rate"] / c["rate"] if g["rate"] and c["rate"] else None
        cpu = g["cpu"] / c["cpu"] if g["cpu"] and c["cpu"] else None
        ratios[workload] = cpu
        note = " (target >= %gx)" % target if target is not None and workload == "noop" else ""
        out.append(f"| {wname} | gale / Celery | {rate:.1f}x | **{cpu:.1f}x**{note} | | |"
                   if rate and cpu else f"| {wname} | gale / Celery | – | – | | |")
    text = "\n".join(out) + "\n"
    sys.stdout.write(text)
    with open(results, "w") as f:
        f.write(text)
    if target is not None:
        return 0 if ratios.get("noop") and ratios["noop"] >= target else 3
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
