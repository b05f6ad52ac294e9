#!/usr/bin/env bash
# Installs what is missing, builds with ASan+UBSan and runs every test (unit, integration, fuzz-corpus replay,
# benchmark smoke runs, packaging), then checks formatting. Exit status is the tests' status.
set -euo pipefail
cd "$(dirname "$0")/.."
tools/install-deps.sh test
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
cmake --preset asan
cmake --build --preset asan
ctest --preset asan
tools/check-format.sh
# libFuzzer smoke run of the request parser (clang 14), seeded with the corpus; a crash fails CI.
cmake --preset fuzz >/dev/null
cmake --build --preset fuzz --target gale-http-request_parser-fuzz
mkdir -p build/fuzz/corpus-work
build/fuzz/modules/http/gale-http-request_parser-fuzz -max_total_time="${GALE_FUZZ_SECONDS:-20}" \
    -dict=modules/http/fuzz/request_parser.dict build/fuzz/corpus-work modules/http/fuzz/request_parser_corpus
