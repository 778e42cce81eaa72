#!/usr/bin/python3
"""Memory-mode overhead (issue 8), measured side by side in one run and reported as ratios.

Variants, interleaved as run_bench.py does: plain python3, calltree (deterministic),
calltree --memory, calltree --sample, calltree --sample --memory. Prints median wall time, the
ratio to plain python3 and to the same calltree mode without --memory, and peak RSS; then checks
  --sample --memory <= 1.3x plain python3, --memory adds <= 10% to deterministic mode,
on every workload measured (alloc_heavy plus the existing ones by default).

--tables runs bench/workloads/alloc_10gb.py (10 GB allocated in all) under calltree --sample
with and without --memory and reports the difference in peak RSS: the memory hooks' own
tables, which must stay within 30 MiB.

Usage: memory_bench.py [CALLTREE] [--reps N | --quick] [--workloads a,b] [--tables] [--check]
"""
import argparse
import os
import sys
import tempfile

import run_bench

WORKLOADS = ["alloc_heavy", "call_heavy", "loop_heavy", "many_functions"]
MAX_SAMPLED_RATIO = 1.3
MAX_MEMORY_EXTRA = 0.10
MAX_TABLES_MIB = 30


def parse_args():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("calltree_pos", nargs="?", metavar="CALLTREE")
    ap.add_argument("--calltree")
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--workloads", default=",".join(WORKLOADS))
    ap.add_argument("--memory-rate", default=None, help="passed to calltree --memory-rate")
    ap.add_argument("--tables", action="store_true", help="measure the tables' memory on 10 GB allocated")
    ap.add_argument("--check", action="store_true")
    args = ap.parse_args()
    args.reps = 1 if args.quick else args.reps
    args.workloads = args.workloads.split(",")
    calltree = args.calltree_pos or args.calltree or os.environ.get("CALLTREE")
    args.build = run_bench.up(calltree, 3) if calltree else os.path.join(run_bench.ROOT, "build")
    args.calltree = os.path.abspath(calltree or os.path.join(args.build, "src/cli/calltree"))
    return args


def variants(args, tmp):
    out = lambda name: os.path.join(tmp, name)  # noqa: E731
    rate = ["--memory-rate", args.memory_rate] if args.memory_rate else []
    ct = args.calltree
    return {
        "plain": lambda w: [run_bench.PY, w],
        "calltree": lambda w: [ct, "-o", out("d.out"), w],
        "calltree --memory": lambda w: [ct, "--memory", *rate, "-o", out("dm.out"), w],
        "--sample": lambda w: [ct, "--sample", "-o", out("s.out"), w],
        "--sample --memory": lambda w: [ct, "--sample", "--memory", *rate, "-o", out("sm.out"), w],
    }


BASE = {"calltree --memory": "calltree", "--sample --memory": "--sample"}


def main():
    args = parse_args()
    measure_run = os.path.join(args.build, "bench", "calltree_measure_run")
    run_args = argparse.Namespace(workloads=args.workloads, reps=args.reps)
    with tempfile.TemporaryDirectory(prefix="calltree_membench_") as tmp:
        run = run_bench.Runner(measure_run if os.access(measure_run, os.X_OK) else None, tmp)
        print(f"{args.reps} repetition(s), median wall time, {run_bench.PY}; load average {os.getloadavg()[0]:.2f} at start")
        results = run_bench.measure(run_args, variants(args, tmp), run)
        tables = None
        if args.tables:
            big = os.path.join(run_bench.HERE, "workloads", "alloc_10gb.py")
            base = run([args.calltree, "--sample", "-o", os.path.join(tmp, "t0.out"), big])
            with_memory = run([args.calltree, "--sample", "--memory", "-o", os.path.join(tmp, "t1.out"), big])
            tables = (with_memory[1] - base[1]) / 1024
    print(f"{'workload':<15} {'variant':<19} {'median s':>9} {'x plain':>8} {'x no-memory':>12} {'peak MiB':>9}")
    checks = []
    for workload, res in results.items():
        plain = res["plain"]["seconds"]
        for v, r in res.items():
            base = BASE.get(v)
            extra = r["seconds"] / res[base]["seconds"] if base else None
            print(f"{workload:<15} {v:<19} {r['seconds']:9.3f} {r['seconds'] / plain:8.2f} "
                  f"{run_bench.cell(extra, 12)} {r['peak_kib'] / 1024:9.1f}")
        sm = res["--sample --memory"]["seconds"] / plain
        checks.append((f"--sample --memory <= {MAX_SAMPLED_RATIO}x plain on {workload} ({sm:.2f})", sm <= MAX_SAMPLED_RATIO))
        dm = res["calltree --memory"]["seconds"] / res["calltree"]["seconds"]
        checks.append((f"--memory adds <= {MAX_MEMORY_EXTRA:.0%} to deterministic mode on {workload} ({dm - 1:+.1%})",
                       dm <= 1 + MAX_MEMORY_EXTRA))
    if tables is not None:
        checks.append((f"memory tables within {MAX_TABLES_MIB} MiB on 10 GB allocated ({tables:+.1f} MiB peak RSS)",
                       tables <= MAX_TABLES_MIB))
    run_bench.print_verdicts(checks, args.reps)
    return 1 if args.check and not all(ok for _, ok in checks) else 0


if __name__ == "__main__":
    sys.exit(main())
