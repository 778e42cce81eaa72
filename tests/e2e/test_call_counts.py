"""Call counts under calltree equal cProfile's for the same program, and every file we write is
read by valgrind's callgrind_annotate with the costs we meant.

cProfile profiles only the main thread, so threads.py is compared with cprofile_all_threads.py, a
harness that runs one cProfile.Profile per thread and merges them; every other example with
`python3 -m cProfile -o`.
"""
import os
import pstats
import re
import textwrap
import unittest

from callgrind_parse import parse
from helpers import PYTHON, TempDirTest, example, profile, run, skip_unless_numpy

SINGLE_THREADED = ["hello.py", "recursion.py", "mutual_recursion.py", "classes.py", "generators.py",
                   "async_tasks.py", "exceptions.py", "closures_decorators.py", "comprehensions.py",
                   "numpy_work.py"]
ALL_THREADS_CPROFILE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "cprofile_all_threads.py")


def co_name(name):
    """Our name (co_qualname, maybe with a ':<line>', ':<line>:<column>' or '#<n>' suffix) -> co_name."""
    return re.sub(r":\d+(:\d+)?(#\d+)?$", "", name).rsplit(".", 1)[-1]


def our_python_counts(cg, script):
    """{(first line, co_name): calls} for the functions defined in `script`."""
    counts = {}
    for key, fn in cg.functions.items():
        name, file, _ = key
        if file != script:
            continue
        calls = fn.calls_in
        if calls == 0 and name == "<module>":
            calls = 1  # the root: nobody calls it
        k = (fn.def_line, co_name(name))
        counts[k] = counts.get(k, 0) + calls
    return counts


def cprofile_python_counts(stats, script):
    return {(line, name): v[1] for (file, line, name), v in stats.items() if file == script}


class CallCounts(TempDirTest):
    def ours_and_cprofile(self, script, cprofile=("-m", "cProfile", "-o")):
        out, prof = self.path("out.callgrind"), self.path("out.prof")
        r = profile([script], out, cwd=self.tmp)
        self.assertEqual(r.returncode, 0, r.stderr)
        r = run([PYTHON, *cprofile, prof, script], cwd=self.tmp)
        self.assertEqual(r.returncode, 0, r.stderr)
        return parse(out), pstats.Stats(prof).stats

    def test_python_functions_match_cprofile(self):
        for name in SINGLE_THREADED:
            script = example(name)
            with self.subTest(example=name):
                skip_unless_numpy(self, script)
                cg, stats = self.ours_and_cprofile(script)
                theirs = cprofile_python_counts(stats, script)
                self.assertGreater(len(theirs), 1, "cProfile saw no function of the example")
                self.assertEqual(our_python_counts(cg, script), theirs)

    def test_worker_thread_functions_match_cprofile_of_every_thread(self):
        script = example("threads.py")
        cg, stats = self.ours_and_cprofile(script, cprofile=(ALL_THREADS_CPROFILE,))
        theirs = cprofile_python_counts(stats, script)
        self.assertEqual(theirs[(9, "work")], 4, "the harness missed the worker threads")
        self.assertEqual(our_python_counts(cg, script), theirs)

    def test_builtins_called_from_the_program_match_cprofile(self):
        compared = set()
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
                compared |= ours.keys()
        for builtin in ("<built-in method builtins.len>", "<method 'append' of 'list' objects>",
                        "<built-in method builtins.sorted>", "<built-in method builtins.isinstance>"):
            self.assertIn(builtin, compared)

    def test_callers_after_a_c_method_that_called_back_match_cprofile(self):
        # 3.12+ gives a C method's call and return events a bound method object each, at another
        # address when the method called back into Python (list.sort's key) or blocked while other
        # threads ran (a lock's acquire): calltree kept such a call open, and charged what its
        # caller called next to it. (cProfile's callers are not compared for the thread: from
        # 3.12 one cProfile stack serves every thread.)
        script = self.write("callbacks.py", textwrap.dedent("""
            import threading

            def key(x):
                return [x]

            def after():
                pass

            def sort_then_call():
                for _ in range(3):
                    values = list(range(10))
                    values.sort(key=key)
                    after()

            def wait_then_call(event):
                event.wait()
                after()

            sort_then_call()
            event = threading.Event()
            t = threading.Thread(target=wait_then_call, args=(event,))
            t.start()
            garbage = [[i] for i in range(1000)]
            event.set()
            t.join()
        """))
        cg, stats = self.ours_and_cprofile(script)
        theirs = {}
        for (file, _, name), v in stats.items():
            if file == script and name in ("key", "after"):
                for caller, c in v[4].items():
                    theirs[(caller[2], name)] = theirs.get((caller[2], name), 0) + c[0]
        ours = {}
        for a in cg.arcs:
            if a.callee[1] == script and co_name(a.callee[0]) in ("key", "after"):
                caller = a.caller[0] if a.caller[1] == "~" else co_name(a.caller[0])
                ours[(caller, co_name(a.callee[0]))] = ours.get((caller, co_name(a.callee[0])), 0) + a.calls
        main_thread = {("<method 'sort' of 'list' objects>", "key"): 30, ("sort_then_call", "after"): 3}
        self.assertEqual({k: theirs.get(k) for k in main_thread}, main_thread)
        self.assertEqual(ours, {**main_thread, ("wait_then_call", "after"): 1})

def annotate_listing(path):
    """callgrind_annotate's function listing: {(file, name): self cost}."""
    r = run(["/usr/bin/callgrind_annotate", "--threshold=100", "--auto=no", path])
    if r.returncode != 0:
        raise AssertionError(f"callgrind_annotate failed on {path}: {r.stderr}")
    listing = {}
    for m in re.finditer(r"^\s*([\d,]+) \(\s*[\d.]+%\)\s+([^:\n]*):(.*?)(?: \[[^\]\n]*\])?$",
                         r.stdout.split("file:function", 1)[1], re.M):
        listing[(m.group(2), m.group(3))] = int(m.group(1).replace(",", ""))
    return r.stdout, listing


class CallgrindAnnotate(TempDirTest):
    def test_reads_every_file_with_our_costs(self):
        for name in SINGLE_THREADED + ["threads.py"]:
            with self.subTest(example=name):
                skip_unless_numpy(self, example(name))
                out = self.path(name + ".callgrind")
                # Raw times: with the profiler's cost per event taken out, a function whose every
                # call is shorter than that cost has a self cost of 0, which callgrind_annotate
                # does not list.
                r = profile(["--no-bias-correction", example(name)], out)
                self.assertEqual(r.returncode, 0, r.stderr)
                text, listing = annotate_listing(out)
                cg = parse(out)
                total = sum(f.self_cost[0] for f in cg.functions.values() if f.self_cost)
                self.assertEqual(cg.totals, [total])
                self.assertRegex(text, rf"{total:,} \(100.0%\)\s+PROGRAM TOTALS")
                ours = {}
                for (fname, file, _), fn in cg.functions.items():
                    if fn.self_cost and fn.self_cost[0]:
                        ours[(file, fname)] = ours.get((file, fname), 0) + fn.self_cost[0]
                self.assertEqual(listing, ours)
                # Every function of the example that ran is listed under the name we gave it.
                own = {fname for (fname, file, _) in cg.functions if file == example(name)}
                self.assertGreater(len(own), 1)
                self.assertLessEqual(own, {fname for (file, fname) in listing if file == example(name)})

    def test_the_heaviest_function_comes_first(self):
        # The counter clock charges 1000 ns per profile event, so the ranking does not depend on
        # scheduling: fib(20) in hello.py takes milliseconds, and under load a wall clock could
        # rank a builtin that happened to be descheduled above it.
        for args in ([example("recursion.py"), "20"], [example("hello.py")]):
            with self.subTest(args=args):
                out = self.path("top.callgrind")
                r = profile(["--clock", "counter", *args], out)
                self.assertEqual(r.returncode, 0, r.stderr)
                text, _ = annotate_listing(out)
                first = re.search(r"^\s*[\d,]+ \(\s*[\d.]+%\)\s+([^:\n]*):(\S+)", text.split("file:function")[1], re.M)
                self.assertEqual(first.groups(), (args[0], "fib"))


if __name__ == "__main__":
    unittest.main()
