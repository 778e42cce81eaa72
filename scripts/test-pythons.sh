#!/bin/sh
# The tests for every other CPython version that has a root of scripts/pythons.sh and a library
# in ./build (the main build makes libcalltree-3.X.so and the boundary's unit tests for each root
# it finds): the boundary's unit tests and the end-to-end suites, run inside the root with its
# python3.X as /usr/bin/python3.
#
#   scripts/test-pythons.sh                 every version, the suites listed in SUITES below
#   scripts/test-pythons.sh 3.13 test_call_counts test_sampling
#
# A version without a root is skipped with one line. Exit status: nonzero if any test failed.
set -u
cd "$(dirname "$0")/.."
SRC=$(pwd)
ROOTS=${CALLTREE_PYTHONS:-/var/cache/calltree-pythons}
# The suites that pass on 3.13 and 3.14 (README, "Python versions", says what the others miss).
SUITES=${SUITES:-"test_callgrind_parse test_call_counts test_names test_convert test_identity test_output_paths test_behaviour test_sampling test_memory test_subprocesses test_signals test_sampling_unnoticed test_stress"}
versions=""
if [ $# -ge 1 ]; then
    versions=$1
    shift
    [ $# -ge 1 ] && SUITES="$*"
else
    for stamp in "$ROOTS"/*/.calltree-stamp; do
        [ -f "$stamp" ] && versions="$versions $(basename "$(dirname "$stamp")")"
    done
fi
status=0
for v in $versions; do
    if [ ! -f "build/src/cli/libcalltree-$v.so" ]; then
        echo "== Python $v: no build/src/cli/libcalltree-$v.so (configure ./build after scripts/pythons.sh)"
        status=1
        continue
    fi
    echo "== Python $v: the CPython boundary's unit tests, in $ROOTS/$v"
    for t in test_sampler_parts test_gil_holder; do
        scripts/in-python-root.sh "$v" "build/python$v/$t" --gtest_brief=1 || status=1
    done
    suites=$SUITES
    # 3.14's sampling accuracy is not there yet (a pure-Python phase measured 0.85 Python in CI,
    # docs/python-versions.md): its suite runs only when asked for by name, until it is.
    if [ "$v" = 3.14 ] && [ -z "${CALLTREE_TEST_314_SAMPLING-}" ]; then
        suites=$(echo "$SUITES" | sed 's/\btest_sampling\b//')
    fi
    echo "== Python $v: end-to-end suites: $suites"
    # shellcheck disable=SC2086
    scripts/in-python-root.sh "$v" env -C tests/e2e CALLTREE="$SRC/build/src/cli/calltree" CALLTREE_SRC="$SRC" \
        PYTHONDONTWRITEBYTECODE=1 CALLTREE_SANITIZED=0 PATH=/usr/local/bin:/usr/bin:/bin HOME=/tmp \
        /usr/bin/python3 -m unittest $suites || status=1
done
exit $status
