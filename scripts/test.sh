#!/bin/sh
# Every test: install what is missing, build, run the unit and end-to-end tests, the readers
# under AddressSanitizer/UndefinedBehaviorSanitizer, a bounded fuzz run, and the benchmark smoke.
set -eu
cd "$(dirname "$0")/.."
scripts/install-deps.sh
scripts/build.sh
ctest --test-dir build -j2 --output-on-failure

echo "== unit tests under ASan + UBSan"
cmake -S . -B build-sanitize -DCMAKE_BUILD_TYPE=Debug -DCALLTREE_SANITIZE=ON >/dev/null
cmake --build build-sanitize -j"$(nproc)"
ctest --test-dir build-sanitize -j2 --output-on-failure -L unit

if [ -x tests/fuzz/run_fuzz.sh ]; then
    echo "== fuzzing the pstats reader"
    tests/fuzz/run_fuzz.sh build-fuzz 30
fi

echo "== benchmark smoke run"
/usr/bin/python3 bench/run_bench.py --quick --calltree build/src/cli/calltree
/usr/bin/python3 bench/convert_bench.py --reps 1 --calltree build/src/cli/calltree
