#!/usr/bin/env bash
# Database views on PostgreSQL (issue 12 §2): examples/hello's GET and POST /visits/{name}, served by gale with its
# connection pool, next to the same two views in Django (bench/django_visits) under gunicorn, on one PostgreSQL
# started here, in the same run. See bench/README.md, "Database views on PostgreSQL".
#
#   bench/db.sh
#
# Environment (all optional):
#   DB_BENCH_DURATION=10   seconds per measured wrk run (after a 2 s warm-up)
#   DB_BENCH_CONNS=32      wrk connections
#   DB_BENCH_GUNICORN_WORKERS=$((2 * cores + 1))   gunicorn's sync workers (its documented rule of thumb)
#   DB_BENCH_SERVERS="gale django"
#   BENCH_SKIP_INSTALL=1   don't check or install Debian packages
#   BENCH_GALE_BIN=PATH    hello (default build/release/examples/hello/hello)
#   BENCH_QUIET_WAIT=20    wait up to this long before each run for the machine to be quiet
#
# Progress goes to stderr; the markdown summary to stdout (and the records to $DB_BENCH_OUT, if set).
set -euo pipefail

BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$BENCH_DIR/.." && pwd)
TOOLS=$BENCH_DIR/tools
PY=/usr/bin/python3
DURATION=${DB_BENCH_DURATION:-10}
CONNS=${DB_BENCH_CONNS:-32}
WORKERS=${DB_BENCH_GUNICORN_WORKERS:-$((2 * $(nproc) + 1))}
SERVERS=" ${DB_BENCH_SERVERS:-gale django} "
HELLO=${BENCH_GALE_BIN:-$ROOT/build/release/examples/hello/hello}
QUIET_WAIT=${BENCH_QUIET_WAIT:-20}

log() { printf '[db-bench %s] %s\n' "$(date +%T)" "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

[ -n "${BENCH_SKIP_INSTALL:-}" ] || "$ROOT/tools/install-deps.sh" bench >&2
[ -x "$HELLO" ] || die "no $HELLO: cmake --preset release && cmake --build build/release -j2 --target hello"
command -v wrk >/dev/null || die "wrk is missing (tools/install-deps.sh bench)"
command -v gunicorn >/dev/null || die "gunicorn is missing (tools/install-deps.sh bench)"
PG_BIN=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
[ -n "$PG_BIN" ] || die "no PostgreSQL server binaries (Debian package postgresql)"

TMP=$(mktemp -d /tmp/gale-db-bench.XXXXXX)
PIDS=()
AS_PG=()
cleanup() {
    for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
    for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
    [ -d "$TMP/pg/data" ] && "${AS_PG[@]}" "$PG_BIN/pg_ctl" -D "$TMP/pg/data" -w -m fast stop >/dev/null 2>&1 || true
    rm -rf "$TMP"
}
trap cleanup EXIT

free_port() { "$PY" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
wait_status() {  # url status seconds
    local i
    for ((i = 0; i < $3 * 10; i++)); do
        [ "$(curl -s -o /dev/null -w '%{http_code}' "$1" 2>/dev/null)" = "$2" ] && return 0
        sleep 0.1
    done
    return 1
}

# --- PostgreSQL: a cluster of our own, on a free loopback port --------------------------------------------------------
PG_PORT=$(free_port)
mkdir -p "$TMP/pg"
if [ "$(id -u)" -eq 0 ]; then
    chown postgres "$TMP" "$TMP/pg"
    AS_PG=(runuser -u postgres --)
fi
log "PostgreSQL ($PG_BIN) on 127.0.0.1:$PG_PORT"
"${AS_PG[@]}" "$PG_BIN/initdb" -D "$TMP/pg/data" -U gale -E UTF8 --no-locale --no-sync --auth=trust >"$TMP/initdb.log" 2>&1 ||
    die "initdb failed: $(tail -n 5 "$TMP/initdb.log")"
# synchronous_commit=off: a commit does not wait for the WAL flush, so the disk does not set the pace (the same
# for both servers); everything else is PostgreSQL's default.
"${AS_PG[@]}" "$PG_BIN/pg_ctl" -D "$TMP/pg/data" -l "$TMP/pg/server.log" -w -t 60 \
    -o "-p $PG_PORT -k $TMP/pg -c listen_addresses=127.0.0.1 -c synchronous_commit=off" start >/dev/null ||
    die "PostgreSQL did not start: $(tail -n 5 "$TMP/pg/server.log")"
PG_PID=$(head -n 1 "$TMP/pg/data/postmaster.pid")
"${AS_PG[@]}" "$PG_BIN/createdb" -h 127.0.0.1 -p "$PG_PORT" -U gale bench
export DATABASE_ENGINE=postgresql DATABASE_HOST=127.0.0.1 DATABASE_PORT=$PG_PORT DATABASE_NAME=bench \
    DATABASE_USERNAME=gale
(cd "$TMP" && "$HELLO" migrate >"$TMP/migrate.log" 2>&1) || die "hello migrate failed: $(tail -n 5 "$TMP/migrate.log")"
# 1,000 visits of others, so that GET counts over a table of some size (it has no index on name, in both).
"${AS_PG[@]}" "$PG_BIN/psql" -q -h 127.0.0.1 -p "$PG_PORT" -U gale -d bench \
    -c "INSERT INTO visits (name) SELECT 'seed' || g FROM generate_series(1, 1000) g; INSERT INTO visits (name) VALUES ('ada')"

# --- the servers ---------------------------------------------------------------------------------------------------
declare -A URL PID
if [[ $SERVERS == *" gale "* ]]; then
    port=$(free_port)
    probe=$(free_port)
    (cd "$TMP" && exec "$HELLO" serve --bind 127.0.0.1 --port "$port" --probe-port "$probe" --no-access-log \
        >"$TMP/gale.log" 2>&1) &
    PID[gale]=$!
    PIDS+=("${PID[gale]}")
    wait_status "http://127.0.0.1:$probe/ready" 200 30 || die "gale did not get ready: $(tail -n 5 "$TMP/gale.log")"
    URL[gale]="http://127.0.0.1:$port"
fi
if [[ $SERVERS == *" django "* ]]; then
    port=$(free_port)
    (cd "$BENCH_DIR/django_visits" && exec gunicorn --workers "$WORKERS" --bind "127.0.0.1:$port" \
        visits_project:application >"$TMP/django.log" 2>&1) &
    PID[django]=$!
    PIDS+=("${PID[django]}")
    wait_status "http://127.0.0.1:$port/visits/ada" 200 60 || die "gunicorn did not answer: $(tail -n 5 "$TMP/django.log")"
    URL[django]="http://127.0.0.1:$port"
fi
for s in "${!URL[@]}"; do log "$s: GET /visits/ada → $(curl -s "${URL[$s]}/visits/ada")"; done

printf 'wrk.method = "POST"\n' >"$TMP/post.lua"
cat "$TOOLS/report.lua" >>"$TMP/post.lua"
RECORDS=${DB_BENCH_OUT:-$TMP/records.jsonl}
: >"$RECORDS"

# run SERVER VIEW: warm-up, then the measured run; the record gets the database's CPU over it.
run() {
    local server=$1 view=$2 script=$TOOLS/report.lua path=/visits/ada quiet m rec pg0 pg1
    if [ "$view" = POST ]; then
        script=$TMP/post.lua
        path=/visits/bench-$server
    fi
    quiet=$("$PY" "$TOOLS/procstat.py" quiet "$QUIET_WAIT" 0.15 || true)
    wrk -t1 -c"$CONNS" -d2s -s "$script" "${URL[$server]}$path" >/dev/null 2>&1 || die "wrk warm-up failed"
    pg0=$("$PY" "$TOOLS/procstat.py" cpu "$PG_PID")
    m=$("$PY" "$TOOLS/measure.py" --pid "${PID[$server]}" --out "$TMP/wrk-$server-$view.txt" \
        --timeout $((DURATION + 30)) -- wrk -t1 -c"$CONNS" -d"${DURATION}s" --latency -s "$script" "${URL[$server]}$path")
    pg1=$("$PY" "$TOOLS/procstat.py" cpu "$PG_PID")
    [[ $m == *'"rc": 0}' ]] || die "wrk against $server failed: $(tail -n 5 "$TMP/wrk-$server-$view.txt")"
    rec=$("$PY" "$TOOLS/results.py" wrk --server "$server" --conns "$CONNS" --wrk-out "$TMP/wrk-$server-$view.txt" \
        --measure "$m" --quiet-before "$quiet")
    rec=$("$PY" -c 'import json, sys; r = json.loads(sys.argv[1]); r.update(view=sys.argv[2], db_cpu_s=round(float(sys.argv[4]) - float(sys.argv[3]), 2)); print(json.dumps(r))' \
        "$rec" "$view" "$pg0" "$pg1")
    log "$server $view: $("$PY" "$TOOLS/results.py" brief "$rec")"
    echo "$rec" >>"$RECORDS"
}

# GETs first on both (the table is the same size for each), then the POSTs.
for view in GET POST; do
    for s in gale django; do
        if [ -n "${URL[$s]:-}" ]; then run "$s" "$view"; fi
    done
done

"$PY" - "$RECORDS" "$CONNS" "$WORKERS" "$DURATION" <<'PYEOF'
import json, sys
recs = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
conns, workers, duration = sys.argv[2], sys.argv[3], sys.argv[4]
print(f"| view | server | req/s | p50 ms | p99 ms | server CPU s | req per server CPU-s | database CPU s | errors |")
print("|---|---|---|---|---|---|---|---|---|")
by = {}
for r in recs:
    by[(r["view"], r["server"])] = r
    print(f"| {r['view']} /visits/… | {r['server']} | {r['rps']:,.0f} | {r['p50_ms']:.2f} | {r['p99_ms']:.2f} | "
          f"{r['cpu_s']:.2f} | {r['req_per_cpu_s'] or 0:,.0f} | {r['db_cpu_s']:.2f} | {r['errors'] or '-'} |")
print()
for view in ("GET", "POST"):
    g, d = by.get((view, "gale")), by.get((view, "django"))
    if g and d and d["req_per_cpu_s"] and d["rps"]:
        print(f"- {view}: gale/django per server CPU-second {g['req_per_cpu_s'] / d['req_per_cpu_s']:.1f}x, "
              f"req/s {g['rps'] / d['rps']:.1f}x")
print(f"\n({conns} connections, {duration} s per run; gunicorn: {workers} sync workers; gale: hello's defaults, "
      f"DATABASE_POOL_SIZE 4)")
PYEOF
