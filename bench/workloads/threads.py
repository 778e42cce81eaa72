"""Threads (~1 s under plain python3): two CPU-bound Python threads contending for the GIL, two
threads sleeping in short naps, and the main thread waiting for them: the sampler has to look at
every thread each interval."""
import threading
import time


def spin(n):
    total = 0
    for i in range(n):
        total += i % 7
    return total


def nap(count):
    for _ in range(count):
        time.sleep(0.002)


workers = [threading.Thread(target=spin, args=(2_500_000,)) for _ in range(2)]
workers += [threading.Thread(target=nap, args=(300,)) for _ in range(2)]
for t in workers:
    t.start()
for t in workers:
    t.join()
