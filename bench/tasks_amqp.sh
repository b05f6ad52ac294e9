#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# The Celery-on-RabbitMQ benchmark (bench/README.md, "Tasks on RabbitMQ"): tasks per second executed, with their
# results sent back over rpc://, by gale's Worker (gale-tasks-amqp-bench worker) and by a Celery prefork worker
# (Debian's python3-celery 5.2.6, bench/tasks_amqp_celery.py) with the same concurrency, on the same RabbitMQ in the
# same run, for two workloads — bench.noop, and bench.insert (one row into a SQLite file of the worker's own, fresh
# each round) — per worker CPU-second (every process of the worker's process group, from /proc), and the end-to-end
# latency (send -> result) p50/p99 of tasks sent one after another. Reports; no target (issue 10 sets one for Redis).
#
# Environment:
#   TASKS_AMQP_BENCH_TASKS=20000      tasks per throughput round and workload (published while the worker is idle)
#   TASKS_AMQP_BENCH_LATENCY=500      tasks of the latency round, per workload
#   TASKS_AMQP_BENCH_CONCURRENCY=2    gale's task threads = Celery's prefork processes (-c)
#   TASKS_AMQP_BENCH_GALE_MULTIPLIER=4  gale's prefetch multiplier (4 = Celery's default, the fair comparison; other
#                                     values are for diagnosis only)
#   TASKS_AMQP_BENCH_ROUNDS=1         alternating gale/Celery rounds (the best of each is reported)
#   TASKS_AMQP_BENCH_PYTHON=/usr/bin/python3   the Python whose Celery (Debian python3-celery) runs the reference
#   TASKS_AMQP_BENCH_BUILD=build/release       the build tree holding bench/gale-tasks-amqp-bench (any preset's;
#                                     with BENCH_SKIP_BUILD unset the script builds build/release itself)
#   BENCH_SKIP_INSTALL=1, BENCH_SKIP_BUILD=1   as in bench/pipe.sh
#
# The broker is started by bench/rabbitmq.sh, as for bench/amqp.sh: Debian's rabbitmq-server on free loopback ports,
# its own epmd, node name and data under a temp dir, stopped at the end. Every process this script starts is in a
# process group it kills.
set -euo pipefail

BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$BENCH_DIR/.." && pwd)
TASKS=${TASKS_AMQP_BENCH_TASKS:-20000}
LATENCY=${TASKS_AMQP_BENCH_LATENCY:-500}
CONCURRENCY=${TASKS_AMQP_BENCH_CONCURRENCY:-2}
MULTIPLIER=${TASKS_AMQP_BENCH_GALE_MULTIPLIER:-4}
ROUNDS=${TASKS_AMQP_BENCH_ROUNDS:-1}
PYTHON=${TASKS_AMQP_BENCH_PYTHON:-/usr/bin/python3}
BUILD=${TASKS_AMQP_BENCH_BUILD:-$ROOT/build/release}
RESULTS=$BENCH_DIR/results

log() { printf '[tasks-amqp-bench %s] %s\n' "$(date +%T)" "$*" >&2; }
die() { log "ERROR: $*"; exit 2; }

if [[ -z ${BENCH_SKIP_INSTALL:-} ]]; then "$ROOT/tools/install-deps.sh" bench; fi
if [[ -z ${BENCH_SKIP_BUILD:-} ]]; then
    if [[ $BUILD == "$ROOT/build/release" ]]; then
        log "building (cmake --preset release; target gale-tasks-amqp-bench)"
        (cd "$ROOT" && cmake --preset release >/dev/null &&
            cmake --build --preset release --target gale-tasks-amqp-bench) || die "build failed"
    else
        log "building $BUILD (target gale-tasks-amqp-bench)"
        cmake --build "$BUILD" -j2 --target gale-tasks-amqp-bench || die "build failed"
    fi
fi
BIN=$BUILD/bench/gale-tasks-amqp-bench
[[ -x $BIN ]] || die "$BIN is missing (build with BENCH_SKIP_BUILD unset)"

source "$BENCH_DIR/rabbitmq.sh"
source "$BENCH_DIR/tasks_common.sh"
dir=$(mktemp -d /tmp/gale-tasks-amqp-bench-XXXXXX)
cleanup() {
    stop_worker
    rabbitmq_stop
    rm -rf "$dir"
}
trap cleanup EXIT
rabbitmq_start "$dir" gale-tasks-bench
url=$rabbitmq_url
for _ in $(seq 1 600); do
    if "$BIN" probe "$url" >/dev/null 2>&1; then break; fi
    sleep 0.1
done
"$BIN" probe "$url" >/dev/null || die "the broker did not start: $(rabbitmq_log_tail)"
log "broker up on 127.0.0.1:$rabbitmq_port; $TASKS tasks per round, concurrency $CONCURRENCY, latency $LATENCY tasks"

# Starts a worker in its own process group (setsid: its pid is the group's id), its bench.insert rows going to the
# SQLite file $2, and waits, 60 s at most, until it is consuming: gale's prints "ready"; Celery's (at log level
# WARNING, as in production) has declared its pidbox queue, which it does once its consumer runs.
start_worker() {
    local kind=$1 db=$2
    if [[ $kind == gale ]]; then
        setsid "$BIN" worker "$url" "$CONCURRENCY" "$db" "$MULTIPLIER" >"$dir/worker.out" 2>&1 &
        worker_pid=$!
        for _ in $(seq 1 600); do
            grep -q '^ready' "$dir/worker.out" && break
            kill -0 "$worker_pid" 2>/dev/null || die "the gale worker exited: $(tail -20 "$dir/worker.out")"
            sleep 0.1
        done
    else
        BENCH_AMQP_URL=$url BENCH_SQLITE_PATH=$db PYTHONPATH=$BENCH_DIR setsid "$PYTHON" -m celery \
            -A tasks_amqp_celery worker -P prefork -c "$CONCURRENCY" -n "celery-bench@127.0.0.1" --without-gossip \
            --without-mingle --without-heartbeat --loglevel WARNING -Q celery >"$dir/worker.out" 2>&1 &
        worker_pid=$!
        "$BIN" wait-queue "$url" "celery-bench@127.0.0.1.celery.pidbox" ||
            die "the Celery worker did not start: $(tail -20 "$dir/worker.out")"
    fi
    sleep 1  # let start-up settle (Celery's pool processes, gale's first delivery wait)
}

mkdir -p "$RESULTS"
out=$dir/lines.txt
: >"$out"
run_rounds "$out"
python3 "$BENCH_DIR/tasks_report.py" "$out" "$RESULTS/tasks-amqp-latest.md" "RabbitMQ, rpc://, concurrency $CONCURRENCY"
