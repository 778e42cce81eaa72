"""Work done in child processes, for --subprocesses: a multiprocessing pool and a python3 started
with subprocess. Without --subprocesses the parent's profile shows only the waiting."""
import multiprocessing
import subprocess
import sys


def collatz_steps(n):
    steps = 0
    while n != 1:
        n = n // 2 if n % 2 == 0 else 3 * n + 1
        steps += 1
    return steps


def longest_chain(start):
    return max(range(start, start + 5000), key=collatz_steps)


def main():
    with multiprocessing.Pool(2) as pool:
        best = pool.map(longest_chain, range(1, 40_001, 5000))
    print("longest chains start at", best)
    subprocess.run([sys.executable, "-c", "import json; print(len(json.dumps(list(range(200_000)))))"],
                   check=True)


if __name__ == "__main__":
    main()
