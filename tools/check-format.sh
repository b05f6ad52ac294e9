#!/usr/bin/env bash
# Fails if any C++ file differs from .clang-format (Debian's clang-format 14).
set -euo pipefail
cd "$(dirname "$0")/.."
files=$(git ls-files '*.cpp' '*.hpp')
if ! clang-format --dry-run --Werror $files; then
    echo "formatting differs: run  clang-format -i \$(git ls-files '*.cpp' '*.hpp')" >&2
    exit 1
fi
echo "format check: ok"
