#!/bin/sh
# Quick start: install what is missing, build, install calltree (into PREFIX, /usr/local unless
# set) and profile an example program with it.
set -eu
cd "$(dirname "$0")/.."
scripts/install-deps.sh
scripts/build.sh
PREFIX="${PREFIX:-/usr/local}"
cmake --install build --prefix "$PREFIX" >/dev/null
"$PREFIX/bin/calltree" -o hello.callgrind examples/hello.py
case ":$PATH:" in
*":$PREFIX/bin:"*) echo "calltree is installed: $PREFIX/bin/calltree" ;;
*) echo "calltree is installed in $PREFIX/bin; add it to PATH: export PATH=\"$PREFIX/bin:\$PATH\"" ;;
esac
echo "next: kcachegrind hello.callgrind   (or: callgrind_annotate hello.callgrind)"
