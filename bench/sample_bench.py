#!/usr/bin/python3
"""Sampling-mode overhead, measured side by side in one run and reported as ratios.

For each workload in bench/workloads, runs interleaved: plain python3, calltree --sample at the
default 1 ms interval and at 0.1 ms, and calltree --sample --interval 100ms ("sparse": ten
samples a second, so the fixed costs of the mode alone: start-up, the sampler thread, writing the
file). Also the anchors "ticker-1ms" and "ticker-0.1ms" (bench/floor_hook.c): python3 with
only the mechanism of --sample, a thread that wakes at each interval and signals the program's
thread, whose handler does nothing; what this machine charges for the wake-ups and the signals
alone, below which no signal-driven sampler can go. Prints median wall time, the ratios to plain
python3, to "sparse" (what taking samples itself costs) and to the anchor of the same interval,
and the peak RSS over plain, then checks the targets of issue 7:
  --sample <= 1.03x plain python3 on every workload; --interval 0.1ms <= 1.15x;
  peak RSS within 20 MiB of plain python3.

Usage: sample_bench.py [--calltree PATH] [--build DIR] [--reps N | --quick] [--workloads a,b]
                       [--variants plain,sample-0.1ms,ticker-0.1ms] [--baseline OLD_CALLTREE]
Exit status is 0 unless --check is given and a target is missed.
"""
import argparse
import os
import sys
import tempfile

import run_bench

HERE = os.path.dirname(os.path.abspath(__file__))
WORKLOADS = ["call_heavy", "loop_heavy", "many_functions", "native", "threads"]
TARGETS = {"sample-1ms": 1.03, "sample-0.1ms": 1.15}
MAX_EXTRA_MIB = 20


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--calltree", default=os.environ.get("CALLTREE", os.path.join(run_bench.ROOT, "build/src/cli/calltree")))
    ap.add_argument("--build", help="build tree holding bench/calltree_measure_run")
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--quick", action="store_true", help="one repetition (CI smoke run)")
    ap.add_argument("--check", action="store_true")
    ap.add_argument("--workloads", default=",".join(WORKLOADS))
    ap.add_argument("--variants", help="only these (plain is always run: the ratios need it)")
    ap.add_argument("--baseline", help="another calltree binary (an older build), run interleaved as base-1ms and "
                    "base-0.1ms: a before/after comparison that a loaded machine skews alike")
    args = ap.parse_args()
    if args.quick:
        args.reps = 1
    args.workloads = args.workloads.split(",")
    args.build = args.build or run_bench.up(args.calltree, 3)
    with tempfile.TemporaryDirectory(prefix="calltree_sample_bench_") as tmp:
        out = os.path.join(tmp, "out.callgrind")
        commands = {
            "plain": lambda w: [run_bench.PY, w],
            "sample-1ms": lambda w: [args.calltree, "--sample", "-o", out, w],
            "sample-0.1ms": lambda w: [args.calltree, "--sample", "--interval", "0.1ms", "-o", out, w],
            "sparse": lambda w: [args.calltree, "--sample", "--interval", "100ms", "-o", out, w],
        }
        if args.baseline:
            commands["base-1ms"] = lambda w: [args.baseline, "--sample", "-o", out, w]
            commands["base-0.1ms"] = lambda w: [args.baseline, "--sample", "--interval", "0.1ms", "-o", out, w]
        hook_dir = os.path.dirname(run_bench.floor_hook_dir(args.build))
        if os.path.exists(run_bench.floor_hook_dir(args.build)):
            floor = [run_bench.PY, os.path.join(HERE, "floor_run.py"), hook_dir]
            commands["ticker-1ms"] = lambda w: floor + ["ticker-1000000", w]
            commands["ticker-0.1ms"] = lambda w: floor + ["ticker-100000", w]
        else:
            print(f"note: {run_bench.floor_hook_dir(args.build)} not built: no ticker anchors")
        if args.variants:
            wanted = set(args.variants.split(",")) | {"plain"}
            unknown = wanted - set(commands)
            if unknown:
                ap.error(f"unknown variants: {', '.join(sorted(unknown))} (known: {', '.join(commands)})")
            commands = {v: c for v, c in commands.items() if v in wanted}
        measure_run = os.path.join(args.build, "bench", "calltree_measure_run")
        if not os.access(measure_run, os.X_OK):
            print(f"note: {measure_run} not built: peak RSS includes this driver's own")
            measure_run = None
        print(f"{args.reps} repetition(s), median wall time, {run_bench.PY}; load average {os.getloadavg()[0]:.2f} at start")
        results = run_bench.measure(args, commands, run_bench.Runner(measure_run, tmp))
    print(f"{'workload':<15} {'variant':<14} {'median s':>9} {'x plain':>8} {'x sparse':>9} {'x ticker':>9} {'peak MiB':>9} {'+MiB':>6}")
    checks = []
    for workload, res in results.items():
        plain = res["plain"]
        for v, r in res.items():
            ratio = r["seconds"] / plain["seconds"]
            extra = (r["peak_kib"] - plain["peak_kib"]) / 1024
            own = r["seconds"] / res["sparse"]["seconds"] if "sparse" in res else float("nan")
            anchor = res.get(v.replace("sample-", "ticker-")) if v.startswith("sample-") else None
            over_anchor = f"{r['seconds'] / anchor['seconds']:9.3f}" if anchor else f"{'':9}"
            print(f"{workload:<15} {v:<14} {r['seconds']:9.3f} {ratio:8.3f} {own:9.3f} {over_anchor} "
                  f"{r['peak_kib'] / 1024:9.1f} {extra:+6.1f}")
            if v in TARGETS:
                checks.append((f"{v} <= {TARGETS[v]}x plain on {workload} ({ratio:.3f})", ratio <= TARGETS[v]))
                checks.append((f"{v} peak RSS within {MAX_EXTRA_MIB} MiB of plain on {workload} ({extra:+.1f})",
                               extra <= MAX_EXTRA_MIB))
    run_bench.print_verdicts(checks, args.reps)
    return 1 if args.check and not all(ok for _, ok in checks) else 0


if __name__ == "__main__":
    sys.exit(main())
