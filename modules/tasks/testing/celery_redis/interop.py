# SPDX-License-Identifier: MIT
"""Command-line driver for gale's interop tests (one JSON document in, one out):
  interop.py send '{"name": ..., "args": [...], "kwargs": {...}, "countdown": 60, "expires": 3600, "priority": 5,
                    "retries": 2}'      -> {"id": ...}     (app.send_task; with "delay": true, the task's delay())
  interop.py get '{"id": ..., "timeout": 10}'  -> {"state", "result" | "exc_type"/"exc_message", "traceback"}
"""
import json
import sys

from celery_redis_app import app


def send(spec):
    if spec.get("delay"):  # the task's own delay(), as Django code calls it (args as a tuple)
        result = app.tasks[spec["name"]].delay(*spec.get("args", []), **spec.get("kwargs", {}))
        return {"id": result.id}
    options = {k: spec[k] for k in ("countdown", "expires", "priority", "retries", "queue", "task_id") if k in spec}
    result = app.send_task(spec["name"], args=spec.get("args", []), kwargs=spec.get("kwargs", {}), **options)
    return {"id": result.id}


def get(spec):
    result = app.AsyncResult(spec["id"])
    value = result.get(timeout=spec.get("timeout", 10), propagate=False)
    out = {"state": result.state, "traceback": result.traceback}
    if isinstance(value, BaseException):
        out["exc_type"] = type(value).__name__
        out["exc_message"] = [str(a) for a in value.args]
    else:
        out["result"] = value
    return out


if __name__ == "__main__":
    command, spec = sys.argv[1], json.loads(sys.argv[2])
    print(json.dumps({"send": send, "get": get}[command](spec)))
