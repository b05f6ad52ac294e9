#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# The AMQP consume benchmark (bench/README.md, "AMQP consumer"): messages per second consumed and acknowledged by
# gale's Consumer (gale-amqp-bench) and by a pika consumer doing the same work (bench/amqp_pika_consumer.py:
# django-hurricane's stack, BlockingConnection + basic_consume + one ack per message), on the same broker in the same
# run, and per consumer CPU-second. Target (issue 9): gale >= 10x pika per CPU-second; the exit status says.
#
# Environment:
#   AMQP_BENCH_MESSAGES=100000   messages per round (the queue is filled before each consumer starts)
#   AMQP_BENCH_SIZE=256          body bytes
#   AMQP_BENCH_PREFETCH=256      basic.qos of both consumers
#   AMQP_BENCH_THREADS=2         gale's handler threads
#   AMQP_BENCH_ROUNDS=1          alternating gale/pika rounds (the best of each is reported)
#   AMQP_BENCH_PYTHON=/usr/bin/python3   the Python whose pika (Debian python3-pika) runs the reference
#   AMQP_BENCH_BUILD=build/release   the build tree holding bench/gale-amqp-bench
#   AMQP_BENCH_NO_TARGET=1       report only (the smoke test on the ASan build)
#   BENCH_SKIP_INSTALL=1, BENCH_SKIP_BUILD=1   as in bench/pipe.sh
#
# The broker is started by bench/rabbitmq.sh (shared with bench/tasks_amqp.sh), like the tests' fixture: Debian's
# rabbitmq-server on free loopback ports, its own epmd, node name and data under a temp dir, stopped at the end.
set -euo pipefail

BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$BENCH_DIR/.." && pwd)
MESSAGES=${AMQP_BENCH_MESSAGES:-100000}
SIZE=${AMQP_BENCH_SIZE:-256}
PREFETCH=${AMQP_BENCH_PREFETCH:-256}
THREADS=${AMQP_BENCH_THREADS:-2}
ROUNDS=${AMQP_BENCH_ROUNDS:-1}
PYTHON=${AMQP_BENCH_PYTHON:-/usr/bin/python3}
BUILD=${AMQP_BENCH_BUILD:-$ROOT/build/release}
RESULTS=$BENCH_DIR/results

log() { printf '[amqp-bench %s] %s\n' "$(date +%T)" "$*" >&2; }
die() { log "ERROR: $*"; exit 2; }

if [[ -z ${BENCH_SKIP_INSTALL:-} ]]; then "$ROOT/tools/install-deps.sh" bench; fi
if [[ -z ${BENCH_SKIP_BUILD:-} ]]; then
    if [[ $BUILD == "$ROOT/build/release" ]]; then
        log "building (cmake --preset release; target gale-amqp-bench)"
        (cd "$ROOT" && cmake --preset release >/dev/null && cmake --build --preset release --target gale-amqp-bench) ||
            die "build failed"
    else
        log "building $BUILD (target gale-amqp-bench)"
        cmake --build "$BUILD" -j2 --target gale-amqp-bench || die "build failed"
    fi
fi
BIN=$BUILD/bench/gale-amqp-bench
[[ -x $BIN ]] || die "$BIN is missing (build with BENCH_SKIP_BUILD unset)"

source "$BENCH_DIR/rabbitmq.sh"
dir=$(mktemp -d /tmp/gale-amqp-bench-XXXXXX)
cleanup() {
    rabbitmq_stop
    rm -rf "$dir"
}
trap cleanup EXIT
rabbitmq_start "$dir" gale-bench
port=$rabbitmq_port
url=$rabbitmq_url
for _ in $(seq 1 600); do
    if "$BIN" fill "$url" gale.bench.ready 1 1 >/dev/null 2>&1; then break; fi
    sleep 0.1
done
"$BIN" fill "$url" gale.bench.ready 1 1 >/dev/null || die "the broker did not start: $(rabbitmq_log_tail)"
log "broker up on 127.0.0.1:$port; $MESSAGES messages of $SIZE bytes, prefetch $PREFETCH, gale threads $THREADS"

mkdir -p "$RESULTS"
out=$dir/lines.txt
: >"$out"
for round in $(seq 1 "$ROUNDS"); do
    log "round $round: fill, gale consumer"
    "$BIN" fill "$url" gale.bench "$MESSAGES" "$SIZE"
    "$BIN" consume "$url" gale.bench "$MESSAGES" "$THREADS" "$PREFETCH" | tee -a "$out"
    log "round $round: fill, pika consumer"
    "$BIN" fill "$url" gale.bench "$MESSAGES" "$SIZE"
    "$PYTHON" "$BENCH_DIR/amqp_pika_consumer.py" "$url" gale.bench "$MESSAGES" "$PREFETCH" | tee -a "$out"
done

best() { grep "^$1 " "$out" | sed -E "s|.* $2=([0-9.]+).*|\1|" | sort -g | tail -1; }
gale_rate=$(best gale msg/s); pika_rate=$(best pika msg/s)
gale_cpu=$(best gale msg/cpu_s); pika_cpu=$(best pika msg/cpu_s)
ratio=$(python3 -c "print(f'{$gale_cpu / $pika_cpu:.1f}')")
rate_ratio=$(python3 -c "print(f'{$gale_rate / $pika_rate:.1f}')")
{
    echo "| consumer | msg/s | msg per CPU-second |"
    echo "|---|---|---|"
    echo "| gale ($THREADS handler threads) | $gale_rate | $gale_cpu |"
    echo "| pika BlockingConnection | $pika_rate | $pika_cpu |"
    echo "| gale / pika | ${rate_ratio}x | ${ratio}x (target >= 10x) |"
} | tee "$RESULTS/amqp-latest.md"
[[ -n ${AMQP_BENCH_NO_TARGET:-} ]] && exit 0
python3 -c "import sys; sys.exit(0 if $gale_cpu >= 10 * $pika_cpu else 1)" || { log "below the 10x target"; exit 1; }
