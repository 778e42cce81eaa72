#!/bin/sh
# Other CPython versions to build and test calltree against, each in a Debian chroot made with
# debootstrap (--variant=minbase): Debian 13 (trixie) for python3.13, forky for python3.14.
#
#   scripts/pythons.sh            create what is missing or out of date, print each chroot's root
#   scripts/pythons.sh --list     print the roots that exist and are complete, create nothing
#
# Idempotent: a chroot is reused while its stamp (suite + package list + this script's version)
# is unchanged, and made afresh otherwise. Under $CALLTREE_PYTHONS (default
# /var/cache/calltree-pythons), one directory per version: 3.13/, 3.14/. Needs root and the
# network the first time (about 50 s and 0.4 GB each). The library is built on this host against
# a chroot's headers (usr/include/python3.X) and preloaded into the chroot's interpreter, which
# runs with `chroot ROOT`; scripts/in-python-root.sh mounts /proc and /dev for that.
set -eu
ROOT=${CALLTREE_PYTHONS:-/var/cache/calltree-pythons}
MIRROR=${CALLTREE_DEBIAN_MIRROR:-http://deb.debian.org/debian}
STAMP_VERSION=1
LIST=0
[ "${1-}" = --list ] && LIST=1

# What the end-to-end suites use besides python: numpy (examples/numpy_work.py),
# callgrind_annotate (valgrind) and CPython's own test suite (test_regrtest). Installed with the
# root's apt after debootstrap.
extras() { echo "python3-numpy valgrind libpython$1-testsuite"; }

# version suite debootstrap-script packages
versions() {
    echo "3.13 trixie trixie python3.13,python3.13-dev,python3.13-venv"
    echo "3.14 forky sid python3.14,python3.14-dev,python3.14-venv"
}

add_extras() {  # root version
    EXTRAS=$(extras "$2")
    [ -f "$1/.calltree-extras" ] && [ "$(cat "$1/.calltree-extras")" = "$EXTRAS" ] && return 0
    echo "scripts/pythons.sh: installing $EXTRAS in $1" >&2
    # shellcheck disable=SC2086
    chroot "$1" sh -c "apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends $EXTRAS" \
        >>"$1.log" 2>&1 || { echo "scripts/pythons.sh: apt-get in $1 failed, see $1.log" >&2; return 1; }
    echo "$EXTRAS" >"$1/.calltree-extras"
}

make_root() {  # version suite script packages
    dir="$ROOT/$1"
    stamp="$STAMP_VERSION $2 $4"
    if [ -f "$dir/.calltree-stamp" ] && [ "$(cat "$dir/.calltree-stamp")" = "$stamp" ]; then
        if [ "$LIST" = 0 ]; then
            ln -sf "python$1" "$dir/usr/bin/python3"
            add_extras "$dir" "$1" || return 1
        fi
        echo "$dir"
        return 0
    fi
    [ "$LIST" = 1 ] && return 0
    if ! command -v debootstrap >/dev/null 2>&1; then
        apt-get install -y debootstrap >/dev/null
    fi
    echo "scripts/pythons.sh: creating $dir (Debian $2 with $4)" >&2
    # A half-made or outdated root: start again (nothing mounted inside may survive).
    for m in proc dev; do umount "$dir/$m" 2>/dev/null || true; done
    rm -rf "$dir.new"
    mkdir -p "$ROOT"
    # forky's Release file may be past its Valid-Until on a snapshot mirror.
    debootstrap --variant=minbase --include="$4" "$2" "$dir.new" "$MIRROR" "/usr/share/debootstrap/scripts/$3" \
        >"$ROOT/$1.log" 2>&1 || { echo "scripts/pythons.sh: debootstrap $2 failed, see $ROOT/$1.log" >&2; return 1; }
    echo 'Acquire::Check-Valid-Until "false";' >"$dir.new/etc/apt/apt.conf.d/99calltree"
    # The test suites compare calltree with /usr/bin/python3: there, the version under test.
    ln -sf "python$1" "$dir.new/usr/bin/python3"
    "$dir.new/usr/bin/python$1" -c 1 2>/dev/null || chroot "$dir.new" "python$1" -c 1
    rm -rf "$dir"
    mv "$dir.new" "$dir"
    echo "$stamp" >"$dir/.calltree-stamp"
    add_extras "$dir" "$1" || return 1
    echo "$dir"
}

status=0
# Not a pipeline: its loop would run in a subshell and lose the status.
versions >"${TMPDIR:-/tmp}/calltree-pythons.$$"
while read -r v suite script packages; do
    make_root "$v" "$suite" "$script" "$packages" || status=1
done <"${TMPDIR:-/tmp}/calltree-pythons.$$"
rm -f "${TMPDIR:-/tmp}/calltree-pythons.$$"
exit $status
