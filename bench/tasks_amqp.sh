#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# The Celery-on-RabbitMQ benchmark (bench/README.md, "Tasks on RabbitMQ"): no-op tasks per second executed, with
# their results sent back over rpc://, by gale's Worker (gale-tasks-amqp-bench worker) and by a Celery prefork worker
# (Debian's python3-celery 5.2.6, bench/tasks_amqp_celery.py) with the same concurrency, on the same RabbitMQ in the
# same run, per worker CPU-second (every process of the worker's process group, from /proc), and the end-to-end
# latency (send -> result) p50/p99 of tasks sent one after another. Reports; no target (issue 10 sets one for Redis).
#
# Environment:
#   TASKS_AMQP_BENCH_TASKS=20000      tasks per throughput round (published while the worker is idle and ready)
#   TASKS_AMQP_BENCH_LATENCY=500      tasks of the latency round
#   TASKS_AMQP_BENCH_CONCURRENCY=2    gale's task threads = Celery's prefork processes (-c)
#   TASKS_AMQP_BENCH_GALE_MULTIPLIER=4  gale's prefetch multiplier (4 = Celery's default, the fair comparison; other
#                                     values are for diagnosis only)
#   TASKS_AMQP_BENCH_ROUNDS=1         alternating gale/Celery rounds (the best of each is reported)
#   TASKS_AMQP_BENCH_PYTHON=/usr/bin/python3   the Python whose Celery (Debian python3-celery) runs the reference
#   TASKS_AMQP_BENCH_BUILD=build/release       the build tree holding bench/gale-tasks-amqp-bench
#   BENCH_SKIP_INSTALL=1, BENCH_SKIP_BUILD=1   as in bench/pipe.sh
#
# The broker is started here as bench/amqp.sh starts it: Debian's rabbitmq-server on free loopback ports, its own
# epmd, node name and data under a temp dir, stopped at the end. Every process this script starts is in a process
# group it kills.
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
    log "building (cmake --preset release; target gale-tasks-amqp-bench)"
    (cd "$ROOT" && cmake --preset release >/dev/null && cmake --build --preset release --target gale-tasks-amqp-bench) ||
        die "build failed"
fi
BIN=$BUILD/bench/gale-tasks-amqp-bench
[[ -x $BIN ]] || die "$BIN is missing (build with BENCH_SKIP_BUILD unset)"

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
dir=$(mktemp -d /tmp/gale-tasks-amqp-bench-XXXXXX)
port=$(free_port); dist=$(free_port); epmd_port=$(free_port)
cat >"$dir/rabbitmq.conf" <<CONF
listeners.tcp.default = 127.0.0.1:$port
loopback_users = none
default_user = bench
default_pass = bench
disk_free_limit.absolute = 1
vm_memory_high_watermark.relative = 0.95
CONF
echo '[].' >"$dir/enabled_plugins"
: >"$dir/rabbitmq-env.conf"
ERL_EPMD_ADDRESS=127.0.0.1 setsid /usr/bin/epmd -port "$epmd_port" >"$dir/epmd.out" 2>&1 &
epmd_pid=$!
disown "$epmd_pid"
HOME=$dir RABBITMQ_NODENAME=gale-tasks-bench-$$@localhost RABBITMQ_NODE_IP_ADDRESS=127.0.0.1 RABBITMQ_NODE_PORT=$port \
    RABBITMQ_DIST_PORT=$dist ERL_EPMD_PORT=$epmd_port ERL_EPMD_ADDRESS=127.0.0.1 RABBITMQ_MNESIA_BASE=$dir/mnesia \
    RABBITMQ_LOG_BASE=$dir/log RABBITMQ_CONFIG_FILE=$dir/rabbitmq.conf RABBITMQ_ENABLED_PLUGINS_FILE=$dir/enabled_plugins \
    RABBITMQ_CONF_ENV_FILE=$dir/rabbitmq-env.conf RABBITMQ_ADVANCED_CONFIG_FILE=$dir/advanced.config \
    setsid /usr/lib/rabbitmq/bin/rabbitmq-server >"$dir/server.out" 2>&1 &
broker_pid=$!
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
    kill -TERM -- "-$broker_pid" 2>/dev/null || true
    wait "$broker_pid" 2>/dev/null || true
    kill -KILL -- "-$broker_pid" 2>/dev/null || true
    kill -KILL -- "-$epmd_pid" 2>/dev/null || true
    rm -rf "$dir"
}
trap cleanup EXIT
url="amqp://bench:bench@127.0.0.1:$port/%2F"
for _ in $(seq 1 600); do
    if "$BIN" probe "$url" >/dev/null 2>&1; then break; fi
    sleep 0.1
done
"$BIN" probe "$url" >/dev/null || die "the broker did not start: $(tail -20 "$dir/server.out")"
log "broker up on 127.0.0.1:$port; $TASKS tasks per round, concurrency $CONCURRENCY, latency $LATENCY tasks"

# Starts a worker in its own process group (setsid: its pid is the group's id) and waits, 60 s at most, until it is
# consuming: gale's prints "ready"; Celery's (at log level WARNING, as in production) has declared its pidbox queue,
# which it does once its consumer runs.
start_worker() {
    local kind=$1
    if [[ $kind == gale ]]; then
        setsid "$BIN" worker "$url" "$CONCURRENCY" "$MULTIPLIER" >"$dir/worker.out" 2>&1 &
        worker_pid=$!
        for _ in $(seq 1 600); do
            grep -q '^ready' "$dir/worker.out" && break
            kill -0 "$worker_pid" 2>/dev/null || die "the gale worker exited: $(tail -20 "$dir/worker.out")"
            sleep 0.1
        done
    else
        BENCH_AMQP_URL=$url PYTHONPATH=$BENCH_DIR setsid "$PYTHON" -m celery -A tasks_amqp_celery worker \
            -P prefork -c "$CONCURRENCY" -n "celery-bench@127.0.0.1" --without-gossip --without-mingle \
            --without-heartbeat --loglevel WARNING -Q celery >"$dir/worker.out" 2>&1 &
        worker_pid=$!
        "$BIN" wait-queue "$url" "celery-bench@127.0.0.1.celery.pidbox" ||
            die "the Celery worker did not start: $(tail -20 "$dir/worker.out")"
    fi
    sleep 1  # let start-up settle (Celery's pool processes, gale's first delivery wait)
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
    echo "| worker (concurrency $CONCURRENCY, RabbitMQ, rpc://) | tasks/s | tasks per worker CPU-second | latency p50 | latency p99 |"
    echo "|---|---|---|---|---|"
    echo "| gale Worker (threads) | $gale_rate | $gale_cpu | $gale_p50 ms | $gale_p99 ms |"
    echo "| Celery 5.2.6 prefork | $celery_rate | $celery_cpu | $celery_p50 ms | $celery_p99 ms |"
    echo "| gale / Celery | ${rate_ratio}x | ${ratio}x | | |"
} | tee "$RESULTS/tasks-amqp-latest.md"
