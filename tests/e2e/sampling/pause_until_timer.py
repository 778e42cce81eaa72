"""signal.pause() must return at the program's own signal, not at the sampler's: REPEATS times,
after ~50 ms of CPU (so the sampler is signalling this thread right up to the call), a 0.3 s
ITIMER_REAL, then signal.pause(). Prints whether every pause lasted until its timer."""
import signal
import sys
import time

repeats = int(sys.argv[1]) if len(sys.argv) > 1 else 5
signal.signal(signal.SIGALRM, lambda *args: None)
short = []
for _ in range(repeats):
    end = time.perf_counter() + 0.05
    while time.perf_counter() < end:
        pass
    start = time.monotonic()
    signal.setitimer(signal.ITIMER_REAL, 0.3)
    signal.pause()
    elapsed = time.monotonic() - start
    if elapsed < 0.29:
        short.append(round(elapsed, 4))
print(f"pauses that ended before their timer: {short}")
