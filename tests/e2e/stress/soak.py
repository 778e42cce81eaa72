#!/usr/bin/python3
"""Runs the stress programs of this folder many times under calltree's modes that read other
contexts' frames, at the finest interval, and counts every run that ends differently from
python3 (exit status, stdout) or leaves no valid profile. The crash-rate test
(tests/e2e/test_stress.py) runs a few rounds; run this with thousands before changing a signal
handler or a stack reader:

    /usr/bin/python3 tests/e2e/stress/soak.py --calltree build/src/cli/calltree --runs 200
"""
import argparse
import concurrent.futures
import os
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))
import callgrind_parse  # noqa: E402

PYTHON = "/usr/bin/python3"
PROGRAMS = sorted(f for f in os.listdir(HERE) if f.endswith(".py") and f != "soak.py")
MODES = {
    "sample-0.1ms": ["--sample", "--interval", "0.1ms"],
    "sample-memory-0.1ms": ["--sample", "--memory", "--interval", "0.1ms"],
    "memory-rate-1": ["--memory", "--memory-rate", "1"],
}


def expected(program):
    r = subprocess.run([PYTHON, os.path.join(HERE, program)], capture_output=True, text=True, timeout=300)
    return r.returncode, r.stdout


def one_run(calltree, program, mode, want, tmp, index):
    out = os.path.join(tmp, f"{program}.{mode}.{index}.cg")
    try:
        # The same interpreter as the baseline (calltree would run the python3 first on PATH).
        r = subprocess.run([calltree, "--python", PYTHON, *MODES[mode], "-o", out, os.path.join(HERE, program)],
                           capture_output=True, text=True, timeout=300)
    except subprocess.TimeoutExpired:
        return "hang"
    if (r.returncode, r.stdout) != want:
        return f"status {r.returncode} (python3 {want[0]})" + ("" if r.stdout == want[1] else ", stdout differs") + \
            (": " + r.stderr.strip().splitlines()[-1] if r.stderr.strip() else "")
    try:
        parsed = callgrind_parse.parse(out)
        os.unlink(out)
    except Exception as e:  # noqa: BLE001 - any reading problem is a failed run
        return f"no valid profile: {e}"
    if not parsed.functions:
        return "empty profile"
    return None


def soak(calltree, runs, programs=PROGRAMS, modes=tuple(MODES), jobs=2, log=None):
    """{(program, mode): [failure texts]}; runs each (program, mode) `runs` times."""
    wants = {p: expected(p) for p in programs}
    failures = {(p, m): [] for p in programs for m in modes}
    with tempfile.TemporaryDirectory(prefix="calltree_soak_") as tmp, \
            concurrent.futures.ThreadPoolExecutor(jobs) as pool:
        futures = {pool.submit(one_run, calltree, p, m, wants[p], tmp, i): (p, m)
                   for i in range(runs) for p in programs for m in modes}
        for f in concurrent.futures.as_completed(futures):
            failure = f.result()
            if failure is not None:
                failures[futures[f]].append(failure)
                if log:
                    log(f"{futures[f][0]} {futures[f][1]}: {failure}")
    return failures


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--calltree", required=True)
    ap.add_argument("--runs", type=int, default=100, help="runs per program and mode")
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--modes", default=",".join(MODES))
    args = ap.parse_args()
    modes = args.modes.split(",")
    failures = soak(os.path.abspath(args.calltree), args.runs, modes=modes, jobs=args.jobs,
                    log=lambda text: print("FAIL", text, flush=True))
    total = sum(len(v) for v in failures.values())
    print(f"{'program':<22} {'mode':<22} runs failures")
    for (p, m), f in sorted(failures.items()):
        print(f"{p:<22} {m:<22} {args.runs:4d} {len(f):8d}")
    print(f"total: {args.runs * len(failures)} runs, {total} failures")
    sys.exit(1 if total else 0)


if __name__ == "__main__":
    main()
