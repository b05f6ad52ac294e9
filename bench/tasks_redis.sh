#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# The Celery-on-Redis benchmark (bench/README.md, "Tasks on Redis"): no-op tasks per second executed, with their
# results stored, by gale's Worker (gale-tasks-redis-bench worker) and by a Celery prefork worker (Debian's
# python3-celery 5.2.6, bench/tasks_redis_celery.py) with the same concurrency, on the same redis-server in the same
# run, per worker CPU-second (every process of the worker's process group, from /proc), and the end-to-end latency
# (send -> result) p50/p99 of tasks sent one after another. Target (issue 10): gale >= 20x Celery per worker
# CPU-second; the exit status says.
#
# Environment:
#   TASKS_REDIS_BENCH_TASKS=20000     tasks per throughput round (LPUSHed while the worker is idle and ready)
#   TASKS_REDIS_BENCH_LATENCY=500     tasks of the latency round
#   TASKS_REDIS_BENCH_CONCURRENCY=2   gale's task threads = Celery's prefork processes (-c)
#   TASKS_REDIS_BENCH_ROUNDS=1        alternating gale/Celery rounds (the best of each is reported)
#   TASKS_REDIS_BENCH_PYTHON=/usr/bin/python3   the Python whose Celery (Debian python3-celery) runs the reference
#   TASKS_REDIS_BENCH_BUILD=build/release       the build tree holding bench/gale-tasks-redis-bench
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
    log "building (cmake --preset release; target gale-tasks-redis-bench)"
    (cd "$ROOT" && cmake --preset release >/dev/null && cmake --build --preset release --target gale-tasks-redis-bench) ||
        die "build failed"
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
worker_pid=""
stop_worker() {
    if [[ -n $worker_pid ]]; then
        kill -TERM -- "-$worker_pid" 2>/dev/null || true
        for _ in $(seq 1 100); do kill -0 "$worker_pid" 2>/dev/null || break; sleep 0.1; done
        kill -KILL -- "-$worker_pid" 2>/dev/null || true
        wait "$worker_pid" 2>/dev/null || true
        worker_pid=""
    fi
}
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

# Starts a worker in its own process group (setsid: its pid is the group's id) and waits, 60 s at most, until it is
# consuming: gale's prints "ready"; Celery's (at log level WARNING, as in production, so that it does not log two
# lines per task) has declared its remote-control queue, which it does once its consumer runs.
start_worker() {
    local kind=$1
    redis-cli -p "$port" flushall >/dev/null
    if [[ $kind == gale ]]; then
        setsid "$BIN" worker "$url" "$CONCURRENCY" >"$dir/worker.out" 2>&1 &
    else
        BENCH_REDIS_URL=$url PYTHONPATH=$BENCH_DIR setsid "$PYTHON" -m celery -A tasks_redis_celery worker \
            -P prefork -c "$CONCURRENCY" -n "celery-bench@127.0.0.1" --without-gossip --without-mingle \
            --without-heartbeat --loglevel WARNING -Q celery >"$dir/worker.out" 2>&1 &
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
for round in $(seq 1 "$ROUNDS"); do
    for kind in gale celery; do
        log "round $round: $kind worker"
        start_worker "$kind"
        "$BIN" measure "$url" "$TASKS" "$worker_pid" "$kind" | tee -a "$out"
        "$BIN" latency "$url" "$LATENCY" "$kind" | tee -a "$out"
        stop_worker
    done
done

best() { grep "^$1 .*$2=" "$out" | sed -E "s|.* $2=([0-9.]+).*|\1|" | sort -g | tail -1; }
least() { grep "^$1 .*$2=" "$out" | sed -E "s|.* $2=([0-9.]+).*|\1|" | sort -g | head -1; }
gale_rate=$(best gale tasks/s); celery_rate=$(best celery tasks/s)
gale_cpu=$(best gale tasks/cpu_s); celery_cpu=$(best celery tasks/cpu_s)
gale_p50=$(least gale p50_ms); celery_p50=$(least celery p50_ms)
gale_p99=$(least gale p99_ms); celery_p99=$(least celery p99_ms)
ratio=$(python3 -c "print(f'{$gale_cpu / $celery_cpu:.1f}')")
rate_ratio=$(python3 -c "print(f'{$gale_rate / $celery_rate:.1f}')")
{
    echo "| worker (concurrency $CONCURRENCY) | tasks/s | tasks per worker CPU-second | latency p50 | latency p99 |"
    echo "|---|---|---|---|---|"
    echo "| gale Worker (threads) | $gale_rate | $gale_cpu | $gale_p50 ms | $gale_p99 ms |"
    echo "| Celery 5.2.6 prefork | $celery_rate | $celery_cpu | $celery_p50 ms | $celery_p99 ms |"
    echo "| gale / Celery | ${rate_ratio}x | ${ratio}x (target >= 20x) | | |"
} | tee "$RESULTS/tasks-redis-latest.md"
[[ -n ${TASKS_REDIS_BENCH_NO_TARGET:-} ]] && exit 0
python3 -c "import sys; sys.exit(0 if $gale_cpu >= 20 * $celery_cpu else 1)" || { log "below the 20x target"; exit 1; }
