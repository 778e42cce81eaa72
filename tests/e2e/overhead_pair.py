"""Two phases of about the same plain-run time: `calls` makes many tiny calls, `loop` makes none.

  overhead_pair.py N M ROUNDS   runs calls(N) then loop(M), ROUNDS times (alternating, so a burst
                                of load on a shared machine falls on both phases alike), and
                                prints the seconds each phase took in all, as the program itself
                                measured them (under python3: the plain-run times), and the share
                                of that time it spent waiting for a CPU (another job's turn)
"""
import sys
import time


def tiny():
    pass


def calls(n):
    for _ in range(n):
        tiny()


def loop(n):
    # Small ints only: arithmetic on ints past 2**30 is several times slower in calltree's
    # statically linked libpython than in /usr/bin/python3, with or without a profile hook.
    x = 0
    for i in range(n):
        x = (x + i) & 0xFFFF
    return x


def waited():
    """Seconds this thread has spent ready to run but waiting for a CPU (the kernel's schedstat)."""
    with open("/proc/thread-self/schedstat") as f:
        return int(f.read().split()[1]) / 1e9


def seconds(fn, n):
    start = time.perf_counter()
    fn(n)
    return time.perf_counter() - start


if __name__ == "__main__":
    n, m, rounds = map(int, sys.argv[1:4])
    total_calls = total_loop = 0.0
    wait = waited()
    for _ in range(rounds):
        total_calls += seconds(calls, n)
        total_loop += seconds(loop, m)
    print(total_calls, total_loop, (waited() - wait) / (total_calls + total_loop))
