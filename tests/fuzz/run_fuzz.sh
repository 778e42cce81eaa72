#!/bin/sh
# Bounded fuzz run of the marshal + pstats reader: run_fuzz.sh BUILD_DIR SECONDS
# Configures BUILD_DIR with clang (libFuzzer + ASan + UBSan), builds only the fuzzer, runs it on
# a copy of the seed corpus and fails (non-zero) on any crash, sanitizer report, leak, timeout or
# out-of-memory; the input that did it is left in BUILD_DIR as crash-*/leak-*/timeout-*/oom-*.
set -eu
build=${1:-build-fuzz}
seconds=${2:-30}
root=$(cd "$(dirname "$0")/../.." && pwd)
CC=clang CXX=clang++ cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCALLTREE_STATIC_PYTHON=OFF >/dev/null
cmake --build "$build" --target fuzz_pstats_reader -j2 >/dev/null
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir "$work/corpus"
cp "$root"/tests/fuzz/corpus/* "$work/corpus"/
status=0
"$build"/tests/fuzz_pstats_reader "$work/corpus" -max_total_time="$seconds" -rss_limit_mb=2048 -max_len=65536 \
    -timeout=10 -print_final_stats=1 -artifact_prefix="$build/" >"$work/log" 2>&1 || status=$?
tail -20 "$work/log"
exit $status
