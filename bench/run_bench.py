#!/usr/bin/python3
"""Deterministic-mode overhead, measured side by side in one run and reported as ratios.

For each workload in bench/workloads, runs interleaved: plain python3, python3 -m cProfile -o,
the empty C profile callback (bench/floor_hook.c: the floor of any PyEval_SetProfile profiler)
and calltree -o; optionally calltree --clock cpu (--cpu-clock) and the floor hook reading a clock
once per event (--clock-variants). Prints median wall time, ratios and peak RSS, then checks the
targets of issue 2:
  calltree <= 0.75x cProfile and <= 1.25x the floor on call_heavy,
  peak RSS within 20 MiB of plain python3 on every workload.

Usage: run_bench.py [CALLTREE] [--build DIR] [--reps N | --quick] [--check] [--json FILE]
CALLTREE defaults to $CALLTREE, else BUILD/src/cli/calltree; BUILD defaults to the build tree
holding CALLTREE, else <repo>/build. Exit status is 0 unless --check is given and a target is
missed (1) or cannot be measured (2).
"""
import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
# The interpreter every variant runs: Debian's by default; CALLTREE_BENCH_PYTHON names another
# build of the same version (pyenv's --enable-shared 3.11.7), so that the ratios are reported per
# build. Every bench script reads it through this module.
PY = os.environ.get("CALLTREE_BENCH_PYTHON", "/usr/bin/python3")
# calltree runs the python3 first on PATH: the same interpreter as the plain runs (PY), or every
# ratio would compare two interpreters (this machine's PATH starts with pyenv's shims).
os.environ["PATH"] = os.path.dirname(PY) + os.pathsep + os.environ.get("PATH", "")
WORKLOADS = ["call_heavy", "loop_heavy", "many_functions"]
MAX_CPROFILE_RATIO = 0.75
MAX_FLOOR_RATIO = 1.25
MAX_EXTRA_MIB = 20


class Runner:
    """Runs one command and returns (wall seconds, peak RSS KiB).

    Prefers the build's calltree_measure_run, which forks the command from a ~1 MiB process:
    Linux keeps the RSS high-water mark across execve, so a command spawned straight from this
    driver reports at least the driver's own peak (measure_run.c explains)."""

    def __init__(self, measure_run, tmp):
        self.measure_run = measure_run
        self.result = os.path.join(tmp, "measure.txt")

    def __call__(self, cmd):
        if self.measure_run:
            cmd = [self.measure_run, self.result] + cmd
        start = time.perf_counter()
        proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        _, status, usage = os.wait4(proc.pid, 0)
        elapsed = time.perf_counter() - start
        stderr = proc.stderr.read().decode(errors="replace")
        proc.stderr.close()
        if os.waitstatus_to_exitcode(status) != 0:
            sys.exit(f"run_bench: {' '.join(cmd)} failed:\n{stderr}")
        if not self.measure_run:
            return elapsed, usage.ru_maxrss
        with open(self.result) as f:
            seconds, peak_kib, _ = f.read().split()
        return float(seconds), int(peak_kib)


def parse_args():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("calltree_pos", nargs="?", metavar="CALLTREE", help="the calltree binary")
    ap.add_argument("--calltree", help="the calltree binary (same as the positional argument)")
    ap.add_argument("--build", help="build tree holding bench/calltree_floor_hook.so")
    ap.add_argument("--reps", type=int, default=5, help="repetitions per variant; the median is reported")
    ap.add_argument("--quick", action="store_true", help="one repetition (CI smoke run)")
    ap.add_argument("--check", action="store_true", help="exit non-zero when a target is missed")
    ap.add_argument("--cpu-clock", action="store_true", help="also time calltree --clock cpu")
    ap.add_argument("--clock-variants", action="store_true",
                    help="also time the floor hook reading rdtsc / clock_gettime(CLOCK_MONOTONIC) per event")
    ap.add_argument("--workloads", default=",".join(WORKLOADS), help="comma-separated subset to run")
    ap.add_argument("--json", help="also write the results to this file")
    args = ap.parse_args()
    if args.reps < 1:
        ap.error("--reps must be at least 1")
    args.reps = 1 if args.quick else args.reps
    args.workloads = args.workloads.split(",")
    for w in args.workloads:
        if not os.path.exists(workload_path(w)):
            ap.error(f"no workload {workload_path(w)}")

    calltree = args.calltree_pos or args.calltree or os.environ.get("CALLTREE")
    if args.build:
        args.build = os.path.abspath(args.build)
    elif calltree and os.path.exists(floor_hook_dir(up(calltree, 3))):
        args.build = up(calltree, 3)  # BUILD/src/cli/calltree
    else:
        args.build = os.path.join(ROOT, "build")
    args.calltree = os.path.abspath(calltree or os.path.join(args.build, "src/cli/calltree"))
    return args


def up(path, levels):
    for _ in range(levels):
        path = os.path.dirname(path)
    return os.path.abspath(path)


def floor_hook_dir(build):
    """The floor hook built for PY's version: the main build's, or the nested build's of another
    version (BUILD/python3.X, made by CMakeLists.txt for a root or an extra interpreter)."""
    other = os.path.join(build, "python" + py_version())
    return os.path.join(other if os.path.isdir(other) else build, "bench", "calltree_floor_hook.so")


_py_version = []


def py_version():
    if not _py_version:
        out = subprocess.run([PY, "-c", "import sys; print('%d.%d' % sys.version_info[:2])"],
                             capture_output=True, text=True, check=True)
        _py_version.append(out.stdout.strip())
    return _py_version[0]


def workload_path(name):
    return os.path.join(HERE, "workloads", name + ".py")


def variants(args, tmp, notes):
    """name -> function from a script path to the command line, for every variant we can run."""
    out = lambda name: os.path.join(tmp, name)  # noqa: E731
    found = {
        "plain": lambda w: [PY, w],
        "cProfile": lambda w: [PY, "-m", "cProfile", "-o", out("c.prof"), w],
    }
    hook_dir = os.path.dirname(floor_hook_dir(args.build))
    floor = [PY, os.path.join(HERE, "floor_run.py"), hook_dir]
    if os.path.exists(floor_hook_dir(args.build)):
        found["floor"] = lambda w: floor + ["empty", w]
        if args.clock_variants:
            found["floor+rdtsc"] = lambda w: floor + ["rdtsc", w]
            found["floor+monotonic"] = lambda w: floor + ["monotonic", w]
    else:
        notes.append(f"floor skipped: {floor_hook_dir(args.build)} not built "
                     "(cmake --build BUILD --target calltree_floor_hook)")
    if os.access(args.calltree, os.X_OK):
        found["calltree"] = lambda w: [args.calltree, "-o", out("wall.out"), w]
        if args.cpu_clock:
            found["calltree-cpu"] = lambda w: [args.calltree, "--clock", "cpu", "-o", out("cpu.out"), w]
    else:
        notes.append(f"calltree skipped: {args.calltree} not found (build the calltree target)")
    return found


def measure(args, commands, run):
    """Medians per workload and variant. Variants are interleaved and their order rotated each
    repetition, so drifting load on a shared machine hits every variant alike."""
    results = {}
    names = list(commands)
    for workload in args.workloads:
        samples = {v: [] for v in names}
        for rep in range(args.reps):
            shift = rep % len(names)
            for v in names[shift:] + names[:shift]:
                samples[v].append(run(commands[v](workload_path(workload))))
        results[workload] = {
            v: {"seconds": statistics.median(s for s, _ in runs),
                "peak_kib": max(kib for _, kib in runs),
                "samples": [s for s, _ in runs]}
            for v, runs in samples.items()
        }
    return results


def ratio(res, a, b, key="seconds"):
    return res[a][key] / res[b][key] if a in res and b in res else None


def cell(x, width):
    return f"{x:{width}.2f}" if x is not None else "-".rjust(width)


def print_table(results):

    print(f"{'workload':<15} {'variant':<16} {'median s':>9} {'x plain':>8} {'/cProfile':>10} {'/floor':>7} "
          f"{'peak MiB':>9} {'+MiB':>6}")
    for workload, res in results.items():
        plain = res["plain"]
        for v, r in res.items():
            print(f"{workload:<15} {v:<16} {r['seconds']:9.3f} {r['seconds'] / plain['seconds']:8.2f} "
                  f"{cell(ratio(res, v, 'cProfile'), 10)} {cell(ratio(res, v, 'floor'), 7)} "
                  f"{r['peak_kib'] / 1024:9.1f} {(r['peak_kib'] - plain['peak_kib']) / 1024:+6.1f}")


def check_targets(results):
    """(label, True/False/None for not measured) for each target."""
    checks = []
    heavy = results.get("call_heavy")
    if heavy is not None:
        for anchor, limit in (("cProfile", MAX_CPROFILE_RATIO), ("floor", MAX_FLOOR_RATIO)):
            r = ratio(heavy, "calltree", anchor)
            shown = f"{r:.2f}" if r is not None else "not measured"
            checks.append((f"calltree <= {limit}x {anchor} on call_heavy ({shown})",
                           None if r is None else r <= limit))
    for workload, res in results.items():
        if "calltree" not in res:
            checks.append((f"peak RSS within {MAX_EXTRA_MIB} MiB of plain python3 on {workload} (not measured)", None))
            continue
        extra = (res["calltree"]["peak_kib"] - res["plain"]["peak_kib"]) / 1024
        checks.append((f"peak RSS within {MAX_EXTRA_MIB} MiB of plain python3 on {workload} ({extra:+.1f} MiB)",
                       extra <= MAX_EXTRA_MIB))
    return checks


def print_verdicts(checks, reps):
    """One PASS/FAIL/SKIP line per (label, met) target; shared by the bench scripts."""
    if reps == 1:
        # One repetition on a shared machine moves the ratios by a third either way.
        print("smoke run (1 repetition): the verdicts below are indicative; measure with --reps 5")
    for label, ok in checks:
        print({True: "PASS ", False: "FAIL ", None: "SKIP "}[ok] + label)


def main():
    args = parse_args()
    notes = []
    with tempfile.TemporaryDirectory(prefix="calltree_bench_") as tmp:
        commands = variants(args, tmp, notes)
        measure_run = os.path.join(args.build, "bench", "calltree_measure_run")
        if not os.access(measure_run, os.X_OK):
            notes.append(f"{measure_run} not built: peak RSS includes this driver's own "
                         f"(~{resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024} MiB floor)")
            measure_run = None
        for note in notes:
            print("note: " + note)
        print(f"{args.reps} repetition(s), median wall time, {PY}; load average {os.getloadavg()[0]:.2f} at start")
        results = measure(args, commands, Runner(measure_run, tmp))

    print_table(results)
    checks = check_targets(results)
    print_verdicts(checks, args.reps)
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"reps": args.reps, "notes": notes, "results": results,
                       "checks": [{"target": label, "met": ok} for label, ok in checks]}, f, indent=2)
    if args.check:
        if any(ok is False for _, ok in checks):
            return 1
        if any(ok is None for _, ok in checks):
            return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
