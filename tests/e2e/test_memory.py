"""calltree --memory against ground truth: programs in tests/e2e/memory know the true sizes of
what their marked lines allocate, keep, copy and hold at the peak (sys.getsizeof, tracemalloc
unprofiled), and the profile must agree (issue 8: AllocBytes 1%, LeakBytes 5%, CopyBytes 2%,
PeakBytes 5%); the program must behave exactly as under python3. Run with -v to see figures."""
import json
import os
import re
import signal
import subprocess
import unittest

from callgrind_parse import parse
from helpers import CALLTREE, PYTHON, TempDirTest, run, skip_unless_numpy

HERE = os.path.dirname(os.path.abspath(__file__))
PROGRAMS = os.path.join(HERE, "memory")
EVENTS = ["AllocBytes", "Allocs", "LeakBytes", "PeakBytes", "CopyBytes"]
ENV = dict(os.environ, OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1")


def program(name):
    return os.path.join(PROGRAMS, name)


def marked_line(name, mark):
    """The line number of the line of program `name` marked `# LINE <mark>`."""
    with open(program(name)) as f:
        return next(i for i, line in enumerate(f, 1) if line.rstrip().endswith("# LINE " + mark))


def line_costs(profile, path, line, function="<module>"):
    """{event: cost at `line` of `function` in file `path`} as KCachegrind's source view shows
    it: self cost at the line plus the inclusive cost of the calls made there."""
    out = dict.fromkeys(profile.events, 0)
    for (name, file, _ob), fn in profile.functions.items():
        if file == path and name == function:
            for e, v in zip(profile.events, fn.self_by_line.get(line, [])):
                out[e] += v
    for arc in profile.arcs:
        if arc.caller[1] == path and arc.caller[0] == function and arc.call_line == line and arc.callee != arc.caller:
            for e, v in zip(profile.events, arc.inclusive):
                out[e] += v
    return out


def function_costs(profile, path, function):
    """{event: inclusive cost of `function` in file `path`}: its self cost plus its calls'."""
    out = dict.fromkeys(profile.events, 0)
    for (name, file, _ob), fn in profile.functions.items():
        if file == path and name == function:
            for e, v in zip(profile.events, fn.self_cost):
                out[e] += v
    for arc in profile.arcs:
        if arc.caller[1] == path and arc.caller[0] == function and arc.callee != arc.caller:
            for e, v in zip(profile.events, arc.inclusive):
                out[e] += v
    return out


def totals(profile):
    out = dict.fromkeys(profile.events, 0)
    for fn in profile.functions.values():
        for e, v in zip(profile.events, fn.self_cost):
            out[e] += v
    return out


def desc_number(profile, key, pattern=r"(\d+)"):
    m = re.search(pattern, profile.desc[key])
    return [int(g) for g in m.groups()]


_available = None


def memory_mode_available():
    """Sanitizer builds refuse --memory (their runtime replaces malloc): the suite skips there."""
    global _available
    if _available is None:
        res = run([CALLTREE, "--memory", "-o", os.devnull, "-c", "pass"])
        _available = "not available" not in res.stderr
    return _available


class Memory(TempDirTest):
    def setUp(self):
        super().setUp()
        if not memory_mode_available():
            self.skipTest("this calltree build has no --memory (sanitizer build)")

    def profile(self, name, args=(), extra=(), sample=False):
        skip_unless_numpy(self, program(name))
        out = self.path(name + ".callgrind")
        cmd = [CALLTREE, *(["--sample"] if sample else []), "--memory", *extra, "-o", out, program(name), *args]
        res = run(cmd, env=ENV, timeout=300, cwd=self.tmp)
        self.assertEqual(res.returncode, 0, res.stderr)
        return res, parse(out)

    def assertWithin(self, measured, truth, tolerance, what):
        error = (measured - truth) / truth
        print(f"\n  {what}: {measured} vs {truth} ({error:+.3%}, allowed {tolerance:.0%})", end="")
        self.assertLessEqual(abs(error), tolerance, f"{what}: {measured} vs true {truth}")


class Accuracy(Memory):
    def sizes(self, extra):
        truth_file = self.path("truth.json")
        _, p = self.profile("sizes.py", [truth_file], extra)
        with open(truth_file) as f:
            truth = json.load(f)
        path = program("sizes.py")
        return p, path, truth

    def check_sizes(self, extra, label):
        p, path, truth = self.sizes(extra)
        for mark in ("keep", "temporary", "strs"):
            c = line_costs(p, path, marked_line("sizes.py", mark), "temporary" if mark == "temporary" else "<module>")
            self.assertWithin(c["AllocBytes"], truth[mark], 0.01, f"{label} AllocBytes {mark}")
        keep = line_costs(p, path, marked_line("sizes.py", "keep"))
        strs = line_costs(p, path, marked_line("sizes.py", "strs"))
        temporary = line_costs(p, path, marked_line("sizes.py", "temporary"), "temporary")
        self.assertWithin(keep["LeakBytes"], truth["keep"], 0.01, f"{label} LeakBytes keep")
        self.assertWithin(strs["LeakBytes"], truth["strs"], 0.02, f"{label} LeakBytes strs")
        self.assertLess(temporary["LeakBytes"], truth["temporary"] * 0.01, "the numpy temporary is no leak")
        return p

    def test_alloc_bytes_default_rate(self):
        # 500k small str: 48 MB in ~1500 samples at the default rate would have a 2.6% standard
        # error (sqrt(rate / bytes)); 1% needs a rate of 256 bytes (0.23%). Large ones are exact.
        self.check_sizes(["--memory-rate", "256"], "rate 256")

    def test_alloc_bytes_every_allocation(self):
        p = self.check_sizes(["--memory-rate", "1"], "rate 1")
        # Every allocation the hooks saw is in the profile, exactly.
        seen_allocs, seen_bytes = desc_number(p, "Memory hooks saw", r"(\d+) allocations of (\d+) bytes")
        t = totals(p)
        self.assertEqual(t["AllocBytes"], seen_bytes)
        self.assertEqual(t["Allocs"], seen_allocs)

    def test_large_allocations_at_default_rate(self):
        _, p = self.profile("sizes.py", [self.path("truth.json")])
        with open(self.path("truth.json")) as f:
            truth = json.load(f)
        for mark in ("keep", "temporary"):
            c = line_costs(p, program("sizes.py"), marked_line("sizes.py", mark), "temporary" if mark == "temporary" else "<module>")
            self.assertWithin(c["AllocBytes"], truth[mark], 0.01, f"default rate AllocBytes {mark}")
        # The file's total is the weighted sampled total the desc line reports.
        (sampled,) = desc_number(p, "Memory allocated")
        self.assertWithin(totals(p)["AllocBytes"], sampled, 0.01, "sum of AllocBytes vs sampled total")
        (_, seen_bytes) = desc_number(p, "Memory hooks saw", r"(\d+) allocations of (\d+) bytes")
        self.assertWithin(totals(p)["AllocBytes"], seen_bytes, 0.05, "sampled total vs bytes the hooks saw")

    def test_leak_loop(self):
        truth_file = self.path("truth.json")
        _, p = self.profile("leak_loop.py", [truth_file])
        with open(truth_file) as f:
            truth = json.load(f)["append"]
        c = line_costs(p, program("leak_loop.py"), marked_line("leak_loop.py", "append"), "grow")
        self.assertWithin(c["LeakBytes"], truth, 0.05, "LeakBytes of the append loop")
        self.assertWithin(c["AllocBytes"], truth, 0.05, "AllocBytes of the append loop")

    def test_small_objects_freed_or_kept(self):
        """Small blocks come from pymalloc, whose frees calltree does not wrap: a sampled one is
        allocated from malloc instead, so its free is still seen. Freed strings are no leak; kept
        ones are, at both the default rate and every allocation."""
        for rate in ([], ["--memory-rate", "1"]):
            with self.subTest(rate=rate):
                truth_file = self.path("truth.json")
                _, p = self.profile("small_churn.py", [truth_file], extra=rate)
                with open(truth_file) as f:
                    truth = json.load(f)["keep"]
                path = program("small_churn.py")
                # The list comprehension is a function of its own, called at the marked line.
                churn = line_costs(p, path, marked_line("small_churn.py", "churn"), "churn")
                keep = line_costs(p, path, marked_line("small_churn.py", "keep"), "keep")
                self.assertGreater(churn["AllocBytes"], 3 * truth, "the churn loop allocates")
                self.assertLess(churn["LeakBytes"], 0.01 * churn["AllocBytes"], "freed small objects are no leak")
                self.assertWithin(keep["LeakBytes"], truth, 0.05, "LeakBytes of the kept strings")

    def test_same_counts_over_any_python_allocator(self):
        """PYTHONMALLOC=malloc and debug put other allocators under the PyMem/PyObject domains:
        every allocation is still counted once (malloc underneath must not count it again)."""
        code = "x = [str(i) * 3 for i in range(100000)]\ndel x\ny = [bytes(100) for _ in range(1000)]\n"
        script = self.write("alloc.py", code)
        counts = {}
        for allocator in ("pymalloc", "malloc", "debug"):
            out = self.path(allocator + ".callgrind")
            res = run([CALLTREE, "--memory", "--memory-rate", "1", "-o", out, script],
                      env=dict(ENV, PYTHONMALLOC=allocator), cwd=self.tmp)
            self.assertEqual(res.returncode, 0, res.stderr)
            (counts[allocator],) = desc_number(parse(out), "Memory allocated", r"in (\d+) allocations")
        for allocator in ("malloc", "debug"):
            self.assertWithin(counts[allocator], counts["pymalloc"], 0.01, f"allocations counted under {allocator}")

    def test_copies(self):
        _, p = self.profile("copies.py")
        path = program("copies.py")
        copy_bytes = line_costs(p, path, marked_line("copies.py", "copy_bytes"), "copy_bytes")["CopyBytes"]
        copy_array = line_costs(p, path, marked_line("copies.py", "copy_array"), "copy_array")["CopyBytes"]
        convert = line_costs(p, path, marked_line("copies.py", "convert"), "convert")["CopyBytes"]
        self.assertWithin(copy_bytes, 50 * 1024 * 1024, 0.02, "CopyBytes of bytes(bytearray(50 MiB))")
        self.assertWithin(copy_array, 8 * 1024 * 1024, 0.02, "CopyBytes of ndarray.copy() of 8 MiB")
        print(f"\n  CopyBytes of np.array(list) of 8 MiB: {convert}", end="")
        self.assertLess(convert, 8 * 1024 * 1024 * 0.01, "an element-by-element conversion copies nothing")

    def test_peak(self):
        truth_file = self.path("peak.json")
        res = run([PYTHON, program("peak.py"), truth_file], env=ENV, timeout=300)
        self.assertEqual(res.returncode, 0, res.stderr)
        with open(truth_file) as f:
            truth = json.load(f)["peak"]
        _, p = self.profile("peak.py")
        path = program("peak.py")
        in_build = function_costs(p, path, "build")["PeakBytes"]
        everywhere = totals(p)["PeakBytes"]
        self.assertWithin(in_build, truth, 0.05, "PeakBytes of build() vs tracemalloc's peak")
        self.assertGreater(in_build, 0.9 * everywhere, "the peak is in build()")
        self.assertEqual(function_costs(p, path, "later")["PeakBytes"], 0)
        (footprint,) = desc_number(p, "Memory peak footprint")
        self.assertWithin(everywhere, footprint, 0.01, "sum of PeakBytes vs the peak footprint")

    def test_with_sampler(self):
        _, p = self.profile("leak_loop.py", [self.path("truth.json")], sample=True)
        with open(self.path("truth.json")) as f:
            truth = json.load(f)["append"]
        self.assertIn("Wall", p.events)
        c = line_costs(p, program("leak_loop.py"), marked_line("leak_loop.py", "append"), "grow")
        self.assertWithin(c["LeakBytes"], truth, 0.05, "--sample --memory LeakBytes")


class Behaviour(Memory):
    def test_output_and_status_as_python3(self):
        code = "import sys\nx = [bytes(100) for _ in range(1000)]\nprint('out', len(x))\nprint('err', file=sys.stderr)\nsys.exit(3)\n"
        script = self.write("status.py", code)
        plain = run([PYTHON, script])
        profiled = run([CALLTREE, "--memory", "-o", self.path("o.callgrind"), script])
        self.assertEqual(profiled.returncode, plain.returncode)
        self.assertEqual(profiled.stdout, plain.stdout)
        self.assertTrue(profiled.stderr.startswith(plain.stderr), profiled.stderr)

    def test_fork_child_works(self):
        code = (
            "import os\n"
            "data = [bytes(1000) for _ in range(1000)]\n"
            "pid = os.fork()\n"
            "if pid == 0:\n"
            "    more = [bytearray(100000) for _ in range(100)]\n"
            "    print('child', len(more), flush=True)\n"
            "    os._exit(7)\n"
            "_, status = os.waitpid(pid, 0)\n"
            "print('parent', os.waitstatus_to_exitcode(status))\n"
        )
        script = self.write("fork.py", code)
        out = self.path("fork.callgrind")
        res = run([CALLTREE, "--memory", "--memory-rate", "1", "-o", out, script])
        self.assertEqual(res.returncode, 0, res.stderr)
        self.assertEqual(sorted(res.stdout.split("\n")), sorted("child 100\nparent 7\n".split("\n")))
        self.assertEqual(sorted(os.listdir(self.tmp)), ["fork.callgrind", "fork.py"])  # the child wrote nothing
        parse(out)

    def test_many_forks_while_sampling(self):
        # The sampler's thread walks the thread list under the interpreter's lock; a fork at that
        # moment left the child waiting for it forever (about one run in two of this program
        # before the fix). Each run gets its own session so a hung child can be killed.
        for extra in (["--sample"], ["--sample", "--memory"]):
            with self.subTest(options=extra):
                cmd = [CALLTREE, *extra, "--interval", "0.1ms", "-o", self.path("forks.callgrind"),
                       program("forks.py"), "600"]
                proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                        start_new_session=True)
                try:
                    out, err = proc.communicate(timeout=90)
                except subprocess.TimeoutExpired:
                    os.killpg(proc.pid, signal.SIGKILL)
                    proc.communicate()
                    self.fail(f"{' '.join(extra)}: a forked child hung")
                self.assertEqual((proc.returncode, out), (0, "forks done\n"), err)

    def test_threads_allocating_concurrently(self):
        code = (
            "import threading\n"
            "def work(n):\n"
            "    kept = []\n"
            "    for i in range(20000):\n"
            "        kept.append(bytes(i % 3000))\n"
            "        if len(kept) > 100: kept.clear()\n"
            "    results[n] = len(kept)\n"
            "results = {}\n"
            "threads = [threading.Thread(target=work, args=(n,)) for n in range(8)]\n"
            "for t in threads: t.start()\n"
            "for t in threads: t.join()\n"
            "print(sorted(results.items()))\n"
        )
        script = self.write("threads.py", code)
        plain = run([PYTHON, script])
        for rate in ("1", "4KiB"):
            with self.subTest(rate=rate):
                out = self.path(f"threads{rate}.callgrind")
                res = run([CALLTREE, "--memory", "--memory-rate", rate, "-o", out, script])
                self.assertEqual(res.returncode, 0, res.stderr)
                self.assertEqual(res.stdout, plain.stdout)
                p = parse(out)
                self.assertGreater(function_costs(p, script, "work")["AllocBytes"], 0)

    def test_foreign_allocator_and_old_blocks(self):
        # libc's own malloc/free reached through ctypes bypass the hooks (a program with its own
        # allocator), blocks from before profiling are freed during it, and blocks cross
        # between the two: nothing crashes, the output is python3's.
        code = (
            "import ctypes, gc, sys\n"
            "libc = ctypes.CDLL('libc.so.6')\n"
            "libc.malloc.restype = ctypes.c_void_p\n"
            "libc.free.argtypes = [ctypes.c_void_p]\n"
            "old = [bytes(5000) for _ in range(2000)]\n"
            "blocks = [libc.malloc(100000) for _ in range(200)]\n"
            "del old; gc.collect()\n"
            "for b in blocks: libc.free(b)\n"
            "buf = ctypes.create_string_buffer(1 << 20)\n"
            "del buf\n"
            "print('done', len(blocks))\n"
        )
        script = self.write("foreign.py", code)
        plain = run([PYTHON, script])
        for rate in ("1", "64KiB"):
            with self.subTest(rate=rate):
                res = run([CALLTREE, "--memory", "--memory-rate", rate, "-o", self.path(f"f{rate}.callgrind"), script])
                self.assertEqual((res.returncode, res.stdout), (plain.returncode, plain.stdout), res.stderr)

    def test_functions_merge_with_the_tracers(self):
        # Every function with memory costs is also one the tracer timed: same (name, file, ob).
        _, p = self.profile("leak_loop.py", [self.path("t.json")])
        time, leak = p.events.index("Time"), p.events.index("LeakBytes")
        grow = [k for k in p.functions if k[0] == "grow"]
        self.assertEqual(len(grow), 1, grow)
        fn = p.functions[grow[0]]
        self.assertGreater(fn.self_cost[time], 0)
        self.assertGreater(fn.self_cost[leak], 0)

    def test_callgrind_annotate_reads_it(self):
        _, p = self.profile("leak_loop.py", [self.path("t.json")])
        res = run(["callgrind_annotate", self.path("leak_loop.py.callgrind")])
        self.assertEqual(res.returncode, 0, res.stderr)
        self.assertIn("LeakBytes", res.stdout)
        self.assertIn("leak_loop.py:grow", res.stdout)

    def test_bad_rates(self):
        script = self.write("ok.py", "print('never runs')\n")
        for bad in ("abc", "0", "12XB", "-5", "2GiB", ""):
            with self.subTest(rate=bad):
                res = run([CALLTREE, "--memory", "--memory-rate", bad, "-o", self.path("x"), script])
                self.assertEqual(res.returncode, 2)
                self.assertEqual(res.stdout, "")
                self.assertEqual(len(res.stderr.strip().splitlines()), 1, res.stderr)
                self.assertTrue(res.stderr.startswith("calltree: "), res.stderr)
        res = run([CALLTREE, "--memory", "--format", "pstats", "-o", self.path("x"), script])
        self.assertEqual(res.returncode, 2)
        self.assertEqual(len(res.stderr.strip().splitlines()), 1, res.stderr)


if __name__ == "__main__":
    unittest.main()
