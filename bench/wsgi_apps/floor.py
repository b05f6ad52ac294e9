"""The cost of a WSGI app with no server: how many calls per CPU-second Python itself allows.

    floor.py --app MODULE:CALLABLE --pythonpath DIR [--seconds 5]

Calls the app in a loop, on one thread, with the environ a server builds for `GET / HTTP/1.1` from wrk (the PEP 3333
keys, wsgi.input an empty BytesIO, the wrk request's headers), a start_response that keeps the status and headers,
the body iterated and joined and close() called, as a server does. It counts calls per CPU-second of this process
(time.process_time), after a one-second warm-up, and prints one JSON line {"calls", "cpu_s", "calls_per_cpu_s",
"us_per_call"}. No server can answer more requests per CPU-second than this: the figure bounds what bench/wsgi.sh's
"requests per server CPU-second" can reach for that app, whoever serves it.
"""

import argparse
import importlib
import io
import json
import sys
import time


def environ_for_get():
    return {
        "REQUEST_METHOD": "GET",
        "SCRIPT_NAME": "",
        "PATH_INFO": "/",
        "QUERY_STRING": "",
        "SERVER_NAME": "127.0.0.1",
        "SERVER_PORT": "8000",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "REMOTE_ADDR": "127.0.0.1",
        "REMOTE_PORT": "40000",
        "HTTP_HOST": "127.0.0.1:8000",
        "wsgi.version": (1, 0),
        "wsgi.url_scheme": "http",
        "wsgi.input": io.BytesIO(b""),
        "wsgi.errors": sys.stderr,
        "wsgi.multithread": True,
        "wsgi.multiprocess": False,
        "wsgi.run_once": False,
    }


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--app", required=True)
    parser.add_argument("--pythonpath", default=".")
    parser.add_argument("--seconds", type=float, default=5.0)
    args = parser.parse_args()
    sys.path.insert(0, args.pythonpath)
    module, _, attr = args.app.partition(":")
    app = getattr(importlib.import_module(module), attr)

    seen = []

    def start_response(status, headers, exc_info=None):
        seen.append((status, headers))
        return lambda data: None

    def call():
        seen.clear()
        body = app(environ_for_get(), start_response)
        try:
            out = b"".join(body)
        finally:
            close = getattr(body, "close", None)
            if close is not None:
                close()
        if not seen or not seen[0][0].startswith("200") or not out:
            raise SystemExit(f"floor.py: {args.app} did not answer 200 with a body: {seen!r} {out[:80]!r}")

    warm_until = time.process_time() + 1.0
    while time.process_time() < warm_until:
        call()
    calls = 0
    start = time.process_time()
    end = start + args.seconds
    while True:
        for _ in range(100):
            call()
        calls += 100
        now = time.process_time()
        if now >= end:
            break
    cpu = now - start
    print(json.dumps({"app": args.app, "calls": calls, "cpu_s": round(cpu, 3),
                      "calls_per_cpu_s": round(calls / cpu), "us_per_call": round(cpu / calls * 1e6, 2)}))


if __name__ == "__main__":
    main()
