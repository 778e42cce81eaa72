"""Time of every kind, for --sample: a pure-Python loop (Python), numpy matrix products
(Native), small file writes and stats (System) and a sleep (Idle), each in its own function."""
import os
import tempfile
import time

import numpy as np


def python_loop(n):
    total = 0
    for i in range(n):
        total += i * i % 7
    return total


def matrix_products(repeats):
    rng = np.random.default_rng(1)
    a = rng.random((500, 500))
    for _ in range(repeats):
        a = a @ a.T
        a /= a.max()
    return float(a.sum())


def file_churn(count):
    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, "scratch")
        for i in range(count):
            with open(path, "wb") as f:
                f.write(b"x" * 512)
            os.stat(path)


def wait_a_little(seconds):
    time.sleep(seconds)


def main():
    python_loop(2_000_000)
    matrix_products(4)
    file_churn(600)
    wait_a_little(0.3)


if __name__ == "__main__":
    main()
