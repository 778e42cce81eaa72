"""Forks many short-lived children while another thread runs: a fork must never land while the
profiler's own thread holds a lock the child needs (it hung the child in PyOS_AfterFork_Child)."""
import os
import sys
import threading

stop = False


def spin():
    n = 0
    while not stop:
        n += 1


worker = threading.Thread(target=spin)
worker.start()
for _ in range(int(sys.argv[1])):
    pid = os.fork()
    if pid == 0:
        os._exit(0)
    os.waitpid(pid, 0)
stop = True
worker.join()
print("forks done")
