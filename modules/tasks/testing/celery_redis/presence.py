# SPDX-License-Identifier: MIT
"""The Celery side of gale's worker-presence tests on Redis (modules/tasks/src/redis_presence_interop_test.cpp):
Celery's own event receiver and remote-control client on the test's redis-server (celery_redis_app's app, Debian's
python3-celery 5.2.6). One JSON document per line on stdout, flushed.

  presence.py events NODE SECONDS   listens like `celery events` (app.events.Receiver, State): prints {"ready": true}
                                    once consuming, {"event": type} for each event of NODE, and at the end (after
                                    NODE's worker-offline, or SECONDS) {"types", "events", "alive", "sw_ident"}
  presence.py ping NODE SECONDS     app.control.inspect(destination=[NODE]).ping(): the replies ({} for none)
  presence.py ping-all SECONDS      the same without a destination (a broadcast, as `celery inspect ping`)
"""
import json
import sys
import time

from celery_redis_app import app


def out(value):
    print(json.dumps(value), flush=True)


def events(node, seconds):
    state = app.events.State()
    seen = []
    deadline = time.monotonic() + float(seconds)
    alive_while_beating = False  # Celery's State marks a worker alive from its heartbeats: its verdict while they come

    def offline():
        return any(e["type"] == "worker-offline" for e in seen)

    def on_event(event):
        state.event(event)
        if event.get("hostname") == node:
            seen.append(event)
            out({"event": event["type"]})

    with app.connection() as conn:
        recv = app.events.Receiver(conn, handlers={"*": on_event})
        recv.on_consume_ready = lambda *a, **k: out({"ready": True})
        try:
            # Yields after each event; raises socket.timeout after SECONDS without any.
            for _ in recv.itercapture(limit=None, timeout=float(seconds), wakeup=False):
                worker = state.workers.get(node)
                if worker and worker.alive and any(e["type"] == "worker-heartbeat" for e in seen):
                    alive_while_beating = True
                if offline() or time.monotonic() > deadline:
                    break
        except Exception as e:
            out({"error": repr(e)})
    worker = state.workers.get(node)
    out({"types": [e["type"] for e in seen], "events": seen, "alive": alive_while_beating,
         "alive_after": bool(worker and worker.alive), "sw_ident": worker.sw_ident if worker else None})


def ping(node, seconds):
    out(app.control.inspect(destination=[node], timeout=float(seconds)).ping() or {})


def ping_all(seconds):
    out(app.control.inspect(timeout=float(seconds)).ping() or {})


if __name__ == "__main__":
    commands = {"events": events, "ping": ping, "ping-all": ping_all}
    commands[sys.argv[1]](*sys.argv[2:])
