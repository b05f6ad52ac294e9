# SPDX-License-Identifier: MIT
"""The Python side of gale's Celery-on-Redis interop tests: a Celery app on the test's redis-server
(GALE_REDIS_URL) with the tasks the tests send both ways. Run by Debian's /usr/bin/python3 (python3-celery 5.2.6)."""
import os
import time

from celery import Celery

url = os.environ["GALE_REDIS_URL"]
app = Celery("gale_interop", broker=url, backend=url)
app.conf.update(
    accept_content=["json"],
    task_serializer="json",
    result_serializer="json",
    result_extended=True,
    worker_hijack_root_logger=False,
    worker_prefetch_multiplier=int(os.environ.get("GALE_PREFETCH_MULTIPLIER", "4")),
    broker_transport_options={"visibility_timeout": int(os.environ.get("GALE_VISIBILITY_TIMEOUT", "3600"))},
    result_backend_transport_options={"visibility_timeout": int(os.environ.get("GALE_VISIBILITY_TIMEOUT", "3600"))},
    broker_connection_retry_on_startup=True,
)


@app.task(name="proj.tasks.add")
def add(a, b):
    return a + b


@app.task(name="proj.tasks.boom")
def boom(x):
    raise ValueError(f"bad {x}")


@app.task(name="proj.tasks.sleep", acks_late=True)
def sleep(seconds):
    time.sleep(seconds)
    return seconds


@app.task(name="proj.tasks.describe", bind=True)
def describe(self, *args, **kwargs):
    """What the worker saw of the request gale sent."""
    r = self.request
    return {"args": list(args), "kwargs": kwargs, "retries": r.retries, "root_id": r.root_id,
            "parent_id": r.parent_id, "eta": r.eta, "expires": r.expires,
            "priority": (r.delivery_info or {}).get("priority"), "origin": r.origin}
