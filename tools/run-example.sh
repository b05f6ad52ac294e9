#!/usr/bin/env bash
# Builds examples/hello (release) and runs it on embedded defaults: SQLite in ./hello.db, app on :8000,
# probes and metrics on :8001. Ctrl-C stops it gracefully.
set -euo pipefail
cd "$(dirname "$0")/.."
tools/install-deps.sh build
cmake --preset release >/dev/null
cmake --build --preset release --target hello
mkdir -p build/run
cd build/run
# The sessions (POST /login) need a secret key: one made for this checkout on its first run and kept in the dotenv
# file gale reads first (.env.local, never committed), as Django's startproject writes one into settings.py.
if ! grep -q '^APP_SECRET_KEY=' .env.local 2>/dev/null; then
    (umask 077 && echo "APP_SECRET_KEY=$(openssl rand -hex 32)" >> .env.local)
fi
../release/examples/hello/hello migrate
exec ../release/examples/hello/hello serve "$@"
