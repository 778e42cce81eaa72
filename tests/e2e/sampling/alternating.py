"""A deterministic CPU-bound program with a handful of hot lines: three functions called in
turn, each for a fraction of a millisecond, so the program repeats itself with a period close to
a sampling interval (and a change in the machine's load falls on all of them alike). Times each
function itself and prints {"a": s, "b": s, "c": s} as JSON."""
import json
import time


def a(n):
    s = 0
    for i in range(n):
        s += i * 3
    return s


def b(n):
    s = ""
    for i in range(n):
        s = str(i)
    return s


def c(n):
    s = 0.0
    for i in range(n):
        s += i ** 0.5
    return s


spent = {"a": 0.0, "b": 0.0, "c": 0.0}
clock = time.perf_counter
for _ in range(1200):
    t0 = clock()
    a(12_000)
    t1 = clock()
    b(6_000)
    t2 = clock()
    c(8_000)
    t3 = clock()
    spent["a"] += t1 - t0
    spent["b"] += t2 - t1
    spent["c"] += t3 - t2
print(json.dumps(spent))
