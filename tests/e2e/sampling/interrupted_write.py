"""A blocking write interrupted by the program's own signal, as CPython's test_io checks it
(check_interrupted_write): several MB written at once, unbuffered, into a pipe nobody reads; the
kernel takes what fits and the write blocks until SIGALRM, whose handler raises. The write must
end with the handler's exception, not return a short count early because another signal (the
sampler's) interrupted it. ~50 ms of CPU before each write: the sampler is signalling this
thread right up to the call. The data is made before the timer is armed, as CPython's test does:
made after it, a slow start (the sanitizer build on a busy machine) can let SIGALRM arrive
before the write begins, and the write then blocks for good under python3 alone as well. Prints
the outcome of each of REPEATS writes."""
import os
import signal
import sys
import time


class Alarm(Exception):
    pass


def on_alarm(*args):
    raise Alarm


repeats = int(sys.argv[1]) if len(sys.argv) > 1 else 3
signal.signal(signal.SIGALRM, on_alarm)
outcomes = []
data = b"x" * (8 << 20)
for _ in range(repeats):
    r, w = os.pipe()
    with open(w, "wb", buffering=0) as wio:
        end = time.perf_counter() + 0.05
        while time.perf_counter() < end:
            pass
        signal.setitimer(signal.ITIMER_REAL, 0.3)
        try:
            outcomes.append(f"returned {wio.write(data)}")
        except Alarm:
            outcomes.append("raised")
        signal.setitimer(signal.ITIMER_REAL, 0)
    os.close(r)
print(outcomes)
