# SPDX-License-Identifier: MIT
"""bench.insert for the Celery side of bench/tasks_redis.sh and bench/tasks_amqp.sh: one row into the SQLite file
$BENCH_SQLITE_PATH per task, through one sqlite3 connection per pool process, opened when the process starts
(worker_process_init), as gale's worker holds one per task thread (bench/tasks_bench_util.hpp).

The connection is set up as gale::db's SQLite connections are (modules/db/src/sqlite.cpp): busy timeout 5 s,
journal_mode=WAL, synchronous=NORMAL, foreign_keys=ON, and autocommit (isolation_level=None: each INSERT is its own
transaction, as gale's Database::Execute outside a transaction)."""
import os
import sqlite3

from celery.signals import worker_process_init

SCHEMA = "CREATE TABLE IF NOT EXISTS rows (id INTEGER PRIMARY KEY, n INTEGER)"  # gale's kInsertSchema
_connection = None


def _open():
    conn = sqlite3.connect(os.environ["BENCH_SQLITE_PATH"], timeout=5.0, isolation_level=None,
                           check_same_thread=False)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    conn.execute("PRAGMA foreign_keys=ON")
    conn.execute(SCHEMA)
    return conn


@worker_process_init.connect
def _open_per_process(**_):
    global _connection
    _connection = _open()


def insert(n):
    global _connection
    if _connection is None:  # a pool that does not fork (solo): the first task opens it
        _connection = _open()
    _connection.execute("INSERT INTO rows (n) VALUES (?)", (n,))
    return None


def register(app):
    """Registers bench.insert on `app`."""
    app.task(name="bench.insert")(insert)
