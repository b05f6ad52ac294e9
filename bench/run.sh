#!/usr/bin/env bash
# gale benchmark harness: gale's hello example against nginx and against a
# Django hello world on Tornado, all on 127.0.0.1. See bench/README.md.
#
#   bench/run.sh
#
# Environment (all optional):
#   BENCH_DURATION=10        seconds per measured wrk run (warm-up: BENCH_WARMUP=2)
#   BENCH_SERVERS="gale nginx django"   which servers to measure
#   BENCH_SKIP_INSTALL=1     don't check or install Debian packages
#   BENCH_SKIP_BUILD=1       don't build gale; use the binary as it is
#   BENCH_GALE_BIN=PATH      gale hello binary (default build/release/examples/hello/hello)
#   BENCH_GALE_WORKERS=N     pass --workers N to gale (default: gale's own)
#   BENCH_GALE_ARGS="..."    more `hello serve` options (split on spaces), e.g. "--loops 1"
#   BENCH_IDLE_CONNS=10000   idle keep-alive connections for the memory test
#   BENCH_GALE_PORT=18080 BENCH_GALE_PROBE_PORT=18081 BENCH_NGINX_PORT=18082 BENCH_DJANGO_PORT=18083
#   BENCH_PYTHON=/usr/bin/python3   the Python that has Debian's django and tornado
#   BENCH_QUIET_WAIT=20      before each measured run, wait up to this long for the
#                            machine to be quiet (other processes < 0.15 cores)
#   BENCH_REPEAT=1           measured runs per server and connection count (the
#                            summary shows the median of each figure)
#   BENCH_RETRIES=2          times to redo a run during which other processes were busy
#   BENCH_KEEP_TMP=1         keep the temporary directory (configs, server logs)
#
# Progress goes to stderr; the markdown summary goes to stdout and to
# bench/results/latest.md (raw wrk output and records in bench/results/raw/).
set -euo pipefail

BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$BENCH_DIR/.." && pwd)
TOOLS=$BENCH_DIR/tools
PY=${BENCH_PYTHON:-/usr/bin/python3}
DURATION=${BENCH_DURATION:-10}
WARMUP=${BENCH_WARMUP:-2}
SERVERS=" ${BENCH_SERVERS:-gale nginx django} "
IDLE_CONNS=${BENCH_IDLE_CONNS:-10000}
GALE_PORT=${BENCH_GALE_PORT:-18080}
GALE_PROBE_PORT=${BENCH_GALE_PROBE_PORT:-18081}
NGINX_PORT=${BENCH_NGINX_PORT:-18082}
DJANGO_PORT=${BENCH_DJANGO_PORT:-18083}
GALE_WORKERS=${BENCH_GALE_WORKERS:-}
read -r -a GALE_EXTRA <<<"${BENCH_GALE_ARGS:-}"
HELLO=${BENCH_GALE_BIN:-$ROOT/build/release/examples/hello/hello}
QUIET_WAIT=${BENCH_QUIET_WAIT:-20}
RETRIES=${BENCH_RETRIES:-2}
REPEAT=${BENCH_REPEAT:-1}
QUIET=
RESULTS=$BENCH_DIR/results
RAW=$RESULTS/raw
NPROC=$(nproc)

RUN_PKGS=(wrk nginx-light python3-django python3-tornado procps)
# gale's build dependencies come from tools/install-deps.sh when the tree has it;
# this list is the fallback.
BUILD_PKGS=(cmake ninja-build g++ pkg-config libexpected-dev libfmt-dev nlohmann-json3-dev
            libcli11-dev libsqlite3-dev libcurl4-openssl-dev libssl-dev libbenchmark-dev)

log() { printf '[bench %s] %s\n' "$(date +%T)" "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }
wants() { [[ $SERVERS == *" $1 "* ]]; }

[[ $DURATION =~ ^[0-9]+$ && $DURATION -ge 2 ]] || die "BENCH_DURATION must be a whole number of seconds >= 2"
[[ $WARMUP =~ ^[0-9]+$ && $WARMUP -ge 1 ]] || die "BENCH_WARMUP must be a whole number of seconds >= 1"
[[ $REPEAT =~ ^[0-9]+$ && $REPEAT -ge 1 ]] || die "BENCH_REPEAT must be a whole number >= 1"
[[ $RETRIES =~ ^[0-9]+$ ]] || die "BENCH_RETRIES must be a whole number"
[[ $(id -u) -eq 0 ]] || die "run as root (it installs packages and runs nginx as root)"

# ------------------------------------------------------------------ packages

POLICY_RC_CREATED=
install_packages() {
    local missing=() p
    for p in "$@"; do
        [[ $(dpkg-query -W -f='${db:Status-Abbrev}' "$p" 2>/dev/null) == "ii "* ]] || missing+=("$p")
    done
    ((${#missing[@]})) || return 0
    log "installing: ${missing[*]}"
    # Keep the packages' maintainer scripts from starting a system nginx on :80.
    if [[ ! -e /usr/sbin/policy-rc.d ]]; then
        printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
        chmod 755 /usr/sbin/policy-rc.d
        POLICY_RC_CREATED=1
    fi
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
    if [[ -n $POLICY_RC_CREATED ]]; then
        rm -f /usr/sbin/policy-rc.d
        POLICY_RC_CREATED=
    fi
}

# ------------------------------------------------------------ process control

TMP=
PIDS=()
cleanup() {
    local rc=$? pid
    trap - EXIT INT TERM
    for pid in "${PIDS[@]}"; do stop_pid "$pid"; done
    [[ -n $POLICY_RC_CREATED ]] && rm -f /usr/sbin/policy-rc.d
    if [[ -n $TMP && -d $TMP ]]; then
        if [[ -n ${BENCH_KEEP_TMP:-} ]]; then log "kept $TMP"; else rm -rf "$TMP"; fi
    fi
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

forget_pid() {
    local keep=() p
    for p in "${PIDS[@]}"; do [[ $p == "$1" ]] || keep+=("$p"); done
    PIDS=("${keep[@]}")
}

# stop_pid PID: SIGTERM to its process group (it was started with setsid), then
# SIGKILL after 10 s (gale drains for 5 s by default before it exits).
stop_pid() {
    local pid=$1 i
    forget_pid "$pid"
    kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null || true
    for ((i = 0; i < 100; i++)); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    kill -KILL -- "-$pid" 2>/dev/null || kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
}

# spawn LOG DIR CMD...: run CMD in DIR in a session of its own; sets SPAWNED to
# its pid (the pid of CMD itself: the subshell and setsid exec into it).
spawn() {
    local logf=$1 dir=$2
    shift 2
    (cd "$dir" && exec setsid "$@") >"$logf" 2>&1 </dev/null &
    SPAWNED=$!
    PIDS+=("$SPAWNED")
}

port_busy() {
    "$PY" -c 'import socket,sys; s=socket.socket(); sys.exit(s.connect_ex(("127.0.0.1", int(sys.argv[1]))))' "$1"
}
need_free_port() { ! port_busy "$1" || die "port $1 on 127.0.0.1 is already in use (set BENCH_*_PORT)"; }

# wait_http PID PORT PATH SECONDS [BODY]: until PATH answers 200 (with BODY).
wait_http() {
    local pid=$1 port=$2 path=$3 secs=$4 body=${5:-}
    local args=(127.0.0.1 "$port" "$path" --wait "$secs")
    [[ -n $body ]] && args+=(--expect-body "$body")
    if ! "$PY" "$TOOLS/httpget.py" "${args[@]}" >/dev/null; then
        kill -0 "$pid" 2>/dev/null || log "the server (pid $pid) has exited"
        return 1
    fi
}

rss_of() { "$PY" "$TOOLS/procstat.py" rss "$1"; }
pss_of() { "$PY" "$TOOLS/procstat.py" pss "$1"; }

# ------------------------------------------------------------------ servers

# migrate_gale DIR: create the hello database's tables in DIR (`hello
# migrate`), as a deployment would before `serve`; the readiness check reads them.
migrate_gale() {
    local dir=$1
    if ! (cd "$dir" && GALE_HELLO_DB=$dir/hello.db timeout 60 "$HELLO" migrate) >"$dir/migrate.log" 2>&1; then
        log "warning: '$HELLO migrate' failed: $(tail -n 3 "$dir/migrate.log")"
    fi
}

GALE_RUN=0
start_gale() {
    GALE_RUN=$((GALE_RUN + 1))
    local dir=$TMP/gale-$GALE_RUN
    mkdir -p "$dir"
    migrate_gale "$dir"
    need_free_port "$GALE_PORT"
    need_free_port "$GALE_PROBE_PORT"
    local args=(serve --bind 127.0.0.1 --port "$GALE_PORT" --probe-port "$GALE_PROBE_PORT" --no-access-log)
    [[ -n $GALE_WORKERS ]] && args+=(--workers "$GALE_WORKERS")
    args+=("${GALE_EXTRA[@]}")
    GALE_HELLO_DB=$dir/hello.db spawn "$dir/server.log" "$dir" "$HELLO" "${args[@]}"
    GALE_PID=$SPAWNED
    if ! wait_http "$GALE_PID" "$GALE_PROBE_PORT" /ready 30 ||
        ! wait_http "$GALE_PID" "$GALE_PORT" / 10 'Hello, world!\n'; then
        tail -n 30 "$dir/server.log" >&2 || true
        die "gale did not become ready"
    fi
    log "gale up (pid $GALE_PID, $(find /proc/"$GALE_PID"/task -mindepth 1 -maxdepth 1 | wc -l) threads)"
}

# start_nginx [WORKER_CONNECTIONS]: the default is sized for the idle-connection
# test (each worker may end up holding all of them). nginx preallocates its
# connection table per worker, so this setting shows in its idle RSS.
NGINX_RUN=0
start_nginx() {
    NGINX_RUN=$((NGINX_RUN + 1))
    local dir=$TMP/nginx-$NGINX_RUN nofile wc
    mkdir -p "$dir"
    need_free_port "$NGINX_PORT"
    nofile=$(ulimit -n)
    [[ $nofile == unlimited ]] && nofile=65536
    wc=${1:-$((IDLE_CONNS + 1024))}
    ((wc <= nofile - 64)) || wc=$((nofile - 64))
    NGINX_WC=$wc
    cat >"$dir/nginx.conf" <<EOF
# Generated by bench/run.sh.
user root;
daemon off;
master_process on;
worker_processes $NPROC;
worker_rlimit_nofile $nofile;
pid $dir/nginx.pid;
error_log $dir/error.log warn;

events {
    worker_connections $wc;
}

http {
    access_log off;
    # Keep-alive connections stay open for the whole run, as gale's do
    # (nginx's default closes one after 1000 requests).
    keepalive_requests 1000000;
    client_body_temp_path $dir/client_body;
    proxy_temp_path $dir/proxy;
    fastcgi_temp_path $dir/fastcgi;
    uwsgi_temp_path $dir/uwsgi;
    scgi_temp_path $dir/scgi;

    server {
        listen 127.0.0.1:$NGINX_PORT;
        server_name _;
        location = / {
            default_type text/plain;
            return 200 "Hello, world!\n";
        }
    }
}
EOF
    nginx -t -q -p "$dir/" -c "$dir/nginx.conf" -e "$dir/error.log" >&2 || die "nginx rejects $dir/nginx.conf"
    spawn "$dir/server.log" "$dir" nginx -p "$dir/" -c "$dir/nginx.conf" -e "$dir/error.log"
    NGINX_PID=$SPAWNED
    if ! wait_http "$NGINX_PID" "$NGINX_PORT" / 30 'Hello, world!\n'; then
        tail -n 30 "$dir/error.log" "$dir/server.log" >&2 || true
        die "nginx did not become ready"
    fi
    local n
    n=$("$PY" "$TOOLS/procstat.py" pids "$NGINX_PID" | wc -l)
    log "nginx up (master pid $NGINX_PID, $((n - 1)) workers, worker_connections $wc)"
}

start_django() {
    local dir=$TMP/django
    mkdir -p "$dir"
    need_free_port "$DJANGO_PORT"
    spawn "$dir/server.log" "$BENCH_DIR/django_hello" "$PY" serve_tornado.py --bind 127.0.0.1 --port "$DJANGO_PORT"
    DJANGO_PID=$SPAWNED
    if ! wait_http "$DJANGO_PID" "$DJANGO_PORT" / 30 'Hello, world!\n'; then
        tail -n 30 "$dir/server.log" >&2 || true
        die "Django on Tornado did not become ready"
    fi
    log "Django on Tornado up (pid $DJANGO_PID)"
}

# --------------------------------------------------------------- measuring

# wait_quiet: wait (BENCH_QUIET_WAIT seconds at most) until the machine is
# quiet, i.e. other processes use under 0.15 cores; sets QUIET to the busy
# cores seen last.
wait_quiet() {
    if ! QUIET=$("$PY" "$TOOLS/procstat.py" quiet "$QUIET_WAIT" 0.15); then
        log "warning: the machine is not quiet (other processes use $QUIET cores); figures will be noisy"
    fi
}

# bench_wrk SERVER PID URL CONNS: BENCH_REPEAT times a warm-up, then a measured
# run with the server's CPU time (and the rest of the machine's) read around it.
# A run during which other processes took more than 0.1 core is done again
# (BENCH_RETRIES).
bench_wrk() {
    local rep
    for ((rep = 1; rep <= REPEAT; rep++)); do bench_wrk_once "$@" "$rep"; done
}

bench_wrk_once() {
    local server=$1 pid=$2 url=$3 conns=$4 rep=$5 m rec attempt
    local out=$RAW/wrk-$server-$conns-$rep.txt
    for ((attempt = 0; attempt <= RETRIES; attempt++)); do
        wait_quiet
        log "$server, $conns conns: warm-up ${WARMUP} s, then ${DURATION} s (run $rep of $REPEAT)"
        timeout $((WARMUP + 30)) wrk -t1 -c"$conns" -d"${WARMUP}s" "$url" >"$RAW/warmup-$server-$conns.txt" 2>&1 ||
            die "wrk warm-up against $server failed: $(tail -n 5 "$RAW/warmup-$server-$conns.txt")"
        m=$("$PY" "$TOOLS/measure.py" --pid "$pid" --out "$out" --timeout $((DURATION + 30)) -- \
            wrk -t1 -c"$conns" -d"${DURATION}s" --latency -s "$TOOLS/report.lua" "$url")
        [[ $m == *'"rc": 0}' ]] || die "wrk against $server failed ($m): $(tail -n 5 "$out")"
        kill -0 "$pid" 2>/dev/null || die "$server exited during the run"
        rec=$("$PY" "$TOOLS/results.py" wrk --server "$server" --conns "$conns" --wrk-out "$out" \
            --measure "$m" --quiet-before "$QUIET" --rep "$rep")
        log "  $("$PY" "$TOOLS/results.py" brief "$rec")"
        [[ $("$PY" "$TOOLS/results.py" noisy "$rec") == yes ]] || break
        ((attempt < RETRIES)) && log "  other processes were busy during that run: once more"
    done
    echo "$rec" >>"$METRICS"
}

# bench_memory SERVER PID PORT: RSS idle, then with IDLE_CONNS idle keep-alive
# connections open.
bench_memory() {
    local server=$1 pid=$2 port=$3 status=$TMP/conns-$1.status i line
    local idle_rss idle_pss conn_rss conn_pss opened open_now
    sleep 1
    idle_rss=$(rss_of "$pid")
    idle_pss=$(pss_of "$pid")
    log "$server idle: RSS $((idle_rss / 1024)) MiB ($idle_rss KiB); opening $IDLE_CONNS idle connections"
    rm -f "$status"
    spawn "$TMP/conns-$server.log" "$TMP" "$PY" "$TOOLS/conns.py" --port "$port" --count "$IDLE_CONNS" \
        --status-file "$status" --timeout 90 --hold 180
    local client=$SPAWNED
    for ((i = 0; i < 1000; i++)); do # 100 s at most
        [[ -s $status ]] && break
        kill -0 "$client" 2>/dev/null || break
        sleep 0.1
    done
    line=$(head -n 1 "$status" 2>/dev/null || true)
    [[ $line == READY* ]] || { cat "$TMP/conns-$server.log" >&2; die "the connection client did not finish"; }
    opened=$(sed -n 's/.*opened=\([0-9]*\).*/\1/p' <<<"$line")
    sleep 1
    conn_rss=$(rss_of "$pid")
    conn_pss=$(pss_of "$pid")
    kill -USR1 "$client"
    open_now=
    for ((i = 0; i < 100; i++)); do
        open_now=$(sed -n 's/^OPEN \([0-9]*\).*/\1/p' "$status")
        [[ -n $open_now ]] && break
        sleep 0.1
    done
    stop_pid "$client"
    log "$server with connections: $line, still open at the reading: ${open_now:-?}; RSS $((conn_rss / 1024)) MiB ($conn_rss KiB)"
    local extra=()
    [[ $server == nginx ]] && extra+=("worker_connections=$NGINX_WC")
    "$PY" "$TOOLS/results.py" add mem "$server" '{}' "${extra[@]}" idle_rss_kib="$idle_rss" idle_pss_kib="$idle_pss" \
        conn_rss_kib="$conn_rss" conn_pss_kib="$conn_pss" opened="${opened:-0}" \
        open_at_read="${open_now:-0}" target_conns="$IDLE_CONNS" >>"$METRICS"
}

# bench_probe SERVER PHASE PORT [LOAD_PORT]: latency of sequential GETs on
# fresh connections (gale: /ready on the probe port; nginx, for reference: /)
# idle, or while wrk saturates LOAD_PORT with 256 connections.
bench_probe() {
    local server=$1 phase=$2 port=$3 load_port=${4:-} res wpid app_rps=null secs path=/ready
    [[ $server == gale ]] || path=/
    if [[ $phase == idle ]]; then
        res=$("$PY" "$TOOLS/probe_latency.py" --port "$port" --path "$path" --max 500 --duration 5) || true
    else
        secs=$((DURATION > 3 ? DURATION - 2 : 1))
        wait_quiet
        log "$server: GET $path latency on port $port while wrk saturates port $load_port (256 conns, ${DURATION} s)"
        timeout $((DURATION + 30)) wrk -t1 -c256 -d"${DURATION}s" -s "$TOOLS/report.lua" \
            "http://127.0.0.1:$load_port/" >"$RAW/wrk-$server-probe-load.txt" 2>&1 &
        wpid=$!
        sleep 1
        res=$("$PY" "$TOOLS/probe_latency.py" --port "$port" --path "$path" --max 2000 --duration "$secs") || true
        wait "$wpid" || die "wrk (probe load) failed"
        app_rps=$("$PY" -c 'import json,sys; w=json.loads(next(l for l in open(sys.argv[1]) if l.startswith("BENCHJSON "))[10:]); print(round(w["requests"]/(w["duration_us"]/1e6)))' "$RAW/wrk-$server-probe-load.txt")
    fi
    [[ -n $res ]] || die "probe latency measurement failed"
    log "  GET $path ($phase): $res"
    "$PY" "$TOOLS/results.py" add probe "$server" "$res" phase="$phase" path="$path" app_rps="$app_rps" >>"$METRICS"
}

bench_startup() {
    local args=(serve --bind 127.0.0.1 --port "$GALE_PORT" --probe-port "$GALE_PROBE_PORT" --no-access-log)
    [[ -n $GALE_WORKERS ]] && args+=(--workers "$GALE_WORKERS")
    args+=("${GALE_EXTRA[@]}")
    need_free_port "$GALE_PORT"
    need_free_port "$GALE_PROBE_PORT"
    mkdir -p "$TMP/startup"
    wait_quiet
    log "gale: startup time (exec of serve to /ready = 200, database migrated first), best of 5"
    local res
    res=$(timeout 120 "$PY" "$TOOLS/startup.py" --probe-port "$GALE_PROBE_PORT" --runs 5 \
        --workdir "$TMP/startup" --prepare "$(printf '%q migrate' "$HELLO")" -- "$HELLO" "${args[@]}") ||
        die "startup measurement failed"
    log "  $res"
    "$PY" "$TOOLS/results.py" add startup gale "$res" >>"$METRICS"
}

# ------------------------------------------------------------------- main

if [[ -z ${BENCH_SKIP_INSTALL:-} ]]; then
    install_packages "${RUN_PKGS[@]}"
    if wants gale && [[ -z ${BENCH_SKIP_BUILD:-} ]]; then
        if [[ -x $ROOT/tools/install-deps.sh ]]; then
            "$ROOT/tools/install-deps.sh" build >&2 || die "tools/install-deps.sh build failed"
        else
            install_packages "${BUILD_PKGS[@]}"
        fi
    fi
fi
command -v wrk >/dev/null || die "wrk not found"
command -v nginx >/dev/null || PATH=$PATH:/usr/sbin
"$PY" -c 'import django, tornado' || die "$PY lacks django or tornado (Debian's python3-django, python3-tornado)"

# Both the servers and the connection client need > 10,000 descriptors.
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
NOFILE=$(ulimit -n)
if [[ $NOFILE != unlimited ]] && ((NOFILE < IDLE_CONNS + 100)); then
    log "warning: open-file limit is $NOFILE, too low for $IDLE_CONNS connections"
fi

if wants gale; then
    if [[ -z ${BENCH_SKIP_BUILD:-} ]]; then
        log "building gale (cmake --preset release && cmake --build --preset release)"
        mkdir -p "$RESULTS"
        if ! (cd "$ROOT" && cmake --preset release && timeout 3600 cmake --build --preset release) \
            >"$RESULTS/build.log" 2>&1; then
            tail -n 40 "$RESULTS/build.log" >&2
            die "gale build failed (full log: $RESULTS/build.log)"
        fi
    fi
    [[ -x $HELLO ]] || die "no gale binary at $HELLO"
fi

TMP=$(mktemp -d /tmp/gale-bench.XXXXXX)
mkdir -p "$RESULTS"
rm -rf "$RAW"
mkdir -p "$RAW"
METRICS=$RAW/metrics.jsonl
: >"$METRICS"

gale_rev=$(git -C "$ROOT" describe --always --dirty 2>/dev/null || echo "working tree, no commit")
if wants gale; then
    gale_rev="$gale_rev; binary $HELLO built $(date -u -r "$HELLO" '+%Y-%m-%d %H:%M UTC')"
    [[ -n ${BENCH_SKIP_BUILD:-} ]] && gale_rev="$gale_rev, not rebuilt by this run"
fi
"$PY" "$TOOLS/results.py" add meta all '{}' \
    date="$(date -u '+%Y-%m-%d %H:%M UTC')" cores="$NPROC" \
    cpu="$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n 1)" \
    mem="$(awk '/^MemTotal/ {printf "%.0f GiB", $2 / 1048576}' /proc/meminfo)" \
    kernel="$(uname -r)" os="$(sed -n 's/^PRETTY_NAME="\{0,1\}\([^"]*\)"\{0,1\}$/\1/p' /etc/os-release)" \
    wrk="$(dpkg-query -W -f='${Version}' wrk 2>/dev/null || echo '?')" \
    nginx="$(nginx -v 2>&1 | sed 's|.*nginx/||')" nginx_workers="$NPROC" \
    django="$("$PY" -c 'import django; print(django.get_version())')" \
    tornado="$("$PY" -c 'import tornado; print(tornado.version)')" \
    python="$("$PY" -c 'import platform; print(platform.python_version())')" \
    duration="$DURATION" warmup="$WARMUP" repeat="$REPEAT" gale_rev="$gale_rev" \
    gale_args="${GALE_WORKERS:+ --workers $GALE_WORKERS}${BENCH_GALE_ARGS:+ $BENCH_GALE_ARGS}" >>"$METRICS"

if wants gale; then
    bench_startup
    start_gale
    bench_memory gale "$GALE_PID" "$GALE_PORT"
    stop_pid "$GALE_PID"
    start_gale
    bench_probe gale idle "$GALE_PROBE_PORT"
    bench_wrk gale "$GALE_PID" "http://127.0.0.1:$GALE_PORT/" 64
    bench_wrk gale "$GALE_PID" "http://127.0.0.1:$GALE_PORT/" 256
    bench_probe gale saturated "$GALE_PROBE_PORT" "$GALE_PORT"
    stop_pid "$GALE_PID"
fi

if wants nginx; then
    # Idle RSS with Debian's stock worker_connections (768) too, for reference.
    start_nginx 768
    sleep 1
    "$PY" "$TOOLS/results.py" add mem nginx-768 '{}' idle_rss_kib="$(rss_of "$NGINX_PID")" \
        idle_pss_kib="$(pss_of "$NGINX_PID")" worker_connections=768 >>"$METRICS"
    stop_pid "$NGINX_PID"
    start_nginx
    bench_memory nginx "$NGINX_PID" "$NGINX_PORT"
    stop_pid "$NGINX_PID"
    start_nginx
    bench_wrk nginx "$NGINX_PID" "http://127.0.0.1:$NGINX_PORT/" 64
    bench_wrk nginx "$NGINX_PID" "http://127.0.0.1:$NGINX_PORT/" 256
    # Reference for the probe figure: what a fresh-connection GET sees from nginx
    # itself when wrk saturates it on this machine.
    bench_probe nginx saturated "$NGINX_PORT" "$NGINX_PORT"
    stop_pid "$NGINX_PID"
fi

if wants django; then
    start_django
    bench_wrk django "$DJANGO_PID" "http://127.0.0.1:$DJANGO_PORT/" 64
    stop_pid "$DJANGO_PID"
fi

"$PY" "$TOOLS/results.py" report "$METRICS" >"$RESULTS/latest.md"
cat "$RESULTS/latest.md"
log "summary written to $RESULTS/latest.md; raw wrk output in $RAW"
