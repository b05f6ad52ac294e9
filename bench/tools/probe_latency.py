#!/usr/bin/env python3
"""Latency of sequential probe requests, one fresh connection each (as kubelet).

    probe_latency.py --port Q [--host 127.0.0.1] [--path /ready]
                     [--duration 8] [--max 2000] [--interval 0.002]

Sends `GET PATH` on a new TCP connection, waits for the whole answer, closes,
sleeps --interval, and again, until --max requests or --duration seconds.
Each sample is the time from connect() to the last byte of the answer.
Prints one JSON object: n, ok (status 200), failed, p50_ms, p90_ms, p99_ms, max_ms.
"""

import argparse
import json
import socket
import sys
import time


def once(host: str, port: int, path: str) -> int:
    with socket.create_connection((host, port), timeout=5) as s:
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        s.sendall(f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\nConnection: close\r\n\r\n".encode())
        buf = b""
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            buf += chunk
            head, sep, body = buf.partition(b"\r\n\r\n")
            if sep:
                length = None
                for line in head.split(b"\r\n")[1:]:
                    k, _, v = line.partition(b":")
                    if k.strip().lower() == b"content-length":
                        length = int(v)
                if length is not None and len(body) >= length:
                    break
        return int(buf.split(b" ", 2)[1])


def pct(sorted_ms: list[float], p: float) -> float:
    if not sorted_ms:
        return float("nan")
    k = max(0, min(len(sorted_ms) - 1, int(round(p / 100.0 * len(sorted_ms) + 0.5)) - 1))
    return sorted_ms[k]


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--path", default="/ready")
    ap.add_argument("--duration", type=float, default=8.0)
    ap.add_argument("--max", type=int, default=2000)
    ap.add_argument("--interval", type=float, default=0.002)
    a = ap.parse_args()
    samples: list[float] = []
    failed = 0
    ok = 0
    end = time.monotonic() + a.duration
    while len(samples) + failed < a.max and time.monotonic() < end:
        t0 = time.perf_counter()
        try:
            status = once(a.host, a.port, a.path)
            samples.append((time.perf_counter() - t0) * 1000.0)
            ok += status == 200
        except (OSError, ValueError, IndexError):
            failed += 1
        if a.interval > 0:
            time.sleep(a.interval)
    samples.sort()
    print(json.dumps({
        "n": len(samples), "ok": ok, "failed": failed,
        "p50_ms": round(pct(samples, 50), 3), "p90_ms": round(pct(samples, 90), 3),
        "p99_ms": round(pct(samples, 99), 3), "max_ms": round(samples[-1], 3) if samples else None,
    }))
    return 0 if samples else 1


if __name__ == "__main__":
    sys.exit(main())
