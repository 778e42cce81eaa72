"""Call counts under calltree equal cProfile's for the same program, and every file we write is
accepted by valgrind's callgrind_annotate."""
import os
import pstats
import re
import unittest

from callgrind_parse import parse
from helpers import PYTHON, TempDirTest, example, profile, run

# threads.py is checked separately: cProfile sees only the main thread.
SINGLE_THREADED = ["hello.py", "recursion.py", "mutual_recursion.py", "classes.py", "generators.py",
                   "async_tasks.py", "exceptions.py", "closures_decorators.py", "comprehensions.py",
                   "numpy_work.py"]


def short_name(name):
    """Our qualname (maybe with a ':<line>' suffix) -> cProfile's co_name."""
    name = re.sub(r":\d+(#\d+)?$", "", name)
    if name.startswith("<") and "." not in name:
        return name
    return re.sub(r"^.*\.(?=[^.]*$)", "", name) if not name.endswith(">") or ".<" in name else name


class CallCounts(TempDirTest):
    def ours_and_cprofile(self, script):
        out, prof = self.path("out.callgrind"), self.path("out.prof")
        r = profile([script], out, cwd=self.tmp)
        self.assertIn(r.returncode, (0,), r.stderr)
        r = run([PYTHON, "-m", "cProfile", "-o", prof, script], cwd=self.tmp)
        self.assertEqual(r.returncode, 0, r.stderr)
        return parse(out), pstats.Stats(prof).stats

    def python_counts(self, cg, script):
        counts = {}
        for (name, file, _), fn in cg.functions.items():
            if file == script:
                is_root = not any(a.callee == (name, file, _) for a in cg.arcs)
                key = (fn.def_line, short_name(name))
                counts[key] = counts.get(key, 0) + (fn.calls_in or (1 if is_root else 0))
        return counts

    def test_python_functions_match_cprofile(self):
        for name in SINGLE_THREADED:
            script = example(name)
            with self.subTest(example=name):
                cg, stats = self.ours_and_cprofile(script)
                theirs = {(line, fname): v[1] for (file, line, fname), v in stats.items() if file == script}
                self.assertTrue(theirs, "cProfile saw no function of the example")
                self.assertEqual(self.python_counts(cg, script), theirs)

    def test_builtins_called_from_the_program_match_cprofile(self):
        for name in ["mutual_recursion.py", "comprehensions.py", "hello.py", "classes.py"]:
            script = example(name)
            with self.subTest(example=name):
                cg, stats = self.ours_and_cprofile(script)
                theirs = {}
                for (file, _, fname), v in stats.items():
                    if file != "~":
                        continue
                    n = sum(c[0] for caller, c in v[4].items() if caller[0] == script)
                    if n:
                        theirs[fname] = n
                ours = {}
                for a in cg.arcs:
                    if a.caller[1] == script and a.callee[1] == "~":
                        ours[a.callee[0]] = ours.get(a.callee[0], 0) + a.calls
                self.assertEqual(ours, theirs)

    def test_threads_are_profiled(self):
        script = example("threads.py")
        out = self.path("t.callgrind")
        r = profile([script], out)
        self.assertEqual(r.returncode, 0, r.stderr)
        cg = parse(out)
        calls = {name: fn.calls_in for (name, file, _), fn in cg.functions.items() if file == script}
        self.assertEqual(calls["work"], 4)
        self.assertEqual(calls["square"], 4 * 2000)
        # A genexpr counts once per resumption: 2000 values + the final StopIteration, per thread.
        self.assertEqual(calls["work.<locals>.<genexpr>"], 4 * 2001)

    def test_callgrind_annotate_reads_every_file(self):
        for name in SINGLE_THREADED + ["threads.py"]:
            with self.subTest(example=name):
                out = self.path(name + ".callgrind")
                r = profile([example(name)], out)
                self.assertEqual(r.returncode, 0, r.stderr)
                a = run(["callgrind_annotate", out])
                self.assertEqual(a.returncode, 0, a.stderr)
                self.assertIn("PROGRAM TOTALS", a.stdout)
                cg = parse(out)
                total = sum(f.self_cost[0] for f in cg.functions.values() if f.self_cost)
                self.assertEqual(cg.totals, [total])
                self.assertIn(f"{total:,}", a.stdout)
        # The heaviest function of recursion.py is fib, and callgrind_annotate says so.
        out = self.path("fib.callgrind")
        profile([example("recursion.py"), "20"], out)
        listing = run(["callgrind_annotate", out]).stdout
        first = re.search(r"^\s*[\d,]+ \([\d.]+%\)\s+(\S+):(\S+) \[", listing.split("file:function")[1], re.M)
        self.assertEqual(first.group(2), "fib")


if __name__ == "__main__":
    unittest.main()
