"""The overhead of a `calltree.profile()` block against the calltree command, same mode.

  api_overhead.py [--rounds N] [--calltree BUILD/src/cli/calltree] [--sample] [WORKLOAD]

Runs WORKLOAD (default bench/workloads/call_heavy.py: ~18M calls) three ways, interleaved round
by round so that load on a shared machine falls on all alike: plain python3; under the calltree
command; and in python3 inside `with calltree.profile(...)` (the build tree's package). Each run
times the workload itself (wall time, and the CPU time of the thread running it, inside the
program; on a loaded machine the CPU time is the steadier figure), so the command's
start-up and the profile's writing are left out of that figure; the block's whole cost (its
start, which measures the bias, its stop and write) is printed too. Prints the medians.
"""
import argparse
import os
import statistics
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)

RUNNER = r"""
import runpy, sys, time
mode, workload, out = sys.argv[1], sys.argv[2], sys.argv[3]
if mode == "api":
    import calltree
    options = {"sample": True} if len(sys.argv) > 4 else {}
    t0 = time.perf_counter()
    with calltree.profile(out, **options):
        t1, c1 = time.perf_counter(), time.thread_time()
        runpy.run_path(workload)
        t2, c2 = time.perf_counter(), time.thread_time()
    t3 = time.perf_counter()
else:
    t1, c1 = time.perf_counter(), time.thread_time()
    runpy.run_path(workload)
    t2, c2 = time.perf_counter(), time.thread_time()
    t0, t3 = t1, t2
print(t2 - t1, c2 - c1, t3 - t0)
"""


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--calltree", default=os.path.join(ROOT, "build", "src", "cli", "calltree"))
    ap.add_argument("--sample", action="store_true", help="compare --sample with profile(sample=True)")
    ap.add_argument("workload", nargs="?", default=os.path.join(HERE, "workloads", "call_heavy.py"))
    args = ap.parse_args()
    build = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(args.calltree))))
    env = dict(os.environ, PYTHONPATH=os.path.join(build, "python"))
    python = "/usr/bin/python3"
    times = {"plain": [], "command": [], "block": [], "block_whole": []}
    cpu = {"plain": [], "command": [], "block": []}
    with tempfile.TemporaryDirectory() as tmp:
        runner = os.path.join(tmp, "runner.py")
        with open(runner, "w") as f:
            f.write(RUNNER)
        out = os.path.join(tmp, "out.cg")
        extra = ["sample"] if args.sample else []
        mode_flags = ["--sample"] if args.sample else []
        for r in range(args.rounds):
            for kind in ("plain", "command", "block"):
                if kind == "plain":
                    cmd = [python, runner, "plain", args.workload, out]
                elif kind == "command":
                    cmd = [args.calltree, *mode_flags, "-o", out, runner, "cli", args.workload, out]
                else:
                    cmd = [python, runner, "api", args.workload, out, *extra]
                p = subprocess.run(cmd, env=env, capture_output=True, text=True, check=True)
                inner, inner_cpu, whole = map(float, p.stdout.split()[-3:])
                times[kind].append(inner)
                cpu[kind].append(inner_cpu)
                if kind == "block":
                    times["block_whole"].append(whole)
            print("round %d: wall plain %.3f command %.3f block %.3f (whole block %.3f); CPU plain %.3f command %.3f "
                  "block %.3f" % (r + 1, times["plain"][-1], times["command"][-1], times["block"][-1],
                                  times["block_whole"][-1], cpu["plain"][-1], cpu["command"][-1], cpu["block"][-1]),
                  flush=True)
    med = {k: statistics.median(v) for k, v in times.items()}
    c = {k: statistics.median(v) for k, v in cpu.items()}
    print("CPU medians of %d: plain %.3f s, command %.3f s (%.2fx), block %.3f s (%.2fx); block/command %.3f" % (
        args.rounds, c["plain"], c["command"], c["command"] / c["plain"], c["block"], c["block"] / c["plain"],
        c["block"] / c["command"]))
    print("wall medians of %d: plain %.3f s, command %.3f s (%.2fx), block %.3f s (%.2fx), whole block %.3f s; "
          "block/command %.3f" % (args.rounds, med["plain"], med["command"], med["command"] / med["plain"],
                                  med["block"], med["block"] / med["plain"], med["block_whole"],
                                  med["block"] / med["command"]))


if __name__ == "__main__":
    sys.exit(main())
