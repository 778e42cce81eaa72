"""Everything a program can observe that a sampler could disturb, printed deterministically;
run under python3 and under calltree --sample, the output must be the same."""
import faulthandler
import os
import select
import signal
import socket
import subprocess
import sys
import threading
import time


def busy(seconds):
    end = time.perf_counter() + seconds
    x = 0
    while time.perf_counter() < end:
        x += 1


def sig_caught_mask():
    with open("/proc/self/status") as f:
        return [line.split()[1] for line in f if line.startswith("SigCgt")][0]


print("dispositions", [str(signal.getsignal(s)) for s in (signal.SIGPROF, signal.SIGRTMIN + 5, signal.SIGALRM,
                                                        signal.SIGTERM, signal.SIGUSR1)])
busy(0.05)
t = time.monotonic()
time.sleep(0.2)
print("sleep lasted", 0.19 < time.monotonic() - t < 0.6)
r, w = os.pipe()
threading.Timer(0.1, lambda: os.write(w, b"x")).start()
busy(0.02)
print("pipe", os.read(r, 1))
print("select timeout", select.select([r], [], [], 0.15))
a, b = socket.socketpair()
threading.Timer(0.1, lambda: b.send(b"y")).start()
print("socket", a.recv(1))
print("subprocess", subprocess.run([sys.executable, "-c", "print(42)"], capture_output=True, text=True).stdout.strip())
lock = threading.Lock()
lock.acquire()
print("lock timeout", lock.acquire(timeout=0.1))
hits = []
signal.signal(signal.SIGALRM, lambda *args: hits.append(1))
signal.setitimer(signal.ITIMER_REAL, 0.05)
time.sleep(0.2)
busy(0.02)
print("alarm handled", hits)
faulthandler.enable()
print("faulthandler", faulthandler.is_enabled())
rr, ww = os.pipe()
pid = os.fork()
if pid == 0:
    busy(0.05)
    os.write(ww, (sig_caught_mask() + " " + str(signal.getsignal(signal.SIGRTMIN + 5))).encode())
    os._exit(7)
_, status = os.waitpid(pid, 0)
print("fork child", os.read(rr, 100).decode(), os.waitstatus_to_exitcode(status))
