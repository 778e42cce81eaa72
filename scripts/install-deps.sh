#!/bin/sh
# Installs the Debian 12 packages calltree needs to build and test; skips the work when all are
# present. Run as root (or with sudo available).
set -eu
PACKAGES="cmake g++ make libcli11-dev zlib1g-dev libgtest-dev python3 python3-dev valgrind python3-numpy
pyprof2calltree clang libclang-rt-14-dev libpython3.11-testsuite python3-ipython pyflakes3"
missing=""
for p in $PACKAGES; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
[ -z "$missing" ] && exit 0
SUDO=""
[ "$(id -u)" -ne 0 ] && SUDO="sudo"
echo "installing:$missing"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
# shellcheck disable=SC2086
$SUDO apt-get install -y -qq --no-install-recommends $missing >/dev/null
