"""The Python API (`import calltree`, python/): blocks, decorators, Profile, convert, visualize,
the IPython magics and `python3 -m calltree`, each run in a fresh python3 with the build tree's
package (build/python) on sys.path, and compared with what the calltree command writes."""
import os
import re
import shutil
import subprocess
import textwrap
import unittest

from callgrind_parse import parse
from helpers import CALLTREE, PYTHON, SRC, TempDirTest, example, run

BUILD = os.path.dirname(os.path.dirname(os.path.dirname(CALLTREE))) if CALLTREE else ""
PACKAGE_DIR = os.path.join(BUILD, "python")
SANITIZED = os.environ.get("CALLTREE_SANITIZED", "0") not in ("0", "", "OFF", "FALSE")


def base(name):
    return name.split(":")[0]


class ApiTest(TempDirTest):
    def setUp(self):
        super().setUp()
        if SANITIZED or not os.path.isdir(os.path.join(PACKAGE_DIR, "calltree")):
            self.skipTest("no Python package in this build (sanitizer builds have none)")

    def env(self, **extra):
        env = dict(os.environ, PYTHONPATH=PACKAGE_DIR, **extra)
        return env

    def script(self, name, text):
        path = self.path(name)
        with open(path, "w") as f:
            f.write(textwrap.dedent(text))
        return path

    def python(self, code_or_path, *args, expect=0, **kwargs):
        cmd = [PYTHON, code_or_path, *args] if code_or_path.endswith(".py") else [PYTHON, "-c", code_or_path, *args]
        r = run(cmd, env=kwargs.pop("env", self.env()), cwd=kwargs.pop("cwd", self.tmp), **kwargs)
        if expect is not None:
            self.assertEqual(r.returncode, expect, r.stdout + r.stderr)
        return r

    def names(self, cg):
        return {base(name) for name, _, _ in cg.functions}

    def calls(self, cg, name):
        """Calls into the function named `name` (one function of that name expected)."""
        keys = [k for k in cg.functions if base(k[0]) == name]
        self.assertEqual(len(keys), 1, (name, keys))
        return cg.functions[keys[0]].calls_in

    def arc_lines(self, cg, caller, callee):
        return sorted(a.call_line for a in cg.arcs if base(a.caller[0]) == caller and base(a.callee[0]) == callee)

    def api_files(self, cg):
        return [k for k in cg.functions if os.sep + "calltree" + os.sep in k[1] or "calltree" in k[2]]


class Blocks(ApiTest):
    PROGRAM = """\
        import calltree, sys

        def leaf(i):
            return i * 2

        def work(n):
            return sum([leaf(i) for i in range(n)])

        def before():
            return 1

        def after():
            return 2

        def handler(out):
            before()
            with calltree.profile(out) as block:
                work(100)
            after()
            return block

        block = handler(sys.argv[1])
        print(block.path)
        """

    def test_only_the_block_with_its_callers_as_roots(self):
        prog = self.script("prog.py", self.PROGRAM)
        out = self.path("block.cg")
        r = self.python(prog, out)
        self.assertEqual(r.stdout.strip(), out)
        cg = parse(out)
        names = self.names(cg)
        self.assertIn("work", names)
        self.assertNotIn("before", names)
        self.assertNotIn("after", names)
        self.assertEqual(self.calls(cg, "leaf"), 100)
        self.assertEqual(self.calls(cg, "work"), 1)
        # The callers outside the block: <module> -> handler, each once, at their call lines.
        self.assertEqual(self.arc_lines(cg, "<module>", "handler"), [22])
        self.assertEqual(self.arc_lines(cg, "handler", "work"), [18])
        self.assertEqual(self.calls(cg, "handler"), 1)
        # Nothing of the API itself: no __exit__, no stop().
        self.assertEqual(self.api_files(cg), [])
        self.assertFalse(any("stop" in k[0] or "__exit__" in k[0] or "start" in k[0] for k in cg.functions),
                         list(cg.functions))
        # Times: the roots include the block; totals are the sum of self costs.
        self.assertEqual(cg.events, ["Time"])
        self.assertGreater(cg.inclusive(next(k for k in cg.functions if k[0] == "handler")), 0)

    def test_raising_block_propagates_and_writes(self):
        prog = self.script("prog.py", """\
            import calltree, sys, traceback

            class Boom(Exception):
                pass

            def fail():
                raise Boom("unchanged")

            err = None
            try:
                with calltree.profile(sys.argv[1]):
                    fail()
            except Boom as e:
                err = e
            print(type(err).__name__, err.args[0], traceback.extract_tb(err.__traceback__)[-1].name)
            """)
        out = self.path("raised.cg")
        r = self.python(prog, out)
        self.assertEqual(r.stdout.split(), ["Boom", "unchanged", "fail"])
        cg = parse(out)
        self.assertEqual(self.calls(cg, "fail"), 1)

    def test_uncaught_exception_in_block_keeps_python3_status(self):
        prog = self.script("prog.py", """\
            import calltree, sys
            with calltree.profile(sys.argv[1]):
                raise SystemExit(3)
            """)
        out = self.path("exit.cg")
        self.python(prog, out, expect=3)
        self.assertTrue(os.path.exists(out))

    def test_decorator_one_file_per_call_and_merged(self):
        prog = self.script("prog.py", """\
            import calltree, sys

            @calltree.profile(sys.argv[1])
            def step(n):
                return sum(range(n))

            @calltree.profile(sys.argv[2])
            def merged(n):
                return len(str(n))

            @calltree.profile(sys.argv[3])
            def fib(n):
                return n if n < 2 else fib(n - 1) + fib(n - 2)

            for i in range(3):
                step(10)
                merged(i)
            print(fib(10), merged.__name__)
            """)
        per_call = self.path("step.%n.cg")
        merged = self.path("merged.cg")
        fib = self.path("fib.cg")
        r = self.python(prog, per_call, merged, fib)
        self.assertEqual(r.stdout.split(), ["55", "merged"])  # functools.wraps kept the name
        for n in (1, 2, 3):
            cg = parse(self.path("step.%d.cg" % n))
            self.assertEqual(self.calls(cg, "step"), 1)
        self.assertFalse(os.path.exists(self.path("step.4.cg")))
        cg = parse(merged)
        self.assertEqual(self.calls(cg, "merged"), 3)
        self.assertEqual(self.calls(cg, "<built-in method builtins.len>"), 3)
        self.assertEqual(self.api_files(cg), [])
        # Recursion: the outermost call records; 177 calls of fib for fib(10), as cProfile counts.
        # The recursive calls go through the decorator's wrapper, which shows (176 calls).
        cg = parse(fib)
        self.assertEqual(self.calls(cg, "fib"), 177)
        self.assertEqual(self.calls(cg, "profile.__call__.<locals>.wrapper"), 176)

    def test_nested_block_warns_and_is_part_of_the_outer(self):
        prog = self.script("prog.py", """\
            import calltree, sys, warnings

            def inner_work():
                return sum(range(10))

            warnings.simplefilter("always")
            with warnings.catch_warnings(record=True) as caught:
                with calltree.profile(sys.argv[1]):
                    with calltree.profile(sys.argv[2]) as inner:
                        inner_work()
            print(len(caught), caught[0].category.__name__, inner.path)
            print(caught[0].message)
            p = calltree.Profile()
            with calltree.profile(sys.argv[3]):
                try:
                    p.start()
                except RuntimeError as e:
                    print("RuntimeError:", e)
            """)
        outer, inner = self.path("outer.cg"), self.path("inner.cg")
        r = self.python(prog, outer, inner, self.path("third.cg"))
        lines = r.stdout.splitlines()
        self.assertEqual(lines[0], "1 RuntimeWarning None")
        self.assertIn("another profile is recording", lines[1])
        self.assertIn("RuntimeError: calltree: a profile is already recording", lines[2])
        self.assertFalse(os.path.exists(inner))
        self.assertEqual(self.calls(parse(outer), "inner_work"), 1)

    def test_block_in_a_thread(self):
        prog = self.script("prog.py", """\
            import calltree, sys, threading, time, warnings

            def thread_work():
                return sum(range(1000))

            def main_thread_work():
                return sorted(range(1000))

            def child():
                return len("started inside the block")

            started = threading.Event()
            done = threading.Event()

            def worker():
                with calltree.profile(sys.argv[1]):
                    started.set()
                    thread_work()
                    t = threading.Thread(target=child)
                    t.start(); t.join()
                    done.wait(10)

            t = threading.Thread(target=worker)
            t.start()
            started.wait(10)
            main_thread_work()          # not recorded: the block is the worker's
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                with calltree.profile(sys.argv[2]):   # concurrent: warned, no file
                    pass
            done.set()
            t.join()
            print(len(caught))
            """)
        out, other = self.path("thread.cg"), self.path("other.cg")
        r = self.python(prog, out, other)
        self.assertEqual(r.stdout.strip(), "1")
        self.assertFalse(os.path.exists(other))
        cg = parse(out)
        names = self.names(cg)
        self.assertIn("thread_work", names)
        self.assertIn("child", names)  # a thread started inside the block is recorded
        self.assertNotIn("main_thread_work", names)
        # The worker's callers are its roots: Thread.run -> worker.
        self.assertEqual(self.calls(cg, "worker"), 1)

    def test_blocks_one_after_another_are_independent(self):
        prog = self.script("prog.py", """\
            import calltree, sys

            def first():
                return 1

            def second():
                return 2

            for i in range(3):
                with calltree.profile(sys.argv[1] % i):
                    first() if i == 0 else second()
            """)
        self.python(prog, self.path("seq.%d.cg"))
        self.assertIn("first", self.names(parse(self.path("seq.0.cg"))))
        for i in (1, 2):
            cg = parse(self.path("seq.%d.cg" % i))
            self.assertNotIn("first", self.names(cg))
            self.assertEqual(self.calls(cg, "second"), 1)

    def test_profile_start_stop_write_and_pstats(self):
        prog = self.script("prog.py", """\
            import calltree, pstats, sys

            def work():
                return [str(i) for i in range(50)]

            p = calltree.Profile(clock="cpu")
            print(p.recording)
            p.start()
            print(p.recording)
            work()
            p.stop()
            p.stop()                       # again: nothing
            print(p.write(sys.argv[1]))
            p.write(sys.argv[2], "pstats")
            s = pstats.Stats(sys.argv[2])
            print(sorted(n for (f, l, n), v in s.stats.items() if n == "work"))
            try:
                calltree.Profile(interval="1h")
            except ValueError as e:
                print("ValueError:", e)
            try:
                calltree.profile(sys.argv[1], format="pstats", sample=True)
            except ValueError as e:
                print("ValueError:", e)
            """)
        out, prof = self.path("p.cg"), self.path("p.prof")
        r = self.python(prog, out, prof)
        lines = r.stdout.splitlines()
        self.assertEqual(lines[:3], ["False", "True", out])
        self.assertEqual(lines[3], "['work']")
        self.assertTrue(lines[4].startswith("ValueError: calltree: "), lines[4])
        self.assertIn("need format='callgrind'", lines[5])
        self.assertEqual(self.calls(parse(out), "work"), 1)


class Modes(ApiTest):
    def test_sample_block(self):
        prog = self.script("prog.py", """\
            import calltree, sys, time

            def spin(seconds):
                end = time.perf_counter() + seconds
                n = 0
                while time.perf_counter() < end:
                    n += 1
                return n

            spin(0.05)   # before the block: not in it
            with calltree.profile(sys.argv[1], sample=True, interval="1ms"):
                spin(0.3)
            """)
        out = self.path("sample.cg")
        self.python(prog, out)
        cg = parse(out)
        self.assertEqual(cg.events[:3], ["Wall", "Python", "Native"])
        spin = next(k for k in cg.functions if k[0] == "spin")
        wall = cg.inclusive(spin)
        # 0.3 s of spinning in the block (the 0.05 s before it is not): 0.2 .. 0.6 s of samples.
        self.assertGreater(wall, 0.2e9)
        self.assertLess(wall, 0.6e9)

    def test_memory_block_says_what_it_cannot_see(self):
        prog = self.script("prog.py", """\
            import calltree, sys, warnings

            def allocate():
                return [bytearray(1000) for _ in range(1000)]

            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                with calltree.profile(sys.argv[1], memory=True, memory_rate=1):
                    kept = allocate()
            print(caught[0].category.__name__)
            print(caught[0].message)
            try:
                calltree.Profile(subprocesses=True)
            except ValueError as e:
                print(e)
            """)
        out = self.path("memory.cg")
        r = self.python(prog, out)
        lines = r.stdout.splitlines()
        self.assertEqual(lines[0], "RuntimeWarning")
        self.assertIn("Python objects only", lines[1])
        self.assertIn("calltree --memory", lines[1])
        self.assertIn("subprocesses=True needs the program started under the calltree command", lines[2])
        cg = parse(out)
        self.assertIn("AllocBytes", cg.events)
        self.assertIn("Python objects only", cg.desc.get("Memory seen", ""))
        alloc = cg.events.index("AllocBytes")
        allocate = next(k for k in cg.functions if base(k[0]) == "allocate")
        # 1000 bytearrays of 1000 bytes (plus their headers and the list), every one counted.
        allocated = sum(a.inclusive[alloc] for a in cg.arcs if a.callee == allocate)
        self.assertGreaterEqual(allocated, 1000 * 1000)
        self.assertLess(allocated, 1200 * 1000)
        with open(out) as f:
            self.assertIn("Copied bytes: not measured", f.read())


    def test_every_mode_again_and_again_in_one_process(self):
        # The collectors start and stop once per block: a block of each mode, three rounds, with
        # faulthandler on (the sampler's reads must not rely on a fault handler of its own).
        prog = self.script("prog.py", """\
            import calltree, faulthandler, sys, time, warnings
            warnings.simplefilter("ignore")
            faulthandler.enable()

            def spin(seconds):
                end = time.perf_counter() + seconds
                while time.perf_counter() < end:
                    pass

            def alloc():
                return [bytearray(100) for _ in range(10000)]

            for i in range(3):
                with calltree.profile(sys.argv[1] % ("s", i), sample=True):
                    spin(0.05)
                with calltree.profile(sys.argv[1] % ("t", i)):
                    spin(0.005)
                with calltree.profile(sys.argv[1] % ("m", i), memory=True):
                    kept = alloc()
                with calltree.profile(sys.argv[1] % ("sm", i), sample=True, memory=True):
                    kept = alloc()
                    spin(0.02)
            """)
        self.python(prog, self.path("%s.%d.cg"))
        for i in range(3):
            # Each sampled block names only what it saw (its own code registry).
            self.assertNotIn("alloc", self.names(parse(self.path("s.%d.cg" % i))))
            self.assertEqual(parse(self.path("s.%d.cg" % i)).events[0], "Wall")
            self.assertEqual(self.calls(parse(self.path("t.%d.cg" % i)), "spin"), 1)
            for mode in ("m", "sm"):
                cg = parse(self.path("%s.%d.cg" % (mode, i)))
                allocs = cg.totals[cg.events.index("Allocs")]
                # 10 000 bytearrays of 100 bytes, sampled every 32 KiB on average: an estimate.
                self.assertGreater(allocs, 5000, (mode, i))
                self.assertIn("alloc", self.names(cg))

    def test_a_program_replacing_the_fault_handler_during_a_sample_block(self):
        # No sigaction interposer keeps the fault guard in a running program: the sampler sees
        # the replacement at its next tick and reads by system call from then on, and says so.
        prog = self.script("prog.py", """\
            import calltree, faulthandler, sys, time

            def spin(seconds):
                end = time.perf_counter() + seconds
                while time.perf_counter() < end:
                    pass

            with calltree.profile(sys.argv[1], sample=True):
                spin(0.05)
                faulthandler.enable()
                spin(0.05)
            with calltree.profile(sys.argv[2], sample=True):
                spin(0.05)
            """)
        first, second = self.path("first.cg"), self.path("second.cg")
        self.python(prog, first, second)
        self.assertIn("the program replaced calltree's SIGSEGV/SIGBUS handler", parse(first).desc.get("Stack reads", ""))
        self.assertIn("spin", self.names(parse(second)))

    def test_under_the_command_blocks_write_nothing_and_say_so(self):
        prog = self.script("prog.py", """\
            import calltree, sys

            def work():
                return sum(range(100))

            with calltree.profile(sys.argv[1]):
                work()
            try:
                calltree.Profile().start()
            except RuntimeError as e:
                print(e)
            """)
        block, whole = self.path("block.cg"), self.path("whole.cg")
        r = run([CALLTREE, "-o", whole, prog, block], env=self.env(), cwd=self.tmp)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("RuntimeWarning: calltree: this program runs under the calltree command", r.stderr)
        self.assertIn("a Profile cannot record inside it", r.stdout)
        self.assertFalse(os.path.exists(block))
        self.assertEqual(self.calls(parse(whole), "work"), 1)


class SameAsCommand(ApiTest):
    PROGRAM = """\
        import os, sys

        class Shape:
            def __init__(self, n):
                self.n = n

            def area(self):
                return sum(side(i) for i in range(self.n))

        def side(i):
            return abs(i - 3) + len(str(i))

        def work():
            shapes = [Shape(n) for n in range(30)]
            total = 0
            for s in shapes:
                total += s.area()
            return sorted([total, max(len(str(x)) for x in range(20))])

        if os.environ.get("USE_API"):
            import calltree
            with calltree.profile(sys.argv[1], clock="counter"):
                work()
        else:
            work()
        """

    def subtree(self, cg, root):
        """Functions reachable from `root`, and the arcs among them."""
        seen, todo = set(), [k for k in cg.functions if k[0] == root]
        while todo:
            k = todo.pop()
            if k in seen:
                continue
            seen.add(k)
            todo.extend(a.callee for a in cg.arcs if a.caller == k)
        funcs = {k: (cg.functions[k].calls_in, cg.functions[k].self_cost) for k in seen}
        arcs = sorted((a.caller, a.callee, a.calls, a.call_line, tuple(a.inclusive)) for a in cg.arcs if a.caller in seen)
        return funcs, arcs

    def test_api_and_command_record_the_same(self):
        prog = self.script("prog.py", self.PROGRAM)
        api_out, cli_out = self.path("api.cg"), self.path("cli.cg")
        self.python(prog, api_out, env=self.env(USE_API="1"))
        r = run([CALLTREE, "--clock", "counter", "-o", cli_out, prog], cwd=self.tmp)
        self.assertEqual(r.returncode, 0, r.stderr)
        api, cli = parse(api_out), parse(cli_out)
        self.assertEqual(api.events, cli.events)
        api_funcs, api_arcs = self.subtree(api, "work")
        cli_funcs, cli_arcs = self.subtree(cli, "work")
        self.assertEqual(sorted(api_funcs), sorted(cli_funcs))  # same names, files, objects
        self.assertEqual({k: v[0] for k, v in api_funcs.items()}, {k: v[0] for k, v in cli_funcs.items()})
        # The counter clock advances 1000 ns per reading: with the same events, the same costs.
        self.assertEqual(api_funcs, cli_funcs)
        self.assertEqual(api_arcs, cli_arcs)

    def test_callgrind_annotate_reads_the_api_output(self):
        if not shutil.which("callgrind_annotate"):
            self.skipTest("callgrind_annotate is not installed")
        prog = self.script("prog.py", self.PROGRAM)
        out = self.path("api.cg")
        self.python(prog, out, env=self.env(USE_API="1"))
        r = run(["callgrind_annotate", out])
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("work", r.stdout)
        self.assertIn("Shape.area", r.stdout)
        self.assertRegex(r.stdout, r"Events recorded:\s+Time")


class Convert(ApiTest):
    PROGRAM = """\
        import cProfile, pstats, sys, calltree
        sys.path.insert(0, sys.argv[4])
        import hello

        prof = cProfile.Profile()
        prof.enable()
        hello.fib(15)
        hello.Document("a b c a").frequencies()
        prof.disable()
        prof.dump_stats(sys.argv[1])
        print(calltree.convert(sys.argv[1]))                       # a path: the default name
        calltree.convert(pstats.Stats(sys.argv[1]), sys.argv[2])   # a Stats object
        calltree.convert(prof, sys.argv[3])                        # a cProfile.Profile
        try:
            calltree.convert(42, "x")
        except TypeError as e:
            print("TypeError")
        """

    def test_convert_writes_what_the_command_writes(self):
        prog = self.script("prog.py", self.PROGRAM)
        prof = self.path("run.prof")
        from_stats, from_profile = self.path("stats.cg"), self.path("profile.cg")
        r = self.python(prog, prof, from_stats, from_profile, os.path.join(SRC, "examples"))
        self.assertEqual(r.stdout.split(), [prof + ".callgrind", "TypeError"])
        cli = self.path("cli.cg")
        r = run([CALLTREE, "convert", prof, "-o", cli], cwd=self.tmp)
        self.assertEqual(r.returncode, 0, r.stderr)
        with open(cli, "rb") as f:
            expected = f.read()
        # A path: byte for byte the command's file.
        with open(prof + ".callgrind", "rb") as f:
            self.assertEqual(f.read(), expected)
        # An object: the same but for the cmd: line, which names what was converted.
        def without_cmd(path):
            with open(path, "rb") as f:
                return [line for line in f.read().splitlines() if not line.startswith(b"cmd:")]
        self.assertEqual(without_cmd(from_stats), without_cmd(cli))
        self.assertEqual(without_cmd(from_profile), without_cmd(cli))
        self.assertIn("fib", self.names(parse(from_profile)))

    def test_visualize_opens_the_viewer_on_a_converted_file(self):
        bin_dir = self.path("bin")
        os.mkdir(bin_dir)
        log = self.path("viewer.log")
        fake = os.path.join(bin_dir, "kcachegrind")
        with open(fake, "w") as f:
            f.write("#!/bin/sh\necho \"$@\" > %s\n" % log)
        os.chmod(fake, 0o755)
        prog = self.script("prog.py", """\
            import cProfile, calltree, time
            prof = cProfile.Profile()
            prof.runcall(sorted, range(100))
            print(calltree.visualize(prof))
            """)
        env = self.env(PATH=bin_dir + os.pathsep + os.environ["PATH"])
        r = self.python(prog, env=env)
        path = r.stdout.strip()
        for _ in range(100):
            if os.path.exists(log) and os.path.getsize(log) > 0:
                break
            import time
            time.sleep(0.05)
        with open(log) as f:
            self.assertEqual(f.read().strip(), path)
        self.assertIn("<built-in method builtins.sorted>", {k[0] for k in parse(path).functions})
        os.unlink(path)


class RunModule(ApiTest):
    def test_python_m_calltree_is_the_command(self):
        prog = example("hello.py")
        a, b = self.path("m.cg"), self.path("cli.cg")
        via_m = run([PYTHON, "-m", "calltree", "--clock", "counter", "-o", a, prog, "x"], env=self.env(),
                              cwd=self.tmp)
        direct = run([CALLTREE, "--clock", "counter", "-o", b, prog, "x"], env=self.env(), cwd=self.tmp)
        self.assertEqual((via_m.returncode, via_m.stdout), (direct.returncode, direct.stdout), via_m.stderr)
        self.assertEqual(via_m.stderr.replace(a, b), direct.stderr)
        # cProfile's name of a C method bound to a type holds the type's address ("<built-in method
        # __new__ of type object at 0x...>"): another one each run where libpython is a shared
        # library loaded at a random address (pyenv's 3.12), the same where it is in python3.
        def calls(path):
            return {(re.sub(r" at 0x[0-9a-f]+", "", k[0]),) + k[1:]: f.calls_in for k, f in parse(path).functions.items()}
        self.assertEqual(calls(a), calls(b))
        for args in (["--version"], ["--help"], ["--interval", "1h", "--sample", prog], ["convert"]):
            via_m = run([PYTHON, "-m", "calltree", *args], env=self.env(), cwd=self.tmp)
            direct = run([CALLTREE, *args], env=self.env(), cwd=self.tmp)
            self.assertEqual((via_m.returncode, via_m.stdout, via_m.stderr),
                             (direct.returncode, direct.stdout, direct.stderr), args)

    def test_python_m_calltree_runs_this_interpreter(self):
        # The program sees the interpreter that ran -m calltree (its sys.executable).
        prog = self.script("prog.py", "import sys; print(sys.executable)\n")
        venv = self.path("venv")
        r = run([PYTHON, "-m", "venv", "--without-pip", venv])
        self.assertEqual(r.returncode, 0, r.stderr)
        vpython = os.path.join(venv, "bin", "python3")
        r = run([vpython, "-m", "calltree", "-o", self.path("v.cg"), prog], env=self.env(), cwd=self.tmp)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(r.stdout.strip(), vpython)


def _have_ipython():
    return subprocess.run([PYTHON, "-c", "import IPython"], capture_output=True).returncode == 0


@unittest.skipUnless(_have_ipython(), "IPython is not installed (Debian's python3-ipython)")
class Magics(ApiTest):
    def test_line_and_cell_magics(self):
        out1, out2 = self.path("line.cg"), self.path("cell.cg")
        # IPython's own shell, fed cells as a notebook or the terminal feeds them.
        session = self.script("session.py", """\
            import sys
            from IPython.core.interactiveshell import InteractiveShell
            ip = InteractiveShell.instance()
            cells = [
                "%%load_ext calltree",
                "def f(n):\\n    return sum(range(n)) + len(str(n))",
                "%%calltree -o %s -n 3 f(1000)",
                "%%%%calltree -o %s --clock counter\\nx = f(10)\\ny = [f(i) for i in range(5)]\\nprint('cell done', x)",
                "%%calltree",
            ]
            for cell in cells:
                result = ip.run_cell(cell)
                if not result.success:
                    sys.exit("cell failed: %%r" %% cell)
            """ % (out1, out2))
        r = run([PYTHON, session], env=self.env(), cwd=self.tmp)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertIn("Profile a statement (%calltree) or a cell", r.stdout)  # no statement: the usage
        self.assertIn("calltree: wrote %s" % out1, r.stdout)
        self.assertIn("calltree: wrote %s" % out2, r.stdout)
        self.assertIn("cell done 47", r.stdout)
        # The top lines: a header and the statement's functions.
        header = r.stdout.index("inclusive")
        self.assertIn(" f", r.stdout[header:])
        line, cell = parse(out1), parse(out2)
        self.assertEqual(self.calls(line, "f"), 1)
        self.assertEqual(self.calls(cell, "f"), 6)
        # The statement's or cell's own code is the root: none of IPython's machinery.
        self.assertFalse(any("IPython" in k[1] for k in cell.functions), list(cell.functions))
        self.assertEqual(self.api_files(cell), [])


class WrongVersion(ApiTest):
    """The package holds one _calltree per version the build made (_build_info.PYTHON_VERSIONS);
    an interpreter of any other version gets one line naming its version and those."""

    def built_versions(self):
        info = {}
        with open(os.path.join(PACKAGE_DIR, "calltree", "_build_info.py")) as f:
            exec(f.read(), info)
        return ", ".join("%d.%d" % v for v in sorted(info["PYTHON_VERSIONS"]))

    def assert_refused(self, r, python, version):
        self.assertEqual(r.returncode, 1, r.stdout + r.stderr)
        last = r.stderr.strip().splitlines()[-1]
        self.assertRegex(last, r"^ImportError: calltree was built for Python %s; this is Python %s \(%s\): "
                         % (re.escape(self.built_versions()), re.escape(version), re.escape(python)))

    def test_import_on_another_python_version_says_so(self):
        built = self.built_versions().split(", ")
        others = [(p, v) for p, v in ((os.path.expanduser("~/.pyenv/versions/%s/bin/python3" % v), v.rsplit(".", 1)[0])
                                      for v in ("3.10.13", "3.9.18", "3.13.0", "3.12.1"))
                  if os.access(p, os.X_OK) and v not in built]
        if not others:
            self.skipTest("no interpreter of a version this build has no module for")
        python, version = others[0]
        self.assert_refused(run([python, "-c", "import calltree"], env=self.env()), python, version)

    def test_package_without_this_versions_module_says_so(self):
        # The same package with every extension but the running interpreter's.
        r = self.python("import sysconfig; print(sysconfig.get_config_var('EXT_SUFFIX'))")
        own = "_calltree" + r.stdout.strip()
        copy = self.path("python")
        shutil.copytree(PACKAGE_DIR, copy, ignore=lambda d, names: [n for n in names if n == own])
        version = self.python("import sys; print('%d.%d' % sys.version_info[:2])").stdout.strip()
        r = self.python("import calltree", env=dict(os.environ, PYTHONPATH=copy), expect=None)
        self.assert_refused(r, PYTHON, version)


if __name__ == "__main__":
    unittest.main()
