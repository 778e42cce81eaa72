"""`calltree convert`: every number in a .prof file survives the conversion, the result agrees with
pyprof2calltree where it should, our pstats output loads in pstats, and bad input fails cleanly."""
import gzip
import marshal
import math
import os
import pstats
import re
import shutil
import unittest

from callgrind_parse import parse
from helpers import CALLTREE, PYTHON, SRC, TempDirTest, example, run

FIXTURES = os.path.join(SRC, "tests", "fixtures", "pstats")


def ns(seconds):
    """Rounded once, half away from zero, like llround()."""
    return max(0, int(math.floor(seconds * 1e9 + 0.5)))


def base_name(name):
    return re.sub(r":\d+$", "", name)


def plain(key):
    """The `profile` module keys its own entry with a code object as the name and files C
    functions under "" (we use cProfile's "~")."""
    file, line, name = key
    return file or "~", line, name if isinstance(name, str) else name.co_name


def by_location(cg):
    """(file, def line, pstats name) -> our function key."""
    out = {}
    for key, fn in cg.functions.items():
        name, file, _ = key
        loc = (file, fn.def_line or 0, base_name(name) if file != "~" else name)
        assert loc not in out, f"two functions at {loc}"
        out[loc] = key
    return out


class Convert(TempDirTest):
    def convert(self, *inputs, args=()):
        out = self.path("out.callgrind")
        r = run([CALLTREE, "convert", *inputs, "-o", out, *args])
        self.assertEqual(r.returncode, 0, r.stderr)
        return out

    def assert_faithful(self, prof, cg, times_per_arc=True):
        stats = {plain(k): (cc, nc, tt, ct, {plain(c): v for c, v in callers.items()})
                 for k, (cc, nc, tt, ct, callers) in pstats.Stats(prof).stats.items()}
        ours = by_location(cg)
        self.assertEqual(len(ours), len({k for k in stats} | {c for v in stats.values() for c in v[4]}))
        for (file, line, name), (cc, nc, tt, ct, callers) in stats.items():
            key = ours[(file, line, name)]
            self.assertEqual(cg.functions[key].self_cost, [ns(tt)], key)
            for caller, value in callers.items():
                arcs = [a for a in cg.arcs if a.callee == key and a.caller == ours[caller]]
                self.assertEqual(len(arcs), 1)
                if isinstance(value, tuple):
                    self.assertEqual(arcs[0].calls, value[0])
                    if times_per_arc:
                        self.assertEqual(arcs[0].inclusive, [ns(value[3])], (caller, key))
                else:
                    self.assertEqual(arcs[0].calls, value)
        self.assertEqual(cg.totals, [sum(ns(v[2]) for v in stats.values())])

    def test_cprofile_file_is_converted_exactly(self):
        prof = os.path.join(FIXTURES, "cprofile.prof")
        self.assert_faithful(prof, parse(self.convert(prof)))

    def test_profile_module_file_with_int_callers(self):
        prof = os.path.join(FIXTURES, "profile.prof")
        self.assert_faithful(prof, parse(self.convert(prof)), times_per_arc=False)

    def test_gzip_input_and_stdout(self):
        gz = os.path.join(FIXTURES, "cprofile.prof.gz")
        r = run([CALLTREE, "convert", gz, "-o", "-"])
        self.assertEqual(r.returncode, 0, r.stderr)
        out = self.write("stdout.callgrind", r.stdout)
        self.assert_faithful(os.path.join(FIXTURES, "cprofile.prof"), parse(out))

    def test_every_marshal_version_reads_the_same(self):
        """Files written by older Pythons use older marshal versions (no references, text floats)."""
        with open(os.path.join(FIXTURES, "cprofile.prof"), "rb") as f:
            stats = marshal.load(f)
        outputs = set()
        for version in range(5):
            prof = self.path(f"v{version}.prof")
            with open(prof, "wb") as f:
                marshal.dump(stats, f, version)
            r = run([CALLTREE, "convert", prof, "-o", "-"])
            self.assertEqual(r.returncode, 0, r.stderr)
            outputs.add(re.sub(r"^cmd: .*$", "", r.stdout, flags=re.M))
        self.assertEqual(len(outputs), 1)

    def test_same_named_functions_stay_distinct(self):
        cg = parse(self.convert(os.path.join(FIXTURES, "cprofile.prof")))
        helpers = [k for k in cg.functions if k[0] == "helper"]
        self.assertEqual(len(helpers), 2)
        # KCachegrind's identity: name + basename(file) + basename(object) must differ.
        identities = {(n, os.path.basename(f), os.path.basename(o)) for n, f, o in helpers}
        self.assertEqual(len(identities), 2)
        lambdas = [k for k in cg.functions if k[0].startswith("<lambda>") and k[1].endswith("prog.py")]
        self.assertEqual(len(lambdas), 2)

    def test_merging_sums_runs(self):
        prof = os.path.join(FIXTURES, "cprofile.prof")
        one = parse(self.convert(prof))
        two = parse(self.convert(prof, os.path.join(FIXTURES, "cprofile.prof.gz")))
        self.assertEqual(two.totals, [2 * one.totals[0]])
        fib = one.by_name("fib")[0]
        self.assertEqual(two.functions[fib].calls_in, 2 * one.functions[fib].calls_in)

    def test_merging_different_programs_sums_like_pstats(self):
        # Two different programs that share functions (the builtins both call, the stdlib code
        # both import): the merge must equal pstats.Stats(a, b), function by function, arc by arc.
        a, b, merged = self.path("a.prof"), self.path("b.prof"), self.path("merged.prof")
        run([PYTHON, "-m", "cProfile", "-o", a, example("hello.py")], check=True)
        run([PYTHON, "-m", "cProfile", "-o", b, example("mutual_recursion.py")], check=True)
        stats = pstats.Stats(a, b)
        stats.dump_stats(merged)
        shared = set(pstats.Stats(a).stats) & set(pstats.Stats(b).stats)
        self.assertIn(("~", 0, "<built-in method builtins.print>"), shared)
        self.assert_faithful(merged, parse(self.convert(a, b)))

    def test_callgrind_annotate_reads_converted_files(self):
        for name in ("cprofile.prof", "profile.prof"):
            out = self.convert(os.path.join(FIXTURES, name))
            r = run(["callgrind_annotate", out])
            self.assertEqual(r.returncode, 0, r.stderr)
            self.assertIn("PROGRAM TOTALS", r.stdout)

    def test_agrees_with_pyprof2calltree(self):
        """Same functions, call counts and self times as the tool we replace. Intended differences:
        we add ob= (module) lines, `totals:` is the sum of self costs (pyprof2calltree writes the
        largest cumulative time as `summary:`), and names are disambiguated with `:<line>` only
        where two functions of one file share a name."""
        if not shutil.which("pyprof2calltree"):
            self.skipTest("pyprof2calltree not installed")
        for fixture in ("cprofile.prof", os.path.join("..", "..", "..", "examples")):
            if fixture != "cprofile.prof":
                prof = self.path("hello.prof")
                run([PYTHON, "-m", "cProfile", "-o", prof, example("hello.py")], check=True)
            else:
                prof = os.path.join(FIXTURES, fixture)
            theirs_path = self.path("p2c.out")
            run(["pyprof2calltree", "-i", prof, "-o", theirs_path], check=True)
            ours, theirs = parse(self.convert(prof)), parse(theirs_path)

            def summary(cg):
                out = {}
                for (name, file, _), fn in cg.functions.items():
                    loc = (file, fn.def_line or 0, base_name(name) if file != "~" else name)
                    out[loc] = (fn.calls_in, fn.self_cost[0] if fn.self_cost else 0)
                return out

            a, b = summary(ours), summary(theirs)
            self.assertEqual(set(a), set(b))
            for loc in a:
                self.assertEqual(a[loc][0], b[loc][0], loc)
                # pyprof2calltree truncates seconds * 1e9 where we round: at most 1 ns apart.
                self.assertLessEqual(abs(a[loc][1] - b[loc][1]), 1, loc)


class ConvertErrors(TempDirTest):
    def expect_error(self, path, pattern):
        r = run([CALLTREE, "convert", path, "-o", self.path("x.callgrind")])
        self.assertEqual(r.returncode, 2, r.stderr)
        self.assertEqual(len(r.stderr.strip().splitlines()), 1, r.stderr)
        self.assertRegex(r.stderr, pattern)
        self.assertFalse(os.path.exists(self.path("x.callgrind")))

    def test_bad_inputs(self):
        with open(os.path.join(FIXTURES, "cprofile.prof"), "rb") as f:
            good = f.read()
        cases = {
            "empty.prof": (b"", r"empty"),
            "text.prof": (b"hello world\n", r"unknown type code .* at byte 0"),
            "list.prof": (b"[\x01\x00\x00\x00N", r"expected the stats dict"),
            "huge.prof": (b"(\x00\x00\x00\x80", r"exceeds the file"),
            "deep.prof": (b"(\x01\x00\x00\x00" * 100000, r"nested more than"),
            "badref.prof": (b"r\x05\x00\x00\x00", r"reference 5"),
        }
        for name, (data, pattern) in cases.items():
            with self.subTest(case=name):
                with open(self.path(name), "wb") as f:
                    f.write(data)
                self.expect_error(self.path(name), pattern)
        cut = self.path("cut.prof.gz")
        with open(cut, "wb") as f:
            f.write(gzip.compress(good)[:2000])
        self.expect_error(cut, r"truncated gzip stream")
        self.expect_error(self.path("missing.prof"), r"No such file or directory")

    def test_truncated_anywhere(self):
        with open(os.path.join(FIXTURES, "cprofile.prof"), "rb") as f:
            good = f.read()
        for cut in range(1, len(good), max(1, len(good) // 60)):
            with open(self.path("t.prof"), "wb") as f:
                f.write(good[:cut])
            r = run([CALLTREE, "convert", self.path("t.prof"), "-o", self.path("t.out")])
            self.assertEqual(r.returncode, 2, (cut, r.stderr))
            self.assertRegex(r.stderr, r"^calltree: .*t\.prof: .* at byte \d+\n$")

    def test_unwritable_output_checked_first(self):
        r = run([CALLTREE, "convert", self.path("missing.prof"), "-o", "/nonexistent/x"])
        self.assertEqual(r.returncode, 2)
        self.assertIn("cannot write output file", r.stderr)


class PstatsOutput(TempDirTest):
    def test_run_as_pstats_loads_and_matches_callgrind(self):
        prof, cg_path = self.path("hello.prof"), self.path("hello.callgrind")
        script = example("recursion.py")
        for fmt, out in (("pstats", prof), ("callgrind", cg_path)):
            r = run([CALLTREE, "--clock", "counter", "--format", fmt, "-o", out, script, "15"])
            self.assertEqual(r.returncode, 0, r.stderr)
        stats = pstats.Stats(prof).stats
        fib = [v for k, v in stats.items() if k[0] == script and k[2] == "fib"][0]
        cg = parse(cg_path)
        (key,) = cg.by_name("fib")
        self.assertEqual(fib[1], sum(a.calls for a in cg.arcs if a.callee == key))
        self.assertEqual(ns(fib[2]), cg.functions[key].self_cost[0])
        r = run([PYTHON, "-m", "pstats", prof], input="sort cumulative\nstats 5\nquit\n")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("recursion.py", r.stdout)

    def test_pstats_round_trip_through_convert(self):
        prof = os.path.join(FIXTURES, "cprofile.prof")
        back = self.path("back.prof")
        r = run([CALLTREE, "convert", prof, "--format", "pstats", "-o", back])
        self.assertEqual(r.returncode, 0, r.stderr)
        a, b = pstats.Stats(prof).stats, pstats.Stats(back).stats
        # The keys are the input's, even where the callgrind names get ":<line>" suffixes.
        self.assertEqual(set(a), set(b))
        # Repeated keys and file names are back-references, as in CPython's marshal output.
        self.assertLessEqual(os.path.getsize(back), os.path.getsize(prof) * 1.05)
        for k, (cc, nc, tt, ct, callers) in a.items():
            mine = b[k]
            self.assertEqual(mine[:2], (cc, nc))
            self.assertAlmostEqual(mine[2], tt, delta=1e-9)
            self.assertAlmostEqual(mine[3], ct, delta=1e-9)
            self.assertEqual(set(mine[4]), set(callers))



class CallSites(TempDirTest):
    def arc_lines(self, *extra):
        # Profiled here, so the source files named in the .prof exist where the file says.
        shutil.copytree(os.path.join(FIXTURES, "src"), self.path("src"))
        prof, out = self.path("cs.prof"), self.path("cs.callgrind")
        run([PYTHON, "-m", "cProfile", "-o", prof, self.path("src/prog.py")], check=True)
        r = run([CALLTREE, "convert", prof, "-o", out, *extra])
        self.assertEqual(r.returncode, 0, r.stderr)
        cg = parse(out)
        return {(a.caller[0], a.callee[0]): a.call_line for a in cg.arcs if a.caller[1].endswith("prog.py")}

    def test_calls_are_placed_at_their_lines_in_the_source(self):
        with open(os.path.join(FIXTURES, "src", "prog.py")) as f:
            source = f.read().splitlines()
        lines = self.arc_lines()
        self.assertIn("fib(n - 1)", source[lines[("fib", "fib")] - 1])
        self.assertEqual(source[lines[("<module>", "fib")] - 1], "fib(15)")
        self.assertIn("pong(", source[lines[("ping", "pong")] - 1])
        self.assertIn("sorted(", source[lines[("<module>", "<built-in method builtins.sorted>")] - 1])

    def test_without_source_lookup_calls_sit_at_the_callers_first_line(self):
        lines = self.arc_lines("--no-call-sites")
        self.assertEqual(lines[("<module>", "fib")], 1)
        self.assertEqual(lines[("fib", "fib")], 15)


if __name__ == "__main__":
    unittest.main()
