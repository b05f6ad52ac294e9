#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# The Celery-on-Redis benchmark (bench/README.md, "Tasks on Redis"): tasks per second executed, with their results
# stored, by gale's Worker (gale-tasks-redis-bench worker) and by a Celery prefork worker (Debian's python3-celery
# 5.2.6, bench/tasks_redis_celery.py) with the same concurrency, on the same redis-server in the same run, for two
# workloads — bench.noop, and bench.insert (one row into a SQLite file of the worker's own, fresh each round) — per
# worker CPU-second (every process of the worker's process group, from /proc), and the end-to-end latency
# (send -> result) p50/p99 of tasks sent one after another. Target (issue 10): gale >= 20x Celery per worker
# CPU-second on the no-op; the exit status says. The insert ratio is reported, not a target.
#
# Environment:
#   TASKS_REDIS_BENCH_TASKS=20000     tasks per throughput round and workload (LPUSHed while the worker is idle)
#   TASKS_REDIS_BENCH_LATENCY=500     tasks of the latency round, per workload
#   TASKS_REDIS_BENCH_CONCURRENCY=2   gale's task threads = Celery's prefork processes (-c)
#   TASKS_REDIS_BENCH_ROUNDS=1        alternating gale/Celery rounds (the best of each is reported)
#   TASKS_REDIS_BENCH_PYTHON=/usr/bin/python3   the Python whose Celery (Debian python3-celery) runs the reference
#   TASKS_REDIS_BENCH_BUILD=build/release       the build tree holding bench/gale-tasks-redis-bench (any preset's;
#                                     with BENCH_SKIP_BUILD unset the script builds build/release itself)
#   TASKS_REDIS_BENCH_NO_TARGET=1     report only (the smoke test on the ASan build)
#   BENCH_SKIP_INSTALL=1, BENCH_SKIP_BUILD=1   as in bench/pipe.sh
#
# The server is started here like the tests' fixture: Debian's redis-server on a free loopback port, its own
# directory, save "", stopped at the end. Every process this script starts is in a process group it kills.
set -euo pipefail

BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$BENCH_DIR/.." && pwd)
TASKS=${TASKS_REDIS_BENCH_TASKS:-20000}
LATENCY=${TASKS_REDIS_BENCH_LATENCY:-500}
CONCURRENCY=${TASKS_REDIS_BENCH_CONCURRENCY:-2}
ROUNDS=${TASKS_REDIS_BENCH_ROUNDS:-1}
PYTHON=${TASKS_REDIS_BENCH_PYTHON:-/usr/bin/python3}
BUILD=${TASKS_REDIS_BENCH_BUILD:-$ROOT/build/release}
RESULTS=$BENCH_DIR/results

log() { printf '[tasks-redis-bench %s] %s\n' "$(date +%T)" "$*" >&2; }
die() { log "ERROR: $*"; exit 2; }

if [[ -z ${BENCH_SKIP_INSTALL:-} ]]; then "$ROOT/tools/install-deps.sh" bench; fi
if [[ -z ${BENCH_SKIP_BUILD:-} ]]; then
    if [[ $BUILD == "$ROOT/build/release" ]]; then
        log "building (cmake --preset release; target gale-tasks-redis-bench)"
        (cd "$ROOT" && cmake --preset release >/dev/null &&
            cmake --build --preset release --target gale-tasks-redis-bench) || die "build failed"
    else
        log "building $BUILD (target gale-tasks-redis-bench)"
        cmake --build "$BUILD" -j2 --target gale-tasks-redis-bench || die "build failed"
    fi
fi
BIN=$BUILD/bench/gale-tasks-redis-bench
[[ -x $BIN ]] || die "$BIN is missing (build with BENCH_SKIP_BUILD unset)"
[[ -x /usr/bin/redis-server ]] || die "redis-server is missing (tools/install-deps.sh bench)"

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
dir=$(mktemp -d /tmp/gale-tasks-redis-bench-XXXXXX)
port=$(free_port)
setsid /usr/bin/redis-server --bind 127.0.0.1 --port "$port" --dir "$dir" --save "" --appendonly no \
    --protected-mode no --logfile "$dir/redis.log" >"$dir/server.out" 2>&1 &
server_pid=$!
source "$BENCH_DIR/tasks_common.sh"
cleanup() {
    stop_worker
    kill -TERM -- "-$server_pid" 2>/dev/null || true
    wait "$server_pid" 2>/dev/null || true
    rm -rf "$dir"
}
trap cleanup EXIT
url="redis://127.0.0.1:$port/0"
for _ in $(seq 1 100); do redis-cli -p "$port" ping >/dev/null 2>&1 && break; sleep 0.05; done
redis-cli -p "$port" ping >/dev/null || die "redis-server did not start: $(tail -5 "$dir/redis.log")"
log "redis-server on 127.0.0.1:$port; $TASKS tasks per round, concurrency $CONCURRENCY, latency $LATENCY tasks"

# Starts a worker in its own process group (setsid: its pid is the group's id), its bench.insert rows going to the
# SQLite file $2, and waits, 60 s at most, until it is consuming: gale's prints "ready"; Celery's (at log level
# WARNING, as in production, so that it does not log two lines per task) has declared its remote-control queue, which
# it does once its consumer runs.
start_worker() {
    local kind=$1 db=$2
    redis-cli -p "$port" flushall >/dev/null
    if [[ $kind == gale ]]; then
        setsid "$BIN" worker "$url" "$CONCURRENCY" "$db" >"$dir/worker.out" 2>&1 &
    else
        BENCH_REDIS_URL=$url BENCH_SQLITE_PATH=$db PYTHONPATH=$BENCH_DIR setsid "$PYTHON" -m celery \
            -A tasks_redis_celery worker -P prefork -c "$CONCURRENCY" -n "celery-bench@127.0.0.1" --without-gossip \
            --without-mingle --without-heartbeat --loglevel WARNING -Q celery >"$dir/worker.out" 2>&1 &
    fi
    worker_pid=$!
    for _ in $(seq 1 600); do
        if [[ $kind == gale ]]; then
            grep -q '^ready' "$dir/worker.out" && break
        else
            [[ $(redis-cli -p "$port" exists _kombu.binding.celery.pidbox) == 1 ]] && break
        fi
        kill -0 "$worker_pid" 2>/dev/null || die "the $kind worker exited: $(tail -20 "$dir/worker.out")"
        sleep 0.1
    done
    sleep 1  # let start-up settle (Celery's pool processes, gale's first BRPOP)
}

mkdir -p "$RESULTS"
out=$dir/lines.txt
: >"$out"
run_rounds "$out"
target=()
[[ -z ${TASKS_REDIS_BENCH_NO_TARGET:-} ]] && target=(--target-noop-cpu 20)
status=0
python3 "$BENCH_DIR/tasks_report.py" "$out" "$RESULTS/tasks-redis-latest.md" "Redis, concurrency $CONCURRENCY" \
    "${target[@]}" || status=$?
((status != 3)) || { log "below the 20x target (no-op, per worker CPU-second)"; exit 1; }
((status == 0)) || die "the report failed"
