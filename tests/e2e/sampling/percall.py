"""Ground truth for per-call bias: a function making many tiny calls and a loop without calls,
each timed by the program. Prints {"calls": s, "loop": s}. Usage: percall.py CALLS LOOPS"""
import json
import sys
import time


def tiny(x):
    return x


def many_calls(n):
    for i in range(n):
        tiny(i)


def plain_loop(n):
    total = 0
    for i in range(n):
        total += i
    return total


calls, loops = int(sys.argv[1]), int(sys.argv[2])
t0 = time.perf_counter()
many_calls(calls)
t1 = time.perf_counter()
plain_loop(loops)
t2 = time.perf_counter()
print(json.dumps({"calls": t1 - t0, "loop": t2 - t1}))
