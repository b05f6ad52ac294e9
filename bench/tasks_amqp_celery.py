# SPDX-License-Identifier: MIT
"""The Celery side of bench/tasks_amqp.sh: the tasks bench.noop and bench.insert (one row into SQLite,
bench/tasks_celery_sqlite.py) on the benchmark's RabbitMQ (BENCH_AMQP_URL), as a stock Celery 5.2 app (json, the
AMQP broker, the rpc:// result backend, default prefetch multiplier 4).
Run as: celery -A tasks_amqp_celery worker -P prefork -c N (Debian's python3-celery on /usr/bin/python3)."""
import os

from celery import Celery

import tasks_celery_sqlite

app = Celery("gale_bench", broker=os.environ["BENCH_AMQP_URL"], backend="rpc://")
app.conf.update(accept_content=["json"], task_serializer="json", result_serializer="json",
                worker_hijack_root_logger=False)


@app.task(name="bench.noop")
def noop():
    return None


tasks_celery_sqlite.register(app)
