#!/usr/bin/python3
"""Deterministic-mode overhead, measured side by side in one run and reported as ratios.

For each workload, runs interleaved: plain python3, python3 -m cProfile, the empty C profile
callback (the floor of PyEval_SetProfile), and calltree (wall and cpu clocks). Reports median wall
time, ratios, and peak RSS, then checks the targets of issue 2:
  calltree <= 0.75x cProfile and <= 1.25x the floor on the call-heavy workload,
  peak RSS within 20 MiB of plain python3.
Usage: run_bench.py [--calltree PATH] [--build DIR] [--reps N] [--quick] [--check] [--json FILE]
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
PY = "/usr/bin/python3"
WORKLOADS = ["call_heavy", "loop_heavy", "many_functions"]


def run(cmd):
    """Wall seconds and peak RSS (KiB) of one child process."""
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    elapsed = time.perf_counter() - start
    stderr = proc.stderr.read().decode(errors="replace")
    proc.stderr.close()
    if os.waitstatus_to_exitcode(status) != 0:
        sys.exit(f"run_bench: {' '.join(cmd)} failed:\n{stderr}")
    return elapsed, usage.ru_maxrss


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--calltree", default=os.environ.get("CALLTREE", os.path.join(ROOT, "build/src/cli/calltree")))
    ap.add_argument("--build", default=None, help="build directory holding calltree_floor_hook.so")
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--quick", action="store_true", help="one repetition (CI smoke run)")
    ap.add_argument("--check", action="store_true", help="exit non-zero when a target is missed")
    ap.add_argument("--clock-variants", action="store_true", help="also time the floor reading rdtsc / clock_gettime")
    ap.add_argument("--json")
    args = ap.parse_args()
    reps = 1 if args.quick else args.reps
    build = args.build or os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(args.calltree))))
    floor_dir = os.path.join(build, "bench")
    if not os.path.exists(os.path.join(floor_dir, "calltree_floor_hook.so")):
        sys.exit(f"run_bench: {floor_dir}/calltree_floor_hook.so not found (build the project first)")
    if not os.access(args.calltree, os.X_OK):
        sys.exit(f"run_bench: calltree binary {args.calltree} not found")

    tmp = tempfile.mkdtemp(prefix="calltree_bench_")
    floor = os.path.join(HERE, "floor_run.py")
    variants = {
        "plain": lambda w: [PY, w],
        "cProfile": lambda w: [PY, "-m", "cProfile", "-o", os.path.join(tmp, "c.prof"), w],
        "floor": lambda w: [PY, floor, floor_dir, "empty", w],
        "calltree": lambda w: [args.calltree, "-o", os.path.join(tmp, "w.out"), w],
        "calltree-cpu": lambda w: [args.calltree, "--clock", "cpu", "-o", os.path.join(tmp, "c.out"), w],
    }
    if args.clock_variants:
        variants["floor+rdtsc"] = lambda w: [PY, floor, floor_dir, "rdtsc", w]
        variants["floor+monotonic"] = lambda w: [PY, floor, floor_dir, "monotonic", w]

    results = {}
    for name in WORKLOADS:
        script = os.path.join(HERE, "workloads", name + ".py")
        samples = {v: [] for v in variants}
        for _ in range(reps):  # interleaved, so drift in machine load hits every variant alike
            for v, cmd in variants.items():
                samples[v].append(run(cmd(script)))
        results[name] = {
            v: {"seconds": statistics.median(s[0] for s in runs), "peak_kib": max(s[1] for s in runs)}
            for v, runs in samples.items()
        }

    print(f"{'workload':<15} {'variant':<16} {'median s':>9} {'x plain':>8} {'peak MiB':>9}")
    for name, res in results.items():
        plain = res["plain"]["seconds"]
        for v, r in res.items():
            print(f"{name:<15} {v:<16} {r['seconds']:9.3f} {r['seconds'] / plain:8.2f} {r['peak_kib'] / 1024:9.1f}")
        ct = res["calltree"]
        print(f"{'':<15} calltree/cProfile {ct['seconds'] / res['cProfile']['seconds']:.2f}   "
              f"calltree/floor {ct['seconds'] / res['floor']['seconds']:.2f}   "
              f"extra memory {(ct['peak_kib'] - res['plain']['peak_kib']) / 1024:+.1f} MiB")

    heavy = results["call_heavy"]
    checks = [
        ("calltree <= 0.75x cProfile on call_heavy", heavy["calltree"]["seconds"] <= 0.75 * heavy["cProfile"]["seconds"]),
        ("calltree <= 1.25x empty-callback floor on call_heavy",
         heavy["calltree"]["seconds"] <= 1.25 * heavy["floor"]["seconds"]),
    ]
    for name, res in results.items():
        extra = (res["calltree"]["peak_kib"] - res["plain"]["peak_kib"]) / 1024
        checks.append((f"peak RSS within 20 MiB of plain python3 on {name} ({extra:+.1f} MiB)", extra <= 20))
    for label, ok in checks:
        print(("PASS " if ok else "FAIL ") + label)
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"results": results, "checks": dict(checks)}, f, indent=2)
    if args.check and not all(ok for _, ok in checks):
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
