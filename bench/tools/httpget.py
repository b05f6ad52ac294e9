#!/usr/bin/env python3
"""Tiny HTTP/1.1 GET over a fresh connection, for checks in the harness.

    httpget.py HOST PORT PATH [--wait SECONDS] [--expect-status N] [--expect-body TEXT]

With --wait it retries (every 10 ms) until the expectations hold or the time
runs out. Prints the status and body of the last answer; exit 0 when the
expectations hold, 1 otherwise.
"""

import argparse
import socket
import sys
import time


def get(host: str, port: int, path: str, timeout: float = 2.0) -> tuple[int, bytes]:
    with socket.create_connection((host, port), timeout=timeout) as s:
        s.sendall(
            f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\nConnection: close\r\n\r\n".encode()
        )
        buf = b""
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            buf += chunk
            head, sep, body = buf.partition(b"\r\n\r\n")
            if sep:
                for line in head.split(b"\r\n")[1:]:
                    k, _, v = line.partition(b":")
                    if k.strip().lower() == b"content-length" and len(body) >= int(v):
                        return int(head.split()[1]), body[: int(v)]
    head, _, body = buf.partition(b"\r\n\r\n")
    return int(head.split()[1]), body


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("host")
    ap.add_argument("port", type=int)
    ap.add_argument("path")
    ap.add_argument("--wait", type=float, default=0.0)
    ap.add_argument("--expect-status", type=int, default=200)
    ap.add_argument("--expect-body", default=None)
    a = ap.parse_args()
    want_body = a.expect_body.encode().decode("unicode_escape").encode() if a.expect_body else None
    deadline = time.monotonic() + a.wait
    last = "no answer"
    while True:
        try:
            status, body = get(a.host, a.port, a.path)
            last = f"{status} {body!r}"
            if status == a.expect_status and (want_body is None or body == want_body):
                print(last)
                return 0
        except (OSError, ValueError, IndexError) as e:
            last = f"error: {e}"
        if time.monotonic() >= deadline:
            print(last)
            return 1
        time.sleep(0.01)


if __name__ == "__main__":
    sys.exit(main())
