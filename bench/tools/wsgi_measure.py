#!/usr/bin/env python3
"""Measurements and the report of bench/wsgi.sh (the WSGI server benchmark).

    wsgi_measure.py cpu PGID
        CPU seconds (utime + stime) of every live process whose process group is PGID
        (each process's figure covers all its threads).

    wsgi_measure.py run --pgid PGID --url URL --conns C --duration D --out FILE
                        [--cpu-list 1] [--probe-port Q --probe-path /ready --probe-interval 0.02]
                        [--tag KEY=VALUE ...]
        Runs `taskset -c CPU_LIST wrk -t1 -cC -dDs --latency -s report.lua URL` (its output to FILE),
        reads the server group's CPU time and the machine's busy time (/proc/stat) just before and
        just after, and prints one JSON object: wrk's figures (requests, req_s, p50_us, p99_us,
        err_*), server_cpu_s, wrk_cpu_s, machine_busy_s, other_cpu_s (the rest of the machine),
        wall_s. With --probe-port, a second client (tools/probe_latency.py, pinned like wrk) sends
        sequential GETs of PATH on the probe port, a fresh connection each as kubelet does, one
        every PROBE_INTERVAL s, from 1 s after wrk starts until 1 s before it ends; its result is
        the "probe" member and its CPU time is counted apart (probe_cpu_s). Each --tag is copied
        into the object.

    wsgi_measure.py report RECORDS.jsonl [--gale-label gale-wsgi]
        The markdown tables (one per app, then the probe and the target tables) from the records
        written by wsgi.sh. Exit status 1 when gale-wsgi ran and missed a target, else 0.
"""

import argparse
import json
import os
import subprocess
import sys
import time

TOOLS = os.path.dirname(os.path.abspath(__file__))
CLK_TCK = os.sysconf("SC_CLK_TCK")

# Issue 11's targets.
TARGET_RATIO = {"django": 1.5, "bare": 5.0}
TARGET_READY_P99_MS = 5.0


def _stat_rest(pid: str) -> list[str]:
    with open(f"/proc/{pid}/stat", "rb") as f:
        data = f.read().decode("ascii", "replace")
    return data[data.rindex(")") + 2 :].split()  # rest[0] is field 3 (state)


def group_cpu_seconds(pgid: int) -> float:
    ticks = 0
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            rest = _stat_rest(name)
            if int(rest[2]) == pgid:  # field 5, pgrp
                ticks += int(rest[11]) + int(rest[12])  # fields 14 utime, 15 stime
        except (OSError, ValueError, IndexError):
            continue
    return ticks / CLK_TCK


def machine_busy_seconds() -> float:
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:]]
    # user nice system idle iowait irq softirq steal
    return (v[0] + v[1] + v[2] + v[5] + v[6] + (v[7] if len(v) > 7 else 0)) / CLK_TCK


def _wait(proc: subprocess.Popen, timeout: float) -> float:
    """Waits for proc; returns its CPU seconds (from wait4's rusage)."""
    deadline = time.monotonic() + timeout
    while True:
        pid, status, ru = os.wait4(proc.pid, os.WNOHANG)
        if pid == proc.pid:
            proc.returncode = os.waitstatus_to_exitcode(status)
            return ru.ru_utime + ru.ru_stime
        if time.monotonic() > deadline:
            proc.kill()
            pid, status, ru = os.wait4(proc.pid, 0)
            proc.returncode = 124
            return ru.ru_utime + ru.ru_stime
        time.sleep(0.02)


def run(a: argparse.Namespace) -> int:
    pin = ["taskset", "-c", a.cpu_list]
    wrk = pin + ["wrk", "-t1", f"-c{a.conns}", f"-d{a.duration}s", "--latency",
                 "-s", os.path.join(TOOLS, "report.lua"), a.url]
    s0, m0, t0 = group_cpu_seconds(a.pgid), machine_busy_seconds(), time.monotonic()
    with open(a.out, "wb") as out:
        w = subprocess.Popen(wrk, stdout=out, stderr=subprocess.STDOUT)
        probe, probe_cpu = None, 0.0
        if a.probe_port:
            time.sleep(1.0)
            probe = subprocess.Popen(
                pin + [sys.executable, os.path.join(TOOLS, "probe_latency.py"), "--port", str(a.probe_port),
                       "--path", a.probe_path, "--duration", str(max(1.0, a.duration - 2.0)), "--max", "5000",
                       "--interval", str(a.probe_interval)],
                stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
            probe_out = probe.stdout.read()
            probe_cpu = _wait(probe, a.duration + 30)
        wrk_cpu = _wait(w, a.duration + 30)
    t1, m1, s1 = time.monotonic(), machine_busy_seconds(), group_cpu_seconds(a.pgid)
    rec = dict(t.split("=", 1) for t in a.tag)
    rec["rc"] = w.returncode
    with open(a.out, "rb") as f:
        for line in f.read().decode("utf-8", "replace").splitlines():
            if line.startswith("BENCHJSON "):
                rec.update(json.loads(line[len("BENCHJSON "):]))
    if "requests" not in rec:
        print(json.dumps({"rc": w.returncode or 1, "error": "no BENCHJSON line from wrk"}))
        return 1
    server = s1 - s0
    busy = m1 - m0
    rec.update({
        "req_s": round(rec["requests"] / (rec["duration_us"] / 1e6), 1),
        "server_cpu_s": round(server, 2), "wrk_cpu_s": round(wrk_cpu, 2), "probe_cpu_s": round(probe_cpu, 2),
        "machine_busy_s": round(busy, 2), "other_cpu_s": round(busy - server - wrk_cpu - probe_cpu, 2),
        "wall_s": round(t1 - t0, 2),
    })
    if probe is not None:
        try:
            rec["probe"] = json.loads(probe_out.decode("utf-8", "replace").strip().splitlines()[-1])
        except (ValueError, IndexError):
            rec["probe"] = {"error": probe_out.decode("utf-8", "replace")[-300:]}
    print(json.dumps(rec))
    return 0


# ------------------------------------------------------------------ report

def _n(x: float) -> str:
    return f"{x:,.0f}"


def _errors(r: dict) -> str:
    parts = [f"{k} {_n(r['err_' + k])}" for k in ("connect", "read", "write", "timeout") if r.get("err_" + k)]
    if r.get("err_status"):
        parts.append(f"non-2xx {_n(r['err_status'])}")
    return ", ".join(parts) or "none"


def per_cpu(r: dict) -> float:
    return r["requests"] / r["server_cpu_s"] if r.get("server_cpu_s", 0) > 0 else 0.0


def noisy(r: dict) -> bool:
    return r.get("other_cpu_s", 0) > 0.1 * r["duration_us"] / 1e6


def report(a: argparse.Namespace) -> int:
    recs = [json.loads(line) for line in open(a.records) if line.strip()]
    meta = next((r for r in recs if r.get("kind") == "meta"), {})
    loads = [r for r in recs if r.get("kind") == "load"]
    probes = [r for r in recs if r.get("kind") == "probe"]
    floors = {r["app"]: r for r in recs if r.get("kind") == "floor"}
    ceilings = [r for r in recs if r.get("kind") == "ceiling"]
    gale = a.gale_label
    out, missed, targets = [], [], []
    if meta:
        out.append(f"Measured {meta.get('date', '?')} ({meta.get('uptime', '')}); {meta.get('setup', '')}")
        out.append("")
    for app in [x for x in ("django", "bare") if any(r["app"] == x for r in loads)]:
        rows = [r for r in loads if r["app"] == app]
        title = {"django": "Django hello world", "bare": "bare WSGI callable"}[app]
        g = next((r for r in rows if r["server"] == gale), None)
        out.append(f"### {title} (`{rows[0]['app_spec']}`)")
        out.append("")
        out.append("| server | configuration | req/s | p50 ms | p99 ms | errors (wrk) | server CPU s | server cores "
                   "| req per server CPU-s | " + (f"{gale} / this | " if g else "") + "wrk CPU s | other CPU s |")
        out.append("|---|---|---:|---:|---:|---|---:|---:|---:|" + ("---:|" if g else "") + "---:|---:|")
        for r in rows:
            ratio = ""
            if g:
                ratio = (f"{per_cpu(g) / per_cpu(r):.2f} | " if r is not g and per_cpu(r) else " | ")
            out.append(f"| {r['server']} | {r['config']} | {_n(r['req_s'])} | {r['p50_us'] / 1000:.3f} | "
                       f"{r['p99_us'] / 1000:.3f} | {_errors(r)} | {r['server_cpu_s']:.2f} | "
                       f"{r['server_cpu_s'] / (r['duration_us'] / 1e6):.2f} | {_n(per_cpu(r))} | {ratio}"
                       f"{r['wrk_cpu_s']:.2f} | {r['other_cpu_s']:.2f}{' (noisy)' if noisy(r) else ''} |")
        others = [r for r in rows if r is not g]
        best = max(others, key=per_cpu) if others else None
        out.append("")
        if any(noisy(r) for r in rows):
            out.append("(noisy): the rest of the machine took more than 0.1 core during that run; its req/s and "
                       "latencies are lowered by it, its req per server CPU-second much less so.")
        if best:
            out.append(f"Best of the others per server CPU-second: {best['server']}, {_n(per_cpu(best))}.")
        if g and best:
            ratio = per_cpu(g) / per_cpu(best)
            ok = ratio >= TARGET_RATIO[app]
            targets.append((f"{title}: {gale} / best other, req per server CPU-s ≥ {TARGET_RATIO[app]}×",
                            f"{ratio:.2f}× ({best['server']})", ok))
            if not ok:
                missed.append(app)
            out.append(f"{gale} / {best['server']}: **{ratio:.2f}×** per server CPU-second "
                       f"(target ≥ {TARGET_RATIO[app]}×), {g['req_s'] / best['req_s']:.2f}× the req/s.")
        elif not g:
            out.append(f"{gale}: not measured in this run.")
        if app in floors:
            f = floors[app]
            line = (f"The app itself, called in a loop in one Python process with no server (`wsgi_apps/floor.py`, "
                    f"pinned like the servers): {_n(f['calls_per_cpu_s'])} calls per CPU-second, "
                    f"{f['us_per_call']:.2f} µs each. No server can answer more requests per server CPU-second")
            if best and per_cpu(best):
                line += (f": that bound is {f['calls_per_cpu_s'] / per_cpu(best):.2f}× {best['server']}, the most "
                         f"any server could reach against it (target ≥ {TARGET_RATIO[app]}×)")
            out.append(line + ".")
        app_ceilings = [r for r in ceilings if r["app"] == app]
        if app_ceilings:
            out.append("")
            out.append("No Python at all, measured the same way in the same run (the HTTP ceiling on this core; not "
                       "peers, no target counts them):")
            out.append("")
            out.append("| server | configuration | req/s | p50 ms | p99 ms | errors (wrk) | server CPU s "
                       "| req per server CPU-s | " + (f"{gale} / this |" if g else "") )
            out.append("|---|---|---:|---:|---:|---|---:|---:|" + ("---:|" if g else ""))
            for r in app_ceilings:
                ratio = f" {per_cpu(g) / per_cpu(r):.2f} |" if g and per_cpu(r) else ""
                out.append(f"| {r['server']} | {r['config']} | {_n(r['req_s'])} | {r['p50_us'] / 1000:.3f} | "
                           f"{r['p99_us'] / 1000:.3f} | {_errors(r)} | {r['server_cpu_s']:.2f} | "
                           f"{_n(per_cpu(r))} |{ratio}")
            top = max(app_ceilings, key=per_cpu)
            if best and per_cpu(best) and per_cpu(top):
                asked = TARGET_RATIO[app] * per_cpu(best)
                out.append("")
                out.append(f"The target asks {TARGET_RATIO[app]}× {best['server']} = {_n(asked)} requests per server "
                           f"CPU-second of a server running Python; {top['server']}, with no Python, answered "
                           f"{_n(per_cpu(top))}: the target is {asked / per_cpu(top):.2f}× that ceiling.")
        out.append("")
    if probes:
        out.append("### `/ready` with the app port saturated")
        out.append("")
        out.append("Sequential `GET /ready`, a fresh connection each (as kubelet), one every "
                   f"{probes[0].get('probe_interval_ms', '?')} ms while wrk saturates the app port; time from "
                   "connect to the last byte, measured by a Python client pinned with wrk.")
        out.append("")
        out.append("| server | app | where /ready is | app port load (wrk) | probes | non-200 / failed | p50 ms | "
                   "p99 ms | max ms |")
        out.append("|---|---|---|---|---:|---:|---:|---:|---:|")
        for r in probes:
            p = r.get("probe", {})
            n = p.get("n", 0)
            out.append(f"| {r['server']} | {r['app']} | {r['where']} | {_n(r['req_s'])} req/s, p99 "
                       f"{r['p99_us'] / 1000:.1f} ms{' (noisy)' if noisy(r) else ''} | {n} | {n - p.get('ok', 0)} / {p.get('failed', '?')} | "
                       f"{p.get('p50_ms', '?')} | {p.get('p99_ms', '?')} | {p.get('max_ms', '?')} |")
            if r["server"] == gale:
                # The target is the probe's latency: a 503 (gale's readiness fails while --req-queue-len requests
                # wait for a worker, as hurricane's does) is an answer too, counted and shown; no answer is a miss.
                p99 = p.get("p99_ms")
                ok = isinstance(p99, (int, float)) and p99 < TARGET_READY_P99_MS and n > 0 and not p.get("failed")
                non200 = f"; {n - p.get('ok', 0)} of {n} not 200" if n - p.get("ok", 0) else ""
                targets.append((f"{r['app']}: {gale} /ready p99 at saturation < {TARGET_READY_P99_MS:g} ms",
                                f"{p99} ms{non200}", ok))
                if not ok:
                    missed.append(f"ready-{r['app']}")
        out.append("")
    if targets:
        out.append("### Targets (issue 11)")
        out.append("")
        out.append("| target | measured | met |")
        out.append("|---|---|---|")
        for name, val, ok in targets:
            out.append(f"| {name} | {val} | {'yes' if ok else '**no**'} |")
        out.append("")
    print("\n".join(out))
    return 1 if missed else 0


def main() -> int:
    ap = argparse.ArgumentParser()
    sub = ap.add_subparsers(dest="cmd", required=True)
    c = sub.add_parser("cpu")
    c.add_argument("pgid", type=int)
    r = sub.add_parser("run")
    r.add_argument("--pgid", type=int, required=True)
    r.add_argument("--url", required=True)
    r.add_argument("--conns", type=int, default=32)
    r.add_argument("--duration", type=int, default=10)
    r.add_argument("--out", required=True)
    r.add_argument("--cpu-list", default="1")
    r.add_argument("--probe-port", type=int, default=0)
    r.add_argument("--probe-path", default="/ready")
    r.add_argument("--probe-interval", type=float, default=0.02)
    r.add_argument("--tag", action="append", default=[], help="KEY=VALUE copied into the record")
    p = sub.add_parser("report")
    p.add_argument("records")
    p.add_argument("--gale-label", default="gale-wsgi")
    a = ap.parse_args()
    if a.cmd == "cpu":
        print(f"{group_cpu_seconds(a.pgid):.2f}")
        return 0
    return run(a) if a.cmd == "run" else report(a)


if __name__ == "__main__":
    sys.exit(main())
