#!/bin/sh
# From 3.12: the cost per Python call of the legacy profile hook (PyEval_SetProfile, which
# calltree's tracer uses) against a sys.monitoring tool whose callbacks are C functions, both
# empty, on fib(22), in each CPython root of scripts/pythons.sh (docs/python-versions.md has the
# figures). Builds a small extension per version into build/event_source.
#   bench/event_source/run.sh [3.13 3.14]
set -eu
cd "$(dirname "$0")/../.."
ROOTS=${CALLTREE_PYTHONS:-/var/cache/calltree-pythons}
out=build/event_source
mkdir -p "$out"
cp bench/event_source/bench.py "$out/"
for v in ${*:-3.13 3.14}; do
    inc=$ROOTS/$v/usr/include
    gcc -O2 -shared -fPIC -I"$inc/python$v" -idirafter "$inc" -o "$out/ctbench.cpython-$(echo "$v" | tr -d .)-x86_64-linux-gnu.so" \
        bench/event_source/ctbench.c
    (cd "$out" && "$OLDPWD/scripts/in-python-root.sh" "$v" /usr/bin/python3 bench.py)
done
