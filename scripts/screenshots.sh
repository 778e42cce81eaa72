#!/bin/bash
# Retakes the README's screenshots (docs/images/*.png) from a real KCachegrind window: profiles
# example programs in each mode with the built calltree, opens each profile in KCachegrind under
# a virtual X server (Xvfb, 1400x900), selects a function, an event and the views worth showing
# by clicking with xdotool, and captures the screen.
#
#   scripts/screenshots.sh [CALLTREE [MODE...]]
#
# CALLTREE defaults to build/src/cli/calltree (run scripts/build.sh first); MODEs are any of
# deterministic sample memory subprocesses convert (default: all five).
#
# Installs what is missing from Debian's archive (kcachegrind, graphviz for its call graph, xvfb,
# xdotool, imagemagick, dbus; as root). The click positions are those of Debian 12's KCachegrind 23.x at 1400x900 with its
# default fonts: look at every image after retaking them. The timings the programs show are the
# machine's of the moment (a loaded machine shows much `Wait` under --sample).
set -eu
cd "$(dirname "$0")/.."
root=$(pwd)
calltree=$(realpath "${1:-build/src/cli/calltree}")
[ -x "$calltree" ] || { echo "screenshots.sh: no calltree at $calltree (run scripts/build.sh)" >&2; exit 2; }

missing=""
for pair in kcachegrind:kcachegrind dot:graphviz Xvfb:xvfb xdotool:xdotool import:imagemagick dbus-run-session:dbus; do
    command -v "${pair%%:*}" >/dev/null || missing="$missing ${pair#*:}"
done
if [ -n "$missing" ]; then
    apt-get update >/dev/null
    DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends $missing >/dev/null
fi

work=$(mktemp -d)
display=""
for n in $(seq 90 120); do
    [ -e "/tmp/.X$n-lock" ] || [ -e "/tmp/.X11-unix/X$n" ] || { display=":$n"; break; }
done
[ -n "$display" ] || { echo "screenshots.sh: no free X display number" >&2; exit 2; }
Xvfb "$display" -screen 0 1400x900x24 -nolisten tcp >"$work/xvfb.log" 2>&1 &
xvfb=$!
viewer=""
bus=""
cleanup() {
    [ -z "$viewer" ] || kill "$viewer" 2>/dev/null || true
    [ -z "$bus" ] || kill "$bus" 2>/dev/null || true
    kill "$xvfb" 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT

# A private configuration: no tip of the day, nothing remembered from an earlier session.
export DISPLAY="$display" HOME="$work/home" XDG_CONFIG_HOME="$work/config" XDG_RUNTIME_DIR="$work/run"
mkdir -p "$HOME" "$XDG_CONFIG_HOME" "$XDG_RUNTIME_DIR"
chmod 700 "$XDG_RUNTIME_DIR"
printf '[TipOfDay]\nRunOnStart=false\n' >"$XDG_CONFIG_HOME/kcachegrindrc"
# KCachegrind wants a session bus: one of its own, ended with the script.
dbus-daemon --session --fork --print-address=1 --print-pid=1 >"$work/bus"
{ read -r DBUS_SESSION_BUS_ADDRESS; read -r bus; } <"$work/bus"
export DBUS_SESSION_BUS_ADDRESS
# Debian's python3 runs the examples (numpy is python3-numpy).
export PATH="/usr/bin:$PATH"
sleep 1

# --- what to click (pixels of the 1400x900 screen, once the flat profile is widened) ---------
select_function() {  # type the name into the flat profile's search box, click the first match
    # A file loaded with other parts (--subprocesses) has the parts overview above the flat
    # profile: the second argument moves the clicks down by its height.
    local down=${2:-0}
    xdotool mousemove 128 $((90 + down)) click 1; sleep 0.5
    xdotool type --delay 50 "$1"; sleep 1.5
    xdotool mousemove 265 $((138 + down)) click 1; sleep 1
    xdotool mousemove 407 $((89 + down)) click 1; sleep 1   # clear the search: all, still selected
}
absolute() {  # costs in their units (bytes, ns) instead of percentages of the total
    xdotool mousemove 294 38 click 1; sleep 1
}
select_event() {  # the Nth (0-based) event of the file in the event type box
    xdotool mousemove 878 38 click 1; sleep 1
    xdotool mousemove 816 $((39 + 25 * $1)) click 1; sleep 1
}
top_tab() {  # Types, Callers, All Callers, Callee Map, Source Code
    case $1 in
    types) x=599 ;; callers) x=664 ;; allcallers) x=745 ;; source) x=940 ;;
    esac
    xdotool mousemove $x 99 click 1; sleep 1
}
bottom_tab() {  # Parts, Callees, Call Graph, All Callees, Caller Map, Machine Code
    case $1 in
    parts) x=597 ;; callees) x=661 ;; graph) x=744 ;;
    esac
    xdotool mousemove $x 856 click 1; sleep 1
}
open_profile() {
    kcachegrind "$1" >>"$work/kcachegrind.log" 2>&1 &
    viewer=$!
    for _ in $(seq 60); do
        xdotool search --onlyvisible --class kcachegrind >/dev/null 2>&1 && break
        sleep 0.5
    done
    sleep 4
    for w in $(xdotool search --onlyvisible --class kcachegrind); do
        xdotool windowmove "$w" 0 0 windowsize "$w" 1400 900 2>/dev/null || true
    done
    sleep 2
    # Widen the flat profile so that function names and their modules show.
    xdotool mousemove 337 500 sleep 0.3 mousedown 1 sleep 0.3 mousemove 400 500 sleep 0.3 \
        mousemove 500 500 sleep 0.3 mousemove 560 500 sleep 0.3 mouseup 1
    sleep 1
}
capture() {  # capture NAME: the screen, reduced to 128 colours (not dithered: smaller)
    sleep 2
    import -window root "$work/$1.full.png"
    convert "$work/$1.full.png" +dither -colors 128 "PNG8:$root/docs/images/$1.png"
    kill "$viewer" 2>/dev/null || true
    wait "$viewer" 2>/dev/null || true
    viewer=""
    echo "docs/images/$1.png: $(stat -c %s "$root/docs/images/$1.png") bytes"
}

mkdir -p "$root/docs/images" "$work/profiles"
cd "$work/profiles"

# Every call: main's annotated source (the cost of each call on its line) and its call graph.
shot_deterministic() {
    "$calltree" -o hello.callgrind "$root/examples/hello.py" >/dev/null
    open_profile hello.callgrind
    select_function main
    top_tab source
    bottom_tab graph
    capture deterministic
}

# --sample: the seven events of main (Types) and where its time went (Callees).
# In nanoseconds (on a busy machine, the time the program waited for a CPU shows as Wait).
shot_sample() {
    "$calltree" --sample -o mixed_work.callgrind "$root/examples/mixed_work.py" >/dev/null
    open_profile mixed_work.callgrind
    absolute
    select_function main
    top_tab types
    bottom_tab callees
    capture sample
}

# --memory: in bytes, the flat profile ranked by AllocBytes, main's memory events (Types: leaked,
# peak, copied) and what its callees allocated.
shot_memory() {
    "$calltree" --memory -o memory_use.callgrind "$root/examples/memory_use.py" >/dev/null
    open_profile memory_use.callgrind
    select_event 1   # Time AllocBytes Allocs LeakBytes PeakBytes CopyBytes
    absolute
    select_function main
    top_tab types
    bottom_tab callees
    capture memory
}

# --subprocesses: the parent's file opened, the children's parts loaded with it.
shot_subprocesses() {
    "$calltree" --subprocesses -o workers.callgrind "$root/examples/workers.py" >/dev/null
    sleep 2   # multiprocessing's helpers end after the program and write theirs then
    open_profile workers.callgrind
    select_function longest_chain 85
    top_tab allcallers   # a forked worker's calls, under the parent's code that forked it
    bottom_tab parts
    capture subprocesses
}

# convert: a cProfile file of examples/hello.py; pstats has no call sites, so convert places each
# call on the line of main's source that calls the callee by name.
shot_convert() {
    /usr/bin/python3 -m cProfile -o hello.prof "$root/examples/hello.py" >/dev/null
    "$calltree" convert hello.prof -o hello.prof.callgrind
    open_profile hello.prof.callgrind
    select_function main
    top_tab source
    bottom_tab graph
    capture convert
}

modes=${*:2}
for mode in ${modes:-deterministic sample memory subprocesses convert}; do
    case $mode in
    deterministic | sample | memory | subprocesses | convert) "shot_$mode" ;;
    *) echo "screenshots.sh: unknown mode $mode" >&2; exit 2 ;;
    esac
done
