#!/usr/bin/env bash
# Installs what is missing, then: 15 s libFuzzer runs of the request parser and the request exchange (clang 14),
# the format check, the container image tests (deploy/test-image.sh: the images built with buildah, hello's migrate,
# serve and consume run in one against PostgreSQL, a Django project on gale-wsgi in the other), and a build with ASan+UBSan running every test (unit,
# integration, fuzz-corpus replay, benchmark smoke runs, packaging). Exit status is non-zero if any step fails;
# ctest's summary is the last thing printed.
set -euo pipefail
cd "$(dirname "$0")/.."
tools/install-deps.sh test

# libFuzzer smoke runs, seeded with each corpus (and the parser's dictionary); a crash fails the run (its log is
# printed then). The parser alone, and what the server does with a parsed request (the exchange).
cmake --preset fuzz >/dev/null
cmake --build --preset fuzz --target gale-http-request_parser-fuzz gale-http-request_exchange-fuzz
for target in request_parser request_exchange; do
    mkdir -p "build/fuzz/corpus-work-$target"
    if ! "build/fuzz/modules/http/gale-http-$target-fuzz" -max_total_time="${GALE_FUZZ_SECONDS:-15}" \
            -dict=modules/http/fuzz/request_parser.dict "build/fuzz/corpus-work-$target" \
            "modules/http/fuzz/${target}_corpus" > "build/fuzz/$target.log" 2>&1; then
        tail -50 "build/fuzz/$target.log"
        echo "fuzzing $target found a crash: see build/fuzz/$target.log and the crash-* file" >&2
        exit 1
    fi
    echo "fuzz $target: $(grep -E '^Done' "build/fuzz/$target.log")"
done

tools/check-format.sh

# The images of deploy/Dockerfile and deploy/django/Dockerfile, built and run (about 15 to 25 min on two cores: each
# compiles gale, since layers are off to keep the disk peak near 5 GB; see deploy/README.md). Before the ASan build,
# so that ctest's summary stays last.
deploy/test-image.sh

export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
cmake --preset asan
cmake --build --preset asan
ctest --preset asan
