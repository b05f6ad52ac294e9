# SPDX-License-Identifier: MIT
"""The Python Celery side of gale's RabbitMQ interop tests (modules/tasks/src/amqp_celery_interop_test.cpp).

Debian's python3-celery 5.2.6 on /usr/bin/python3, broker $GALE_AMQP_URL, result backend rpc:// (Celery's
defaults otherwise). As a Celery app module (`celery -A gale_celery_amqp worker`) it registers the tasks the tests
run; as a script it sends, reads results, pings and listens to events, printing one JSON line per answer.
"""
import json
import os
import sys
import time

from celery import Celery

app = Celery("gale_celery_amqp", broker=os.environ.get("GALE_AMQP_URL", "amqp://"), backend="rpc://")
app.conf.update(
    broker_connection_retry_on_startup=True,
    worker_hijack_root_logger=False,
    task_acks_late=True,
)


@app.task(name="tasks.add")
def add(a, b, **kwargs):
    return a + b + sum(kwargs.values())


@app.task(name="tasks.fail")
def fail(text):
    raise ValueError(text)


def out(value):
    print(json.dumps(value), flush=True)


def send(queue):
    """A task with every option gale must read: args, kwargs, countdown, expires, priority, retries, time limits."""
    r = app.send_task("tasks.add", args=[2, 3], kwargs={"z": 1}, queue=queue, countdown=60, expires=3600,
                      priority=5, retries=2, time_limit=30, soft_time_limit=20)
    out({"id": r.id, "oid": app.backend.oid})


def delay_and_get(queue, timeout):
    """add.delay-like send (to `queue`), then AsyncResult.get() over rpc://: gale stores the result."""
    r = add.apply_async(args=[20, 22], queue=queue)
    out({"id": r.id, "oid": app.backend.oid})
    try:
        out({"result": r.get(timeout=float(timeout)), "state": r.state})
    except Exception as e:  # the failure is what the test reads
        out({"error": type(e).__name__, "message": str(e), "state": r.state})


def call(spec):
    """Sends one task as `spec` (JSON) says — with delay()/apply_async when "delay" is true, else send_task — and
    waits for its result with AsyncResult.get() over rpc://."""
    o = json.loads(spec)
    options = {k: o[k] for k in ("countdown", "retries", "priority", "expires") if k in o}
    start = time.time()
    if o.get("delay"):
        r = app.tasks[o["name"]].apply_async(args=o.get("args", []), kwargs=o.get("kwargs", {}), queue=o["queue"],
                                             **options)
    else:
        r = app.send_task(o["name"], args=o.get("args", []), kwargs=o.get("kwargs", {}), queue=o["queue"], **options)
    out({"id": r.id, "oid": app.backend.oid})
    try:
        value = r.get(timeout=float(o.get("timeout", 30)))
        out({"state": r.state, "result": value, "elapsed": time.time() - start})
    except Exception as e:
        out({"state": r.state, "error": type(e).__name__, "message": str(e), "traceback": r.traceback,
             "elapsed": time.time() - start})


def ping(node, timeout):
    out(app.control.inspect(destination=[node], timeout=float(timeout)).ping() or {})


def events(node, seconds):
    """Listens on celeryev like `celery events`, until worker-online and two heartbeats of `node` came."""
    state = app.events.State()
    seen = []

    def on_event(event):
        state.event(event)
        if event.get("hostname") == node:
            seen.append(event)

    with app.connection() as conn:
        recv = app.events.Receiver(conn, handlers={"*": on_event})
        recv.on_consume_ready = lambda *a, **k: out({"ready": True})
        try:
            for _ in recv.itercapture(limit=None, timeout=float(seconds), wakeup=False):
                if len([e for e in seen if e["type"] == "worker-heartbeat"]) >= 2:
                    break
        except Exception as e:
            out({"error": repr(e)})
    worker = state.workers.get(node)
    out({"types": [e["type"] for e in seen], "events": seen,
         "alive": bool(worker and worker.alive), "sw_ident": worker.sw_ident if worker else None})


if __name__ == "__main__":
    commands = {"send": send, "delay-and-get": delay_and_get, "call": call, "ping": ping, "events": events}
    commands[sys.argv[1]](*sys.argv[2:])
