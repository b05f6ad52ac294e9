#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# The WSGI server benchmark (bench/README.md, "WSGI servers"; issue 11): the Django hello world
# (bench/django_hello/hello_project.py) and a bare WSGI callable (bench/wsgi_apps/bare.py), each under gale-wsgi,
# gunicorn (sync, gthread), uWSGI (processes, threads) and Tornado's WSGIContainer as django-hurricane runs it, one
# server at a time on free loopback ports. Every server is pinned to one core (taskset -c 0), wrk and the probe
# client to the other (taskset -c 1). Per server and app: req/s, p50/p99 (wrk, keep-alive, -t1 -c32, 10 s after a
# 2 s warm-up), wrk's errors, the server's CPU seconds (utime + stime of every process of its process group, from
# /proc, before and after the run) and requests per server CPU-second. Then /ready p99 on gale-wsgi's probe port and
# on the Tornado server's /ready route while wrk saturates the app port. Targets: gale-wsgi >= 1.5x the best other
# per server CPU-second for Django, >= 5x for the bare callable, /ready p99 < 5 ms; the exit status says (1 = a target
# missed, 2 = the harness failed), only when gale-wsgi ran. The tables go to bench/results/wsgi-latest.md.
#
# Environment:
#   GALE_WSGI_BIN=build/release/modules/wsgi/gale-wsgi   the gale-wsgi binary; skipped (with a message) if missing
#   GALE_WSGI_WORKERS=4          gale-wsgi --workers (its Python thread pool); set empty to keep gale-wsgi's default
#   GALE_WSGI_LOOPS=1            gale-wsgi --loops (event loops: one per core it is pinned to); empty: its default
#   GALE_WSGI_ARGS=              more `gale-wsgi serve` options
#   WSGI_BENCH_APPS="django bare"
#   WSGI_BENCH_SERVERS="gale-wsgi gunicorn-sync-1 gunicorn-sync-3 gunicorn-gthread uwsgi-processes uwsgi-threads
#                       tornado"
#   WSGI_BENCH_CEILINGS="gale-hello nginx"   with the bare app, servers that run no Python at all, measured the same
#                                way as the HTTP ceiling (not peers: no target counts them); empty: none
#   GALE_HELLO_BIN=build/release/examples/hello/hello   gale's C++ hello example, the gale-hello ceiling
#   WSGI_BENCH_DURATION=10 WSGI_BENCH_WARMUP=2 WSGI_BENCH_CONNS=32   wrk's measured run, warm-up, connections
#   WSGI_BENCH_PROBE_INTERVAL=0.02   seconds between two /ready probes (50 a second)
#   WSGI_BENCH_TORNADO_PROBE=integrated   /ready on the Tornado app's own port (hurricane with --probe-port equal to
#                                --port); "separate": a second port on the same loop (hurricane's default)
#   WSGI_BENCH_SERVER_CPU=0 WSGI_BENCH_CLIENT_CPU=1   the taskset CPU lists of the servers and of the clients
#   WSGI_BENCH_QUIET_WAIT=0      before each measured run, wait up to this many seconds for a second in which the rest
#                                of the machine uses < 0.15 cores (other engineers' builds share it)
#   WSGI_BENCH_RETRIES=0         times to redo a run during which the rest of the machine took > 0.1 core
#   WSGI_BENCH_PYTHON=/usr/bin/python3   Debian's Python (its django, tornado, gunicorn); not pyenv's python3
#   BENCH_SKIP_INSTALL=1         don't run tools/install-deps.sh bench
set -euo pipefail

BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$BENCH_DIR/.." && pwd)
TOOLS=$BENCH_DIR/tools
RESULTS=$BENCH_DIR/results
RAW=$RESULTS/wsgi-raw
PY=${WSGI_BENCH_PYTHON:-/usr/bin/python3}
GALE_WSGI_BIN=${GALE_WSGI_BIN:-$ROOT/build/release/modules/wsgi/gale-wsgi}
GALE_WSGI_WORKERS=${GALE_WSGI_WORKERS-4}
GALE_WSGI_LOOPS=${GALE_WSGI_LOOPS-1}
GALE_WSGI_ARGS=${GALE_WSGI_ARGS:-}
APPS=${WSGI_BENCH_APPS:-django bare}
SERVERS=${WSGI_BENCH_SERVERS:-gale-wsgi gunicorn-sync-1 gunicorn-sync-3 gunicorn-gthread uwsgi-processes uwsgi-threads tornado}
CEILINGS=${WSGI_BENCH_CEILINGS-gale-hello nginx}
GALE_HELLO_BIN=${GALE_HELLO_BIN:-$ROOT/build/release/examples/hello/hello}
NGINX_BIN=/usr/sbin/nginx
DURATION=${WSGI_BENCH_DURATION:-10}
WARMUP=${WSGI_BENCH_WARMUP:-2}
CONNS=${WSGI_BENCH_CONNS:-32}
PROBE_INTERVAL=${WSGI_BENCH_PROBE_INTERVAL:-0.02}
TORNADO_PROBE=${WSGI_BENCH_TORNADO_PROBE:-integrated}
SERVER_CPU=${WSGI_BENCH_SERVER_CPU:-0}
CLIENT_CPU=${WSGI_BENCH_CLIENT_CPU:-1}
QUIET_WAIT=${WSGI_BENCH_QUIET_WAIT:-0}
RETRIES=${WSGI_BENCH_RETRIES:-0}

log() { printf '[wsgi-bench %s] %s\n' "$(date +%T)" "$*" >&2; }
die() { log "ERROR: $*"; exit 2; }

if [[ -z ${BENCH_SKIP_INSTALL:-} ]]; then "$ROOT/tools/install-deps.sh" bench >&2; fi
for tool in wrk taskset /usr/bin/gunicorn /usr/bin/uwsgi; do
    command -v "$tool" >/dev/null || die "$tool not found (tools/install-deps.sh bench installs it)"
done
"$PY" -c 'import django, tornado, gunicorn' 2>/dev/null ||
    die "$PY lacks django, tornado or gunicorn (Debian's python3-django, python3-tornado, gunicorn)"
[[ -e /usr/lib/uwsgi/plugins/python3_plugin.so ]] || die "uWSGI's python3 plugin is missing (uwsgi-plugin-python3)"
for c in $SERVER_CPU $CLIENT_CPU; do
    taskset -c "$c" true 2>/dev/null || die "cannot pin to CPU $c (this machine has $(nproc) cores)"
done

servers=()
for s in $SERVERS; do
    if [[ $s == gale-wsgi && ! -x $GALE_WSGI_BIN ]]; then
        log "gale-wsgi skipped: no executable at $GALE_WSGI_BIN (build it with \`cmake --build --preset release" \
            "--target gale-wsgi\`, or point GALE_WSGI_BIN at it); the peers are measured, no target is checked"
        continue
    fi
    servers+=("$s")
done
gale_ran=
[[ " ${servers[*]} " == *" gale-wsgi "* ]] && gale_ran=1
ceilings=()
for s in $CEILINGS; do
    case $s in
        gale-hello) [[ -x $GALE_HELLO_BIN ]] || { log "gale-hello skipped: no executable at $GALE_HELLO_BIN"; continue; } ;;
        nginx) [[ -x $NGINX_BIN ]] || { log "nginx skipped: no $NGINX_BIN (Debian's nginx-light)"; continue; } ;;
        *) die "unknown ceiling $s (gale-hello, nginx)" ;;
    esac
    ceilings+=("$s")
done

# gale-wsgi takes gale's serve options (modules/app/src/serve_options.cpp): loopback only, no access log (as every
# other server here: gunicorn's is off by default, uWSGI gets --disable-logging, Tornado's is disabled), one event loop
# for the one core it is given (its default is one per core of the machine, whatever the affinity).
gale_opts=(--bind 127.0.0.1 --no-access-log)
[[ -n $GALE_WSGI_LOOPS ]] && gale_opts+=(--loops "$GALE_WSGI_LOOPS")
[[ -n $GALE_WSGI_WORKERS ]] && gale_opts+=(--workers "$GALE_WSGI_WORKERS")
# shellcheck disable=SC2206  # GALE_WSGI_ARGS is a list of options on purpose
gale_opts+=($GALE_WSGI_ARGS)

TMP=$(mktemp -d /tmp/gale-wsgi-bench.XXXXXX)
RUNNING=  # the process group of the server running now: only that one is ours to kill (a stopped one's id may
          # belong to someone else's process by then)
# shellcheck disable=SC2317  # called by the EXIT trap
cleanup() {
    if [[ -n $RUNNING ]]; then kill -KILL -- "-$RUNNING" 2>/dev/null || true; fi
    rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

free_port() { "$PY" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# app_dir/app_spec APP
app_dir() { case $1 in django) echo "$BENCH_DIR/django_hello" ;; bare) echo "$BENCH_DIR/wsgi_apps" ;; esac; }
app_spec() { case $1 in django) echo hello_project:application ;; bare) echo bare:application ;; esac; }

# server_cmd SERVER APP PORT PROBE_PORT: sets CMD (the command line) and CONFIG (its summary for the table, in
# markdown: the backticks are literal).
# shellcheck disable=SC2016
server_cmd() {
    local server=$1 dir spec port=$3 pport=$4
    dir=$(app_dir "$2")
    spec=$(app_spec "$2")
    local gunicorn=(/usr/bin/gunicorn --bind "127.0.0.1:$port" --chdir "$dir" --pythonpath "$dir")
    local uwsgi=(/usr/bin/uwsgi --plugin python3 --http-socket "127.0.0.1:$port" --master --pythonpath "$dir"
        --module "$spec" --disable-logging --die-on-term --need-app)
    case $server in
        gale-wsgi)
            CMD=("$GALE_WSGI_BIN" serve --app "$spec" --pythonpath "$dir" --port "$port" --probe-port "$pport"
                "${gale_opts[@]}")
            CONFIG="\`serve ${gale_opts[*]}\`" ;;
        gunicorn-sync-1)
            CMD=("${gunicorn[@]}" --workers 1 --worker-class sync "$spec")
            CONFIG='`-k sync -w 1`' ;;
        gunicorn-sync-3)
            CMD=("${gunicorn[@]}" --workers 3 --worker-class sync "$spec")
            CONFIG='`-k sync -w 3` (2 × cores + 1)' ;;
        gunicorn-gthread)
            CMD=("${gunicorn[@]}" --workers 1 --worker-class gthread --threads 4 "$spec")
            CONFIG='`-k gthread -w 1 --threads 4`' ;;
        uwsgi-processes)
            CMD=("${uwsgi[@]}" --processes 2)
            CONFIG='`--http-socket --master --processes 2`' ;;
        uwsgi-threads)
            CMD=("${uwsgi[@]}" --processes 1 --threads 4 --enable-threads)
            CONFIG='`--http-socket --master --processes 1 --threads 4 --enable-threads`' ;;
        gale-hello)
            CMD=("$GALE_HELLO_BIN" serve --bind 127.0.0.1 --port "$port" --probe-port "$pport" --loops 1 --no-access-log)
            CONFIG='gale `hello serve --loops 1 --no-access-log`: its `/` is a C++ handler run on the event loop, no Python' ;;
        nginx)
            local ndir=$TMP/nginx-$port
            mkdir -p "$ndir"
            cat >"$ndir/nginx.conf" <<EOF
daemon off;
master_process on;
worker_processes 1;
pid $ndir/nginx.pid;
error_log $ndir/error.log warn;
events { worker_connections 1024; }
http {
    access_log off;
    keepalive_requests 1000000;
    client_body_temp_path $ndir/client_body;
    proxy_temp_path $ndir/proxy;
    fastcgi_temp_path $ndir/fastcgi;
    uwsgi_temp_path $ndir/uwsgi;
    scgi_temp_path $ndir/scgi;
    server {
        listen 127.0.0.1:$port;
        location = / { default_type text/plain; return 200 "Hello, world!\n"; }
    }
}
EOF
            CMD=("$NGINX_BIN" -p "$ndir/" -c "$ndir/nginx.conf" -e "$ndir/error.log")
            CONFIG='nginx, 1 worker, `return 200`, no Python' ;;
        tornado)
            CMD=("$PY" "$BENCH_DIR/wsgi_apps/tornado_wsgi.py" --app "$spec" --pythonpath "$dir" --port "$port")
            if [[ $TORNADO_PROBE == separate ]]; then CMD+=(--probe-port "$pport"); fi
            CONFIG="WSGIContainer + FallbackHandler, 1 thread, /ready $TORNADO_PROBE" ;;
        *) die "unknown server $server" ;;
    esac
}

# start_server SERVER APP: starts it pinned to SERVER_CPU in a session of its own (pid = process group id) and
# waits until it answers "Hello, world!\n" on / (and, for gale-wsgi, 200 on the probe port's /ready).
start_server() {
    local server=$1 app=$2 i
    PORT=$(free_port)
    PROBE_PORT=$(free_port)
    server_cmd "$server" "$app" "$PORT" "$PROBE_PORT"
    local dir=$TMP/$server-$app
    mkdir -p "$dir"
    printf '%q ' "${CMD[@]}" >"$dir/cmd"
    (cd "$dir" && exec setsid taskset -c "$SERVER_CPU" "${CMD[@]}" >"$dir/server.log" 2>&1 </dev/null) &
    SPID=$!
    RUNNING=$SPID
    for ((i = 0; i < 120; i++)); do
        kill -0 "$SPID" 2>/dev/null || { tail -n 30 "$dir/server.log" >&2; die "$server ($app) exited at start"; }
        if "$PY" "$TOOLS/httpget.py" 127.0.0.1 "$PORT" / --expect-body 'Hello, world!\n' >/dev/null 2>&1; then
            if [[ $server != gale-wsgi ]] ||
                "$PY" "$TOOLS/httpget.py" 127.0.0.1 "$PROBE_PORT" /ready >/dev/null 2>&1; then
                break
            fi
        fi
        sleep 0.25
    done
    ((i < 120)) || { tail -n 30 "$dir/server.log" >&2; die "$server ($app) did not answer within 30 s"; }
    [[ $(ps -o pgid= -p "$SPID" | tr -d ' ') == "$SPID" ]] || die "$server is not its own process group"
    log "$server ($app) up on 127.0.0.1:$PORT, pid $SPID, $(ps -o pid= --sid "$SPID" | wc -l) processes"
}

# start_and_warm_up SERVER APP: start_server, then wrk's warm-up run (not counted).
start_and_warm_up() {
    start_server "$1" "$2"
    log "$1 ($2): warm-up ${WARMUP} s, then ${DURATION} s at $CONNS connections"
    taskset -c "$CLIENT_CPU" wrk -t1 -c"$CONNS" -d"${WARMUP}s" "http://127.0.0.1:$PORT/" >"$RAW/warmup-$1-$2.txt" 2>&1 ||
        die "wrk warm-up against $1 failed: $(tail -n 5 "$RAW/warmup-$1-$2.txt")"
}

stop_server() {
    local i
    kill -TERM -- "-$SPID" 2>/dev/null || true
    for ((i = 0; i < 50; i++)); do
        kill -0 -- "-$SPID" 2>/dev/null || break
        sleep 0.1
    done
    kill -KILL -- "-$SPID" 2>/dev/null || true
    wait "$SPID" 2>/dev/null || true
    RUNNING=
}

# measure KIND SERVER APP [PROBE_PORT WHERE]: one wrk run (and the probe client), appended to the records.
measure() {
    local kind=$1 server=$2 app=$3 probe=() rec attempt busy
    [[ $kind == probe ]] && probe=(--probe-port "$4" --probe-interval "$PROBE_INTERVAL" --tag "where=$5"
        --tag "probe_interval_ms=$("$PY" -c "print(round($PROBE_INTERVAL * 1000))")")
    for ((attempt = 0; attempt <= RETRIES; attempt++)); do
        if ((QUIET_WAIT > 0)) && ! busy=$("$PY" "$TOOLS/procstat.py" quiet "$QUIET_WAIT" 0.15); then
            log "  the machine is not quiet (the rest of it uses $busy cores): going on"
        fi
        measure_once "$@"
        "$PY" -c 'import json, sys; sys.exit(json.loads(sys.argv[1])["other_cpu_s"] > 0.1 * float(sys.argv[2]))' \
            "$rec" "$DURATION" && break
        ((attempt < RETRIES)) && log "  other processes took more than 0.1 core during that run: once more"
    done
    echo "$rec" >>"$RECORDS"
}

measure_once() {
    local kind=$1 server=$2 app=$3
    rec=$("$PY" "$TOOLS/wsgi_measure.py" run --pgid "$SPID" --url "http://127.0.0.1:$PORT/" --conns "$CONNS" \
        --duration "$DURATION" --cpu-list "$CLIENT_CPU" --out "$RAW/$kind-$server-$app.txt" "${probe[@]}" \
        --tag "kind=$kind" --tag "server=$server" --tag "app=$app" --tag "app_spec=$(app_spec "$app")" \
        --tag "config=$CONFIG") || die "wrk against $server ($app) failed: $(tail -n 5 "$RAW/$kind-$server-$app.txt")"
    kill -0 "$SPID" 2>/dev/null || die "$server ($app) exited during the run"
    "$PY" - "$rec" <<'EOF' >&2
import json, sys
r = json.loads(sys.argv[1])
errs = {k: r[k] for k in ("err_connect", "err_read", "err_write", "err_status", "err_timeout") if r.get(k)}
line = (f"  {r['req_s']:,.0f} req/s, p50 {r['p50_us'] / 1000:.2f} ms, p99 {r['p99_us'] / 1000:.2f} ms, "
        f"server {r['server_cpu_s']:.2f} CPU-s = {r['requests'] / max(r['server_cpu_s'], 0.01):,.0f} req/CPU-s, "
        f"other {r['other_cpu_s']:.2f} CPU-s, errors {errs or 'none'}")
if "probe" in r:
    line += f"; probe {r['probe']}"
print(line)
EOF
}

mkdir -p "$RESULTS"
rm -rf "$RAW"
mkdir -p "$RAW"
RECORDS=$RAW/records.jsonl
versions="wrk $(dpkg-query -W -f='${Version}' wrk 2>/dev/null), gunicorn $("$PY" -c 'import gunicorn; print(gunicorn.__version__)'),"
versions+=" uWSGI $(/usr/bin/uwsgi --version), Tornado $("$PY" -c 'import tornado; print(tornado.version)'),"
versions+=" Django $("$PY" -c 'import django; print(django.get_version())'), Python $("$PY" -c 'import platform; print(platform.python_version())')"
[[ -n $gale_ran ]] && versions+=", gale-wsgi $GALE_WSGI_BIN (built $(date -u -r "$GALE_WSGI_BIN" '+%Y-%m-%d %H:%M UTC'); working tree at run time: $(git -C "$ROOT" describe --always --dirty 2>/dev/null))"
"$PY" - "$(date -u '+%Y-%m-%d %H:%M UTC')" "$(uptime | sed 's/.*load/load/')" \
    "$(nproc) cores ($(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n 1)), Linux $(uname -r); servers pinned to CPU $SERVER_CPU, wrk and the probe client to CPU $CLIENT_CPU; wrk -t1 -c$CONNS, keep-alive, ${WARMUP} s warm-up then ${DURATION} s; $versions" \
    <<'EOF' >"$RECORDS"
import json, sys
print(json.dumps({"kind": "meta", "date": sys.argv[1], "uptime": sys.argv[2] + " before the run", "setup": sys.argv[3]}))
EOF
log "servers: ${servers[*]}; apps: $APPS; $(uptime | sed 's/.*load/load/')"

for app in $APPS; do
    # The app alone, no server: the most requests per CPU-second any server could answer (wsgi_apps/floor.py).
    log "$app: the app called in a loop with no server, ${DURATION} s"
    floor=$(taskset -c "$SERVER_CPU" "$PY" "$BENCH_DIR/wsgi_apps/floor.py" --app "$(app_spec "$app")" \
        --pythonpath "$(app_dir "$app")" --seconds "$DURATION") || die "floor.py failed for $app"
    "$PY" -c 'import json, sys; r = json.loads(sys.argv[1]); r.update(kind="floor", app=sys.argv[2]); print(json.dumps(r))' \
        "$floor" "$app" >>"$RECORDS"
    log "  $floor"
    for server in "${servers[@]}"; do
        start_and_warm_up "$server" "$app"
        measure load "$server" "$app"
        case $server in
            gale-wsgi)
                log "$server ($app): /ready on the probe port while wrk saturates the app port"
                measure probe "$server" "$app" "$PROBE_PORT" "probe port" ;;
            tornado)
                log "$server ($app): /ready ($TORNADO_PROBE) while wrk saturates the app port"
                if [[ $TORNADO_PROBE == separate ]]; then
                    measure probe "$server" "$app" "$PROBE_PORT" "probe port, same loop"
                else
                    measure probe "$server" "$app" "$PORT" "app port (integrated)"
                fi ;;
        esac
        stop_server
    done
    [[ $app == bare ]] || continue
    for server in "${ceilings[@]}"; do
        start_and_warm_up "$server" "$app"
        measure ceiling "$server" "$app"
        stop_server
    done
done

status=0
"$PY" "$TOOLS/wsgi_measure.py" report "$RECORDS" >"$RESULTS/wsgi-latest.md" || status=$?
cat "$RESULTS/wsgi-latest.md"
log "written to $RESULTS/wsgi-latest.md; raw wrk output and records in $RAW; $(uptime | sed 's/.*load/load/')"
if [[ -z $gale_ran ]]; then
    log "gale-wsgi did not run: no target checked"
    exit 0
fi
((status == 0)) || log "a target was missed (see the Targets table)"
exit "$status"
