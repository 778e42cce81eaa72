"""The profiler's per-event cost is kept out of the times: a phase making millions of tiny calls and
a loop without calls keep the ratio of their plain-run times (overhead_pair.py times both itself
under plain python3). cProfile, for reference, charges its per-event cost to the calling phase."""
import os
import pstats
import statistics

from callgrind_parse import parse
from helpers import PYTHON, TempDirTest, profile, run

PAIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "overhead_pair.py")
CALLS, LOOP = "2000000", "2200000"


class Overhead(TempDirTest):
    def plain_ratio(self):
        r = run([PYTHON, PAIR, "plain", CALLS, LOOP])
        self.assertEqual(r.returncode, 0, r.stderr)
        calls, loop = map(float, r.stdout.split())
        return calls / loop

    def calltree_ratio(self):
        out = self.path("pair.callgrind")
        r = profile([PAIR, CALLS, LOOP], out)
        self.assertEqual(r.returncode, 0, r.stderr)
        cg = parse(out)
        (calls,), (loop,) = cg.by_name("calls"), cg.by_name("loop")
        return cg.inclusive(calls) / cg.inclusive(loop)

    def cprofile_ratio(self):
        prof = self.path("pair.prof")
        r = run([PYTHON, "-m", "cProfile", "-o", prof, PAIR, CALLS, LOOP])
        self.assertEqual(r.returncode, 0, r.stderr)
        stats = pstats.Stats(prof).stats
        ct = {k[2]: v[3] for k, v in stats.items() if k[0] == PAIR}
        return ct["calls"] / ct["loop"]

    def test_calls_are_not_charged_the_profilers_cost(self):
        # A shared machine: each measurement is repeated, interleaved, and the medians compared.
        ours, theirs = [], []
        for _ in range(3):
            plain = self.plain_ratio()
            ours.append(self.calltree_ratio() / plain)
            theirs.append(self.cprofile_ratio() / plain)
        ours, theirs = statistics.median(ours), statistics.median(theirs)
        print(f"\ncalls/loop relative to plain python3: calltree {ours:.2f}, cProfile {theirs:.2f}")
        self.assertGreater(theirs, 2.0, "the pair no longer shows cProfile's per-call overhead")
        # Without the bias calltree measured 2.4-3.6 here; with it 1.1-1.5 on this loaded 2-core
        # machine (the per-bytecode slowdown of tracing differs between the two phases' code).
        self.assertLess(ours, 2.0)
        self.assertGreater(ours, 0.6)


if __name__ == "__main__":
    import unittest
    unittest.main()
