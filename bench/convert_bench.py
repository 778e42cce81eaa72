#!/usr/bin/python3
"""`calltree convert` against pyprof2calltree on a large .prof, side by side in one run:
wall time and peak RSS of each (median of N runs), and the ratios. Target (issue 3): at least 20x
faster than pyprof2calltree, with lower peak memory.
Usage: convert_bench.py [--calltree PATH] [--reps N] [--check]"""
import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))


def run(cmd):
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    _, status, usage = os.wait4(proc.pid, 0)
    if os.waitstatus_to_exitcode(status) != 0:
        sys.exit(f"convert_bench: {' '.join(cmd)} failed")
    return time.perf_counter() - start, usage.ru_maxrss / 1024


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--calltree", default=os.environ.get("CALLTREE", os.path.join(HERE, "..", "build/src/cli/calltree")))
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--check", action="store_true")
    args = ap.parse_args()
    tmp = tempfile.mkdtemp(prefix="calltree_convert_bench_")
    prof = os.path.join(tmp, "big.prof")
    subprocess.run(["/usr/bin/python3", os.path.join(HERE, "make_big_prof.py"), prof], check=True)
    tools = {
        "calltree": [args.calltree, "convert", prof, "-o", os.path.join(tmp, "a.out")],
        "pyprof2calltree": ["pyprof2calltree", "-i", prof, "-o", os.path.join(tmp, "b.out")],
    }
    samples = {t: [] for t in tools}
    for _ in range(args.reps):
        for t, cmd in tools.items():
            samples[t].append(run(cmd))
    res = {t: (statistics.median(s[0] for s in v), max(s[1] for s in v)) for t, v in samples.items()}
    for t, (sec, mib) in res.items():
        print(f"{t:<16} {sec:8.3f} s   peak {mib:8.1f} MiB")
    speedup = res["pyprof2calltree"][0] / res["calltree"][0]
    print(f"calltree is {speedup:.1f}x faster, peak memory {res['calltree'][1]:.1f} vs {res['pyprof2calltree'][1]:.1f} MiB")
    ok = speedup >= 20 and res["calltree"][1] < res["pyprof2calltree"][1]
    if args.reps == 1:
        print("smoke run (1 repetition): the verdict below is indicative; measure with --reps 5")
    print(("PASS" if ok else "FAIL") + " calltree convert >= 20x faster than pyprof2calltree with lower peak memory")
    return 1 if args.check and not ok else 0


if __name__ == "__main__":
    sys.exit(main())
