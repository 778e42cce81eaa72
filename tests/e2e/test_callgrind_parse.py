"""The tests' own callgrind reader, checked on a hand-written file in the shape of the format
specification's example: name compression, cfi/cob defaults after a call, relative positions."""
import os
import tempfile
import unittest

from callgrind_parse import parse

SAMPLE = """# callgrind format
version: 1
creator: hand
positions: line
events: Instr
summary: 833

ob=(1) prog
fl=(1) /src/file1.c
fn=(1) main
16 20
cfn=(2) func1
calls=1 50
+0 400
cfi=(2) /src/file2.c
cob=(2) lib
cfn=(3) func2
calls=3 20
-1 400
* 5
cfn=(2)
calls=1 50
+3 100
-1 8

fn=(2)
50 100
cfi=(2)
cfn=(3)
calls=2 20
51 300

fl=(2)
fn=(3)
20 700
"""


class ParserOnSpecShape(unittest.TestCase):
    def setUp(self):
        fd, self.file = tempfile.mkstemp(prefix="calltree_parse_")
        with os.fdopen(fd, "w") as f:
            f.write(SAMPLE)

    def tearDown(self):
        os.unlink(self.file)

    def test_functions_arcs_and_positions(self):
        cg = parse(self.file)
        main, func1 = ("main", "/src/file1.c", "prog"), ("func1", "/src/file1.c", "prog")
        lib_func2, prog_func2 = ("func2", "/src/file2.c", "lib"), ("func2", "/src/file2.c", "prog")
        self.assertEqual(cg.events, ["Instr"])
        self.assertEqual(cg.totals, [833])
        self.assertEqual(set(cg.functions), {main, func1, lib_func2, prog_func2})
        self.assertEqual((cg.functions[main].self_cost, cg.functions[main].def_line), ([20 + 5 + 8], 15))
        self.assertEqual((cg.functions[prog_func2].self_cost, cg.functions[prog_func2].def_line), ([700], 20))
        # cfi/cob hold for one call only; later calls default to the caller's file and object.
        self.assertEqual([(a.caller, a.callee, a.calls, a.call_line, a.inclusive) for a in cg.arcs],
                         [(main, func1, 1, 16, [400]), (main, lib_func2, 3, 15, [400]),
                          (main, func1, 1, 18, [100]), (func1, prog_func2, 2, 51, [300])])
        self.assertEqual([cg.functions[k].calls_in for k in (main, func1, lib_func2, prog_func2)], [0, 2, 3, 2])
        self.assertEqual(cg.inclusive(func1), 500)
        self.assertEqual(cg.inclusive(main), 33 + 400 + 400 + 100)


if __name__ == "__main__":
    unittest.main()
