"""Costs are right: exact with the test clock, truthful against the program's own timing with the
wall clock, and CPU time excludes sleeping."""
import re
import sys
import time
import unittest

from callgrind_parse import parse
from helpers import CALLTREE, PYTHON, TempDirTest, example, profile, run

TINY = "def f():\n    pass\ndef g():\n    f()\n    f()\ng()\n"


class Costs(TempDirTest):
    def test_exact_costs_with_the_counter_clock(self):
        # Events, each one clock step of 1000 ns: call <module> (t=1), call g (2), call f (3),
        # return f (4), call f (5), return f (6), return g (7), return <module> (8).
        script = self.write("tiny.py", TINY)
        out = self.path("tiny.callgrind")
        r = run([CALLTREE, "--clock", "counter", "-o", out, script])
        self.assertEqual(r.returncode, 0, r.stderr)
        cg = parse(out)
        key = {name: (name, script, "__main__") for name in ("<module>", "g", "f")}
        self.assertEqual(cg.functions[key["f"]].self_cost, [2000])
        self.assertEqual(cg.functions[key["g"]].self_cost, [3000])
        self.assertEqual(cg.functions[key["<module>"]].self_cost, [2000])
        arcs = {(a.caller[0], a.callee[0], a.call_line): (a.calls, a.inclusive) for a in cg.arcs}
        self.assertEqual(arcs, {("g", "f", 4): (1, [1000]), ("g", "f", 5): (1, [1000]),
                                ("<module>", "g", 6): (1, [5000])})
        self.assertEqual(cg.totals, [7000])
        self.assertEqual(cg.functions[key["f"]].def_line, 1)
        self.assertEqual(cg.functions[key["g"]].def_line, 3)

    def test_recursion_inclusive_time_is_not_inflated(self):
        # recursion.py times fib(25) itself with time.perf_counter and prints it. Raw times: that
        # measurement includes the profiler's own cost, which the bias correction takes out.
        out = self.path("fib.callgrind")
        start = time.perf_counter()
        r = profile(["--no-bias-correction", example("recursion.py"), "25"], out)
        process_ns = (time.perf_counter() - start) * 1e9
        self.assertEqual(r.returncode, 0, r.stderr)
        measured = float(re.search(r"fib_seconds=([\d.]+)", r.stdout).group(1)) * 1e9
        cg = parse(out)
        (fib,) = cg.by_name("fib")
        inclusive = cg.inclusive(fib)
        self.assertLessEqual(inclusive, measured * 1.02 + 50_000)
        self.assertGreaterEqual(inclusive, measured * 0.5)
        self.assertLess(sum(a.inclusive[0] for a in cg.arcs if a.callee == fib and a.caller == fib), inclusive)
        self.assertLessEqual(cg.totals[0], process_ns)

    def test_cpu_clock_excludes_sleep(self):
        script = self.write("sleepy.py", "import time\ndef nap():\n    time.sleep(0.3)\nnap()\n")
        totals = {}
        for clock in ("wall", "cpu"):
            out = self.path(clock + ".callgrind")
            r = run([CALLTREE, "--clock", clock, "-o", out, script])
            self.assertEqual(r.returncode, 0, r.stderr)
            totals[clock] = parse(out).totals[0]
        self.assertGreater(totals["wall"], 300_000_000)
        self.assertLess(totals["cpu"], 50_000_000)

    def test_program_that_swaps_the_profiler_stays_balanced(self):
        # Code that saves, replaces and restores the profiler (as test runners and debuggers do),
        # generators abandoned half-way, exceptions through many frames, a subprocess of
        # sys.executable: nothing is lost or double counted and no time is absurd.
        # The clock starts before the imports, which the module's inclusive time covers (slow
        # under the sanitizers).
        script = self.write("swap.py", """import time
start = time.perf_counter()
import subprocess, sys
def hidden():
    return 1
def seen(n):
    return n
def gen():
    yield 1
    yield 2
def boom(n):
    if n == 0:
        raise ValueError
    boom(n - 1)
import cProfile
old = sys.getprofile()
other = cProfile.Profile()
other.enable()  # 3.11: replaces calltree's C hook (sys.setprofile(f) would be chained instead)
hidden()
other.disable()
sys.setprofile(old)
for i in range(5):
    seen(i)
g = gen(); next(g); del g
try:
    boom(30)
except ValueError:
    pass
out = subprocess.run([sys.executable, "-c", "import sys; print(sys.executable)"], capture_output=True, text=True)
print(out.stdout.strip())
print(time.perf_counter() - start)
""")
        # Raw times: the sum of self costs is then exactly the time the roots took. With the
        # profiler's cost per event taken out, a function whose calls all came out shorter than
        # that cost counts as 0, not below: the sum may exceed the root's time by those
        # remainders. The imports call a few thousand functions a few times each; under the
        # sanitizers, whose per-event cost varies most, the remainders reached 0.7% of the run
        # (2 runs in 8), so 2% is allowed there; the raw run keeps the exact check.
        for options, slack in ((["--no-bias-correction"], 0.0), ([], 0.02)):
            with self.subTest(options=options):
                self.check_swap(script, options, slack)

    def cprofile_calls_of_abandoned_generator(self):
        script = self.write("abandoned.py", "import cProfile\ndef gen():\n    yield 1\n    yield 2\n"
                                            "def main():\n    g = gen(); next(g); del g\n"
                                            "p = cProfile.Profile()\np.runcall(main)\np.create_stats()\n"
                                            "print(sum(v[0] for k, v in p.stats.items() if k[2] == 'gen'))\n")
        r = run([PYTHON, script])
        self.assertEqual(r.returncode, 0, r.stderr)
        return int(r.stdout)

    def check_swap(self, script, options, slack):
        out = self.path("swap.callgrind")
        r = run([CALLTREE, *options, "-o", out, script])
        self.assertEqual(r.returncode, 0, r.stderr)
        executable, elapsed = r.stdout.split()
        self.assertEqual(executable, PYTHON)
        cg = parse(out)
        calls = {k[0]: f.calls_in for k, f in cg.functions.items() if k[1] == script}
        if sys.version_info >= (3, 12):
            # cProfile is a sys.monitoring tool of its own beside calltree's profile hook.
            self.assertEqual(calls["hidden"], 1)
        else:
            # cProfile's C hook replaced calltree's until sys.setprofile put it back.
            self.assertNotIn("hidden", calls)
        self.assertEqual(calls["seen"], 5)
        self.assertEqual(calls["boom"], 31)
        # next(g), then the GeneratorExit thrown in by del g: 3.13 closes a generator suspended
        # outside any try without running it again. As many as this version's cProfile counts.
        self.assertEqual(calls["gen"], self.cprofile_calls_of_abandoned_generator())
        module = ("<module>", script, "__main__")
        self.assertLessEqual(cg.inclusive(module), float(elapsed) * 1e9 * 1.05 + 20_000_000)
        # Each cost is converted from clock ticks and rounded on its own: up to 1 ns apart each.
        self.assertLessEqual(cg.totals[0], cg.inclusive(module) * (1 + slack) + len(cg.functions))


if __name__ == "__main__":
    unittest.main()
