# SPDX-License-Identifier: MIT
# Sourced by bench/tasks_redis.sh and bench/tasks_amqp.sh (not run): what the two Celery benchmarks do alike once
# their broker is up — the rounds (per round and per worker, gale's then Celery's: a fresh SQLite file, the worker
# started, the no-op and the insert throughput, the no-op and the insert latency, the worker stopped, the rows
# counted) and the report (bench/tasks_report.py).
#
# The caller sets BIN (its gale-tasks-*-bench), url, dir (its temp dir), TASKS, LATENCY, ROUNDS, and defines
#   start_worker KIND DB   starts the KIND (gale|celery) worker in its own process group (setsid), its rows going to
#                          the SQLite file DB, sets worker_pid and returns once the worker consumes.
# and log/die.

worker_pid=""

# Stops the worker's whole process group: SIGTERM (a warm shutdown for both), SIGKILL after 10 s.
stop_worker() {
    if [[ -n $worker_pid ]]; then
        kill -TERM -- "-$worker_pid" 2>/dev/null || true
        for _ in $(seq 1 100); do kill -0 "$worker_pid" 2>/dev/null || break; sleep 0.1; done
        kill -KILL -- "-$worker_pid" 2>/dev/null || true
        wait "$worker_pid" 2>/dev/null || true
        worker_pid=""
    fi
}

count_rows() { python3 -c 'import sqlite3, sys; print(sqlite3.connect(sys.argv[1]).execute("SELECT count(*) FROM rows").fetchone()[0])' "$1"; }

# run_rounds OUT: every round's lines, prefixed with the round, appended to OUT. Fails (die) when a worker did not
# insert a row for every bench.insert it ran.
run_rounds() {
    local out=$1 round kind db rows expected
    for round in $(seq 1 "$ROUNDS"); do
        for kind in gale celery; do
            log "round $round: $kind worker"
            db=$dir/$kind-round$round.db
            rm -f "$db" "$db-wal" "$db-shm"
            start_worker "$kind" "$db"
            for workload in noop insert; do
                "$BIN" measure "$url" "$workload" "$TASKS" "$worker_pid" "$kind" | sed "s/^/$round /" | tee -a "$out"
            done
            for workload in noop insert; do
                "$BIN" latency "$url" "$workload" "$LATENCY" "$kind" | sed "s/^/$round /" | tee -a "$out"
            done
            stop_worker
            rows=$(count_rows "$db")
            expected=$((TASKS + LATENCY))
            echo "$round $kind insert rows=$rows expected=$expected" | tee -a "$out"
            ((rows >= expected)) || die "the $kind worker inserted $rows rows for $expected bench.insert tasks"
        done
    done
}
