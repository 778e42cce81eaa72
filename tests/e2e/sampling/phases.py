"""Ground truth for the sampler: three phases that time themselves (a pure-Python loop, a numpy
matrix product, a sleep). Prints {"python": s, "native": s, "idle": s, "total": s} as JSON.
Usage: phases.py LOOP_ITERATIONS MATMUL_REPEATS SLEEP_SECONDS"""
import json
import sys
import time

import numpy as np


def python_phase(n):
    total = 0
    for i in range(n):
        total += i * i % 7
    return total


def native_phase(a, b, repeats):
    for _ in range(repeats):
        c = a @ b
    return c


def idle_phase(seconds):
    time.sleep(seconds)


def main():
    loops, repeats, sleep = int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3])
    rng = np.random.default_rng(1)
    a = rng.random((600, 600))
    b = rng.random((600, 600))
    t0 = time.perf_counter()
    python_phase(loops)
    t1 = time.perf_counter()
    native_phase(a, b, repeats)
    t2 = time.perf_counter()
    idle_phase(sleep)
    t3 = time.perf_counter()
    print(json.dumps({"python": t1 - t0, "native": t2 - t1, "idle": t3 - t2, "total": t3 - t0}))


main()
