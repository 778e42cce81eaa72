"""Ground truth for System time: a phase of many small system calls, timed by the program with
os.times(). Prints {"wall": s, "system": s, "user": s}. Usage: syscalls.py ITERATIONS"""
import json
import os
import sys
import time


def system_phase(n):
    fd = os.open("/dev/null", os.O_WRONLY)
    for _ in range(n):
        os.stat("/")
        os.write(fd, b"x")
    os.close(fd)


n = int(sys.argv[1])
t0, c0 = time.perf_counter(), os.times()
system_phase(n)
t1, c1 = time.perf_counter(), os.times()
print(json.dumps({"wall": t1 - t0, "system": c1.system - c0.system, "user": c1.user - c0.user}))
