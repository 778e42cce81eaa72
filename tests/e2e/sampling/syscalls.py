"""Ground truth for System time: a phase of many small system calls, timed by the program with
the kernel's accounting for its own thread (what os.times() gives for a one-thread process).
Prints {"wall": s, "system": s, "user": s}. Usage: syscalls.py ITERATIONS"""
import json
import os
import resource
import sys
import time


def times():
    r = resource.getrusage(resource.RUSAGE_THREAD)
    return r.ru_utime, r.ru_stime


def system_phase(n):
    fd = os.open("/dev/null", os.O_WRONLY)
    for _ in range(n):
        os.stat("/")
        os.write(fd, b"x")
    os.close(fd)


n = int(sys.argv[1])
t0, (u0, s0) = time.perf_counter(), times()
system_phase(n)
t1, (u1, s1) = time.perf_counter(), times()
print(json.dumps({"wall": t1 - t0, "system": s1 - s0, "user": u1 - u0}))
