#!/usr/bin/env python3
"""Startup time of a server: from exec to the first `GET /ready` answered 200.

    startup.py --probe-port Q [--runs 5] [--workdir DIR] [--env K=V ...]
               [--prepare "CMD ARGS"] -- CMD ARGS...

For each run: a fresh working directory DIR/run-i (the command runs there, with
GALE_HELLO_DB=DIR/run-i/hello.db unless --env sets it; --prepare, e.g. the
database migration, runs there first, untimed), the clock starts just
before the fork/exec, and /ready on 127.0.0.1:Q is polled on fresh connections,
1 ms apart, until it answers 200 (10 s at most). Then the server gets SIGKILL
(a graceful drain would only slow the runs down). Prints one JSON object: runs_ms, best_ms, median_ms, failed.
"""

import argparse
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import time


def ready(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1) as s:
            s.sendall(b"GET /ready HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
            buf = b""
            while b"\r\n" not in buf:
                chunk = s.recv(4096)
                if not chunk:
                    break
                buf += chunk
            return buf.startswith(b"HTTP/1.1 200") or buf.startswith(b"HTTP/1.0 200")
    except OSError:
        return False


def stop(p: subprocess.Popen) -> None:
    # Only startup is measured here: no need to sit through a graceful drain.
    if p.poll() is None:
        p.send_signal(signal.SIGKILL)
    p.wait()


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--probe-port", type=int, required=True)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--workdir", default="/tmp")
    ap.add_argument("--env", action="append", default=[])
    ap.add_argument("--prepare", default=None)
    ap.add_argument("cmd", nargs=argparse.REMAINDER)
    a = ap.parse_args()
    cmd = a.cmd[1:] if a.cmd and a.cmd[0] == "--" else a.cmd
    if not cmd:
        ap.error("no command")
    if ready(a.probe_port):
        print(f"startup: something already answers on port {a.probe_port}", file=sys.stderr)
        return 1
    runs: list[float] = []
    failed = 0
    for i in range(a.runs):
        d = os.path.join(a.workdir, f"run-{i}")
        os.makedirs(d, exist_ok=True)
        env = dict(os.environ, GALE_HELLO_DB=os.path.join(d, "hello.db"))
        env.update(kv.split("=", 1) for kv in a.env)
        if a.prepare:
            import shlex

            prep = subprocess.run(shlex.split(a.prepare), cwd=d, env=env, capture_output=True, timeout=60)
            if prep.returncode != 0:
                print(f"startup: {a.prepare!r} failed: {prep.stderr.decode(errors='replace').strip()}",
                      file=sys.stderr)
        with open(os.path.join(d, "server.log"), "wb") as log:
            t0 = time.perf_counter()
            p = subprocess.Popen(cmd, cwd=d, env=env, stdout=log, stderr=subprocess.STDOUT)
            ok = False
            while time.perf_counter() - t0 < 10.0:
                if ready(a.probe_port):
                    ok = True
                    break
                if p.poll() is not None:
                    break
                time.sleep(0.001)
            elapsed = (time.perf_counter() - t0) * 1000.0
            stop(p)
        if ok:
            runs.append(round(elapsed, 2))
        else:
            failed += 1
            rc = p.returncode
            with open(os.path.join(d, "server.log"), "rb") as f:
                tail = f.read().decode(errors="replace").strip().splitlines()[-5:]
            print(f"startup: run {i} never became ready"
                  + (f" (the server exited with status {rc})" if rc not in (None, -9) else "")
                  + ": " + " | ".join(tail), file=sys.stderr)
            if rc not in (None, -9):
                break  # it will not do better next time
        # Let the ports go before the next run.
        t = time.monotonic()
        while ready(a.probe_port) and time.monotonic() - t < 5:
            time.sleep(0.01)
    print(json.dumps({
        "runs_ms": runs, "failed": failed,
        "best_ms": min(runs) if runs else None,
        "median_ms": round(statistics.median(runs), 2) if runs else None,
    }))
    return 0 if runs else 1


if __name__ == "__main__":
    sys.exit(main())
