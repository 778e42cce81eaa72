"""Two phases of about the same plain-run time: `calls` makes many tiny calls, `loop` makes none.

  python3 overhead_pair.py plain N M   prints the plain seconds of calls(N) and loop(M), medians of 5
  overhead_pair.py N M               runs each phase once (to be profiled)
"""
import statistics
import sys
import time


def tiny():
    pass


def calls(n):
    for _ in range(n):
        tiny()


def loop(n):
    x = 0
    for i in range(n):
        x += i
    return x


def seconds(fn, n):
    start = time.perf_counter()
    fn(n)
    return time.perf_counter() - start


if sys.argv[1] == "plain":
    n, m = int(sys.argv[2]), int(sys.argv[3])
    times = [(seconds(calls, n), seconds(loop, m)) for _ in range(5)]
    print(statistics.median(t[0] for t in times), statistics.median(t[1] for t in times))
else:
    calls(int(sys.argv[1]))
    loop(int(sys.argv[2]))
