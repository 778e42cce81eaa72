#!/bin/sh
# Quick start: install what is missing, build, and profile an example program.
set -eu
cd "$(dirname "$0")/.."
scripts/install-deps.sh
scripts/build.sh
build/src/cli/calltree -o hello.callgrind examples/hello.py
echo "next: kcachegrind hello.callgrind   (or: callgrind_annotate hello.callgrind)"
