#!/bin/sh
# Every test: install what is missing, build, run the unit and end-to-end tests, all of them
# again under AddressSanitizer/UndefinedBehaviorSanitizer, a bounded fuzz run, and the benchmarks'
# smoke runs.
set -eu
cd "$(dirname "$0")/.."
scripts/install-deps.sh
scripts/build.sh
ctest --test-dir build -j2 --output-on-failure

echo "== every test again, built with ASan + UBSan (the tracer included)"
cmake -S . -B build-sanitize -DCMAKE_BUILD_TYPE=Debug -DCALLTREE_SANITIZE=ON >/dev/null
cmake --build build-sanitize -j"$(nproc)"
# CPython does not free everything at exit by design, so leak reports would be noise.
ASAN_OPTIONS=detect_leaks=0 ctest --test-dir build-sanitize -j2 --output-on-failure

echo "== fuzzing the pstats reader for 30 s"
tests/fuzz/run_fuzz.sh build-fuzz 30

echo "== benchmark smoke run"
/usr/bin/python3 bench/run_bench.py --quick --calltree build/src/cli/calltree
/usr/bin/python3 bench/convert_bench.py --reps 1 --calltree build/src/cli/calltree
