"""Threads starting and ending while others recurse; gc.collect() and __del__ under deep
stacks; the data stack growing into new chunks and releasing them (deep recursion up and down)."""
import gc
import sys
import threading


class Cycle:
    def __init__(self):
        self.me = self

    def __del__(self):
        pass


def deep(n):
    if n == 0:
        for _ in range(20):
            Cycle()
        gc.collect(0)
        return 1
    # Locals make frames big, so the data stack crosses chunk boundaries often.
    a = b = c = d = e = f = g = h = n
    return deep(n - 1) + (a + b + c + d + e + f + g + h) % 2


def worker(n, out, i):
    out[i] = deep(n)


def main(rounds):
    total = 0
    for r in range(rounds):
        out = [0] * 4
        threads = [threading.Thread(target=worker, args=(150 + 10 * i, out, i)) for i in range(4)]
        for t in threads:
            t.start()
        total += deep(300)
        for t in threads:
            t.join()
        total += sum(out)
    print(total)


main(int(sys.argv[1]) if len(sys.argv) > 1 else 25)
