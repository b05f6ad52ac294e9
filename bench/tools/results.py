#!/usr/bin/env python3
"""Collect benchmark records (JSON lines) and render the markdown summary.

    results.py wrk --server S --conns C --wrk-out FILE --measure JSON [--quiet-before CORES]
        -> one record from a wrk run (its output must hold the BENCHJSON line
           printed by report.lua; JSON is measure.py's output); prints it as a
           JSON line
    results.py add KIND SERVER JSON [key=value ...]
        -> a record of another KIND (probe, mem, startup, meta) as a JSON line
    results.py brief JSON
        -> a one-line human summary of a wrk record
    results.py noisy JSON
        -> "yes" when other processes took more than 0.1 core during that wrk run
    results.py report METRICS.jsonl
        -> the markdown summary on stdout
"""

import json
import math
import sys


def arg(args: list[str], name: str) -> str:
    return args[args.index(name) + 1]


def wrk_record(args: list[str]) -> dict:
    out = open(arg(args, "--wrk-out")).read()
    line = next((l for l in out.splitlines() if l.startswith("BENCHJSON ")), None)
    if line is None:
        raise SystemExit(f"results: no BENCHJSON line in {arg(args, '--wrk-out')}")
    w = json.loads(line[len("BENCHJSON ") :])
    m = json.loads(arg(args, "--measure"))
    cpu = m["server_cpu_s"]
    dur = w["duration_us"] / 1e6
    errors = {k[4:]: v for k, v in w.items() if k.startswith("err_") and v}
    return {
        "kind": "wrk", "server": arg(args, "--server"), "conns": int(arg(args, "--conns")),
        "requests": w["requests"], "duration_s": round(dur, 3),
        "rps": round(w["requests"] / dur, 1),
        "p50_ms": w["p50_us"] / 1000, "p90_ms": w["p90_us"] / 1000,
        "p99_ms": w["p99_us"] / 1000, "p999_ms": w["p999_us"] / 1000, "max_ms": w["max_us"] / 1000,
        "cpu_s": round(cpu, 2),
        "req_per_cpu_s": round(w["requests"] / cpu, 1) if cpu > 0 else None,
        "errors": errors,
        "client_cpu_s": m["client_cpu_s"], "irq_s": m["irq_s"], "other_cpu_s": m["other_cpu_s"],
        "machine_busy_s": m["machine_busy_s"],
        "rep": int(arg(args, "--rep")) if "--rep" in args else 1,
        "quiet_before_cores": float(arg(args, "--quiet-before")) if "--quiet-before" in args and arg(args, "--quiet-before") else None,
    }


def add_record(args: list[str]) -> dict:
    kind, server, body = args[0], args[1], args[2]
    rec = {"kind": kind, "server": server}
    rec.update(json.loads(body) if body.strip() else {})
    for kv in args[3:]:
        k, _, v = kv.partition("=")
        try:
            rec[k] = json.loads(v)
        except json.JSONDecodeError:
            rec[k] = v
    return rec


def median_record(rs: list[dict]) -> dict:
    """The median of each numeric figure over repeated runs (errors: summed)."""
    import statistics

    if len(rs) == 1:
        return dict(rs[0], n_runs=1)
    out = dict(rs[0], n_runs=len(rs))
    for k, v in rs[0].items():
        if isinstance(v, (int, float)) and k not in ("conns", "rep"):
            vals = [r[k] for r in rs if r.get(k) is not None]
            out[k] = statistics.median(vals) if vals else None
    errs: dict = {}
    for r in rs:
        for k, v in r["errors"].items():
            errs[k] = errs.get(k, 0) + v
    out["errors"] = errs
    return out


def is_noisy(r: dict) -> bool:
    return (r.get("other_cpu_s") or 0) > 0.1 * r["duration_s"]


# ---------------------------------------------------------------- report

NAMES = {"gale": "gale hello", "nginx": "nginx", "django": "Django on Tornado (WSGIContainer)"}


def f(x, nd=2, unit=""):
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "n/a"
    if isinstance(x, float) and abs(x) >= 1000:
        return f"{x:,.0f}{unit}"
    return f"{x:.{nd}f}{unit}" if isinstance(x, float) else f"{x:,}{unit}"


def mib(kib):
    return "n/a" if kib is None else f"{kib / 1024:.1f} MiB"


def ratio(a, b):
    if a is None or b is None or not b:
        return None
    return a / b


def check(value, op, target):
    if value is None:
        return "not measured"
    ok = value >= target if op == ">=" else value <= target if op == "<=" else value < target
    return "yes" if ok else "**no**"


def report(path: str) -> str:
    recs = [json.loads(l) for l in open(path) if l.strip()]
    meta = next((r for r in recs if r["kind"] == "meta"), {})
    runs: dict = {}
    for r in recs:
        if r["kind"] == "wrk":
            runs.setdefault((r["server"], r["conns"]), []).append(r)
    wrk = {k: median_record(v) for k, v in runs.items()}
    probe = {(r["server"], r.get("phase", "saturated")): r for r in recs if r["kind"] == "probe"}
    mem = {r["server"]: r for r in recs if r["kind"] == "mem"}
    start = next((r for r in recs if r["kind"] == "startup" and r["server"] == "gale"), None)

    L = []
    L.append(f"# gale benchmark, {meta.get('date', '?')}")
    L.append("")
    L.append(f"- Machine: {meta.get('cores', '?')} cores ({meta.get('cpu', '?')}), "
             f"{meta.get('mem', '?')} RAM, Linux {meta.get('kernel', '?')}, {meta.get('os', '?')}")
    rep = meta.get("repeat", 1)
    L.append(f"- Load: wrk {meta.get('wrk', '?')}, 1 thread, keep-alive, {meta.get('duration', '?')} s per run "
             f"after a {meta.get('warmup', '?')} s warm-up"
             + (f", {rep} runs each (medians shown)" if rep and rep > 1 else "")
             + "; everything on 127.0.0.1; no CPU pinning")
    L.append(f"- gale: `hello serve --no-access-log{meta.get('gale_args', '')}` ({meta.get('gale_rev', '?')})")
    L.append(f"- nginx {meta.get('nginx', '?')}: {meta.get('nginx_workers', '?')} workers, access_log off, "
             f"`return 200` from the config, keepalive_requests 1000000")
    L.append(f"- Django {meta.get('django', '?')} on Tornado {meta.get('tornado', '?')} (tornado.wsgi.WSGIContainer, "
             f"one process), Python {meta.get('python', '?')}")
    L.append("")
    L.append("## Throughput, latency and server CPU")
    L.append("")
    L.append("| server | conns | req/s | p50 ms | p99 ms | server CPU s | req per server CPU-s | errors "
             "| wrk CPU s | other CPU s |")
    L.append("|---|---:|---:|---:|---:|---:|---:|---|---:|---:|")
    for (srv, c), r in sorted(wrk.items(), key=lambda kv: (list(NAMES).index(kv[0][0]) if kv[0][0] in NAMES else 9, kv[0][1])):
        errs = ", ".join(f"{k} {v}" for k, v in r["errors"].items()) or "none"
        L.append(f"| {NAMES.get(srv, srv)} | {c} | {f(r['rps'], 0)} | {f(r['p50_ms'], 3)} | {f(r['p99_ms'], 3)} "
                 f"| {f(r['cpu_s'])} | {f(r['req_per_cpu_s'], 0)} | {errs} "
                 f"| {f(r.get('client_cpu_s'))} | {f(r.get('other_cpu_s'))} |")
    L.append("")
    L.append("Server CPU = utime + stime of the server's processes and all their threads over the run. "
             "wrk CPU = the load generator's; other CPU = the rest of the machine's busy time, "
             "which should be near 0 (a few tenths are tick-sampling noise).")
    noisy = [f"{r['server']} {r['conns']}" for r in wrk.values() if is_noisy(r)]
    if noisy:
        L.append("")
        L.append(f"**Warning: other processes used more than 0.1 core during: {', '.join(noisy)}. "
                 "Those figures are not reliable; run again on a quiet machine.**")
    L.append("")

    targets = []  # (label, measured text, met)
    L.append("## Ratios")
    L.append("")
    L.append("| ratio | 64 conns | 256 conns | target |")
    L.append("|---|---:|---:|---|")

    def rrow(label, key, op, target, tlabel):
        vals = []
        for c in (64, 256):
            g, n = wrk.get(("gale", c)), wrk.get(("nginx", c))
            vals.append(ratio(g and g[key], n and n[key]))
        L.append(f"| {label} | {f(vals[0])} | {f(vals[1])} | {tlabel} |")
        got = [v for v in vals if v is not None]
        met = "not measured" if not got else ("yes" if all(check(v, op, target) == "yes" for v in got) else "**no**")
        targets.append((f"{label} {tlabel}", " / ".join(f(v) for v in vals) + " (64 / 256 conns)", met))

    rrow("gale/nginx req per server CPU-s", "req_per_cpu_s", ">=", 1.0, "≥ 1.0")
    rrow("gale/nginx req/s", "rps", ">=", 0.9, "≥ 0.9")
    rrow("gale/nginx p99", "p99_ms", "<=", 1.5, "≤ 1.5")
    g, d = wrk.get(("gale", 64)), wrk.get(("django", 64))
    dj = ratio(g and g["rps"], d and d["rps"])
    L.append(f"| gale/Tornado+Django req/s | {f(dj, 1)} | | ≥ 20 |")
    targets.append(("gale/Tornado+Django req/s ≥ 20", f"{f(dj, 1)} (64 conns)", check(dj, ">=", 20)))
    L.append("")

    L.append("## Probe latency")
    L.append("")
    sat = probe.get(("gale", "saturated"))
    if probe:
        L.append("Sequential GETs, a fresh connection each (as kubelet's probes), 2 ms apart; time from "
                 "connect to the last byte, measured by a Python client on the same 2 cores.")
        L.append("")
        L.append("| server, path | when | requests | non-200 / failed | p50 ms | p99 ms | max ms |")
        L.append("|---|---|---:|---:|---:|---:|---:|")
        rows = (("gale", "idle", "gale, `/ready` (probe port)", "idle"),
                ("gale", "saturated", "gale, `/ready` (probe port)", "app port saturated"),
                ("nginx", "saturated", "nginx, `/` (reference)", "same port saturated"))
        for srv, phase, who, when in rows:
            p = probe.get((srv, phase))
            if p:
                if p.get("app_rps"):
                    when += f" (wrk 256 conns, {f(float(p['app_rps']), 0)} req/s)"
                L.append(f"| {who} | {when} | {p['n']} | {p['n'] - p['ok']} / {p['failed']} "
                         f"| {f(p['p50_ms'], 3)} | {f(p['p99_ms'], 3)} | {f(p['max_ms'], 3)} |")
    else:
        L.append("Not measured.")
    targets.append(("/ready p99 at saturation < 5 ms", f(sat and sat["p99_ms"], 3) + " ms" if sat else "n/a",
                    check(sat and sat["p99_ms"], "<", 5.0)))
    L.append("")

    L.append("## Memory")
    L.append("")
    if mem:
        L.append("RSS is VmRSS summed over the server's processes (nginx: master + workers); PSS splits "
                 "shared pages between them. Idle = after start, before any load.")
        L.append("")
        L.append("| server | idle RSS | idle PSS | RSS, 10,000 idle conns | PSS, 10,000 idle conns | conns answered / still open |")
        L.append("|---|---:|---:|---:|---:|---:|")
        for srv in ("gale", "nginx", "nginx-768"):
            m = mem.get(srv)
            if m:
                name = NAMES["gale"] if srv == "gale" else (
                    f"nginx, worker_connections {m.get('worker_connections', '?')}"
                    + (" (Debian's default; idle only)" if srv == "nginx-768" else ""))
                L.append(f"| {name} | {mib(m.get('idle_rss_kib'))} | {mib(m.get('idle_pss_kib'))} "
                         f"| {mib(m.get('conn_rss_kib'))} | {mib(m.get('conn_pss_kib'))} "
                         f"| {m.get('opened', 'n/a')} / {m.get('open_at_read', 'n/a')} |")
        L.append("")
        L.append("nginx preallocates its connection table (worker_connections per worker), which shows "
                 "in its idle RSS; the main nginx run is sized so that one worker can hold all the "
                 "idle connections.")
    else:
        L.append("Not measured.")
    gm = mem.get("gale", {})
    idle = gm.get("idle_rss_kib")
    conn = gm.get("conn_rss_kib")
    targets.append(("gale idle RSS < 8 MiB", mib(idle), check(idle and idle / 1024, "<", 8)))
    conn_ok = check(conn and conn / 1024, "<", 64)
    if conn is not None and gm.get("open_at_read", 0) < 10000 and conn_ok == "yes":
        conn_ok = "**no** (fewer than 10,000 conns open)"
    targets.append(("gale RSS with 10,000 idle conns < 64 MiB", mib(conn), conn_ok))
    L.append("")

    L.append("## Startup")
    L.append("")
    if start:
        L.append("From exec of `hello serve` to the first `GET /ready` answered 200 (polled every 1 ms), "
                 "fresh working directory and database each run.")
        L.append("")
        L.append(f"best {f(start['best_ms'])} ms, median {f(start['median_ms'])} ms, "
                 f"runs: {', '.join(f(x) for x in start['runs_ms'])} ms"
                 + (f", {start['failed']} failed" if start.get("failed") else ""))
    else:
        L.append("Not measured.")
    targets.append(("ready < 20 ms (best of 5)", f(start and start["best_ms"]) + " ms" if start else "n/a",
                    check(start and start["best_ms"], "<", 20)))
    L.append("")

    L.append("## Targets")
    L.append("")
    L.append("| target | measured | met |")
    L.append("|---|---|---|")
    for label, measured, met in targets:
        L.append(f"| {label} | {measured} | {met} |")
    L.append("")
    return "\n".join(L)


def main() -> int:
    if len(sys.argv) < 2:
        print(__doc__, file=sys.stderr)
        return 2
    cmd, args = sys.argv[1], sys.argv[2:]
    if cmd == "wrk":
        print(json.dumps(wrk_record(args)))
    elif cmd == "add":
        print(json.dumps(add_record(args)))
    elif cmd == "noisy":
        print("yes" if is_noisy(json.loads(args[0])) else "no")
    elif cmd == "brief":
        r = json.loads(args[0])
        errs = ", ".join(f"{k} {v}" for k, v in r["errors"].items()) or "no errors"
        print(f"{r['server']} {r['conns']} conns: {r['rps']:,.0f} req/s, p50 {r['p50_ms']:.3f} ms, "
              f"p99 {r['p99_ms']:.3f} ms, server CPU {r['cpu_s']:.2f} s, "
              f"{(r['req_per_cpu_s'] or 0):,.0f} req per CPU-s, {errs}; "
              f"wrk CPU {r['client_cpu_s']:.2f} s, other CPU {r['other_cpu_s']:.2f} s")
    elif cmd == "report":
        print(report(args[0]))
    else:
        print(__doc__, file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
