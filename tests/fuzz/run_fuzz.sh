#!/bin/sh
# Bounded fuzz run of the pstats reader: run_fuzz.sh BUILD_DIR SECONDS
# Fails (non-zero) on any crash, sanitizer report, leak or timeout found.
set -eu
build=${1:-build-fuzz}
seconds=${2:-30}
root=$(cd "$(dirname "$0")/../.." && pwd)
CC=clang CXX=clang++ cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCALLTREE_STATIC_PYTHON=OFF >/dev/null
cmake --build "$build" --target fuzz_pstats_reader -j"$(nproc)" >/dev/null
work=$(mktemp -d)
mkdir "$work/corpus"
trap 'rm -rf "$work"' EXIT
cp "$root"/tests/fuzz/corpus/* "$work/corpus"/
status=0
"$build"/tests/fuzz_pstats_reader "$work/corpus" -max_total_time="$seconds" -rss_limit_mb=2048 -max_len=65536 \
    -timeout=10 -print_final_stats=1 -artifact_prefix="$build/" >"$work/log" 2>&1 || status=$?
tail -20 "$work/log"
exit $status
