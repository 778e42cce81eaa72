"""Descriptors: the number os.dup() returns must be the one python3 gives, every time, while the
sampler reads the kernel's files about the program's threads. The main thread dups and closes
for SECONDS while a second thread works in short bursts with short sleeps between them (a thread
that keeps starting and stopping is the one the sampler asks the kernel most about). Prints how
many dups returned another number than the first, and whether the loop ran at all."""
import os
import sys
import threading
import time

seconds = float(sys.argv[1]) if len(sys.argv) > 1 else 1.5
stop = False


def bursts():
    while not stop:
        sum(range(2000))
        time.sleep(0.0002)


worker = threading.Thread(target=bursts)
worker.start()
expected = os.dup(1)
os.close(expected)
other = dups = 0
end = time.perf_counter() + seconds
while time.perf_counter() < end:
    fd = os.dup(1)
    if fd != expected:
        other += 1
    os.close(fd)
    dups += 1
stop = True
worker.join()
print(f"other numbers: {other}, looped: {dups > 1000}")
