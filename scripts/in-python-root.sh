#!/bin/sh
# Runs a command inside the chroot of another CPython version (scripts/pythons.sh made it), with
# /proc, /dev and /dev/shm mounted and this checkout bind-mounted at the same path, so a calltree
# built here runs there unchanged: the launcher and libcalltree-3.X.so were linked on this host
# (glibc 2.36) and the chroot's libraries are newer.
#
#   scripts/in-python-root.sh 3.13 /usr/bin/python3 -c 'import sys; print(sys.version)'
#   scripts/in-python-root.sh 3.13 sh -c 'cd tests/e2e && python3 -m unittest test_call_counts'
#
# The working directory inside is the current one (it must be under the checkout). Mounts are
# left in place for the next run (scripts/pythons.sh unmounts before it replaces a root); a stale
# one is replaced.
set -eu
[ $# -ge 2 ] || { echo "usage: $0 VERSION COMMAND..." >&2; exit 2; }
ROOT=${CALLTREE_PYTHONS:-/var/cache/calltree-pythons}/$1
shift
[ -f "$ROOT/.calltree-stamp" ] || { echo "$0: no chroot at $ROOT (run scripts/pythons.sh)" >&2; exit 2; }
SRC=$(cd "$(dirname "$0")/.." && pwd)
mounted() { grep -q " $1 " /proc/self/mounts; }
mkdir -p "$ROOT$SRC" "$ROOT/dev" "$ROOT/proc"
mounted "$ROOT/proc" || mount -t proc proc "$ROOT/proc"
mounted "$ROOT/dev" || mount --rbind /dev "$ROOT/dev"
# A mount left by an earlier checkout at the same path (CI clones afresh into one directory) still
# shows the deleted tree: it is the same mount point, not the same directory.
if ! [ "$ROOT$SRC/." -ef "$SRC/." ]; then
    while mounted "$ROOT$SRC"; do umount -l "$ROOT$SRC"; done
    mount --bind "$SRC" "$ROOT$SRC"
fi
mkdir -p "$ROOT/tmp" && chmod 1777 "$ROOT/tmp"
cwd=$(pwd)
exec chroot "$ROOT" /usr/bin/env -C "$cwd" "$@"
