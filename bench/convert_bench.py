#!/usr/bin/python3
"""`calltree convert` against pyprof2calltree on .prof files of several shapes
(bench/make_prof_shapes.py: few or many files, short or long paths and names, few or many callers
per function, recursion, sources on disk), both tools interleaved in one run: median wall time and
peak RSS of each per shape, and the ratios. Target (issue 10): at least 20x faster than
pyprof2calltree on every shape, with lower peak memory. CPU time (user + system) is shown too: on
a loaded machine a 0.1 s process's wall time varies twofold, its CPU time much less.

With --baseline OTHER_CALLTREE, that binary runs in the same rounds and its wall and CPU times
are printed as ratios to calltree's: a before/after comparison under the same load.

Usage: convert_bench.py [--calltree PATH] [--baseline PATH] [--build DIR] [--reps N] [--shapes A,B]
                        [--check]"""
import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from make_prof_shapes import ALL  # noqa: E402
import run_bench  # noqa: E402
from run_bench import Runner  # noqa: E402


class CpuRunner(Runner):
    """Runner's (wall seconds, peak RSS KiB), and the command's CPU seconds: wait4 reports a
    child's usage with that of the children it waited for (measure_run's one)."""

    def __call__(self, cmd):
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        wall, peak = super().__call__(cmd)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        return wall, peak, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


MIN_SPEEDUP = 20


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--calltree", default=os.environ.get("CALLTREE"))
    ap.add_argument("--baseline", help="another calltree binary, timed in the same rounds")
    ap.add_argument("--build", help="build tree (default: the one holding --calltree, else <repo>/build)")
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--shapes", default=",".join(ALL), help=f"comma-separated, of: {', '.join(ALL)}")
    ap.add_argument("--check", action="store_true", help="exit 1 when a shape misses the target")
    args = ap.parse_args()
    build = args.build or (os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(args.calltree))))
                           if args.calltree else os.path.join(HERE, "..", "build"))
    calltree = args.calltree or os.path.join(build, "src", "cli", "calltree")
    shapes = args.shapes.split(",")
    if unknown := [s for s in shapes if s not in ALL]:
        sys.exit(f"convert_bench: unknown shape(s) {', '.join(unknown)} (known: {', '.join(ALL)})")
    measure_run = os.path.join(build, "bench", "calltree_measure_run")
    with tempfile.TemporaryDirectory(prefix="calltree_convert_bench_") as tmp:
        if not os.access(measure_run, os.X_OK):
            print(f"note: {measure_run} not built: peak RSS includes this driver's own")
            measure_run = None
        run = CpuRunner(measure_run, tmp)
        # Made in a child process: a driver grown by making them would raise every child's peak RSS.
        subprocess.run([sys.executable, os.path.join(HERE, "make_prof_shapes.py"), tmp, *shapes],
                       check=True, stdout=subprocess.DEVNULL)
        print(f"{args.reps} repetition(s), median wall time, {run_bench.PY}; load average {os.getloadavg()[0]:.2f} at start")
        print(f"{'':<14} {'calltree':^27} {'pyprof2calltree':^27} {'speedup':^15}")
        print(f"{'shape':<14} {'wall':>7} {'cpu':>7} {'peak':>11} {'wall':>7} {'cpu':>7} {'peak':>11} {'wall':>7} {'cpu':>7}")
        failed = []
        for shape in shapes:
            prof = os.path.join(tmp, f"{shape}.prof")
            tools = {
                "calltree": [calltree, "convert", prof, "-o", os.path.join(tmp, "a.out")],
                "pyprof2calltree": ["pyprof2calltree", "-i", prof, "-o", os.path.join(tmp, "b.out")],
            }
            if args.baseline:
                tools["baseline"] = [args.baseline, "convert", prof, "-o", os.path.join(tmp, "c.out")]
            samples = {t: [] for t in tools}
            for _ in range(args.reps):
                for t, cmd in tools.items():
                    samples[t].append(run(cmd))
            (ours, our_kib, our_cpu), (theirs, their_kib, their_cpu), *baseline = (
                (statistics.median(s[0] for s in v), max(s[1] for s in v), statistics.median(s[2] for s in v))
                for v in samples.values())
            speedup = theirs / ours
            ok = speedup >= MIN_SPEEDUP and our_kib < their_kib
            if not ok:
                failed.append(shape)
            print(f"{shape:<14} {ours:6.3f}s {our_cpu:6.3f}s {our_kib / 1024:6.1f} MiB {theirs:6.3f}s {their_cpu:6.3f}s"
                  f" {their_kib / 1024:6.1f} MiB {speedup:6.1f}x {their_cpu / max(our_cpu, 1e-3):6.1f}x"
                  f"{'' if ok else '  MISSED'}")
            if baseline:
                base, base_kib, base_cpu = baseline[0]
                print(f"{'':<14} baseline {base:6.3f}s {base_cpu:6.3f}s {base_kib / 1024:6.1f} MiB:"
                      f" calltree takes {ours / base:.2f}x its wall time, {our_cpu / max(base_cpu, 1e-3):.2f}x its CPU")
    if args.reps == 1:
        print("smoke run (1 repetition): the verdict below is indicative; measure with --reps 5")
    verdict = "FAIL (" + ", ".join(failed) + ")" if failed else "PASS"
    print(f"{verdict} calltree convert >= {MIN_SPEEDUP}x faster than pyprof2calltree with lower peak memory, every shape")
    return 1 if args.check and failed else 0


if __name__ == "__main__":
    sys.exit(main())
