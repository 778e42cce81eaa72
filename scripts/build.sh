#!/bin/sh
# Configures and builds calltree in ./build (Release with debug info).
set -eu
cd "$(dirname "$0")/.."
# CPython 3.12 has no Debian package: a pyenv 3.12 on this machine, if there is one, gets its
# library too (CALLTREE_EXTRA_PYTHONS= builds none; scripts/test-pythons.sh tests what is built).
extra=${CALLTREE_EXTRA_PYTHONS-$(ls -d "${PYENV_ROOT:-$HOME/.pyenv}"/versions/3.12*/bin/python3 2>/dev/null | tail -1)}
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCALLTREE_EXTRA_PYTHONS="$extra" >/dev/null
cmake --build build -j"$(nproc)"
