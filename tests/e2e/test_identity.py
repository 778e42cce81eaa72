"""Names of the functions a run records: different functions that share a qualified name, file and
first line stay apart, code recreated from the same source stays one function, and a run's
`--format pstats` keys are cProfile's (file, first line, co_name) keys."""
import pstats
import sys
import textwrap
import unittest

from callgrind_parse import parse
from helpers import PYTHON, TempDirTest, example, profile, run

TWO_LAMBDAS = textwrap.dedent("""\
    def apply(f, g):
        for i in range(5):
            f(i)
        for i in range(3):
            g(i)


    apply(lambda x: x + 1, lambda x: x * 2)
    """)
LAMBDA_LINE = 8

EXEC_LOOP = textwrap.dedent("""\
    SOURCE = "def f(x):\\n    return x + 1\\n\\ninc = lambda x: x + 1; dec = lambda x: x - 1\\n"
    for i in range(4):
        space = {}
        exec(compile(SOURCE, "generated.py", "exec"), space)  # new code objects every time
        space["f"](i)
        space["f"](i)
        space["inc"](i)
        space["dec"](i)
        space["dec"](i)
    """)


def body_columns(source, filename):
    """1-based column of the first instruction with a source span in each function of `source`
    (python3's own co_positions), by (first line, co_name)."""
    columns = {}
    for code in compile(source, filename, "exec").co_consts:
        if hasattr(code, "co_positions"):
            col = next(c for (_, _, c, e) in code.co_positions() if c is not None and e is not None and e > c)
            columns.setdefault((code.co_firstlineno, code.co_name), []).append(col + 1)
    return columns


# What `python3 -m cProfile` adds around the program: it starts the script with exec() and
# stops with disable(); calltree starts at the script's first line.
CPROFILE_HARNESS = {("~", 0, "<built-in method builtins.exec>"),
                    ("~", 0, "<method 'disable' of '_lsprof.Profiler' objects>")}


class Names(TempDirTest):
    def run_ours(self, script, *args):
        out = self.path("out.callgrind")
        r = profile([*args, script], out, cwd=self.tmp)
        self.assertEqual(r.returncode, 0, r.stderr)
        return out

    def test_two_lambdas_on_one_line_are_two_functions(self):
        script = self.write("lambdas.py", TWO_LAMBDAS)
        cg = parse(self.run_ours(script))
        lambdas = {k[0]: cg.functions[k].calls_in for k in cg.functions if "<lambda>" in k[0]}
        cols = body_columns(TWO_LAMBDAS, script)[(LAMBDA_LINE, "<lambda>")]
        self.assertEqual(lambdas, {f"<lambda>:{LAMBDA_LINE}:{cols[0]}": 5, f"<lambda>:{LAMBDA_LINE}:{cols[1]}": 3})
        # The .prof keeps both too (under their distinct names: their cProfile key is shared).
        prof = self.path("out.prof")
        r = profile(["--format", "pstats", script], prof, cwd=self.tmp)
        self.assertEqual(r.returncode, 0, r.stderr)
        ours = {k[2]: v[1] for k, v in pstats.Stats(prof).stats.items() if k[0] == script and k[1] == LAMBDA_LINE}
        self.assertEqual(sorted(ours.values()), [3, 5])
        # For reference: cProfile's .prof has one key for both, with one lambda's calls lost.
        r = run([PYTHON, "-m", "cProfile", "-o", prof, script], cwd=self.tmp)
        self.assertEqual(r.returncode, 0, r.stderr)
        theirs = {k: v[1] for k, v in pstats.Stats(prof).stats.items() if k[0] == script and k[1] == LAMBDA_LINE}
        self.assertEqual(len(theirs), 1)
        self.assertIn(list(theirs.values())[0], (3, 5))

    def test_code_recreated_from_the_same_source_is_one_function(self):
        script = self.write("exec_loop.py", EXEC_LOOP)
        cg = parse(self.run_ours(script))
        generated = {k[0]: cg.functions[k].calls_in for k in cg.functions if k[1].endswith("generated.py")}
        self.assertEqual(generated["f"], 8)
        self.assertEqual(generated["<module>"], 4)
        # The two lambdas of the generated line stay two functions across the four exec()s.
        lambdas = sorted(v for k, v in generated.items() if "<lambda>" in k)
        self.assertEqual(lambdas, [4, 8])

    def test_pstats_keys_and_counts_are_cprofiles(self):
        for name in ("closures_decorators.py", "classes.py", "comprehensions.py", "generators.py"):
            script = example(name)
            with self.subTest(example=name):
                ours_path, theirs_path = self.path("ours.prof"), self.path("theirs.prof")
                r = profile(["--format", "pstats", script], ours_path, cwd=self.tmp)
                self.assertEqual(r.returncode, 0, r.stderr)
                r = run([PYTHON, "-m", "cProfile", "-o", theirs_path, script], cwd=self.tmp)
                self.assertEqual(r.returncode, 0, r.stderr)
                ours, theirs = pstats.Stats(ours_path).stats, pstats.Stats(theirs_path).stats
                self.assertTrue(CPROFILE_HARNESS <= theirs.keys())
                if sys.version_info >= (3, 12):
                    # `python3 -m cProfile` imports more before it starts profiling from 3.12
                    # (functools, collections...): the program's imports differ, its own
                    # functions must not.
                    ours = {k: v for k, v in ours.items() if k[0] == script}
                    theirs = {k: v for k, v in theirs.items() if k[0] == script}
                    self.assertTrue(ours)
                self.assertEqual(set(ours), set(theirs) - CPROFILE_HARNESS)
                if sys.version_info < (3, 12):  # 3.12 inlines list comprehensions (PEP 709)
                    self.assertTrue(any(k[2] == "<listcomp>" or k[2] == "<genexpr>" for k in ours))
                for key, (cc, nc, *_rest) in ours.items():
                    self.assertEqual((cc, nc), theirs[key][:2], key)
                # Both load into one Stats, and the counts add up under the shared keys.
                merged = pstats.Stats(ours_path)
                merged.add(theirs_path)
                for key, (cc, nc, *_rest) in ours.items():
                    self.assertEqual(merged.stats[key][1], nc + theirs[key][1], key)
                merged.sort_stats("cumulative")


if __name__ == "__main__":
    unittest.main()
