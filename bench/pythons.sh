#!/bin/sh
# The deterministic, sampling and memory benches on every other CPython version this build has a
# library for, each against its own anchors (that version's plain python3, cProfile, floor hook
# and signal ticker, all run in the same run): inside a root of scripts/pythons.sh with its
# python3.X, or on an interpreter the build was given in CALLTREE_EXTRA_PYTHONS.
#
#   bench/pythons.sh                  every version, 5 repetitions (CALLTREE_BENCH_REPS), about
#                                     25 minutes on 2 cores
#   bench/pythons.sh --quick 3.13     one repetition, one version
#   bench/pythons.sh --smoke          one repetition of call_heavy, every version (CI: each bench
#                                     runs on each version)
#
# Exit status: nonzero if a bench could not run; the figures themselves are reported, not judged
# (the targets are judged on a quiet machine by hand: CI shares its cores).
set -u
cd "$(dirname "$0")/.."
ROOTS=${CALLTREE_PYTHONS:-/var/cache/calltree-pythons}
reps="--reps ${CALLTREE_BENCH_REPS:-5}" only=""
case ${1-} in
--quick) reps="--quick" && shift ;;
--smoke) reps="--quick" only="--workloads call_heavy" && shift ;;
esac
versions=$*
if [ -z "$versions" ]; then
    for stamp in "$ROOTS"/*/.calltree-stamp; do
        [ -f "$stamp" ] && versions="$versions $(basename "$(dirname "$stamp")")"
    done
fi
extras=""
for python in $(sed -n 's/^CALLTREE_EXTRA_PYTHONS:STRING=//p' build/CMakeCache.txt 2>/dev/null | tr ';' ' '); do
    v=$("$python" -c 'import sys; print("%d.%d" % sys.version_info[:2])') || continue
    extras="$extras $v=$python"
    [ -n "$*" ] || versions="$versions $v"
done
status=0
for v in $versions; do
    python=""
    for e in $extras; do [ "${e%%=*}" = "$v" ] && python=${e#*=}; done
    if [ -n "$python" ]; then
        # The interpreter runs here; its build has no numpy (the "native" sampling workload and
        # the memory bench's alloc_heavy).
        echo "== Python $v ($python)"
        run() { CALLTREE_BENCH_PYTHON="$python" /usr/bin/python3 "$@"; }
        sampled="--workloads call_heavy,loop_heavy,many_functions,threads"
        allocating="--workloads call_heavy,loop_heavy,many_functions"
    else
        echo "== Python $v (in $ROOTS/$v)"
        run() { scripts/in-python-root.sh "$v" /usr/bin/python3 "$@"; }
        sampled="" allocating=""
    fi
    [ -z "$only" ] || sampled=$only allocating=$only
    # shellcheck disable=SC2086
    run bench/run_bench.py $reps $only --calltree build/src/cli/calltree || status=1
    # shellcheck disable=SC2086
    run bench/sample_bench.py $reps $sampled --calltree build/src/cli/calltree || status=1
    # shellcheck disable=SC2086
    run bench/memory_bench.py $reps $allocating --calltree build/src/cli/calltree || status=1
done
exit $status
