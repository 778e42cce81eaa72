"""Ground truth for threads: two CPU-bound Python threads and two sleeping ones. Prints the
process CPU time over the phase. Usage: threads.py LOOP_ITERATIONS SLEEP_SECONDS"""
import json
import sys
import threading
import time


def spin(n):
    total = 0
    for i in range(n):
        total += i % 3
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
print(json.dumps({"cpu": time.process_time() - c0, "wall": time.perf_counter() - t0}))
