#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# The log pipe's throughput benchmarks (bench/pipe.md), with the issue's targets as the exit status:
#   1. embedded log (SQLite): produce, and consume + save at batch sizes 1/16/256; target >= 100,000 msg/s consumed
#      and saved at batch_size 256 (gale-pipe-bench);
#   2. Kafka on librdkafka's mock cluster: gale's producer and consumer next to raw librdkafka in the same run;
#      target >= 0.8x of raw for producing and for consuming (gale-pipe-kafka-bench);
#   3. the consume path's CPU per record without a transport (gale-pipe-benchmark, Google Benchmark; reported).
#
# Environment:
#   PIPE_BENCH_MESSAGES=200000   messages per run (both benchmarks)
#   PIPE_BENCH_ROUNDS=3          alternating raw/gale rounds of the Kafka benchmark (medians are checked)
#   PIPE_BENCH_DB=/tmp/gale-pipe-bench.db   the embedded log's SQLite file (a disk path measures the disk too)
#   BENCH_SKIP_INSTALL=1         don't check or install Debian packages
#   BENCH_SKIP_BUILD=1           use the binaries in build/release as they are
#
# Output: the benchmarks' own lines, and a summary in bench/results/pipe-latest.md (git-ignored).
set -euo pipefail

BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$BENCH_DIR/.." && pwd)
MESSAGES=${PIPE_BENCH_MESSAGES:-200000}
ROUNDS=${PIPE_BENCH_ROUNDS:-3}
DB=${PIPE_BENCH_DB:-/tmp/gale-pipe-bench.db}
BUILD=$ROOT/build/release
RESULTS=$BENCH_DIR/results

log() { printf '[pipe-bench %s] %s\n' "$(date +%T)" "$*" >&2; }
die() { log "ERROR: $*"; exit 2; }

[[ $MESSAGES =~ ^[0-9]+$ && $MESSAGES -ge 1000 ]] || die "PIPE_BENCH_MESSAGES must be a whole number >= 1000"
[[ $ROUNDS =~ ^[0-9]+$ && $ROUNDS -ge 1 ]] || die "PIPE_BENCH_ROUNDS must be a whole number >= 1"

if [[ -z ${BENCH_SKIP_INSTALL:-} ]]; then
    "$ROOT/tools/install-deps.sh" build
fi
if [[ -z ${BENCH_SKIP_BUILD:-} ]]; then
    log "building (cmake --preset release; targets gale-pipe-bench gale-pipe-kafka-bench gale-pipe-benchmark)"
    (cd "$ROOT" && cmake --preset release >/dev/null &&
        cmake --build --preset release --target gale-pipe-bench gale-pipe-kafka-bench gale-pipe-benchmark) ||
        die "build failed"
fi
for bin in bench/gale-pipe-bench bench/gale-pipe-kafka-bench modules/pipe/gale-pipe-benchmark; do
    [[ -x $BUILD/$bin ]] || die "$BUILD/$bin is missing (build with BENCH_SKIP_BUILD unset)"
done

mkdir -p "$RESULTS"
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
status=0

log "embedded log: $MESSAGES messages, database $DB"
"$BUILD/bench/gale-pipe-bench" "$MESSAGES" "$DB" 100000 | tee "$out/embedded.txt" || status=1
log "Kafka (mock cluster): $MESSAGES messages, $ROUNDS rounds"
"$BUILD/bench/gale-pipe-kafka-bench" "$MESSAGES" 100 "$ROUNDS" | tee "$out/kafka.txt" || status=1
log "consume path CPU per record (no transport)"
"$BUILD/modules/pipe/gale-pipe-benchmark" --benchmark_repetitions=3 --benchmark_report_aggregates_only=true |
    tee "$out/cpu.txt" || status=1

{
    echo "# Log pipe benchmarks ($(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) CPUs, load before: $(cut -d' ' -f1-3 /proc/loadavg))"
    echo
    echo '## Embedded log (gale-pipe-bench)'
    echo
    echo '```'
    cat "$out/embedded.txt"
    echo '```'
    echo
    echo '## Kafka, mock cluster (gale-pipe-kafka-bench)'
    echo
    echo '```'
    cat "$out/kafka.txt"
    echo '```'
    echo
    echo '## Consume path CPU per record (gale-pipe-benchmark)'
    echo
    echo '```'
    grep -E 'median|^Benchmark' "$out/cpu.txt" || true
    echo '```'
} >"$RESULTS/pipe-latest.md"
log "summary written to $RESULTS/pipe-latest.md"
if [[ $status -ne 0 ]]; then
    log "a target was NOT met (see the lines marked NOT MET above)"
fi
exit "$status"
