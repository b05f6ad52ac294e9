#!/usr/bin/env bash
# Installs what is missing, then: a 20 s libFuzzer run of the request parser (clang 14), the format check, and a
# build with ASan+UBSan running every test (unit, integration, fuzz-corpus replay, benchmark smoke runs,
# packaging). Exit status is non-zero if any step fails; ctest's summary is the last thing printed.
set -euo pipefail
cd "$(dirname "$0")/.."
tools/install-deps.sh test

# libFuzzer smoke run, seeded with the corpus and dictionary; a crash fails the run (its log is printed then).
cmake --preset fuzz >/dev/null
cmake --build --preset fuzz --target gale-http-request_parser-fuzz
mkdir -p build/fuzz/corpus-work
if ! build/fuzz/modules/http/gale-http-request_parser-fuzz -max_total_time="${GALE_FUZZ_SECONDS:-20}" \
        -dict=modules/http/fuzz/request_parser.dict build/fuzz/corpus-work modules/http/fuzz/request_parser_corpus \
        > build/fuzz/fuzz.log 2>&1; then
    tail -50 build/fuzz/fuzz.log
    echo "fuzzing found a crash: see build/fuzz/fuzz.log and the crash-* file" >&2
    exit 1
fi
echo "fuzz: $(grep -E '^Done' build/fuzz/fuzz.log)"

tools/check-format.sh

export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
cmake --preset asan
cmake --build --preset asan
ctest --preset asan
