"""Ground truth for threads: two CPU-bound Python threads and two sleeping ones. Prints the
process CPU time over the phase and each spinning thread's own CPU time.
Usage: threads.py LOOP_ITERATIONS SLEEP_SECONDS"""
import json
import sys
import threading
import time


spin_cpu, spin_wait = [], []


def run_delay():
    """Seconds this thread has waited for a CPU (the kernel's schedstat)."""
    with open(f"/proc/self/task/{threading.get_native_id()}/schedstat") as f:
        return int(f.read().split()[1]) / 1e9


def spin(n):
    start, waited = time.thread_time(), run_delay()
    total = 0
    for i in range(n):
        total += i % 3
    spin_cpu.append(time.thread_time() - start)
    spin_wait.append(run_delay() - waited)
    return total


def doze(seconds):
    time.sleep(seconds)


n, seconds = int(sys.argv[1]), float(sys.argv[2])
threads = [threading.Thread(target=spin, args=(n,)) for _ in range(2)]
threads += [threading.Thread(target=doze, args=(seconds,)) for _ in range(2)]
c0, t0 = time.process_time(), time.perf_counter()
for t in threads:
    t.start()
for t in threads:
    t.join()
print(json.dumps({"cpu": time.process_time() - c0, "wall": time.perf_counter() - t0, "spin_cpu": spin_cpu, "spin_wait": spin_wait}))
