#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Builds the image of deploy/Dockerfile with buildah and runs examples/hello in it against PostgreSQL: `migrate`
# (APP_RUN_MODE=TASK), `serve` (APP_RUN_MODE=WEB, the image's default) and `consume` (APP_RUN_MODE=CONSUME), checked
# over HTTP from outside the container. Then the same for the Django image of deploy/django/Dockerfile (gale-wsgi
# serving the test project of tests/integration/wsgi on SQLite): `migrate` as a TASK, `serve`, and `deploy k8s`
# checked by deploy/check_manifests.py. No registry is needed: the two base images (debian:bookworm and
# debian:bookworm-slim) are made here with debootstrap from the Debian mirror apt uses, and tagged so that the
# Dockerfiles' FROM lines resolve locally.
#
#   deploy/test-image.sh            # from the repository root or anywhere; exit 0 = every check passed
#
# Environment:
#   GALE_IMAGE_CACHE    buildah's storage and the base rootfs, kept for the next run (default build/deploy-image)
#   GALE_IMAGE_CONTEXT  the build context (default: the repository root, i.e. the working tree as it is)
#   GALE_DEBIAN_MIRROR  where debootstrap fetches bookworm (default: the first Debian mirror of apt's sources)
#   GALE_IMAGE_KEEP=1   keep the scratch directory (PostgreSQL's log, the processes' output) after a run
#   GALE_IMAGE_LAYERS=1 build with buildah's --layers: a second run reuses the unchanged steps and the Django image
#                       reuses hello's compile of gale, but on vfs every step is a full copy of its stage's root:
#                       about 21 GB at the peak and 9 GB kept, against about 5 GB and 1 GB without (the default)
#   GALE_DEPLOY_PYTHON  the Python with python3-kubernetes and python3-yaml for check_manifests.py (/usr/bin/python3)
#
# What it starts, it stops, whatever happens: the containers (buildah rm), the processes in them (by pid), the
# PostgreSQL cluster (its own data directory, a free port on 127.0.0.1) and the scratch directory. What it keeps is
# the cache: the base images and the two images (and with GALE_IMAGE_LAYERS=1 buildah's layers). Run as root (buildah,
# debootstrap); needs Debian packages that tools/install-deps.sh image installs.
set -euo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd)
cache=${GALE_IMAGE_CACHE:-$repo/build/deploy-image}
context=${GALE_IMAGE_CONTEXT:-$repo}
image=localhost/gale-hello:test
django_image=localhost/gale-django:test
prefix=gale-image-test  # every container this script makes is named $prefix-<role>
roles=(base migrate serve consume probe django-probe django-migrate django-serve)
started=$(date +%s)

step() { printf '\n== %s (%ss)\n' "$*" "$(($(date +%s) - started))"; }
fail() {
    printf '\ntest-image: FAILED: %s\n' "$*" >&2
    exit 1
}

[ "$(id -u)" -eq 0 ] || fail "run as root (buildah with chroot isolation and debootstrap need it)"
"$repo/tools/install-deps.sh" image
mkdir -p "$cache"
cache=$(cd "$cache" && pwd)
# One run per cache at a time: a second one would clean up the first one's scratch directory and containers.
exec 9>"$cache/lock"
flock -n 9 || fail "another deploy/test-image.sh is running with the cache $cache"
# A storage of its own under build/: nothing else on the machine is touched, and `rm -rf build` forgets it all.
bh() { buildah --root "$cache/storage" --runroot "$cache/runroot" --storage-driver vfs "$@"; }

# --- clean up after an earlier run that was killed ----------------------------------------------------------------
stop_cluster() {  # $1: a data directory
    if [ -f "$1/postmaster.pid" ]; then
        runuser -u postgres -- "$pg_bin/pg_ctl" -D "$1" -w -t 30 -m fast stop >/dev/null 2>&1 ||
            runuser -u postgres -- "$pg_bin/pg_ctl" -D "$1" -w -t 30 -m immediate stop >/dev/null 2>&1 || true
    fi
}
pg_bin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)
[ -x "$pg_bin/initdb" ] || fail "PostgreSQL server binaries not found under /usr/lib/postgresql/*/bin"
for old in "$cache"/scratch-*; do
    [ -d "$old" ] || continue
    stop_cluster "$old/pgdata"
    rm -rf "$old"
done
for role in "${roles[@]}"; do
    bh rm "$prefix-$role" >/dev/null 2>&1 || true
done

scratch=$(mktemp -d "$cache/scratch-XXXXXX")
pids=()          # background processes of ours: the webhook receiver and each role's `buildah run`
declare -A run=() # role → the pid of its `buildah run`, whose gale process may still run
cleanup() {
    local code=$?
    set +e
    # `buildah run` does not pass signals on to the process it runs: stop each gale process itself, by its pid.
    local role pid
    for role in "${!run[@]}"; do
        pid=$(app_pid "$role") && kill -TERM "$pid" 2>/dev/null
    done
    for _ in $(seq 50); do
        [ -z "$(for role in "${!run[@]}"; do app_pid "$role"; done)" ] && break
        sleep 0.2
    done
    for role in "${!run[@]}"; do
        pid=$(app_pid "$role") && kill -KILL "$pid" 2>/dev/null
    done
    for role in "${!run[@]}"; do wait "${run[$role]}" 2>/dev/null; done
    for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null; done
    for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null; done
    for role in "${roles[@]}"; do bh rm "$prefix-$role" >/dev/null 2>&1; done
    stop_cluster "$scratch/pgdata"
    if [ "$code" -ne 0 ]; then
        for log in "$scratch"/*.log; do
            [ -f "$log" ] && { echo "--- $log (last 30 lines)" >&2; tail -30 "$log" >&2; }
        done
    fi
    rm -rf "$scratch/rootfs" "$scratch/rootfs.tar" "$scratch/data" "$scratch/django-data"
    if [ "${GALE_IMAGE_KEEP:-0}" = 1 ] || [ "$code" -ne 0 ]; then
        # The logs and the PostgreSQL data; the next run removes it.
        echo "test-image: scratch directory kept: $scratch" >&2
    else
        rm -rf "$scratch"
    fi
    [ "$code" -eq 0 ] || echo "test-image: FAILED (exit $code)" >&2
    exit "$code"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# --- base images: debootstrap, since no registry is reachable -------------------------------------------------------
mirror=${GALE_DEBIAN_MIRROR:-}
if [ -z "$mirror" ]; then
    mirror=$(grep -hs '^URIs:' /etc/apt/sources.list.d/*.sources | awk '{print $2}' | grep -m1 '/debian/\?$' || true)
fi
if [ -z "$mirror" ]; then
    mirror=$(grep -hs '^deb ' /etc/apt/sources.list | awk '{print $2}' | grep -m1 '/debian/\?$' || true)
fi
mirror=${mirror:-http://deb.debian.org/debian}
security=${mirror%/debian*}/debian-security

if ! bh inspect --type image docker.io/library/debian:bookworm >/dev/null 2>&1 ||
    ! bh inspect --type image docker.io/library/debian:bookworm-slim >/dev/null 2>&1; then
    step "base images: debootstrap --variant=minbase bookworm from $mirror"
    rootfs=$scratch/rootfs
    debootstrap --variant=minbase bookworm "$rootfs" "$mirror" >"$scratch/debootstrap.log" 2>&1 ||
        fail "debootstrap bookworm from $mirror (see $scratch/debootstrap.log)"
    # As the official images: deb822 sources with updates and security, no apt lists, no debootstrap leftovers.
    rm -f "$rootfs/etc/apt/sources.list"
    cat >"$rootfs/etc/apt/sources.list.d/debian.sources" <<EOF
Types: deb
URIs: $mirror
Suites: bookworm bookworm-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
URIs: $security
Suites: bookworm-security
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
EOF
    rm -rf "$rootfs"/var/lib/apt/lists/* "$rootfs"/var/cache/apt/archives/*.deb "$rootfs/debootstrap"
    # /etc/resolv.conf and /etc/hostname are the host's; the container runtime provides its own.
    : >"$rootfs/etc/resolv.conf"
    : >"$rootfs/etc/hostname"
    make_base() {  # $1: tag, $2: the rootfs
        tar -C "$2" --numeric-owner -cf "$scratch/rootfs.tar" .
        local ctr
        ctr=$(bh from --name "$prefix-base" scratch)
        bh add "$ctr" "$scratch/rootfs.tar" / >/dev/null
        bh config --env PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin --cmd /bin/bash "$ctr"
        bh commit --quiet --rm "$ctr" "docker.io/library/debian:$1" >/dev/null
        rm -f "$scratch/rootfs.tar"
    }
    make_base bookworm "$rootfs"
    # slim, as the official one: documentation, man pages and locales are not installed by later packages.
    cat >"$rootfs/etc/dpkg/dpkg.cfg.d/docker" <<'EOF'
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/man/*
path-exclude /usr/share/groff/*
path-exclude /usr/share/info/*
path-exclude /usr/share/lintian/*
path-exclude /usr/share/linda/*
path-exclude /usr/share/locale/*
path-include /usr/share/locale/locale.alias
EOF
    find "$rootfs/usr/share/doc" -mindepth 1 -not -name copyright -not -type d -delete
    rm -rf "$rootfs"/usr/share/man/* "$rootfs"/usr/share/info/*
    make_base bookworm-slim "$rootfs"
    rm -rf "$rootfs"
else
    step "base images: cached in $cache"
fi

# --- the image ---------------------------------------------------------------------------------------------------------
# vfs copies a stage's whole root for each working container and each committed step. Without --layers a build
# keeps one working container per stage and commits only the image; with it, every RUN and COPY of the build stage
# (1.4 to 1.8 GB each) is a layer and a container until the build ends. Fail early and say so, rather than halfway
# through with "no space left on device".
if [ "${GALE_IMAGE_LAYERS:-0}" = 1 ]; then layers=(--layers) need_mb=22000; else layers=(--layers=false) need_mb=6000; fi
if [ "${layers[0]}" = --layers=false ]; then
    # An earlier run's images would only become untagged copies: remove them, and any layers an earlier
    # GALE_IMAGE_LAYERS=1 run left (untagged images), first.
    bh rmi --force "$image" "$django_image" >/dev/null 2>&1 || true
    bh rmi --prune --force >/dev/null 2>&1 || true
fi
free_mb=$(df --output=avail -B1M "$cache" | tail -1 | tr -d ' ')
[ "$free_mb" -ge "$need_mb" ] ||
    fail "$cache has ${free_mb} MB free; building the images ${layers[0]} needs about ${need_mb} MB (GALE_IMAGE_CACHE puts the cache elsewhere)"
# The build stages of the two Dockerfiles are the same up to gale's libraries, so that the second image reuses the
# first one's layers instead of compiling gale again: keep them so.
build_steps() {  # $1: a Dockerfile → its build stage's instructions up to the library step, without comments
    sed -n '/^FROM .* AS build$/,/--target gale_app$/p' "$1" | grep -v '^#'
}
[ "$(build_steps "$context/deploy/Dockerfile")" = "$(build_steps "$context/deploy/django/Dockerfile")" ] ||
    fail "deploy/Dockerfile and deploy/django/Dockerfile differ before their library step (--target gale_app)"
step "build $image from $context/deploy/Dockerfile"
# --pull=never: the bases are local; docker format keeps the HEALTHCHECK (OCI images have none).
bh bud --isolation chroot --network host "${layers[@]}" --pull=never --format docker \
    -f "$context/deploy/Dockerfile" --ignorefile "$context/deploy/Dockerfile.dockerignore" \
    -t "$image" "$context" >"$scratch/build.log" 2>&1 || fail "buildah bud (see the end of build.log below)"
echo "built; $(bh images --format '{{.Name}}:{{.Tag}} {{.Size}}' "$image")"

# The image's own configuration: what docker/Kubernetes would run.
config=$(bh inspect --type image --format '{{.Docker.Config.User}}|{{.Docker.Config.Entrypoint}}|{{.Docker.Config.WorkingDir}}' \
    "$image") || fail "buildah inspect $image"
[ "$config" = '10001:10001|[/usr/local/bin/app]|/data' ] ||
    fail "image config is '$config', expected user 10001:10001, entrypoint /usr/local/bin/app, workdir /data"

# --- the runtime libraries: linked ones (ldd) and every soname gale opens with dlopen ---------------------------------
# Each DynamicLibrary::Open({"a.so.N", "b.so.N"}, "package") in the sources needs one of its sonames in the image.
# Read from the same sources the image was built from, so a new dlopen is checked without editing this script.
mapfile -t opens < <(grep -rhoE 'DynamicLibrary::Open\(\{[^}]*\}, *"[^"]*"' "$context/modules" --include='*.cpp' |
    sort -u)
[ "${#opens[@]}" -gt 0 ] || fail "found no DynamicLibrary::Open in $context/modules: the pattern is out of date"
check_libraries() {  # $1: a container of the image, $2: the gale binary in it
    local linked missing cache_list sonames open package found so
    linked=$(bh run --isolation chroot "$1" -- ldd "$2") || fail "ldd $2 in the image: $linked"
    missing=$(grep 'not found' <<<"$linked" || true)
    [ -z "$missing" ] || fail "libraries $2 links are missing from the image: $missing"
    cache_list=$(bh run --isolation chroot "$1" -- ldconfig -p) || fail "ldconfig -p in the image"
    sonames=$(awk 'NR > 1 {print $1}' <<<"$cache_list")  # "\tlibpq.so.5 (libc6,x86-64) => /lib/…" → libpq.so.5
    for open in "${opens[@]}"; do
        package=$(sed -E 's/.*\}, *"([^"]*)"/\1/' <<<"$open")
        found=""
        for so in $(grep -oE '"[^"]+\.so[^"]*"' <<<"${open%%\}*}" | tr -d '"'); do
            if grep -qxF "$so" <<<"$sonames"; then found=$so; fi
        done
        [ -n "$found" ] || fail "the image has none of the sonames in '$open': add Debian's $package to the run stage"
        echo "dlopen: $found ($package)"
    done
}
step "runtime libraries in the image"
probe=$(bh from --pull=never --name "$prefix-probe" "$image") || fail "buildah from $image"
check_libraries "$probe" /usr/local/bin/app
bh rm "$probe" >/dev/null

# --- PostgreSQL: a cluster of our own on a free loopback port ----------------------------------------------------------
free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}
step "PostgreSQL ($pg_bin)"
chown postgres: "$scratch"
runuser -u postgres -- "$pg_bin/initdb" -D "$scratch/pgdata" -U postgres -E UTF8 --no-locale --no-sync \
    --auth-local=trust --auth-host=scram-sha-256 >"$scratch/initdb.log" 2>&1 || fail "initdb (see initdb.log)"
pg_port=$(free_port)
runuser -u postgres -- "$pg_bin/pg_ctl" -D "$scratch/pgdata" -l "$scratch/postgres.log" -w -t 60 \
    -o "-c listen_addresses=127.0.0.1 -c port=$pg_port -c unix_socket_directories='$scratch' -c fsync=off" \
    start >/dev/null || fail "pg_ctl start on 127.0.0.1:$pg_port (see postgres.log)"
psql_admin() { runuser -u postgres -- psql -X -q -v ON_ERROR_STOP=1 -h "$scratch" -p "$pg_port" -U postgres "$@"; }
psql_admin -d postgres -c "CREATE ROLE hello LOGIN PASSWORD 'hello-image-test'" -c "CREATE DATABASE hello OWNER hello" ||
    fail "creating the hello role and database"
echo "listening on 127.0.0.1:$pg_port"

# --- the roles, each in a container of the image, as docker/compose would run them -------------------------------------
app_port=$(free_port)
probe_port=$(free_port)
consume_port=$(free_port)
hook_port=$(free_port)
data=$scratch/data  # the volume at /data, shared by the roles as compose's `data` volume
mkdir "$data"
chown 10001:10001 "$data"
entry=/usr/local/bin/app  # what each role runs: the image's entrypoint
env_args=(--env DATABASE_ENGINE=postgresql --env DATABASE_HOST=127.0.0.1 --env "DATABASE_PORT=$pg_port"
    --env DATABASE_NAME=hello --env DATABASE_USERNAME=hello --env DATABASE_PASSWORD=hello-image-test
    --env GALE_BIND=127.0.0.1 --env GALE_LOG_FORMAT=json)
container() {  # $1: role[, $2: image] → a container of the image named after the role
    bh from --pull=never --name "$prefix-$1" "${2:-$image}" >/dev/null
    # `buildah run` mounts a fresh anonymous volume for the image's VOLUME /data over a --volume at the same path;
    # docker's `-v data:/data` replaces it instead. Drop it from this container's configuration (not the image's).
    bh config --volume /data- "$prefix-$1"
}
# `buildah run` of the image's entrypoint ($entry), with no sub-command: APP_RUN_MODE picks the role, as in the
# image; $data is the volume at /data and $env_args the environment every role gets.
run_in() {  # $1: role, then --env options
    local role=$1
    shift
    # 9>&-: the lock stays with this script, not with a process that might outlive it.
    bh run --isolation chroot --network host --volume "$data:/data" "${env_args[@]}" "$@" "$prefix-$role" \
        -- "$entry" 9>&-
}
# The pid of a role's gale process: among the descendants of its `buildah run` (buildah-chroot-runtime, then
# buildah-chroot-exec, then the entrypoint), the one running an image's entrypoint (app or gale-wsgi).
app_pid() {  # $1: role
    local queue=("${run[$1]:-}") pid child
    [ -n "${queue[0]}" ] || return 1
    while [ "${#queue[@]}" -gt 0 ]; do
        pid=${queue[0]}
        queue=("${queue[@]:1}")
        for child in $(ps -o pid= --ppid "$pid" 2>/dev/null); do
            case "$(readlink "/proc/$child/exe" 2>/dev/null)" in
                */usr/local/bin/app | */usr/local/bin/app" (deleted)" | */usr/local/bin/gale-wsgi | \
                    */usr/local/bin/gale-wsgi" (deleted)") echo "$child"; return 0 ;;
            esac
            queue+=("$child")
        done
    done
    return 1
}
# Waits up to $2 seconds for $1 (a URL) to answer 2xx.
wait_http() {
    local deadline=$(($(date +%s) + $2))
    until curl -fsS --max-time 2 -o /dev/null "$1" 2>/dev/null; do
        [ "$(date +%s)" -lt "$deadline" ] || return 1
        sleep 0.5
    done
}
# Waits up to $3 seconds for $1 (a URL) to answer status $2.
wait_status() {
    local deadline=$(($(date +%s) + $3))
    until [ "$(curl -sS --max-time 2 -o /dev/null -w '%{http_code}' "$1" 2>/dev/null)" = "$2" ]; do
        [ "$(date +%s)" -lt "$deadline" ] || return 1
        sleep 0.5
    done
}
# Stops a role with SIGTERM (as the kubelet or `docker stop` would) and expects exit 0 within $2 seconds.
stop_role() {  # $1: role, $2: seconds
    local pid
    pid=$(app_pid "$1") || fail "$1: no gale process found under its buildah run (pid ${run[$1]})"
    kill -TERM "$pid"
    local deadline=$(($(date +%s) + $2))
    while kill -0 "${run[$1]}" 2>/dev/null; do
        [ "$(date +%s)" -lt "$deadline" ] || fail "$1: still running ${2}s after SIGTERM"
        sleep 0.2
    done
    local code=0
    wait "${run[$1]}" || code=$?
    unset "run[$1]"
    [ "$code" -eq 0 ] || fail "$1: exit status $code after SIGTERM (see $1.log)"
    echo "$1: exit 0 after SIGTERM"
}

step "migrate (APP_RUN_MODE=TASK APP_TASK_COMMANDS=migrate)"
container migrate
run_in migrate --env APP_RUN_MODE=TASK --env APP_TASK_COMMANDS=migrate >"$scratch/migrate.log" 2>&1 ||
    fail "migrate exited non-zero (see migrate.log)"
grep -q 'applied 1 migration(s)' "$scratch/migrate.log" || fail "migrate did not apply hello's migration (migrate.log)"
tables=$(psql_admin -d hello -At -c "SELECT string_agg(tablename, ',' ORDER BY tablename) FROM pg_tables WHERE schemaname = 'public'")
[[ ",$tables," == *,visits,* ]] || fail "no visits table in PostgreSQL after migrate (tables: '$tables')"
echo "tables in PostgreSQL: $tables"

# A webhook receiver on the host: serve's lifecycle events prove that libcurl loads in the image.
python3 - "$hook_port" >"$scratch/webhooks.log" 2>&1 9>&- <<'EOF' &
import http.server, sys
class Hook(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        print(body.decode(errors="replace"), flush=True)
        self.send_response(204)
        self.end_headers()
    def log_message(self, *args):
        pass
http.server.HTTPServer(("127.0.0.1", int(sys.argv[1])), Hook).serve_forever()
EOF
pids+=($!)

step "serve (APP_RUN_MODE=WEB) on 127.0.0.1:$app_port, probes on :$probe_port"
container serve
run_in serve --env APP_RUN_MODE=WEB --env "GALE_PORT=$app_port" --env "GALE_PROBE_PORT=$probe_port" \
    --env GALE_CHECK_MIGRATIONS=true --env "GALE_WEBHOOK_URL=http://127.0.0.1:$hook_port/hook" \
    >"$scratch/serve.log" 2>&1 &
run[serve]=$!
wait_http "http://127.0.0.1:$probe_port/ready" 60 || fail "serve: /ready did not answer 200 within 60 s (serve.log)"
http() {  # method url [body] → "status body"
    curl -sS --max-time 5 -X "$1" ${3:+--data-binary "$3"} -w ' %{http_code}' "$2" || echo " curl-failed"
}
expect() {  # what, got, expected
    [ "$2" = "$3" ] || fail "$1: got '$2', expected '$3'"
    echo "$1: $2"
}
expect "POST /visits/ada" "$(http POST "http://127.0.0.1:$app_port/visits/ada")" '{"id":1}
 201'
expect "GET /visits/ada" "$(http GET "http://127.0.0.1:$app_port/visits/ada")" '{"name":"ada","visits":1}
 200'
expect "the visit in PostgreSQL" "$(psql_admin -d hello -At -c "SELECT count(*) FROM visits WHERE name = 'ada'")" 1
expect "POST /states/NY" "$(http POST "http://127.0.0.1:$app_port/states/NY" 'New York')" \
    '{"topic":"us-states","partition":"0","offset":"0"}
 202'
expect "GET /states/NY before consume" "$(http GET "http://127.0.0.1:$app_port/states/NY" | tail -1)" ' 404'
grep -q '"startup"' "$scratch/webhooks.log" || {
    sleep 2
    grep -q '"startup"' "$scratch/webhooks.log" || fail "serve sent no startup webhook (libcurl in the image?)"
}
echo "webhook received: startup"

step "consume (APP_RUN_MODE=CONSUME), probes on :$consume_port"
container consume
run_in consume --env APP_RUN_MODE=CONSUME --env "GALE_PROBE_PORT=$consume_port" --env GALE_CHECK_MIGRATIONS=true \
    >"$scratch/consume.log" 2>&1 &
run[consume]=$!
wait_http "http://127.0.0.1:$consume_port/ready" 60 || fail "consume: /ready did not answer 200 within 60 s"
deadline=$(($(date +%s) + 30))
until [ "$(http GET "http://127.0.0.1:$app_port/states/NY")" = '{"code":"NY","name":"New York"}
 200' ]; do
    [ "$(date +%s)" -lt "$deadline" ] || fail "consume did not apply the us-states message within 30 s (consume.log)"
    sleep 0.5
done
echo "GET /states/NY after consume: {\"code\":\"NY\",\"name\":\"New York\"} 200"
# Read whole first: `curl | grep -q` under pipefail fails when grep stops reading before curl has written it all.
consume_metrics=$(curl -fsS --max-time 5 "http://127.0.0.1:$consume_port/metrics") ||
    fail "consume's /metrics on :$consume_port did not answer"
grep -qE '^gale_pipe_messages_total\{[^}]*processed[^}]*\} [1-9]' <<<"$consume_metrics" ||
    fail "consume's metrics show no processed message"

step "SIGTERM"
stop_role consume 30
stop_role serve 40
grep -q '"shutdown"' "$scratch/webhooks.log" || fail "serve sent no shutdown webhook"

# --- the Django image: deploy/django/Dockerfile, gale-wsgi serving the test project ------------------------------------
step "build $django_image from $context/deploy/django/Dockerfile"
bh bud --isolation chroot --network host "${layers[@]}" --pull=never --format docker \
    -f "$context/deploy/django/Dockerfile" --ignorefile "$context/deploy/django/Dockerfile.dockerignore" \
    -t "$django_image" "$context" >"$scratch/django-build.log" 2>&1 ||
    fail "buildah bud of deploy/django/Dockerfile (see the end of django-build.log below)"
echo "built; $(bh images --format '{{.Name}}:{{.Tag}} {{.Size}}' "$django_image")"
grep -A1 -- '--target gale_app$' "$scratch/django-build.log" | grep -q 'Using cache' &&
    echo "gale's libraries: a cached layer, the same as $image's"
config=$(bh inspect --type image --format '{{.Docker.Config.User}}|{{.Docker.Config.Entrypoint}}|{{.Docker.Config.WorkingDir}}' \
    "$django_image") || fail "buildah inspect $django_image"
[ "$config" = '10001:10001|[/usr/local/bin/gale-wsgi]|/data' ] ||
    fail "image config is '$config', expected user 10001:10001, entrypoint /usr/local/bin/gale-wsgi, workdir /data"
image_env=$(bh inspect --type image --format '{{range .Docker.Config.Env}}{{println .}}{{end}}' "$django_image")
for want in DJANGO_SETTINGS_MODULE=testproject.settings GALE_PYTHONPATH=/app APP_RUN_MODE=WEB; do
    grep -qxF "$want" <<<"$image_env" || fail "the image's environment has no $want: $image_env"
done

step "runtime libraries and Python modules in $django_image"
probe=$(bh from --pull=never --name "$prefix-django-probe" "$django_image") || fail "buildah from $django_image"
check_libraries "$probe" /usr/local/bin/gale-wsgi
# What the project's stage leaves: bytecode in /app, an empty /data and, since the test project's STATIC_ROOT is
# on the volume (TESTPROJECT_DIR/static), no static files collected at build time.
mnt=$(bh mount "$probe") || fail "buildah mount $probe"
[ -f "$mnt/app/notes/__pycache__/views.cpython-311.pyc" ] || fail "no bytecode for /app/notes/views.py in the image"
[ -z "$(ls -A "$mnt/data")" ] || fail "the image's /data is not empty: $(ls -A "$mnt/data")"
collected=$(find "$mnt/app" "$mnt/data" -name staticfiles.json)
[ -z "$collected" ] || fail "static files collected into the image, though STATIC_ROOT is on the volume: $collected"
bh umount "$probe" >/dev/null
echo "/app: the project, compiled; /data: empty; no static files collected at build time"
# The standard library's extension modules link libraries of their own (libssl, libsqlite3, libffi, liblzma…).
linked=$(bh run --isolation chroot "$probe" -- sh -c \
    'for so in /usr/lib/python3.11/lib-dynload/*.so; do ldd "$so" | sed "s|^|$so: |"; done') ||
    fail "ldd of lib-dynload in the image: $linked"
missing=$(grep 'not found' <<<"$linked" || true)
[ -z "$missing" ] || fail "libraries the standard library's extension modules link are missing: $missing"
echo "lib-dynload: $(cut -d: -f1 <<<"$linked" | sort -u | wc -l) modules, nothing missing"
imported=$(bh run --isolation chroot "$probe" -- /usr/local/bin/gale-wsgi shell -c \
    'import ctypes, decimal, hashlib, json, lzma, bz2, sqlite3, ssl, uuid, zlib, django; print(django.get_version())' \
    2>"$scratch/django-imports.log") || fail "importing the standard library's modules in the image (django-imports.log)"
echo "gale-wsgi imports ssl, sqlite3, ctypes… and Django $imported"

step "gale-wsgi deploy k8s in $django_image"
checker_python=${GALE_DEPLOY_PYTHON:-/usr/bin/python3}
# The project's default DATABASES is SQLite, a file per pod: refused (gale-wsgi exits 2), naming Django's setting.
code=0
bh run --isolation chroot "$probe" -- /usr/local/bin/gale-wsgi deploy k8s --image "$django_image" --modes WEB,TASK \
    >"$scratch/manifests-sqlite.yaml" 2>"$scratch/deploy-k8s-sqlite.log" || code=$?
[ "$code" != 0 ] || fail "gale-wsgi deploy k8s rendered manifests for a project on SQLite (manifests-sqlite.yaml)"
grep -qF "DATABASES['default']['ENGINE']: django.db.backends.sqlite3" "$scratch/deploy-k8s-sqlite.log" ||
    fail "deploy k8s on SQLite did not name Django's setting (deploy-k8s-sqlite.log)"
# Settings that point DATABASES at a server (TESTPROJECT_DB_ENGINE, read by the test project's settings; nothing
# connects to render, so no server is needed; the image has the driver, which django.setup() imports).
bh run --isolation chroot --env TESTPROJECT_DB_ENGINE=postgresql --env GALE_WSGI_VERSION=0.3.0 "$probe" -- \
    /usr/local/bin/gale-wsgi deploy k8s --image "$django_image" --modes WEB,TASK \
    >"$scratch/manifests.yaml" 2>"$scratch/deploy-k8s.log" || fail "gale-wsgi deploy k8s exited non-zero (deploy-k8s.log)"
"$checker_python" "$repo/deploy/check_manifests.py" <"$scratch/manifests.yaml" >"$scratch/check-manifests.log" 2>&1 ||
    fail "check_manifests.py refused gale-wsgi's manifests: $(cat "$scratch/check-manifests.log")"
cat "$scratch/check-manifests.log"
# The service is named after the settings' package; a Deployment and a Job run the image.
for want in 'kind: "Deployment"' 'name: "testproject-web"' 'kind: "Service"' 'kind: "Job"' \
    'name: "testproject-task-0-3-0"' 'value: "migrate"' "image: \"$django_image\"" \
    'gale.dev/migrations-database: "django.db.backends.postgresql"' 'name: "GALE_CHECK_MIGRATIONS"'; do
    grep -qF "$want" "$scratch/manifests.yaml" || fail "no '$want' in the manifests of deploy k8s (manifests.yaml)"
done
expect "workloads running $django_image" "$(grep -cF "image: \"$django_image\"" "$scratch/manifests.yaml")" 2
bh rm "$probe" >/dev/null

# The project keeps its SQLite database and its STATIC_ROOT under TESTPROJECT_DIR: the volume, shared by the roles.
data=$scratch/django-data
mkdir "$data"
chown 10001:10001 "$data"
entry=/usr/local/bin/gale-wsgi
env_args=(--env GALE_BIND=127.0.0.1 --env GALE_LOG_FORMAT=json --env TESTPROJECT_DIR=/data)

step "django migrate (APP_RUN_MODE=TASK APP_TASK_COMMANDS=migrate)"
container django-migrate "$django_image"
run_in django-migrate --env APP_RUN_MODE=TASK --env APP_TASK_COMMANDS=migrate >"$scratch/django-migrate.log" 2>&1 ||
    fail "django migrate exited non-zero (see django-migrate.log)"
grep -q 'Applying notes.0001_initial' "$scratch/django-migrate.log" ||
    fail "migrate did not apply notes.0001_initial (django-migrate.log)"
[ "$(stat -c %u "$data/testproject.sqlite3" 2>/dev/null)" = 10001 ] ||
    fail "no testproject.sqlite3 of uid 10001 on the volume after migrate"
tables=$(python3 -c 'import sqlite3, sys
rows = sqlite3.connect(sys.argv[1]).execute("SELECT name FROM sqlite_master WHERE type = ? ORDER BY name", ("table",))
print(",".join(r[0] for r in rows))' "$data/testproject.sqlite3") || fail "reading testproject.sqlite3"
[[ ",$tables," == *,notes_note,* ]] || fail "no notes_note table after migrate (tables: '$tables')"
echo "tables in testproject.sqlite3: $tables"

step "django serve (the image's default) on 127.0.0.1:$app_port, probes on :$probe_port"
container django-serve "$django_image"
run_in django-serve --env "GALE_PORT=$app_port" --env "GALE_PROBE_PORT=$probe_port" --env GALE_CHECK_MIGRATIONS=true \
    --env "GALE_COMMAND=collectstatic --noinput" >"$scratch/django-serve.log" 2>&1 &
run[django-serve]=$!
wait_http "http://127.0.0.1:$probe_port/ready" 60 ||
    fail "django serve: /ready did not answer 200 within 60 s (django-serve.log)"
ready_checks() {  # the names and statuses of /ready's checks, e.g. "django-readiness=ok,django-database=ok"
    curl -sS --max-time 5 "http://127.0.0.1:$probe_port/ready" | python3 -c 'import json, sys
print(",".join(c["name"] + "=" + c["status"] for c in json.load(sys.stdin)["checks"]))'
}
expect "/ready's checks" "$(ready_checks)" "django-readiness=ok,django-database=ok"
expect "POST /notes/" "$(http POST "http://127.0.0.1:$app_port/notes/" '{"text": "from the image"}')" '{"id": 1} 201'
expect "GET /notes/" "$(http GET "http://127.0.0.1:$app_port/notes/")" '{"notes": ["from the image"]} 200'
# collectstatic ran before the port opened (GALE_COMMAND): the hashed name of notes/app.css, served immutable.
hashed=$(python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))["paths"]["notes/app.css"])' \
    "$data/static/staticfiles.json") || fail "no staticfiles.json: collectstatic did not run (django-serve.log)"
expect "GET /static/$hashed" "$(curl -sS --max-time 5 -o /dev/null -w '%{http_code} %header{cache-control}' \
    "http://127.0.0.1:$app_port/static/$hashed" 2>&1)" '200 public, max-age=31536000, immutable'
# The project's own check tagged readiness (it fails while TESTPROJECT_DIR/not-ready exists) drives the probe.
touch "$data/not-ready"
wait_status "http://127.0.0.1:$probe_port/ready" 503 20 ||
    fail "django serve: /ready did not fail within 20 s of the project's maintenance flag"
expect "/ready's checks with the maintenance flag" "$(ready_checks)" "django-readiness=error,django-database=ok"
rm "$data/not-ready"
wait_http "http://127.0.0.1:$probe_port/ready" 20 || fail "django serve: /ready did not recover without the flag"
echo "/ready: 200 again without the flag"

step "django SIGTERM"
stop_role django-serve 40

step "all checks passed"
echo "test-image: ok in $(($(date +%s) - started)) s"
