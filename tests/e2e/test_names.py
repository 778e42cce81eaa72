"""The names users see in a run: fn= is the code object's qualified name, ob= its module, fl= its
absolute source file; C functions carry cProfile's names under their module's object.

Expected values come from python3 itself: names_oracle.py runs the same program under cProfile (in
every thread) and lists the modules it loaded; qualified names are read from the code objects compiled from
each source file. A handful of names are also spelled out literally, so a reader sees them.
"""
import json
import json.encoder
import os
import re
import sys
import unittest

from callgrind_parse import parse
from helpers import PYTHON, TempDirTest, example, profile, run, skip_unless_numpy

EXAMPLES = ["hello.py", "recursion.py", "mutual_recursion.py", "classes.py", "generators.py",
            "async_tasks.py", "exceptions.py", "closures_decorators.py", "comprehensions.py",
            "numpy_work.py", "threads.py"]
ORACLE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "names_oracle.py")

POINT = """import json, math, time
class Point:
    def __init__(self, x, y):
        self.x, self.y = x, y
    def norm(self):
        return math.sqrt(self.x ** 2 + self.y ** 2)
def outer():
    def inner():
        return Point(3, 4).norm()
    return inner()
items = []
items.append(outer())
print(len(items), json.dumps({"a": items}, indent=1))
time.sleep(0.001)
"""


def qualnames_by_line(path, cache={}):
    """{first line: {co_qualname}} for every code object compiled from `path`."""
    if path not in cache:
        with open(path, "rb") as f:
            stack = [compile(f.read(), path, "exec")]
        found = {}
        while stack:
            code = stack.pop()
            found.setdefault(code.co_firstlineno, set()).add(code.co_qualname)
            stack.extend(c for c in code.co_consts if hasattr(c, "co_qualname"))
        cache[path] = found
    return cache[path]


def unsuffixed(name, line):
    """Our name without the ':<first line>' (or ':<line>#<n>') calltree adds to tell apart two
    functions of one file that share a qualified name."""
    return re.sub(rf":{line}(#\d+)?$", "", name)


class Names(TempDirTest):
    def run_both(self, script, cwd=None):
        out, oracle = self.path("out.callgrind"), self.path("oracle.json")
        r = profile([script], out, cwd=cwd or self.tmp)
        self.assertEqual(r.returncode, 0, r.stderr)
        r = run([PYTHON, ORACLE, oracle, script], cwd=cwd or self.tmp)
        self.assertEqual(r.returncode, 0, r.stderr)
        with open(oracle) as f:
            return parse(out), json.load(f)

    def assert_python_names(self, cg, oracle, script):
        """Every Python function: fn= a qualified name of a code object starting at its line,
        ob= the module python3 loaded from its file; the script's functions exactly those
        cProfile saw there."""
        modules = oracle["modules"]
        checked = 0
        for (name, file, ob), fn in cg.functions.items():
            if file == "~" or not os.path.isfile(file):
                continue  # C functions; <frozen ...> and <string> code has no source to compile
            self.assertTrue(os.path.isabs(file), file)
            plain = unsuffixed(name, fn.def_line)
            self.assertIn(plain, qualnames_by_line(file).get(fn.def_line, set()), (name, file, fn.def_line))
            if file in modules:
                self.assertEqual(ob, modules[file], (name, file))
                checked += 1
        self.assertGreater(checked, 1)
        expected = set()
        for file, line, co_name in oracle["stats"]:
            if file == script:
                (qualname,) = {q for q in qualnames_by_line(script)[line] if q.rsplit(".", 1)[-1] == co_name}
                expected.add((qualname, line))
        ours = {(unsuffixed(name, fn.def_line), fn.def_line) for (name, file, ob), fn in cg.functions.items()
                if file == script}
        self.assertEqual(ours, expected)

    def assert_c_names(self, cg, oracle, script):
        """The C functions the script's own code calls carry exactly cProfile's names."""
        theirs = {name for caller_file, name in oracle["callers"] if caller_file == script}
        ours = {a.callee[0] for a in cg.arcs if a.caller[1] == script and a.callee[1] == "~"}
        self.assertEqual(ours, theirs)

    def test_every_example_is_named_as_python3_names_it(self):
        for name in EXAMPLES:
            with self.subTest(example=name):
                script = example(name)
                skip_unless_numpy(self, script)
                cg, oracle = self.run_both(script)
                self.assert_python_names(cg, oracle, script)
                self.assert_c_names(cg, oracle, script)

    def keys(self, cg, file):
        return {(name, ob) for (name, f, ob) in cg.functions if f == file}

    def test_qualified_names_modules_and_files_spelled_out(self):
        # A relative script path: fl= must still be absolute.
        self.write("point.py", POINT)
        cg, oracle = self.run_both("point.py")
        script = self.path("point.py")
        self.assert_python_names(cg, oracle, script)
        self.assert_c_names(cg, oracle, script)
        self.assertEqual(self.keys(cg, script),
                         {("<module>", "__main__"), ("Point", "__main__"), ("Point.__init__", "__main__"),
                          ("Point.norm", "__main__"), ("outer", "__main__"), ("outer.<locals>.inner", "__main__")})
        encoder = json.encoder.__file__
        self.assertTrue(os.path.isabs(encoder))
        expected = {("JSONEncoder.encode", "json.encoder"), ("JSONEncoder.iterencode", "json.encoder")}
        if sys.version_info < (3, 13):  # 3.13's C encoder does indent=1 itself
            expected.add(("_make_iterencode.<locals>._iterencode", "json.encoder"))
        self.assertLessEqual(expected, self.keys(cg, encoder))
        self.assertIn(("dumps", "json"), self.keys(cg, json.__file__))
        self.assertLessEqual({("<built-in method time.sleep>", "time"), ("<built-in method math.sqrt>", "math"),
                              ("<built-in method builtins.len>", "builtins"),
                              ("<built-in method builtins.print>", "builtins"),
                              ("<method 'append' of 'list' objects>", "builtins"),
                              ("<built-in method builtins.isinstance>", "builtins")},
                             self.keys(cg, "~"))

    def test_closures_and_same_named_functions(self):
        script = example("closures_decorators.py")
        cg, _ = self.run_both(script)
        self.assertLessEqual({("counted.<locals>.wrapper", "__main__"), ("make_adder.<locals>.add", "__main__"),
                              ("<lambda>:35", "__main__"), ("<lambda>:36", "__main__"),
                              ("<genexpr>:33", "__main__"), ("<genexpr>:34", "__main__")},
                             self.keys(cg, script))
        script = example("classes.py")
        cg, _ = self.run_both(script)
        self.assertLessEqual({("Shape.register", "__main__"), ("Circle.diameter", "__main__"),
                              ("Square.unit", "__main__"), ("Square.__lt__", "__main__"),
                              ("Shape.describe", "__main__")}, self.keys(cg, script))

    def test_native_functions_are_grouped_under_their_module(self):
        skip_unless_numpy(self, example("numpy_work.py"))
        cg, _ = self.run_both(example("numpy_work.py"))
        expected = {("<method 'sort' of 'numpy.ndarray' objects>", "numpy")}
        if sys.version_info < (3, 12):
            # From 3.12 the profile hook (sys.monitoring) reports no C_CALL for Cython's methods,
            # under cProfile as under calltree; and numpy 2 (Debian 13) has no numpy.core.
            expected |= {("<method 'random' of 'numpy.random._generator.Generator' objects>", "numpy"),
                         ("<built-in method numpy.core._multiarray_umath.implement_array_function>", "numpy")}
        self.assertLessEqual(expected, self.keys(cg, "~"))


if __name__ == "__main__":
    unittest.main()
