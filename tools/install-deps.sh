#!/usr/bin/env bash
# Installs what gale needs on Debian bookworm, only what is missing (idempotent). Usage:
#   tools/install-deps.sh build   # compiler, CMake, libraries
#   tools/install-deps.sh test    # build + test tools (promtool, clang-format, clang for the fuzz preset)
#   tools/install-deps.sh bench   # build + wrk, nginx, Django and Tornado for bench/run.sh
#   tools/install-deps.sh image   # what deploy/test-image.sh needs on the host: buildah, debootstrap, PostgreSQL
set -euo pipefail

build_pkgs=(g++ cmake ninja-build pkg-config libexpected-dev libfmt-dev libcli11-dev nlohmann-json3-dev
            libsqlite3-dev libcurl4-openssl-dev libssl-dev openssl librdkafka-dev libgtest-dev libgmock-dev libbenchmark-dev libpq-dev
            librabbitmq-dev libhiredis-dev libabsl-dev tzdata libpython3.11-dev zlib1g-dev libbrotli-dev libexpat1-dev)
test_pkgs=(prometheus clang-format clang-14 libclang-rt-14-dev curl procps openssl python3 python3-kubernetes python3-yaml postgresql
           python3-django python3-psycopg2 rabbitmq-server python3-pika redis-server python3-redis python3-celery
           python3-flask awscli python3-boto3)
bench_pkgs=(wrk nginx-light python3 python3-django python3-tornado procps curl rabbitmq-server python3-pika
            redis-server python3-redis python3-celery python3-flask gunicorn uwsgi-core uwsgi-plugin-python3 postgresql
            python3-psycopg2)
# No compiler: the image builds gale itself. debian-archive-keyring: debootstrap checks the mirror with it.
image_pkgs=(buildah debootstrap debian-archive-keyring postgresql curl python3 util-linux python3-kubernetes python3-yaml)

want=("${build_pkgs[@]}")
case "${1:-build}" in
    build) ;;
    test) want+=("${test_pkgs[@]}") ;;
    bench) want+=("${bench_pkgs[@]}") ;;
    image) want=("${image_pkgs[@]}") ;;
    *) echo "usage: $0 build|test|bench|image" >&2; exit 2 ;;
esac

missing=()
for p in "${want[@]}"; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
        missing+=("$p")
    fi
done
if [ ${#missing[@]} -eq 0 ]; then
    exit 0
fi
echo "installing: ${missing[*]}"
SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
# The prometheus package would start a server under systemd; on a machine without it, it just installs.
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
