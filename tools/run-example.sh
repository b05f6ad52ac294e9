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
../release/examples/hello/hello migrate
exec ../release/examples/hello/hello serve "$@"
