# SPDX-License-Identifier: MIT
"""The Celery side of bench/tasks_redis.sh: the tasks bench.noop and bench.insert (one row into SQLite,
bench/tasks_celery_sqlite.py) on the benchmark's redis-server (BENCH_REDIS_URL), as a stock Celery 5.2 app (json,
Redis broker and result backend, default prefetch multiplier 4).
Run as: celery -A tasks_redis_celery worker -P prefork -c N (Debian's python3-celery on /usr/bin/python3)."""
import os

from celery import Celery

import tasks_celery_sqlite

url = os.environ["BENCH_REDIS_URL"]
app = Celery("gale_bench", broker=url, backend=url)
app.conf.update(accept_content=["json"], task_serializer="json", result_serializer="json",
                worker_hijack_root_logger=False)


@app.task(name="bench.noop")
def noop():
    return None


tasks_celery_sqlite.register(app)
