"""Threads under the deterministic tracer: memory stays flat however many threads a program starts
and ends (a server with a thread per request), and a stack handed from an ended thread to a new
one neither loses nor double counts calls.
"""
import os
import textwrap
import unittest

from callgrind_parse import parse
from helpers import PYTHON, TempDirTest, profile, run

# Under AddressSanitizer freed memory sits in quarantine, so RSS says nothing there; the run
# still checks the hand-over of stacks between threads for memory errors, on fewer threads.
SANITIZED = os.environ.get("CALLTREE_SANITIZED") == "1"
THREADS = 20_000 if SANITIZED else 100_000
FUNCTIONS = 2_000

# Every function is seen before the threads start, so per-thread tables sized to all functions
# (and arcs) would cost FUNCTIONS entries per thread ever started. Prints peak RSS (KiB) after a
# warm-up and at the end: the difference is what the threads cost.
MANY_THREADS = textwrap.dedent("""
    import sys
    import threading

    THREADS, FUNCTIONS = int(sys.argv[1]), int(sys.argv[2])
    namespace = {}
    for i in range(FUNCTIONS):
        exec(f"def g{i}(x):\\n    return x + {i}\\n", namespace)
    fns = [namespace[f"g{i}"] for i in range(FUNCTIONS)]
    for g in fns:
        g(0)


    def leaf(x):
        return x * 2


    def f(i):
        leaf(i)
        fns[i % FUNCTIONS](i)
        return len(str(i))


    def peak_kib():
        with open("/proc/self/status") as status:
            return int(next(line for line in status if line.startswith("VmHWM:")).split()[1])


    def start_threads(first, last):
        for i in range(first, last):
            t = threading.Thread(target=f, args=(i,))
            t.start()
            t.join()


    WARM_UP = 1000
    start_threads(0, WARM_UP)
    warm = peak_kib()
    start_threads(WARM_UP, THREADS)
    print(warm, peak_kib())
""")

# The first thread loses the profiler inside two calls (C code takes the hook off, as a C
# extension's own profiler would: cProfile does so on 3.11 only, from 3.12 it is a
# sys.monitoring tool of its own) and ends with them open; the next thread takes over its stack
# and must start from a clean one.
ENDS_WITH_OPEN_CALLS = textwrap.dedent("""
    import ctypes
    import threading

    remove_profiler = ctypes.pythonapi.PyEval_SetProfile  # a C call: no event of its own


    def off():
        remove_profiler(None, None)


    def opened():
        off()


    def after():
        return 1


    for target in (opened, after, after):
        t = threading.Thread(target=target)
        t.start()
        t.join()
""")


def callers(cg, name):
    """{caller name: calls} of the function called `name`."""
    (key,) = cg.by_name(name)
    result = {}
    for a in cg.arcs:
        if a.callee == key:
            result[a.caller[0]] = result.get(a.caller[0], 0) + a.calls
    return result


class ShortThreads(TempDirTest):
    def test_memory_stays_flat_over_many_short_threads(self):
        script = self.write("many_threads.py", MANY_THREADS)
        args = [script, str(THREADS), str(FUNCTIONS)]
        plain = run([PYTHON, *args], timeout=600)
        self.assertEqual(plain.returncode, 0, plain.stderr)
        out = self.path("out.callgrind")
        ours = profile(args, out, timeout=600)
        self.assertEqual(ours.returncode, 0, ours.stderr)

        plain_warm, plain_end = map(int, plain.stdout.split())
        warm, end = map(int, ours.stdout.split())
        growth_mib, plain_growth_mib = (end - warm) / 1024, (plain_end - plain_warm) / 1024
        if not SANITIZED:
            self.assertLess(growth_mib, plain_growth_mib + 3,
                            f"peak RSS grew {growth_mib:.1f} MiB over {THREADS} threads (python3: {plain_growth_mib:.1f})")

        cg = parse(out)
        self.assertEqual(callers(cg, "f"), {"Thread.run": THREADS})
        self.assertEqual(callers(cg, "leaf"), {"f": THREADS})
        (g0,) = cg.by_name("g0")
        self.assertEqual(cg.functions[g0].calls_in, 1 + THREADS // FUNCTIONS)

    def test_thread_ending_with_open_calls_hands_over_a_clean_stack(self):
        script = self.write("open_calls.py", ENDS_WITH_OPEN_CALLS)
        out = self.path("out.callgrind")
        r = profile(["--clock", "counter", script], out)
        self.assertEqual(r.returncode, 0, r.stderr)
        cg = parse(out)
        self.assertEqual(callers(cg, "after"), {"Thread.run": 2})
        self.assertEqual(callers(cg, "off"), {"opened": 1})
        # The open calls end at the ended thread's last clock reading (the call of off), not
        # when the profile is written: 1000 ns after `opened` began, one event later.
        (opened,) = cg.by_name("opened")
        self.assertEqual(cg.inclusive(opened), 1000)


if __name__ == "__main__":
    unittest.main()
